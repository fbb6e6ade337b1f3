"""ListMachines, GetMachine, CreateMachine, DeleteMachine and the actions
(cloudapi.md §4)."""

from __future__ import annotations

import uuid

import pytest
from polling import eventually

from smartdc_nb.emulator.seed import stable_uuid

BASE_IMAGE = stable_uuid("image", "base-64-lts", "23.4.0")
KVM_IMAGE = stable_uuid("image", "ubuntu-certified-22.04", "20230406")


def state_of(api, machine_id):
    return api.get(f"/my/machines/{machine_id}").json()["state"]


def audit(api, machine_id):
    return api.get(f"/my/machines/{machine_id}/audit").json()


# ----------------------------------------------------------------- listing


def test_list_shape_and_paging_headers(emu, api):
    response = api.get("/my/machines")
    machines = response.json()
    assert response.header("x-query-limit") == "1000"
    assert response.header("x-resource-count") == str(len(machines))
    assert 0 < len(machines) <= 20
    first = machines[0]
    assert list(first)[:12] == ["id", "name", "type", "brand", "state", "image", "ips", "memory",
                                "disk", "deletion_protection", "metadata", "tags"]
    assert first["created"].endswith("Z") and len(first["created"]) == 24
    assert all(m["state"] not in ("deleted", "failed") for m in machines)
    assert [m["id"] for m in machines] == sorted((m["id"] for m in machines), reverse=True)


def test_paging_with_limit_and_offset(emu, api):
    everything = [m["id"] for m in api.get("/my/machines?tombstone=1").json()]
    pages = []
    offset = 0
    while True:
        response = api.get(f"/my/machines?tombstone=1&limit=7&offset={offset}")
        assert response.header("x-query-limit") == "7"
        page = response.json()
        assert response.header("x-resource-count") == str(len(page))
        pages += [m["id"] for m in page]
        if len(page) < 7:
            break
        offset += 7
    assert pages == everything and len(everything) == 20


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "offset=-1", "offset=x"])
def test_bad_paging_parameters(emu, api, query):
    response = api.get(f"/my/machines?{query}")
    assert response.status == 409
    assert response.json()["code"] == "ValidationFailed"
    assert response.json()["errors"][0]["field"] == query.split("=")[0]


def test_filters(emu, api):
    dc = emu.datacenter("us-east-1")
    a = dc.put_machine(name="filt-a", brand="lx", tags={"role": "db", "n": 3, "flag": True},
                       package="g4-highcpu-4G", docker=True)
    b = dc.put_machine(name="filt-b", brand="kvm", state="stopped", tags={"role": "web"},
                       image=KVM_IMAGE)
    dc.put_machine(name="filt-c", state="failed")
    dc.put_machine(name="filt-d", state="deleted", tags={"role": "db"})

    def ids(query):
        return {m["id"] for m in api.get(f"/my/machines?{query}").json()}

    assert ids("name=filt-a") == {a}
    assert a in ids("tag.role=db") and b not in ids("tag.role=db")
    assert ids("tag.role=db&tag.n=3&tag.flag=true") == {a}
    assert ids("brand=kvm&name=filt-b") == {b}
    assert b in ids("type=virtualmachine") and a not in ids("type=virtualmachine")
    assert a in ids("docker=true") and b not in ids("docker=true")
    assert a in ids("memory=4096")
    assert b in ids(f"image={KVM_IMAGE}")
    assert b in ids("state=stopped") and a not in ids("state=stopped")
    assert a in ids("state=running")
    names = {m["name"] for m in api.get("/my/machines?tombstone=true").json()}
    assert {"filt-c", "filt-d"} <= names
    assert "filt-d" in {m["name"] for m in api.get("/my/machines?state=destroyed").json()}
    assert "filt-c" not in {m["name"] for m in api.get("/my/machines").json()}
    tagged = api.get("/my/machines?tags=*&name=ignored").json()
    assert tagged and all(m["tags"] for m in tagged)


@pytest.mark.parametrize("query, message", [("state=deleted", "deleted is not a valid state"),
                                            ("state=failed", "failed is not a valid state"),
                                            ("type=0xdeadbeef", "0xdeadbeef is not a valid type"),
                                            ("docker=maybe", "maybe is not a valid boolean")])
def test_bad_filters(emu, api, query, message):
    response = api.get(f"/my/machines?{query}")
    assert (response.status, response.json()) == (409, {"code": "InvalidArgument", "message": message})


