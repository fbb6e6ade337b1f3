"""Tags, metadata, snapshots, audit and NICs of a machine (cloudapi.md §5)."""

from __future__ import annotations

import uuid

import pytest
from polling import eventually

from smartdc_nb.emulator.seed import stable_uuid

KVM_IMAGE = stable_uuid("image", "ubuntu-certified-22.04", "20230406")


def tags(api, machine_id):
    return api.get(f"/my/machines/{machine_id}/tags").json()


def audit(api, machine_id):
    return api.get(f"/my/machines/{machine_id}/audit").json()


# ---------------------------------------------------------------------- tags


def test_tags_add_replace_delete(emu, api, machine_id):
    path = f"/my/machines/{machine_id}/tags"
    added = api.post(path, json={"env": "prod", "n": 3, "flag": True})
    assert added.status == 200 and added.header("x-job-uuid")
    assert added.json() == {"role": "web", "env": "prod", "n": 3, "flag": True}
    assert tags(api, machine_id) == {"role": "web"}  # not before the job has finished
    eventually(lambda: tags(api, machine_id).get("env") == "prod")
    assert api.get(f"{path}/n").body == b'""'  # non-string values read as ""
    assert api.get(f"{path}/env").json() == "prod"
    replaced = api.put(path, json={"only": "this"})
    assert replaced.json() == {"only": "this"}
    eventually(lambda: tags(api, machine_id) == {"only": "this"})
    assert api.delete(f"{path}/only").status == 204
    eventually(lambda: tags(api, machine_id) == {})
    missing = api.get(f"{path}/only")
    assert (missing.status, missing.json()) == (404, {"code": "ResourceNotFound", "message": 'tag "only" not found'})
    assert api.delete(f"{path}/only").json()["message"] == 'tag "only" not found'
    api.post(path, json={"a": "1", "b": "2"})
    eventually(lambda: len(tags(api, machine_id)) == 2)
    assert api.delete(path).status == 204
    eventually(lambda: tags(api, machine_id) == {})
    actions = [e["action"] for e in audit(api, machine_id)][:6]
    assert actions == ["remove_tags", "set_tags", "remove_tags", "replace_tags", "set_tags", "provision"]


def test_no_tags_or_metadata_to_add_or_replace_is_refused(emu, api, machine_id):
    # sdc-vmapi lib/common/vm-common.js addMetadata (used by AddMetadata and SetMetadata):
    # "At least one <type> key must be provided", answered by lib/endpoints/metadata.js as
    # ValidationFailed with invalidParamErrorsElem(type); CloudAPI's lib/tags.js wraps it.
    path = f"/my/machines/{machine_id}"
    invalid = "Invalid parameter"
    for method, what in (("POST", "error adding tags"), ("PUT", "error replacing tags")):
        response = api.request(method, f"{path}/tags", json={})
        assert (response.status, response.json()) == (409, {
            "code": "ValidationFailed", "message": f"{what}: Invalid tag parameters",
            "errors": [{"field": "tags", "code": "Invalid", "message": invalid}]})
    response = api.post(f"{path}/metadata", json={"ignored_pw": "x"})
    assert (response.status, response.json()) == (409, {
        "code": "ValidationFailed", "message": "Invalid metadatum parameters",
        "errors": [{"field": "customer_metadata", "code": "Invalid", "message": invalid}]})
    assert not emu.state.datacenters["us-east-1"].machines[machine_id].jobs
    assert tags(api, machine_id) == {"role": "web"}


def test_tag_keys_with_odd_characters(emu, api, machine_id):
    api.post(f"/my/machines/{machine_id}/tags", json={"a/b c": "x"})
    eventually(lambda: "a/b c" in tags(api, machine_id))
    assert api.get(f"/my/machines/{machine_id}/tags/a%2Fb%20c").json() == "x"


