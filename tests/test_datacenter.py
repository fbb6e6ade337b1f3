"""DataCenter: the account-level API, end to end against the emulator."""

from __future__ import annotations

import json

import pytest

import smartdc_nb
from smartdc_nb import DataCenter
from smartdc_nb.errors import ConfigError, InvalidInputError, NotFoundError


def last(emu, method, path):
    """The last logged request with this method and path."""
    return [r for r in emu.requests if r["method"] == method and r["path"] == path][-1]


def test_account_and_datacenters(emu, connect):
    dc = connect(name=None)
    assert dc.account()["login"] == "demo"
    assert dc.name is None  # nothing is known about its name before a request says it
    dcs = dc.datacenters()
    assert dcs == emu.urls
    assert dc.name == "us-east-1"


def test_datacenter_by_name_shares_the_credentials(emu, dc):
    west = dc.datacenter("us-west-1")
    assert west.url == emu.urls["us-west-1"] and west.name == "us-west-1"
    assert west.signer is dc.signer
    assert west.account()["login"] == "demo"
    assert dc.datacenter("us-east-1") is dc
    with pytest.raises(InvalidInputError, match="no datacenter named 'mars-1'.*us-east-1, us-west-1"):
        dc.datacenter("mars-1")


def test_keys(dc, triton_keys):
    keys = dc.keys()
    fingerprints = {k["fingerprint"] for k in keys}
    assert triton_keys["rsa"].md5 in fingerprints
    one = dc.key(triton_keys["ed25519"].md5)
    assert one["fingerprint"] == triton_keys["ed25519"].md5
    with pytest.raises(NotFoundError):
        dc.key("no-such-key")


def test_packages_and_images_are_remembered_for_reprs(emu, dc):
    assert dc.known_package("g4-highcpu-1G") is None  # nothing fetched yet
    packages = dc.packages()
    assert packages and {"id", "name", "memory", "disk", "vcpus"} <= set(packages[0])
    one = dc.package(packages[0]["name"])
    assert one["id"] == packages[0]["id"]
    assert dc.known_package(one["name"]) == one == dc.known_package(one["id"])
    assert dc.packages(memory=one["memory"]) and all(
        p["memory"] == one["memory"] for p in dc.packages(memory=one["memory"]))

    images = dc.images()
    assert dc.known_image(images[0]["id"]) == images[0]
    count = len(emu.requests)
    dc.known_image(images[1]["id"])
    assert len(emu.requests) == count  # remembering costs no request


def test_image_by_name_and_version(dc):
    images = [i for i in dc.images() if i["name"] == "base-64-lts"]
    newest = max(images, key=lambda i: i["published_at"])
    assert dc.image("base-64-lts")["id"] == newest["id"]
    oldest = min(images, key=lambda i: i["published_at"])
    assert dc.image(f"base-64-lts@{oldest['version']}")["id"] == oldest["id"]
    assert dc.image(oldest["id"])["id"] == oldest["id"]
    with pytest.raises(NotFoundError, match="no active image named 'nope'"):
        dc.image("nope")


def test_networks_and_services(emu, dc):
    nets = dc.networks()
    assert any(n["public"] for n in nets) and any(not n["public"] for n in nets)
    assert dc.network(nets[0]["id"])["name"] == nets[0]["name"]
    assert dc.services()["cloudapi"] == emu.url


def test_machine_filters_are_sent_as_cloudapi_reads_them(emu, dc):
    running = dc.machines(state="running", tags={"env": "prod"}, docker=False)
    assert running and all(m.state == "running" and m.raw["tags"]["env"] == "prod"
                           for m in running)
    query = last(emu, "GET", "/demo/machines")["query"]
    assert query == {"state": "running", "tag.env": "prod", "docker": "false",
                     "limit": "1000", "offset": "0"}
    assert dc.num_machines(state="running", tags={"env": "prod"}) == len(running)
    assert dc.num_machines() == len(dc.raw_machines())


