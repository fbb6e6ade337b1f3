"""A plan is applied once: the approval is for what it reviewed, which its apply changed.

A reboot plan ends where it began (running), so an apply after an apply passed every
re-check and rebooted the machines again without a word (a notebook cell run twice, or a
second notebook that made the same plan before the first applied it)."""

from __future__ import annotations

from collections import Counter

import pytest
from clients import connect_to
from test_machine_support import FAST, accepted, fetched, mutations

from smartdc_nb import journal_runs
from smartdc_nb.machinelist import MachineList
from smartdc_nb.plan_runs import applied_before, unspent
from smartdc_nb.plans import PlanError


def _three(dc, emu, prefix):
    return MachineList(fetched(dc, emu, name=f"{prefix}-{i}") for i in range(3))


def test_the_same_plan_applied_twice_is_refused_the_second_time(emu, dc):
    machines = _three(dc, emu, "once")
    plan = machines.plan("reboot", wait=True, **FAST)
    first = plan.apply(approve=plan.id)
    assert first.counts["done"] == 3
    emu.clear_requests()
    with pytest.raises(PlanError) as info:
        plan.apply(approve=plan.id)
    text = str(info.value)
    assert f"plan {plan.id} was already applied" in text and "nothing was sent" in text
    assert "Plan again" in text and "smartdc_nb.resume(" in text
    assert mutations(emu) == []


def test_a_twin_plan_made_before_the_apply_is_refused_after_it(emu, dc, triton_keys):
    """Two notebooks make the same plan (same machines, same states: the same id); the first
    applies it; the second's view is now stale, though every state reads as planned."""
    machines = _three(dc, emu, "twin")
    plan = machines.plan("reboot", wait=True, **FAST)
    other = connect_to(emu, triton_keys)                   # the other notebook
    twin = MachineList(other.machine(m.id) for m in machines).plan("reboot", wait=True, **FAST)
    assert twin.id == plan.id
    plan.apply(approve=plan.id)
    emu.clear_requests()
    with pytest.raises(PlanError, match=f"plan {plan.id} was already applied .*run "):
        twin.apply(approve=twin.id)
    assert mutations(emu) == []


def test_a_plan_made_after_an_apply_is_a_new_review_and_applies(emu, dc):
    machines = _three(dc, emu, "again")
    plan = machines.plan("reboot", wait=True, **FAST)
    plan.apply(approve=plan.id)
    fresh = machines.plan("reboot", wait=True, **FAST)
    assert fresh.id == plan.id                               # same content, reviewed anew
    emu.clear_requests()
    assert fresh.apply(approve=fresh.id).counts["done"] == 3
    assert accepted(emu, "reboot") == Counter({m.id: 1 for m in machines})


def test_without_a_journal_the_plan_object_still_applies_once(emu, connect):
    dc = connect(journal=False)
    machines = _three(dc, emu, "nojournal")
    plan = machines.plan("reboot", wait=True, **FAST)
    plan.apply(approve=plan.id)
    emu.clear_requests()
    with pytest.raises(PlanError, match="already applied"):
        plan.apply(approve=plan.id)
    assert mutations(emu) == []


def test_a_plan_remade_after_its_apply_gets_another_id_and_the_old_one_says_by_whom(emu, dc):
    """A runbook run again makes its plan anew: the same id, which approved it again (the
    reboots done twice). plan_runs.unspent covers the run that applied it, so the id is new;
    applied_before names that run for the old id."""
    machines = _three(dc, emu, "remade")

    def make(after_run):
        return machines.plan("reboot", wait=True, covers={"after_run": after_run}, **FAST)

    first = unspent(make)
    assert applied_before(first.id, dc) is None
    first.apply(approve=first.id)
    [run] = [r for r in journal_runs(None) if r.start.get("plan_id") == first.id]
    again = unspent(make)
    assert again.id != first.id and again.covers == {"after_run": run.run_id}
    said = applied_before(first.id, dc)
    assert said.startswith(f"plan {first.id} was already applied: run {run.run_id}, begun "
                           f"{run.start['time']:%Y-%m-%d %H:%M:%S} UTC, ended (3 ")
    assert "make a new plan with a dry run" in said
    assert applied_before(again.id, dc) is None
    assert unspent(make).id == again.id  # until that one is applied too
    assert applied_before(first.id, None) is None  # no datacenter, no journal: nothing known