@pytest.mark.parametrize("tag, message", [
    ({"triton.foo": "x"}, 'Unrecognized special triton tag "triton.foo"'),
    ({"triton.cns.services": True}, 'Triton tag "triton.cns.services" value must be a string: true (boolean)'),
    ({"triton.cns.disable": "true"}, 'Triton tag "triton.cns.disable" value must be a boolean: "true" (string)'),
    ({"triton.cns.services": "web_1"}, 'invalid "triton.cns.services" tag: Expected DNS name but "_" found.'),
    ({"triton.cns.services": "web:99999"},
     'invalid "triton.cns.services" tag: service port number for web must be within the range 1 - 65535'),
    ({"triton.cns.reverse_ptr": "not dns!"}, 'invalid "triton.cns.reverse_ptr" tag: "not dns!" is not DNS safe'),
])
def test_triton_tag_rules(emu, api, machine_id, tag, message):
    response = api.post(f"/my/machines/{machine_id}/tags", json=tag)
    assert (response.status, response.json()) == (409, {
        "code": "ValidationFailed", "message": "error adding tags: Invalid tag parameters",
        "errors": [{"field": "tags", "code": "Invalid", "message": message}]})
    replace = api.put(f"/my/machines/{machine_id}/tags", json=tag)
    assert replace.json()["message"] == "error replacing tags: Invalid tag parameters"


def test_valid_triton_tags_and_object_values(emu, api, machine_id):
    ok = api.post(f"/my/machines/{machine_id}/tags", json={
        "triton.cns.services": "web:80:priority=10,api", "triton.cns.disable": False,
        "triton.cns.reverse_ptr": "web.example.com", "triton.cmon.groups": "a,b"})
    assert ok.status == 200, ok.text
    objects = api.post(f"/my/machines/{machine_id}/tags", json={"nested": {"no": 1}})
    assert objects.status == 409
    assert objects.json()["errors"] == [{"field": "tags.nested", "code": "Invalid", "message": "Forbidden Data Type"}]


def test_docker_special_tags(emu, api):
    machine = emu.datacenter("us-east-1").put_machine(brand="lx", docker=True, tags={"sdc_docker": True})
    refused = api.post(f"/my/machines/{machine}/tags", json={"docker:label:com.docker.x": "1"})
    assert refused.json()["errors"][0]["message"] == 'Special tag "docker:label:com.docker.x" not supported'
    undeletable = api.delete(f"/my/machines/{machine}/tags/sdc_docker")
    assert undeletable.json()["message"] == "error deleting tag: Invalid tag parameters"


# ------------------------------------------------------------------ metadata


def test_metadata_add_get_delete(emu, api, machine_id):
    path = f"/my/machines/{machine_id}/metadata"
    added = api.post(path, json={"app": "v2", "secret_pw": "dropped", "credentials": "ignored"})
    assert added.status == 200 and added.header("x-job-uuid")
    assert added.json() == {"foo": "bar", "app": "v2"}
    eventually(lambda: api.get(path).json().get("app") == "v2")
    assert api.get(f"{path}/app").json() == "v2"
    assert api.get(f"{path}/app", headers={"Accept": "text/plain"}).body == b"v2"
    missing = api.get(f"{path}/nope")
    assert (missing.status, missing.json()) == (404, {"code": "ResourceNotFound",
                                                      "message": 'metadatum "nope" not found'})
    assert api.delete(f"{path}/app").status == 204
    eventually(lambda: "app" not in api.get(path).json())
    assert audit(api, machine_id)[0]["action"] == "remove_metadata"


@pytest.mark.parametrize("key", ["credentials", "administrator_pw", "root_authorized_keys"])
def test_protected_metadata_keys(emu, api, machine_id, key):
    response = api.delete(f"/my/machines/{machine_id}/metadata/{key}")
    assert (response.status, response.json()) == (409, {
        "code": "InvalidArgument", "message": f"Metadata key {key} can not be deleted"})


def test_delete_all_metadata_keeps_the_keys(emu, api):
    machine = emu.datacenter("us-east-1").put_machine(
        metadata={"root_authorized_keys": "ssh-rsa AAA", "administrator_pw": "x", "a": "1", "b": "2"})
    assert api.delete(f"/my/machines/{machine}/metadata").status == 204
    eventually(lambda: audit(api, machine)[0]["action"] == "replace_metadata")
    assert api.get(f"/my/machines/{machine}/metadata").json() == {
        "root_authorized_keys": "ssh-rsa AAA", "administrator_pw": "x"}