def test_credentials_are_shown_only_on_request(emu, api):
    machine = emu.datacenter("us-east-1").put_machine(name="creds", credentials={"root": "s3cret"})
    plain = api.get(f"/my/machines/{machine}").json()
    assert "credentials" not in plain["metadata"] and "credentials" not in plain
    shown = api.get(f"/my/machines/{machine}?credentials=true").json()
    assert shown["metadata"]["credentials"] == {"root": "s3cret"}
    assert shown["credentials"] == "true"  # CloudAPI echoes the parameter
    listed = api.get("/my/machines?name=creds&credentials=true").json()
    assert listed[0]["metadata"]["credentials"] == {"root": "s3cret"}


# ---------------------------------------------------------------- getting


def test_get_machine_and_unknown_ones(emu, api, machine_id):
    body = api.get(f"/my/machines/{machine_id}").json()
    assert body["id"] == machine_id and body["name"] == "fixture-vm"
    assert body["package"] == "g4-highcpu-1G" and body["primaryIp"] == body["ips"][0]
    assert body["nics"][0]["primary"] is True
    missing = api.get(f"/my/machines/{uuid.uuid4()}")
    assert (missing.status, missing.json()) == (404, {"code": "ResourceNotFound", "message": "VM not found"})
    assert api.get(f"/my/machines/{machine_id.upper()}").status == 200


def test_deleted_machine_is_410_with_its_body(emu, api):
    machine = emu.datacenter("us-east-1").put_machine(name="gone", state="deleted")
    response = api.get(f"/my/machines/{machine}")
    assert response.status == 410
    assert response.json()["id"] == machine and response.json()["state"] == "deleted"
    for method, path, body in (("POST", "", {"action": "stop"}), ("DELETE", "", None),
                               ("POST", "/tags", {"a": "b"})):
        again = api.request(method, f"/my/machines/{machine}{path}", json=body)
        assert again.status == 410 and again.json()["id"] == machine


def test_package_name_is_empty_once_the_package_is_gone(emu, api, machine_id):
    emu.delete_package("g4-highcpu-1G")
    assert api.get(f"/my/machines/{machine_id}").json()["package"] == ""


# --------------------------------------------------------------- creating


def test_create_returns_201_location_and_provisions(emu, api):
    response = api.post("/my/machines", json={
        "image": BASE_IMAGE, "package": "g4-highcpu-1G", "name": "made-{{shortId}}",
        "metadata.user-script": "#!/bin/sh\necho hi", "tag.role": "web", "tag.n": 2,
        "metadata": {"ignored": "yes"}, "tags": {"ignored": "yes"}, "firewall_enabled": True,
        "deletion_protection": "true"})
    assert response.status == 201, response.text
    body = response.json()
    assert response.header("Location") == f"/demo/machines/{body['id']}"
    assert body["name"] == f"made-{body['id'][:8]}"
    assert body["state"] == "provisioning" and body["ips"] == [] and body["networks"] == []
    assert body["compute_node"] is None and "nics" not in body
    assert body["tags"] == {"role": "web", "n": 2}
    assert body["metadata"]["user-script"].startswith("#!/bin/sh")
    assert "ignored" not in body["metadata"] and "root_authorized_keys" in body["metadata"]
    assert body["firewall_enabled"] is True
    assert body["deletion_protection"] is False  # the string "true" is ignored, as CloudAPI does
    assert audit(api, body["id"])[0]["action"] == "provision"
    running = eventually(lambda: (m := api.get(f"/my/machines/{body['id']}").json())["state"] == "running" and m)
    assert running["ips"] and running["primaryIp"] and running["networks"]


def test_create_with_networks_and_query_parameters(emu, api):
    nets = api.get("/my/networks").json()
    fabric = next(n for n in nets if n.get("fabric"))
    body = api.post("/my/machines", json={"image": BASE_IMAGE, "package": "g4-highcpu-1G",
                                          "networks": [{"ipv4_uuid": fabric["id"]}]}).json()
    done = eventually(lambda: (m := api.get(f"/my/machines/{body['id']}").json())["state"] == "running" and m)
    assert done["networks"] == [fabric["id"]] and done["ips"][0].startswith("192.168.")
    by_query = api.post(f"/my/machines?image={BASE_IMAGE}&package=g4-highcpu-1G&name=q1")
    assert by_query.status == 201 and by_query.json()["name"] == "q1"


