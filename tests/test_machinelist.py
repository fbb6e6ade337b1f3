"""MachineList: a list of machines that stays one when sliced, refreshes cheaply, shows itself."""

from __future__ import annotations

import pytest

import smartdc_nb
from test_machine_support import fetched, logged

from smartdc_nb.bulk import BulkActions
from smartdc_nb.machine import Machine
from smartdc_nb.machinelist import MachineList


@pytest.fixture
def machines(emu, dc, dc_west):
    ml = MachineList([fetched(dc, emu, name="a-1", brand="lx", tags={"role": "web"}),
                      fetched(dc, emu, name="a-2", state="stopped", tags={"role": "db"}),
                      fetched(dc_west, emu, name="b-1", tags={"role": "web"})])
    emu.clear_requests()
    return ml


def test_it_is_a_list_and_stays_a_machinelist(machines):
    assert isinstance(machines, list) and isinstance(machines, BulkActions)
    assert isinstance(machines[0], Machine)
    assert isinstance(machines[1:], MachineList) and len(machines[1:]) == 2
    assert isinstance(machines + machines[:1], MachineList)
    assert isinstance(machines.copy(), MachineList) and machines.copy() == machines


def test_where_states_and_datacenters_need_no_request(emu, machines, dc, dc_west):
    assert [m.name for m in machines.where(state="running")] == ["a-1", "b-1"]
    assert [m.name for m in machines.where(brand="lx", state="running")] == ["a-1"]
    assert [m.name for m in machines.where(tags={"role": "web"})] == ["a-1", "b-1"]
    assert [m.name for m in machines.where(lambda m: m.name.startswith("b"))] == ["b-1"]
    assert machines.states == {"running": 2, "stopped": 1}
    assert machines.datacenters == [dc, dc_west]
    assert emu.requests == []


def test_refresh_is_one_request_per_datacenter(emu, machines):
    machines[0].stop()
    emu.clear_requests()
    assert machines.refresh() is machines
    # two machines in us-east-1: a listing; one in us-west-1: fetching it costs the same
    assert sorted((r["datacenter"], r["path"]) for r in emu.requests) == [
        ("us-east-1", "/demo/machines"), ("us-west-1", machines[2].path)]
    assert machines[0].state in ("stopping", "stopped")


def test_reprs(emu, machines):
    assert repr(machines) == \
        "<MachineList 3 machines (2 running, 1 stopped) in us-east-1, us-west-1>"
    assert repr(MachineList()) == "<MachineList: no machines>"
    page = machines._repr_html_()
    assert "a-1" in page and "b-1" in page
    assert emu.requests == []


def test_to_frame_uses_the_known_payloads(emu, machines):
    frame = machines.to_frame()
    assert list(frame["name"]) == ["a-1", "a-2", "b-1"]
    assert list(frame["datacenter"]) == ["us-east-1", "us-east-1", "us-west-1"]
    assert emu.requests == []
    assert frame.triton.machines() == machines  # the accessor finds the same machines


def test_waits_and_bulk_actions_are_methods(emu, machines):
    machines.where(state="running").stop(confirm=True, wait=True, interval=0.05, progress=False)
    result = machines.wait_for("stopped", interval=0.05, progress=False)
    assert result.ok and len(logged(emu, "POST")) == 2


def test_where_with_a_mistyped_field_says_which_fields_there_are(dc):
    machines = dc.machines()
    with pytest.raises(smartdc_nb.InvalidInputError, match=r"nme.*did you mean 'name'"):
        machines.where(nme="x")
    with pytest.raises(smartdc_nb.InvalidInputError, match="nme"):
        MachineList([]).where(nme="x")     # said even when there is nothing to filter