def test_credentials_and_user_script(emu, api):
    machine = emu.datacenter("us-east-1").put_machine(credentials={"root": "pw1", "admin": "pw2"},
                                                      metadata={"user-script": "#!/bin/sh\ntrue"})
    path = f"/my/machines/{machine}/metadata"
    assert "credentials" not in api.get(path).json()
    assert api.get(f"{path}?credentials=true").json()["credentials"] == {"root": "pw1", "admin": "pw2"}
    assert api.get(f"{path}/credentials").json() == {"root": "pw1", "admin": "pw2"}
    assert api.get(f"{path}/user-script").json() == "#!/bin/sh\ntrue"


def test_metadata_values_must_be_scalars(emu, api, machine_id):
    response = api.post(f"/my/machines/{machine_id}/metadata", json={"obj": {"a": 1}})
    assert (response.status, response.json()) == (409, {
        "code": "ValidationFailed", "message": "Invalid metadatum parameters",
        "errors": [{"field": "customer_metadata.obj", "code": "Invalid", "message": "Forbidden Data Type"}]})


# ----------------------------------------------------------------- snapshots


def test_starting_from_a_snapshot_the_machine_lacks_is_accepted_and_its_job_fails(
        emu, api, machine_id):
    """CloudAPI's StartMachineFromSnapshot loads no snapshots (lib/snapshots.js boot: straight
    to VMAPI's rollbackVm, which queues the job): an unknown name is a 202 and a failed
    rollback_snapshot job, the machine left as it was. (Delete loads them: 404.)"""
    path = f"/my/machines/{machine_id}/snapshots"
    before = api.get(f"/my/machines/{machine_id}").json()["state"]
    assert api.post(f"{path}/never-taken").status == 202
    eventually(lambda: audit(api, machine_id)[0]["action"] == "rollback_snapshot")
    assert audit(api, machine_id)[0]["success"] == "no"
    assert api.get(f"/my/machines/{machine_id}").json()["state"] == before
    assert api.delete(f"{path}/never-taken").status == 404


def test_snapshots_by_brand(emu, api):
    dc = emu.datacenter("us-east-1")
    kvm = dc.put_machine(brand="kvm", image=KVM_IMAGE)
    response = api.post(f"/my/machines/{kvm}/snapshots", json={"name": "s"})
    assert (response.status, response.json()) == (409, {
        "code": "BrandNotSupported", "message": 'snapshots are not supported for VMs of brand "kvm"'})
    bhyve = dc.put_machine(brand="bhyve", image=KVM_IMAGE)
    assert api.post(f"/my/machines/{bhyve}/snapshots").json() == {
        "code": "InvalidArgument", "message": "Snapshots of bhyve VMs are not allowed"}


# ------------------------------------------------------------- audit, nics


def test_audit_is_newest_first_and_never_empty(emu, api):
    seeded = api.get("/my/machines?limit=5").json()
    for machine in seeded:
        entries = audit(api, machine["id"])
        assert entries and entries[-1]["action"] == "provision"
        times = [e["time"] for e in entries]
        assert times == sorted(times, reverse=True)
        assert set(entries[0]) == {"success", "time", "action", "caller"}


def test_nics_are_read_only(emu, api, machine_id):
    nics = api.get(f"/my/machines/{machine_id}/nics")
    assert nics.header("x-resource-count") == "1"
    nic = nics.json()[0]
    assert set(nic) == {"mac", "ip", "primary", "gateway", "netmask", "state", "network"}
    assert nic["state"] == "running"
    mac = nic["mac"].replace(":", "")
    assert api.get(f"/my/machines/{machine_id}/nics/{mac}").json() == nic
    assert api.get(f"/my/machines/{machine_id}/nics/zz").json() == {
        "code": "InvalidArgument", "message": "mac has invalid format"}
    assert api.get(f"/my/machines/{machine_id}/nics/000000000000").json() == {
        "code": "ResourceNotFound", "message": "nic not found"}
    assert api.post(f"/my/machines/{machine_id}/nics", json={"network": str(uuid.uuid4())}).status == 405
    assert api.delete(f"/my/machines/{machine_id}/nics/{mac}").status == 405


def test_sub_resources_of_unknown_machines(emu, api):
    for sub in ("tags", "metadata", "snapshots", "audit", "nics"):
        response = api.get(f"/my/machines/{uuid.uuid4()}/{sub}")
        assert (response.status, response.json()["message"]) == (404, "VM not found")
