"""Several datacenters per process, the catalog they share, and the seeded fleet."""

from __future__ import annotations

import time

import pytest
from emu_client import Client

from smartdc_nb.emulator import Emulator
from smartdc_nb.emulator.payloads import machine_dict


def test_datacenters_have_their_own_fleets_and_share_the_rest(emu, api, triton_keys):
    west = Client(emu.urls["us-west-1"], triton_keys["rsa"])
    assert list(emu.urls) == ["us-east-1", "us-west-1"]
    listed = api.get("/my/datacenters")
    assert listed.json() == emu.urls and listed.header("Triton-Datacenter-Name") == "us-east-1"
    assert west.get("/my/datacenters").header("Triton-Datacenter-Name") == "us-west-1"
    east_ids = {m["id"] for m in api.get("/my/machines").json()}
    west_ids = {m["id"] for m in west.get("/my/machines").json()}
    assert east_ids and west_ids and not east_ids & west_ids
    for path in ("/my", "/my/keys", "/my/packages", "/my/images"):
        assert api.get(path).json() == west.get(path).json(), path
    assert api.get("/my/networks").json() != west.get("/my/networks").json()
    key = triton_keys["ed25519"].public_line.replace("smartdc_nb-test-ed25519", "")
    api.delete(f"/my/keys/{triton_keys['ed25519'].md5}")
    assert triton_keys["ed25519"].md5 not in {k["fingerprint"] for k in west.get("/my/keys").json()}
    created = west.post("/my/keys", json={"key": key, "name": "again"})
    assert created.status == 201 and created.header("Location") == \
        f"/demo/keys/{triton_keys['ed25519'].md5.replace(':', '%3A')}"
    assert "again" in {k["name"] for k in api.get("/my/keys").json()}
    moved = api.get("/my/datacenters/us-west-1")
    assert (moved.status, moved.header("Location")) == (302, emu.urls["us-west-1"])
    assert moved.json() == {"code": "ResourceMoved", "message": f" us-west-1 {emu.urls['us-west-1']}"}
    assert api.get("/my/datacenters/mars").json() == {
        "code": "ResourceNotFound", "message": "mars is not an available datacenter"}
    west.close()


def test_keys_endpoint_errors(emu, api, triton_keys):
    assert api.post("/my/keys", json={}).json() == {"code": "MissingParameter",
                                                    "message": "key is a required argument"}
    assert api.post("/my/keys", json={"key": 42}).json() == {"code": "InvalidArgument",
                                                             "message": "key must be a String"}
    assert api.post("/my/keys", json={"key": "nospace"}).json()["message"] == "key is invalid"
    assert api.post("/my/keys", json={"key": "ssh-rsa AAAAnotakey"}).json()["message"] == \
        "key already exists or is invalid"
    duplicate = api.post("/my/keys", json={"key": triton_keys["rsa"].public_line})
    assert duplicate.json()["message"] == "key already exists or is invalid"
    assert api.get("/my/keys/smartdc_nb-test-rsa").json()["fingerprint"] == triton_keys["rsa"].md5
    assert api.get("/my/keys/nope").status == 404


