"""The rules table is the one place preconditions are decided: Machine methods, bulk runs,
panels and df.triton all give its verdict, in its words, for every action × state × brand."""

from __future__ import annotations

import pandas as pd
import pytest
from test_machine_support import fetched, logged
from test_widgets_support import FAST
from test_widgets_support import opened  # noqa: F401 (a fixture, used by name)

import smartdc_nb.frames  # noqa: F401 (registers df.triton)
from smartdc_nb import rules
from smartdc_nb.bulk import ACTIONS, run_bulk
from smartdc_nb.errors import InvalidInputError, SmartDCError
from smartdc_nb.machine import Snapshot
from smartdc_nb.machinelist import MachineList
from smartdc_nb.widgets import machine_panel

BRANDS = ("joyent", "kvm", "bhyve")
#: what each bulk action is asked to do: (bulk arguments, what the rules judge)
BULK_ARGS = {
    "start": ((), None), "stop": ((), None), "reboot": ((), None), "delete": ((), None),
    "resize": (("g4-highcpu-2G",), "g4-highcpu-2G"),
    "rename": (("{name}-new",), None),  # per machine: its name + "-new"
    "create_snapshot": (("snap-new",), "snap-new"),
    "start_from_snapshot": (("s1",), "s1"), "delete_snapshot": (("s1",), "s1"),
    "add_tags": (({"env": "prod"},), {"env": "prod"}),
    "replace_tags": (({"env": "dev"},), {"env": "dev"}),
    "delete_tags": (("env",), ["env"]),
    "update_metadata": (({"k": "v"},), {"k": "v"}),
}
#: the machine panel's buttons and the rules' action each one runs
PANEL = {"start": "start", "stop": "stop", "reboot": "reboot", "resize": "resize",
         "rename": "rename", "create_snapshot": "create_snapshot",
         "boot_snapshot": "start_from_snapshot", "delete_snapshot": "delete_snapshot",
         "delete": "delete", "firewall": "enable_firewall"}


def wanted_of(action, machine):
    if action == "rename":
        return f"{machine.name}-new"
    return BULK_ARGS.get(action, ((), None))[1]


@pytest.fixture
def zoo(emu, dc):
    """One machine per state × brand (each with a tag, a snapshot s1 and 1G package), plus
    a deletion-protected one; their snapshots listed where the brand has any."""
    machines = []
    for state in rules.MACHINE_STATES:
        for brand in BRANDS:
            machines.append(fetched(dc, emu, name=f"{state}-{brand}", state=state,
                                    brand=brand, tags={"env": "dev"}, snapshots=["s1"]))
    machines.append(fetched(dc, emu, name="protected", deletion_protection=True,
                            tags={"env": "dev"}, snapshots=["s1"]))
    for machine in machines:
        if rules.has_snapshots(machine):
            machine.snapshots()
    return machines


def test_the_table_covers_every_action_state_and_brand_with_words():
    rows = rules.table()
    assert len(rows) == len(rules.RULES) * len(rules.MACHINE_STATES) * 4
    for row in rows:
        assert row["verdict"] in rules.VERDICTS
        assert (row["reason"] is None) == (row["verdict"] == rules.OK), row
    verdicts = {(r["action"], r["state"], r["brand"]): r for r in rows}
    assert verdicts["start", "running", "joyent"]["verdict"] == rules.SKIP
    assert verdicts["stop", "provisioning", "joyent"]["reason"] == \
        "the machine is still provisioning"
    assert verdicts["create_snapshot", "running", "kvm"]["verdict"] == rules.REFUSED
    assert verdicts["resize", "running", "bhyve"]["reason"] == \
        "bhyve machines can resize only when stopped; it is running"
    assert verdicts["delete", "deleted", "lx"]["reason"] == "already deleted"
    protected = rules.verdict("delete", {"state": "running", "deletion_protection": True})
    assert protected.kind == rules.PROTECTED and protected.certain


