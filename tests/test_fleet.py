"""Fleet: every datacenter of an account at once, end to end against the emulator."""

from __future__ import annotations

import threading
import time
import warnings

import pytest

import smartdc_nb
from smartdc_nb import Fleet
from smartdc_nb.errors import InvalidInputError, ServerError, TransportError
from smartdc_nb.fleet import DatacenterWarning, gather


def ids_of(dc, **filters):
    return {m["id"] for m in dc.raw_machines(**filters)}


def test_every_listed_datacenter_with_the_same_credentials(emu, dc):
    emu.clear_requests()
    fleet = Fleet(dc)
    assert fleet.names == ["us-east-1", "us-west-1"] == list(emu.urls)
    assert fleet["us-east-1"] is dc  # the connection's own datacenter is used as it is
    west = fleet["us-west-1"]
    assert west.url == emu.urls["us-west-1"] and west.signer is dc.signer
    assert [r["path"] for r in emu.requests] == ["/demo/datacenters"]
    assert len(fleet) == 2 and "us-west-1" in fleet and [d.name for d in fleet] == fleet.names


def test_only_the_named_datacenters(emu, dc):
    fleet = Fleet(["us-west-1"], dc=dc)
    assert fleet.names == ["us-west-1"]
    assert Fleet("us-east-1", dc=dc).names == ["us-east-1"]
    with pytest.raises(InvalidInputError, match=r"no datacenter named 'mars-1'.*us-east-1, us-west-1"):
        Fleet(["us-east-1", "mars-1"], dc=dc)
    with pytest.raises(InvalidInputError, match="named twice"):
        Fleet(["us-east-1", "us-east-1"], dc=dc)
    with pytest.raises(InvalidInputError, match="names .strings. or DataCenter objects"):
        Fleet(["us-east-1", 3], dc=dc)
    with pytest.raises(KeyError, match="no datacenter 'us-east-1' in this fleet; it has: us-west-1"):
        fleet["us-east-1"]


def test_datacenter_objects_are_used_as_given_without_a_request(emu, dc, dc_west, connect):
    emu.clear_requests()
    fleet = Fleet([dc, dc_west])
    assert fleet.datacenters == {"us-east-1": dc, "us-west-1": dc_west}
    assert Fleet({"east": dc}).datacenters == {"east": dc}
    assert emu.requests == []
    with pytest.raises(InvalidInputError, match="has no name"):
        Fleet([connect(name=None)])
    with pytest.raises(InvalidInputError, match="two DataCenters are named 'us-east-1'"):
        Fleet([dc, connect()])
    with pytest.raises(InvalidInputError, match="not a DataCenter"):
        Fleet({"a": "http://example"})
    with pytest.raises(InvalidInputError, match="not both"):
        Fleet(dc=dc, profile="demo")
    with pytest.raises(InvalidInputError, match="give one or the other"):
        Fleet([dc], dc=dc)


def test_connects_like_connect_when_given_connection_arguments(emu, triton_keys):
    key = triton_keys["ed25519"]
    fleet = Fleet(url=emu.url, account="demo", key_id=key.md5, key_path=str(key.private),
                  rate_limit=False)
    assert fleet.names == ["us-east-1", "us-west-1"]
    assert fleet["us-west-1"].account()["login"] == "demo"


def test_machines_are_listed_in_every_datacenter(emu, fleet, dc, dc_west):
    found = fleet.raw_machines()
    assert list(found) == ["us-east-1", "us-west-1"]
    assert {m["id"] for m in found["us-east-1"]} == ids_of(dc)
    assert {m["id"] for m in found["us-west-1"]} == ids_of(dc_west)
    assert not set(ids_of(dc)) & set(ids_of(dc_west))
    running = fleet.raw_machines(state="running")
    assert all(m["state"] == "running" for ms in running.values() for m in ms)
    assert fleet.num_machines() == {"us-east-1": len(ids_of(dc)), "us-west-1": len(ids_of(dc_west))}


def test_machine_list_keeps_each_machine_s_datacenter(fleet, dc, dc_west):
    machines = fleet.machines()
    assert type(machines).__name__ == "MachineList"
    by_dc = {}
    for machine in machines:
        by_dc.setdefault(machine.datacenter.name, set()).add(machine.id)
        assert machine.datacenter is fleet[machine.datacenter.name]
    assert by_dc == {"us-east-1": ids_of(dc), "us-west-1": ids_of(dc_west)}


def test_a_bad_filter_is_refused_before_any_request(emu, fleet):
    emu.clear_requests()
    with pytest.raises(InvalidInputError, match="unknown machine filter 'colour'"):
        fleet.machines(colour="red")
    with pytest.raises(InvalidInputError, match="tombstone=True"):
        fleet.raw_machines(state="deleted")
    assert emu.requests == []


def test_catalogs_are_keyed_by_datacenter_and_unchanged(fleet, dc, dc_west):
    packages = fleet.packages()
    assert packages == {"us-east-1": dc.packages(), "us-west-1": dc_west.packages()}
    assert all("datacenter" not in p for ps in packages.values() for p in ps)
    images = fleet.images(state="all")
    assert images["us-west-1"] == dc_west.images(state="all")
    networks = fleet.networks()
    assert {n["id"] for n in networks["us-east-1"]} == {n["id"] for n in dc.networks()}
    assert not {n["id"] for n in networks["us-east-1"]} & {n["id"] for n in networks["us-west-1"]}