@pytest.mark.parametrize("body, status, code, message", [
    ({"package": "g4-highcpu-1G"}, 409, "MissingParameter", "image must be specified"),
    ({"image": BASE_IMAGE}, 409, "MissingParameter", "package must be specified"),
    ({"image": "nope", "package": "g4-highcpu-1G"}, 409, "InvalidArgument", "nope is not a valid image"),
    ({"image": BASE_IMAGE, "dataset": BASE_IMAGE, "package": "x"}, 409, "InvalidArgument",
     "image and dataset are mutually exclusive parameters."),
    ({"image": BASE_IMAGE, "package": "nope"}, 409, "InvalidArgument", "nope is not a valid package"),
    ({"image": BASE_IMAGE, "package": "g3-standard-1.75-smartos"}, 409, "InvalidArgument",
     "g3-standard-1.75-smartos is not a valid package"),
    ({"image": stable_uuid("image", "centos-7", "20190816"), "package": "g4-highcpu-1G"}, 409,
     "InvalidArgument", f"image {stable_uuid('image', 'centos-7', '20190816')} is not active"),
    ({"image": stable_uuid("image", "win2019-std", "20211020"), "package": "g4-highcpu-1G"}, 409,
     "InvalidArgument", "You must use a package with at least 4096 MiB of RAM in order to provision "
     "the selected image"),
    ({"image": BASE_IMAGE, "package": "g4-highcpu-1G", "networks": ["nope"]}, 409, "InvalidArgument",
     "Invalid Networks"),
    ({"image": KVM_IMAGE, "package": "g4-highcpu-1G", "brand": "lx"}, 409, "InvalidArgument",
     'Unknown brand "lx". Brand is restricted to one of ["bhyve","kvm"]'),
    ({"image": BASE_IMAGE, "package": "g4-highcpu-1G",
      "networks": [stable_uuid("network", "us-east-1", "public")] * 1 + [{"ipv4_uuid": "x"}]},
     409, "InvalidArgument", "ipv4_uuid: x is not a uuid"),  # lib/validation/networks.js
    ({"image": BASE_IMAGE, "package": "g4-highcpu-1G",
      "networks": [{"ipv4_uuid": stable_uuid("network", "us-east-1", "fabric"), "ipv4_count": 2}]},
     409, "InvalidArgument", "ipv4_count can only be set to 1"),
    ({"image": BASE_IMAGE, "package": "g4-highcpu-1G", "networks": [{"ipv4_ips": ["10.0.0.1"]}]},
     409, "MissingParameter", "network objects must contain ipv4_uuid"),
    ({"image": BASE_IMAGE, "package": "g4-highcpu-1G", "bootrom": "uefi"}, 409, "InvalidArgument",
     'Only bhyve VMs support "bootrom" option'),
    ({"image": BASE_IMAGE, "package": "g4-highcpu-1G", "locality": {"far": "x"},
      "affinity": ["instance!=x"]}, 409, "InvalidArgument",
     'cannot specify both "locality" (deprecated) and "affinity"'),
])
def test_create_refusals(emu, api, body, status, code, message):
    response = api.post("/my/machines", json=body)
    assert (response.status, response.json()) == (status, {"code": code, "message": message})


def test_network_objects_need_api_7_3(emu, api):
    # lib/machines.js: objects only when semver.satisfies('7.3.0', v) || semver.ltr('7.3.0', v)
    api.accept_version = "~7.2"
    response = api.post("/my/machines", json={"image": BASE_IMAGE, "package": "g4-highcpu-1G",
                                              "networks": [{"ipv4_uuid": "x"}]})
    assert response.json() == {"code": "InvalidArgument", "message": "Invalid Networks"}


def test_at_most_one_public_network(emu, api):
    public = next(n for n in emu.state.datacenters["us-east-1"].networks.values() if n["public"])
    second = dict(public, id=stable_uuid("network", "us-east-1", "public-2"), name="Public-2")
    emu.state.datacenters["us-east-1"].networks[second["id"]] = second
    response = api.post("/my/machines", json={"image": BASE_IMAGE, "package": "g4-highcpu-1G",
                                              "networks": [public["id"], second["id"]]})
    assert response.json() == {"code": "InvalidArgument", "message": "Can specify a maximum of 1 public networks"}


