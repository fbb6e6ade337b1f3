"""ListMachines pages are kept (body and Content-MD5) while their machines are unchanged:
after every kind of change, the next page shows the machine as it now is."""

from __future__ import annotations

import base64
import hashlib

import pytest
from test_machines import BASE_IMAGE

from smartdc_nb.emulator.routes import listing


@pytest.fixture
def manual(emu):
    """Time stands still; ``emu.step()`` ends the next pending job."""
    emu.clock.set_manual(True)
    yield emu
    emu.clock.reset()


def page(api, query: str = "") -> dict[str, dict]:
    """The machines of a full ListMachines page by id; its Content-MD5 checked."""
    response = api.get(f"/my/machines?limit=1000{query}")
    assert response.status == 200
    digest = base64.b64encode(hashlib.md5(response.body).digest()).decode()
    assert response.header("content-md5") == digest
    return {m["id"]: m for m in response.json()}


def settle(emu) -> None:
    while emu.step() is not None:
        pass


def listed_twice(api, query: str = "") -> dict[str, dict]:
    """A page asked twice (the second from the kept page), which must agree."""
    first = page(api, query)
    assert page(api, query) == first
    return first


@pytest.mark.parametrize("action, body, expect", [
    ("stop", {}, {"state": "stopped"}),
    ("rename", {"name": "renamed-vm"}, {"name": "renamed-vm"}),
    ("resize", {"package": "g4-highcpu-4G"}, {"package": "g4-highcpu-4G", "memory": 4096}),
    ("enable_firewall", {}, {"firewall_enabled": True}),
    ("enable_deletion_protection", {}, {"deletion_protection": True}),
])
def test_an_action_shows_in_the_next_page(manual, api, machine_id, action, body, expect):
    before = listed_twice(api)[machine_id]
    assert api.post(f"/my/machines/{machine_id}", json={"action": action, **body}).status == 202
    if action == "stop":  # the job's own phase shows at once
        assert listed_twice(api)[machine_id]["state"] == "stopping"
    settle(manual)  # the clock ends the job
    after = listed_twice(api)[machine_id]
    assert {k: after[k] for k in expect} == expect != {k: before[k] for k in expect}


def test_tag_and_metadata_writes_show_in_the_next_page(manual, api, machine_id):
    listed_twice(api)
    path = f"/my/machines/{machine_id}"
    assert api.post(f"{path}/tags", json={"tier": "gold"}).status == 200
    settle(manual)
    assert listed_twice(api)[machine_id]["tags"] == {"role": "web", "tier": "gold"}
    assert api.put(f"{path}/tags", json={"only": "this"}).status == 200
    settle(manual)
    assert listed_twice(api)[machine_id]["tags"] == {"only": "this"}
    assert api.delete(f"{path}/tags/only").status == 204
    settle(manual)
    assert listed_twice(api)[machine_id]["tags"] == {}
    assert api.post(f"{path}/metadata", json={"color": "blue"}).status == 200
    settle(manual)
    assert listed_twice(api)[machine_id]["metadata"]["color"] == "blue"
    assert api.delete(f"{path}/metadata/color").status == 204
    settle(manual)
    assert "color" not in listed_twice(api)[machine_id]["metadata"]


def test_created_and_deleted_machines_come_and_go(manual, emu, api, machine_id):
    listed_twice(api)
    created = api.post("/my/machines", json={"image": BASE_IMAGE, "package": "g4-highcpu-1G",
                                             "name": "fresh-vm"}).json()
    assert listed_twice(api)[created["id"]]["state"] == "provisioning"
    settle(manual)
    assert listed_twice(api)[created["id"]]["state"] == "running"
    assert api.delete(f"/my/machines/{machine_id}").status == 204
    settle(manual)
    assert machine_id not in listed_twice(api)
    assert listed_twice(api, "&tombstone=1")[machine_id]["state"] == "deleted"


def test_admin_changes_and_catalog_changes_show_in_the_next_page(emu, api, machine_id):
    east = emu.datacenter("us-east-1")
    listed_twice(api)
    east.set_state(machine_id, "stopped")
    assert listed_twice(api)[machine_id]["state"] == "stopped"
    injected = east.put_machine(name="injected-vm")
    assert listed_twice(api)[injected]["name"] == "injected-vm"
    package = listed_twice(api)[machine_id]["package"]
    assert package
    emu.delete_package(package)
    assert listed_twice(api)[machine_id]["package"] == ""


def test_a_page_at_an_offset_moves_when_a_machine_comes_before_it(emu, api):
    everything = list(page(api))
    second = list(page(api, "&offset=5"))
    assert second == everything[5:]
    # a machine whose id sorts first (uuid descending) pushes every row one place on
    east = emu.datacenter("us-east-1")
    first_id = "ffffffff-ffff-4fff-bfff-ffffffffffff"
    east.put_machine(id=first_id, name="sorts-first")
    assert list(page(api, "&offset=5")) == [everything[4], *everything[5:]]
    assert list(page(api))[0] == first_id


def test_filtered_pages_are_their_own(emu, api, machine_id):
    listed_twice(api)
    named = listed_twice(api, "&name=fixture-vm")
    assert list(named) == [machine_id]
    web = listed_twice(api, "&tag.role=web")
    assert machine_id in web and all(m["tags"].get("role") == "web" for m in web.values())
    assert len(listed_twice(api)) > len(web)


def test_kept_pages_stay_within_their_byte_budget(emu, api, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_CACHE_BYTES", 1)  # room for one page only
    ids = list(page(api))
    for offset in range(1, 6):
        assert list(page(api, f"&offset={offset}")) == ids[offset:]
    kept = listing._pages[emu.state.datacenters["us-east-1"]]
    assert len(kept.entries) == 1 and kept.size == sum(len(e[1]) for e in kept.entries.values())
