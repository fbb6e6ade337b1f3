"""The same plan applied twice at once (two notebooks, two terminals, two threads)."""

from __future__ import annotations

from collections import Counter

import pytest
from test_machine_support import FAST, accepted, fetched, in_thread, mutations, until_held

from smartdc_nb.machinelist import MachineList
from smartdc_nb.plans import PlanError
from smartdc_nb.run_locks import RunInProgressError


def test_a_plan_applied_while_it_is_being_applied_is_refused_and_sends_nothing(emu, dc):
    machines = MachineList(fetched(dc, emu, name=f"pc-{i}") for i in range(3))
    plan = machines.plan("stop", **FAST)
    emu.clear_requests()
    hold = emu.faults.add(r"action=stop", method="POST", hold=True)
    first, out = in_thread(lambda: plan.apply(approve=plan.id))
    until_held(emu, hold, 3)  # all three sent, none answered yet: the machines still read running
    with pytest.raises(RunInProgressError, match=rf"plan {plan.id} is being applied elsewhere "
                                                 r"now \(process \d+ .*\); nothing was sent"):
        plan.apply(approve=plan.id)
    emu.faults.release(hold)
    first.join(30)
    assert "error" not in out and out["result"].counts["done"] == 3
    assert accepted(emu, "stop") == Counter({m.id: 1 for m in machines})
    emu.clear_requests()  # after it ended, the plan is spent (test_plan_once.py)
    with pytest.raises(PlanError, match="already applied"):
        plan.apply(approve=plan.id)
    assert mutations(emu) == []