def test_the_destructive_actions_are_the_tables(dc):
    assert rules.DESTRUCTIVE == {"stop", "delete", "start_from_snapshot", "delete_snapshot"}
    assert all(ACTIONS[a].destructive for a in rules.DESTRUCTIVE & set(ACTIONS))
    with pytest.raises(InvalidInputError, match="stop is destructive"):
        run_bulk([], "stop")
    with pytest.raises(InvalidInputError, match="unknown-thing"):
        rules.verdict("unknown-thing", {"state": "running"})


def test_bulk_skips_exactly_what_the_rules_refuse_with_their_words(emu, zoo):
    assert set(BULK_ARGS) == set(ACTIONS)
    for action, (args, _wanted) in BULK_ARGS.items():
        result = run_bulk(zoo, action, *args, dry_run=True, refresh=False, progress=False)
        by_id = {o.machine.id: o for o in result.outcomes}
        for machine in zoo:
            why = machine.why_not(action, wanted_of(action, machine))
            outcome = by_id[machine.id]
            assert (outcome.outcome, outcome.reason or None) == \
                (("skipped", why) if why else ("planned", None)), (machine.name, action)
    assert [r for r in emu.requests if r["method"] != "GET"] == []


def test_panels_enable_exactly_what_the_rules_allow_with_their_words(zoo, opened):
    for machine in zoo:
        panel = opened(machine_panel(machine, **FAST))
        panel.new_name.value = f"{machine.name}-new"
        panel.snapshot_name.value = "snap-new"
        panel.package.value = "g4-highcpu-2G" if "g4-highcpu-2G" in \
            [v for _label, v in panel.package.options] else None
        panel.update_controls()
        for button, action in PANEL.items():
            verdict = machine.verdict(action, wanted_of(action, machine))
            tooltip = panel.buttons[button].tooltip or None
            if verdict.kind == rules.PROTECTED:  # clickable: the click says why not
                assert tooltip is None
            else:
                assert tooltip == verdict.reason, (machine.name, button)
        panel.close()


def test_machine_methods_refuse_the_certain_verdicts_before_sending(emu, zoo):
    """What rests on facts only an explicit action changes (brand, a deleted machine,
    deletion protection) is refused by the method itself; what rests on the last known
    state is the cloud's to decide (it may have moved on), so it is sent."""
    calls = {"start": lambda m: m.start(), "stop": lambda m: m.stop(),
             "resize": lambda m: m.resize("g4-highcpu-2G"), "rename": lambda m: m.rename("x2"),
             "create_snapshot": lambda m: m.create_snapshot("snap-new"),
             "start_from_snapshot": lambda m: m.start_from_snapshot("s1"),
             "delete_snapshot": lambda m: Snapshot(m, data={"name": "s1"}).delete(),
             "add_tags": lambda m: m.add_tags(env="prod"), "delete": lambda m: m.delete(),
             "enable_firewall": lambda m: m.enable_firewall()}
    kinds = set()
    for machine in zoo:
        for action, call in calls.items():
            verdict = machine.verdict(action)
            if not verdict.certain or verdict.ok:
                continue
            emu.clear_requests()
            with pytest.raises(SmartDCError, match="refused by smartdc_nb") as info:
                call(machine)
            words = "is deleted" if verdict.code == "Gone" else verdict.reason
            assert words in str(info.value) and info.value.request_id is None
            assert logged(emu) == []
            kinds.add((verdict.kind, verdict.code))
    assert kinds == {(rules.SKIP, "Gone"), (rules.REFUSED, "Gone"),
                     (rules.REFUSED, "BrandNotSupported"), (rules.REFUSED, "InvalidArgument"),
                     (rules.PROTECTED, "CannotDestroyMachineError")}


def test_df_triton_verdicts_are_the_rules(emu, zoo):
    frame = MachineList(zoo).to_frame()
    emu.clear_requests()
    verdicts = frame.triton.verdicts("start")
    assert len(verdicts) == len(zoo)
    for row, machine in zip(verdicts.itertuples(), zoo):
        assert (row.verdict, None if pd.isna(row.reason) else row.reason) == (
            machine.verdict("start").kind,
                                             machine.why_not("start"))
    assert emu.requests == []  # judged on the frame's payloads
