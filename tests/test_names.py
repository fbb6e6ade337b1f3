"""One name per idea: wait_for is the wait (the seed's names and wait_until are its aliases),
summary() is one line of text, to_frame() builds a frame, and the old module paths still import."""

from __future__ import annotations

import importlib
import inspect

import pytest
from test_machine_support import FAST, fetched

import smartdc_nb
from smartdc_nb import progress
from smartdc_nb.machinelist import MachineList
from smartdc_nb.widgets.base import Panel


def test_wait_for_takes_a_predicate_and_wait_until_is_its_old_name(emu, dc):
    m = fetched(dc, emu, name="names-1")
    m.enable_firewall()
    assert m.wait_for(lambda machine: machine.firewall_enabled, timeout=30,
                      description="the firewall on", **FAST) is m
    assert m.firewall_enabled
    m.disable_firewall()
    assert m.wait_until(lambda machine: not machine.firewall_enabled, "the firewall off",
                        timeout=30, **FAST) is m
    assert m.firewall_enabled is False
    with pytest.raises(smartdc_nb.WaitTimeout, match="the tag set"):
        m.wait_for(lambda machine: (machine.tags or {}).get("never") == "set", timeout=0.5,
                   description="the tag set", **FAST)


def test_summary_is_one_line_and_to_frame_is_the_table(emu, dc):
    machines = MachineList([fetched(dc, emu, name="names-2", state="stopped")])
    result = machines.start(wait=True, timeout=30, progress=False, interval=0.05,
                            max_interval=0.2)
    assert isinstance(result.summary(), str) and "\n" not in result.summary()
    assert result.to_frame().equals(result.frame)
    waited = machines.wait_for("running", timeout=30, progress=False, interval=0.05)
    assert waited.to_frame().equals(waited.frame) and "\n" not in waited.summary()
    assert list(machines.to_frame()["name"]) == ["names-2"]


def test_fleet_status_is_the_datacenter_table_and_summary_its_deprecated_name(dc):
    fleet = smartdc_nb.Fleet(dc)
    rows = fleet.status()
    assert [r["datacenter"] for r in rows] == list(fleet.datacenters)
    with pytest.warns(DeprecationWarning, match="Fleet.status"):
        assert fleet.summary() == rows


def test_every_wait_waits_600_seconds_by_default(emu, dc):
    machine = fetched(dc, emu, name="names-3")
    defaults = {
        "Machine.wait_for": inspect.signature(machine.wait_for).parameters["timeout"].default,
        "MachineList.wait_for": inspect.signature(MachineList.wait_for)
        .parameters["timeout"].default,
        "Panel.wait": inspect.signature(Panel.wait).parameters["timeout"].default,
    }
    assert set(defaults.values()) == {600.0}, defaults
    assert progress.summary is progress.print_summary  # the old name of the printing one


@pytest.mark.parametrize("old, new, name", [
    ("smartdc_nb.machine", "smartdc_nb.resources.machine", "Machine"),
    ("smartdc_nb.machine", "smartdc_nb.resources.snapshot", "Snapshot"),
    ("smartdc_nb.bulk", "smartdc_nb.operations.bulk", "run_bulk"),
    ("smartdc_nb.bulk", "smartdc_nb.resources.bulk_methods", "BulkActions"),
    ("smartdc_nb.waiters", "smartdc_nb.operations.waits", "wait_machines"),
    ("smartdc_nb.waiters", "smartdc_nb.operations.results", "WaitResult"),
    ("smartdc_nb.frames.views", "smartdc_nb.frames.tables", "Frames"),
    ("smartdc_nb.display.views", "smartdc_nb.display.cards", "machine_card"),
    ("smartdc_nb.emulator.views", "smartdc_nb.emulator.payloads", "machine_dict"),
])
def test_old_module_paths_still_give_the_same_objects(old, new, name):
    assert getattr(importlib.import_module(old), name) is \
        getattr(importlib.import_module(new), name)