def test_a_tag_value_vmapi_cannot_search_exactly_is_matched_here(emu, dc):
    # VMAPI searches tags with an LDAP substring filter: a "*" in the value is a wildcard,
    # "=" is stored escaped but searched raw, and ( ) \ are filter syntax
    cloud = emu.datacenter("us-east-1")
    star = cloud.put_machine(name="lit-star", tags={"motto": "web*"})
    cloud.put_machine(name="lit-web", tags={"motto": "web-1"})
    eq = cloud.put_machine(name="lit-eq", tags={"motto": "a=b (x)"})
    for value, wanted in (("web*", star), ("a=b (x)", eq)):
        emu.clear_requests()
        assert [m.id for m in dc.machines(tags={"motto": value})] == [wanted]
        assert "tag.motto" not in last(emu, "GET", "/demo/machines")["query"]
        assert dc.num_machines(tags={"motto": value}) == 1
    assert [m.id for m in dc.machines(tags={"motto": "web-1"})] != []  # searchable: sent
    assert last(emu, "GET", "/demo/machines")["query"]["tag.motto"] == "web-1"


def test_a_name_filter_is_exact_though_vmapi_matches_a_prefix(emu, dc, connect):
    # VMAPI lists by (alias=<name>*): fleet.stop(where={"name": "web"}) would stop web-01 too
    cloud = emu.datacenter("us-east-1")
    web = cloud.put_machine(name="pfx-web")
    cloud.put_machine(name="pfx-web-01")
    assert [m.id for m in dc.machines(name="pfx-web")] == [web]
    assert last(emu, "GET", "/demo/machines")["query"]["name"] == "pfx-web"  # still narrows
    assert dc.num_machines(name="pfx-web") == 1
    assert [m.id for m in smartdc_nb.Fleet([dc]).select({"name": "pfx-web"})] == [web]


@pytest.mark.parametrize("filters, message", [
    ({"state": "deleted"}, "cannot filter machines by state 'deleted' (use tombstone=True"),
    ({"state": "bogus"}, "valid states: provisioning"),
    ({"colour": "red"}, "unknown machine filter 'colour'"),
    ({"tags": "role=web"}, "tags= must be a dict"),
])
def test_bad_machine_filters_are_refused_before_sending(emu, dc, filters, message):
    with pytest.raises(InvalidInputError) as err:
        dc.machines(**filters)
    assert message in str(err.value)
    assert emu.requests == []


def test_machine_by_id_and_by_name(emu, dc):
    some = dc.raw_machines()[3]
    assert dc.machine(some["id"]).name == some["name"]
    assert dc.machine(some["name"]).id == some["id"]
    with pytest.raises(NotFoundError, match="no machine named 'nobody-here'"):
        dc.machine("nobody-here")
    with pytest.raises(InvalidInputError, match="not a machine id"):
        dc.raw_machine_data("not-a-uuid")


def test_raw_machine_data_with_credentials(emu, dc):
    mid = dc.create_machine(name="with-pw", package="g4-highcpu-1G", image="base-64-lts",
                            metadata={"credentials": json.dumps({"root": "s3cret"})}).id
    data = dc.raw_machine_data(mid, credentials=True)
    assert last(emu, "GET", f"/demo/machines/{mid}")["query"] == {"credentials": "true"}
    assert data["metadata"]["credentials"] == {"root": "s3cret"}
    assert "credentials" not in dc.raw_machine_data(mid)["metadata"]


def test_create_machine_sends_flat_metadata_and_tags(emu, dc, tmp_path):
    script = tmp_path / "boot.sh"
    script.write_text("#!/bin/sh\necho hello\n")
    package = dc.packages()[2]
    machine = dc.create_machine(
        name="created-1", package=package, image="base-64-lts", networks=[dc.networks()[0]],
        metadata={"owner": "ops", "n": 3}, tags={"role": "web", "on": True},
        boot_script=script, firewall_enabled=True, deletion_protection=False)
    assert machine.state == "provisioning" and machine.name == "created-1"
    body = last(emu, "POST", "/demo/machines")["body"]
    assert body == {
        "name": "created-1", "package": package["id"], "image": dc.image("base-64-lts")["id"],
        "networks": [dc.networks()[0]["id"]],
        "metadata.owner": "ops", "metadata.n": 3, "metadata.user-script": script.read_text(),
        "tag.role": "web", "tag.on": True, "firewall_enabled": True, "deletion_protection": False,
    }
    assert dc.machine(machine.id).raw["tags"] == {"role": "web", "on": True}


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "bad name!"}, "invalid machine name 'bad name!'"),
    ({"name": "x" * 190}, "at most 189"),
    ({"metadata": {"conf": {"a": 1}}}, "metadata 'conf' has a dict value"),
    ({"tags": {"t": None}}, "tag 't' has a NoneType value"),
    ({"package": None}, "needs a package"),
    ({"image": None}, "needs an image"),
    ({"boot_script": "/no/such/script.sh"}, "cannot read boot script '/no/such/script.sh'"),
    ({"boot_script": "/etc/hostname", "user_script": "x"}, "not both"),
])
def test_create_machine_refuses_bad_input_before_sending(emu, dc, kwargs, message):
    args = {"name": "ok-name", "package": "g4-highcpu-1G",
            "image": "00000000-0000-4000-8000-000000000000", **kwargs}
    emu.clear_requests()
    with pytest.raises(InvalidInputError) as err:
        dc.create_machine(**args)
    assert message in str(err.value)
    assert not [r for r in emu.requests if r["method"] == "POST"]