def test_inactive_package_by_uuid(emu, api):
    old = next(p for p in emu.state.packages.values() if p["name"] == "g3-standard-1.75-smartos")
    response = api.post("/my/machines", json={"image": BASE_IMAGE, "package": old["id"]})
    assert response.json() == {"code": "InvalidArgument",
                               "message": f"{old['id']} is inactive. Must use an active package"}


@pytest.mark.parametrize("name, error", [
    ("-leading-dash", {"field": "alias", "code": "Invalid",
                       "message": r"String does not match regexp: /^[a-zA-Z0-9][a-zA-Z0-9\_\.\-]*$/"}),
    ("x" * 190, {"field": "alias", "code": "Invalid",
                 "message": "String is longer than maximum of 189 characters"}),
])
def test_create_name_validation(emu, api, name, error):
    response = api.post("/my/machines", json={"image": BASE_IMAGE, "package": "g4-highcpu-1G", "name": name})
    assert response.status == 409
    assert response.json()["message"] == "Invalid VM parameters: Invalid machine name"
    assert error in response.json()["errors"]


def test_create_duplicate_name_and_bad_triton_tag(emu, api, machine_id):
    dup = api.post("/my/machines", json={"image": BASE_IMAGE, "package": "g4-highcpu-1G",
                                         "name": "fixture-vm"})
    assert dup.json() == {"code": "ValidationFailed", "message": "Invalid VM parameters: Invalid machine name",
                          "errors": [{"field": "alias", "code": "Duplicate",
                                      "message": "Already exists for this owner_uuid"}]}
    tag = api.post("/my/machines", json={"image": BASE_IMAGE, "package": "g4-highcpu-1G",
                                         "tag.triton.foo": "x"})
    assert tag.json() == {"code": "ValidationFailed", "message": "Invalid VM parameters: Invalid tags",
                          "errors": [{"field": "tags", "code": "Invalid",
                                      "message": 'Unrecognized special triton tag "triton.foo"'}]}


def test_create_needs_a_key(triton_keys):
    from emu_client import Client

    from smartdc_nb.emulator.testing import make_emulator

    ops = triton_keys["ops_ed25519"]
    accounts = {"demo": {"keys": [], "users": {"ops": {"keys": [ops.public_line], "can": ["createmachine"]}}}}
    with make_emulator(triton_keys, accounts=accounts, machines=0, datacenters=["dc1"]) as emu:
        client = Client(emu.url, ops, key_id=f"/demo/users/ops/keys/{ops.md5}")
        response = client.post("/my/machines", json={"image": BASE_IMAGE, "package": "g4-highcpu-1G"})
        assert (response.status, response.json()) == (409, {
            "code": "KeyRequired", "message": "At least one SSH key is required to provision"})


def test_failed_provision(emu, api):
    emu.datacenter("us-east-1").fail_next("provision")
    body = api.post("/my/machines", json={"image": BASE_IMAGE, "package": "g4-highcpu-1G"}).json()
    assert state_of(api, body["id"]) == "provisioning"
    eventually(lambda: api.get(f"/my/machines/{body['id']}").json()["state"] == "failed")
    provision = audit(api, body["id"])[-1]
    assert (provision["action"], provision["success"]) == ("provision", "no")
    assert body["id"] not in {m["id"] for m in api.get("/my/machines").json()}
    assert body["id"] in {m["id"] for m in api.get("/my/machines?tombstone=1").json()}


# ---------------------------------------------------------------- deleting


def test_delete_then_410(emu, api, machine_id):
    assert api.delete(f"/my/machines/{machine_id}").status == 204
    assert api.delete(f"/my/machines/{machine_id}").status == 204  # destroy already running
    eventually(lambda: api.get(f"/my/machines/{machine_id}").status == 410)
    assert api.delete(f"/my/machines/{machine_id}").status == 410
    assert audit(api, machine_id)[0]["action"] == "destroy"


def test_deletion_protection(emu, api):
    machine = emu.datacenter("us-east-1").put_machine(name="safe", deletion_protection=True)
    response = api.delete(f"/my/machines/{machine}")
    assert (response.status, response.json()) == (409, {
        "code": "CannotDestroyMachineError",
        "message": 'Instance has "deletion_protection" enabled, preventing deletion'})
    assert api.post(f"/my/machines/{machine}", json={"action": "disable_deletion_protection"}).status == 202
    eventually(lambda: api.get(f"/my/machines/{machine}").json()["deletion_protection"] is False)
    assert api.delete(f"/my/machines/{machine}").status == 204