def test_catalog_lookups(emu, api):
    packages = api.get("/my/packages").json()
    assert all(set(p) >= {"id", "name", "memory", "disk", "swap", "vcpus", "lwps", "version", "default"}
               for p in packages)
    assert "g3-standard-1.75-smartos" not in {p["name"] for p in packages}  # inactive
    assert api.get("/my/packages/g4-highcpu-1G").json()["version"] == "1.1.0"  # newest by name
    assert [p["name"] for p in api.get("/my/packages?memory=1024").json()] == ["g4-highcpu-1G"]
    assert {p["name"] for p in api.get("/my/packages?name=g4-highram-*").json()} == {
        "g4-highram-32G", "g4-highram-64G"}
    assert api.get("/my/packages/nope").json() == {"code": "ResourceNotFound", "message": "nope not found"}
    active = api.get("/my/images").json()
    everything = api.get("/my/images?state=all").json()
    assert len(everything) == len(active) + 1  # centos-7 is disabled
    assert {i["os"] for i in api.get("/my/images?os=windows").json()} == {"windows"}
    assert [i["name"] for i in api.get("/my/images?public=false").json()] == ["my-app-base"]
    image = active[0]
    assert api.get(f"/my/images/{image['id']}").json() == image
    assert api.get("/my/images/nope").status == 404
    fabric = api.get("/my/networks?fabric=true").json()
    assert len(fabric) == 1 and fabric[0]["vlan_id"] == 2
    assert api.get(f"/my/networks/{fabric[0]['id']}").json() == fabric[0]
    config = api.get("/my/config").json()
    assert api.put("/my/config", json={"default_network": fabric[0]["id"]}).json() == {
        "default_network": fabric[0]["id"]}
    assert api.put("/my/config", json={"default_network": "nope"}).json()["message"] == "unknown network"
    assert config["default_network"]
    assert api.get("/my/services").json() == {"cloudapi": emu.url}
    assert api.get("/my/limits").json() == []


def test_account_update(emu, api):
    updated = api.post("/my", json={"companyName": "Acme", "triton_cns_enabled": "true"}).json()
    assert updated["companyName"] == "Acme" and updated["triton_cns_enabled"] is True
    assert api.post("/my", json={"triton_cns_enabled": "maybe"}).status == 409


def _fleet(seed, size=200, datacenters=("dc1", "dc2")):
    emu = Emulator(datacenters=datacenters, machines=size, seed=seed)
    state = emu.state
    return {name: [machine_dict(m, state, 0) for m in dc.ordered()]
            for name, dc in state.datacenters.items()}


def test_seed_is_deterministic():
    first, again, other = _fleet(7), _fleet(7), _fleet(8)
    assert first == again
    assert first["dc1"] != other["dc1"]
    assert {m["id"] for m in first["dc1"]}.isdisjoint(m["id"] for m in first["dc2"])


def test_seeded_fleet_is_realistic():
    machines = _fleet(3, size=2000, datacenters=("dc1",))["dc1"]
    states = {m["state"] for m in machines}
    assert {"running", "stopped", "failed", "deleted", "offline"} <= states
    assert {"joyent", "joyent-minimal", "lx", "kvm", "bhyve"} <= {m["brand"] for m in machines}
    untagged = [m for m in machines if not m["tags"]]
    assert 0.05 < len(untagged) / len(machines) < 0.25
    envs = {m["tags"].get("env") for m in machines if m["tags"]}
    assert envs == {"prod", "staging", "dev", "test"}
    assert any("owner" not in m["tags"] for m in machines if m["tags"])
    years = {m["created"][:4] for m in machines}
    assert len(years) >= 4  # ages over years

    def stopped_share(env):
        group = [m for m in machines if m["tags"].get("env") == env]
        return sum(m["state"] == "stopped" for m in group) / len(group)

    assert stopped_share("dev") > 3 * stopped_share("prod")  # a pattern to find
    assert all(m["ips"] for m in machines if m["state"] == "running")
    assert any(ip.startswith("165.225.") for m in machines for ip in m["ips"])
    assert any(ip.startswith("10.") for m in machines for ip in m["ips"])


@pytest.mark.slow
def test_100000_machines_seed_and_page(triton_keys):
    """Measured, not asserted: seeding time and the first and last page."""
    from smartdc_nb.emulator.testing import make_emulator

    started = time.perf_counter()
    emu = make_emulator(triton_keys, machines=100_000, datacenters=["big"])
    seeded = time.perf_counter() - started
    assert len(emu.state.datacenters["big"].machines) == 100_000
    with emu:
        client = Client(emu.url, triton_keys["rsa"])
        started = time.perf_counter()
        first = client.get("/my/machines?limit=1000")
        last = client.get("/my/machines?limit=1000&offset=96000")
        paged = time.perf_counter() - started
        client.close()
    assert len(first.json()) == 1000 and 0 < len(last.json()) <= 1000
    print(f"\nseeding 100,000 machines: {seeded:.1f} s; first + far page: {paged * 1000:.0f} ms")