def test_connect_with_a_triton_profile(emu, triton_keys, tmp_path, monkeypatch):
    home = tmp_path / "home"
    profiles = home / ".triton" / "profiles.d"
    profiles.mkdir(parents=True)
    key = triton_keys["ed25519"]
    ssh = home / ".ssh"
    ssh.mkdir()
    (ssh / "id_ed25519").write_bytes(key.private.read_bytes())
    (ssh / "id_ed25519").chmod(0o600)
    (ssh / "id_ed25519.pub").write_text(key.public_line + "\n")
    (profiles / "local.json").write_text(json.dumps(
        {"url": emu.url, "account": "demo", "keyId": key.sha256}))
    monkeypatch.setenv("HOME", str(home))
    for var in ("TRITON_PROFILE", "XDG_CONFIG_HOME", "TRITONTEST_CLI_CONFIG_DIR", "SSH_AUTH_SOCK",
                "TRITON_URL", "SDC_URL", "TRITON_ACCOUNT", "SDC_ACCOUNT", "TRITON_KEY_ID",
                "SDC_KEY_ID"):
        monkeypatch.delenv(var, raising=False)
    dc = smartdc_nb.connect("local", rate_limit=False)
    assert isinstance(dc, DataCenter)
    assert dc.account()["login"] == "demo"
    assert dc.signer.md5_fingerprint == key.md5  # found in ~/.ssh by its SHA256 fingerprint
    # explicit arguments win over the profile's fields
    west = smartdc_nb.connect("local", url=emu.urls["us-west-1"], rate_limit=False)
    assert west.url == emu.urls["us-west-1"]
    with pytest.raises(ConfigError, match="nope"):
        smartdc_nb.connect("nope")


def test_url_without_scheme_is_refused(triton_keys):
    key = triton_keys["rsa"]
    with pytest.raises(ConfigError, match="http"):
        DataCenter("127.0.0.1:8080", "demo", key_path=str(key.private))


def test_repr_and_equality_make_no_request(emu, dc, connect):
    count = len(emu.requests)
    text = repr(dc)
    assert text == f"<DataCenter us-east-1 demo@{emu.url}>"
    assert dc == connect() and hash(dc) == hash(connect())
    assert dc != connect("us-west-1")
    assert len(emu.requests) == count


def test_unknown_machine_id_is_named_in_the_error(dc):
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(NotFoundError) as err:
        dc.machine(missing)
    assert missing in str(err.value)


def test_insecure_tls_is_said_once_however_the_connection_is_made(triton_keys):
    import warnings

    from smartdc_nb.config import InsecureTLSWarning

    key = triton_keys["rsa"]
    for make in (lambda: DataCenter("https://cloud.example:8443", "demo",
                                    key_path=str(key.private), insecure=True),
                 lambda: smartdc_nb.connect(url="https://cloud.example:8443", account="demo",
                                            key_path=str(key.private), insecure=True)):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            dc = make()
        said = [w for w in seen if issubclass(w.category, InsecureTLSWarning)]
        assert len(said) == 1 and "https://cloud.example:8443" in str(said[0].message)
        assert dc.transport.session.verify is False
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        DataCenter("http://127.0.0.1:1", "demo", key_path=str(key.private), insecure=True)
    assert not seen  # plain http has no TLS to turn off


def test_a_mistyped_connect_option_is_refused_with_the_options_connect_takes(emu, connect):
    # connect() takes DataCenter options besides the profile's fields; the error listed only
    # the profile's, so page_concurrency (the README's own example) looked unsupported
    with pytest.raises(ConfigError) as info:
        connect(page_concurency=1)
    message = str(info.value)
    assert "page_concurency" in message
    for option in ("url", "key_path", "page_concurrency", "request_timeout", "journal"):
        assert option in message
    assert connect(page_concurrency=1).account()["login"] == "demo"