# ----------------------------------------------------------------- actions


def test_action_errors(emu, api, machine_id):
    path = f"/my/machines/{machine_id}"
    assert api.post(path, json={}).json() == {"code": "MissingParameter", "message": "action is required"}
    assert api.post(path, json={"action": "explode"}).json() == {
        "code": "InvalidArgument", "message": "explode is not a valid action"}
    assert api.post(path, json={"action": "resize"}).json() == {
        "code": "MissingParameter", "message": "package must be specified"}
    assert api.post(path, json={"action": "resize", "package": "nope"}).json() == {
        "code": "InvalidArgument", "message": "nope is not a valid package"}
    assert api.post(path, json={"action": "rename"}).json() == {
        "code": "MissingParameter", "message": "New name must be specified"}
    assert api.post(path, json={"action": "rename", "name": "x" * 190}).json() == {
        "code": "InvalidArgument", "message": "Name cannot be longer than 189 characters."}
    bad = api.post(path, json={"action": "rename", "name": "bad name"}).json()
    assert bad["code"] == "ValidationFailed" and bad["errors"][0]["field"] == "alias"


def test_resize_refused_for_kvm_and_running_bhyve(emu, api):
    dc = emu.datacenter("us-east-1")
    kvm = dc.put_machine(brand="kvm", image=KVM_IMAGE, package="k4-highcpu-kvm-1.75G")
    assert api.post(f"/my/machines/{kvm}", json={"action": "resize", "package": "g4-highcpu-2G"}).json() == {
        "code": "InvalidArgument", "message": "resize is not supported for KVM virtualmachines"}
    bhyve = dc.put_machine(brand="bhyve", image=KVM_IMAGE, package="b1-highcpu-bhyve-2G")
    assert api.post(f"/my/machines/{bhyve}", json={"action": "resize",
                                                   "package": "b1-general-bhyve-8G"}).json() == {
        "code": "VmNotStopped", "message": "VM not stopped"}
    assert api.post(f"/my/machines/{bhyve}", json={"action": "resize", "package": "g4-highcpu-2G"}).json() == {
        "code": "InvalidArgument",
        "message": "Resizing to a package without flexible disk space is not supported"}


def test_actions_take_effect_later(emu, api, machine_id):
    path = f"/my/machines/{machine_id}"
    assert api.post(path, json={"action": "stop"}).status == 202
    assert state_of(api, machine_id) == "stopping"
    eventually(lambda: state_of(api, machine_id) == "stopped")
    assert api.post(path, json={"action": "resize", "package": "g4-highcpu-4G"}).status == 202
    assert api.post(path, json={"action": "rename", "name": "renamed"}).status == 202
    assert api.post(path, json={"action": "enable_firewall"}).status == 202
    assert api.post(path, json={"action": "start"}).status == 202
    done = eventually(lambda: (m := api.get(path).json())["state"] == "running" and m["name"] == "renamed" and m)
    assert (done["package"], done["memory"], done["firewall_enabled"]) == ("g4-highcpu-4G", 4096, True)
    actions = [(e["action"], e["success"]) for e in audit(api, machine_id)]
    assert actions[:5] == [("start", "yes"), ("unknown", "yes"), ("rename", "yes"), ("resize", "yes"),
                           ("stop", "yes")]


def test_invalid_state_actions_are_accepted_and_fail_in_the_audit(emu, api, machine_id):
    path = f"/my/machines/{machine_id}"
    assert api.post(path, json={"action": "start"}).status == 202  # already running
    eventually(lambda: audit(api, machine_id)[0]["action"] == "start")
    entry = audit(api, machine_id)[0]
    assert entry["success"] == "no" and entry["caller"]["type"] == "signature"
    assert entry["caller"]["keyId"] == api.key.key_id
    assert state_of(api, machine_id) == "running"


def test_toggles_already_in_place_need_no_job(emu, api, machine_id):
    before = len(audit(api, machine_id))
    assert api.post(f"/my/machines/{machine_id}", json={"action": "disable_firewall"}).status == 202
    assert api.post(f"/my/machines/{machine_id}",
                    json={"action": "disable_deletion_protection"}).status == 202
    assert len(audit(api, machine_id)) == before
    assert not emu.state.datacenters["us-east-1"].machines[machine_id].jobs