def test_a_failing_datacenter_does_not_lose_the_others(emu, fleet, dc):
    emu.faults.add(path=r"/machines", datacenter="us-west-1", status=500)
    with pytest.warns(DatacenterWarning, match=r"us-west-1: listing machines failed.*ServerError"):
        found = fleet.raw_machines()
    assert list(found) == ["us-east-1"]
    assert {m["id"] for m in found["us-east-1"]} == ids_of(dc)
    assert isinstance(fleet.errors["us-west-1"], ServerError)
    assert list(fleet.errors) == ["us-west-1"]
    with pytest.warns(DatacenterWarning):
        machines = fleet.machines()
    assert {m.datacenter.name for m in machines} == {"us-east-1"}
    assert "us-west-1 (failed: ServerError)" in repr(fleet)
    emu.faults.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatacenterWarning)
        assert set(fleet.raw_machines()) == {"us-east-1", "us-west-1"}
    assert fleet.errors == {}


def test_an_unreachable_datacenter_after_retries(emu, connect):
    fleet = Fleet(connect(retries=1))
    emu.faults.add(path=r"/packages", datacenter="us-east-1", drop=True)
    with pytest.warns(DatacenterWarning, match="us-east-1: listing packages failed"):
        packages = fleet.packages()
    assert list(packages) == ["us-west-1"] and packages["us-west-1"]
    assert isinstance(fleet.errors["us-east-1"], TransportError)
    drops = [r for r in emu.requests if r["path"] == "/demo/packages"
             and r["datacenter"] == "us-east-1"]
    assert len(drops) == 2  # the first attempt and one retry


def test_when_every_datacenter_fails_the_error_is_raised(emu, fleet):
    emu.faults.add(path=r"/networks", status=500)
    with pytest.warns(DatacenterWarning), pytest.raises(ServerError):
        fleet.networks()
    assert set(fleet.errors) == {"us-east-1", "us-west-1"}


def test_repr_and_html_make_no_request(emu, fleet):
    assert repr(fleet) == "<Fleet demo: us-east-1, us-west-1>"
    fleet.raw_machines()
    counts = {name: len(ms) for name, ms in fleet.raw_machines().items()}
    emu.clear_requests()
    text = repr(fleet)
    assert text == (f"<Fleet demo: us-east-1 ({counts['us-east-1']} machines), "
                    f"us-west-1 ({counts['us-west-1']} machines)>")
    html = fleet._repr_html_()
    assert "us-west-1" in html and emu.urls["us-west-1"] in html
    assert emu.requests == []
    # a filtered listing says nothing about the size of the fleet
    fleet.raw_machines(state="running")
    assert repr(fleet) == text
    assert [row["machines"] for row in fleet.status()] == [counts["us-east-1"],
                                                             counts["us-west-1"]]


def test_fleet_is_importable_lazily():
    assert smartdc_nb.Fleet is Fleet


# ------------------------------------------------------------------ bulk actions


def test_fleet_actions_need_an_explicit_selection(emu, fleet):
    emu.clear_requests()
    with pytest.raises(InvalidInputError, match="say which machines.*where='all'"):
        fleet.reboot()
    with pytest.raises(InvalidInputError, match="stop is destructive"):
        fleet.stop(where={"state": "running"})
    with pytest.raises(InvalidInputError, match="where= must be a dict of machine filters or 'all'"):
        fleet.start(where="everything")
    # filters that filter nothing (built from empty user input) are not a silent "all"
    for empty in ({}, {"state": None}, {"tags": {}, "name": None}):
        with pytest.raises(InvalidInputError, match="filters nothing.*where='all'"):
            fleet.delete(confirm=True, where=empty)
        with pytest.raises(InvalidInputError, match="filters nothing"):
            fleet.plan("delete", where=empty)
    assert emu.requests == []


def test_the_missing_selection_error_shows_the_call_that_was_made(emu, fleet):
    # it showed fleet.stop(...) whatever was called: copied, it would stop machines
    emu.clear_requests()
    for call, shown in ((lambda: fleet.reboot(), "fleet.reboot(..., where="),
                        (lambda: fleet.start(wait=True), "fleet.start(..., where="),
                        (lambda: fleet.plan("reboot"), "fleet.plan('reboot', ..., where=")):
        with pytest.raises(InvalidInputError) as info:
            call()
        assert shown in str(info.value) and "stop" not in str(info.value)
    assert emu.requests == []


def test_fleet_action_over_the_machines_where_names(emu, fleet, dc, dc_west):
    where = {"state": "running", "tags": {"env": "dev"}}
    expected = {(d.name, m["id"]) for d in (dc, dc_west) for m in d.raw_machines(**where)}
    plan = fleet.stop(where=where, dry_run=True, progress=False)
    assert set(zip(plan.frame.datacenter, plan.frame.id)) == expected
    everything = fleet.start(where="all", dry_run=True, progress=False)
    assert len(everything.frame) == sum(len(d.raw_machines()) for d in (dc, dc_west))
    name = dc.raw_machines()[0]["name"]
    named = {(d.name, m["id"]) for d in (dc, dc_west) for m in d.raw_machines(name=name)}
    result = fleet.add_tags({"where": "tag named like an option"}, where={"name": name},
                            wait=True, interval=0.1, progress=False)
    assert result.ok and set(zip(result.frame.datacenter, result.frame.id)) == named
    for datacenter, machine_id in named:
        tags = fleet[datacenter].raw_machine_data(machine_id)["tags"]
        assert tags["where"] == "tag named like an option"
    # a selection made first acts the same way
    listed = fleet.machines(**where)
    assert {(m.datacenter.name, m.id) for m in listed} == expected


def test_an_interrupt_drops_the_tasks_not_started():
    started = []
    lock = threading.Lock()

    def task(i):
        with lock:
            started.append(i)
        time.sleep(0.05)
        return i

    def interrupt(done):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gather({i: (lambda i=i: task(i)) for i in range(50)}, 2, interrupt)
    assert len(started) < 10
