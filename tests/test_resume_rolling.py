"""Resume of a rolling run: a batch whose requests went out but whose wait and health check
did not finish is waited on and checked (never sent again) before the next batch goes."""

from __future__ import annotations

from collections import Counter

import pytest
from test_machine_support import FAST, accepted, ctrl_c_after_accepted, fetched, mutations

from smartdc_nb.bulk import BulkInterrupted
from smartdc_nb.journal_views import journal_runs
from smartdc_nb.machinelist import MachineList
from smartdc_nb.resuming import resume


class Check:
    """A health check that remembers whom it checked; ``bad`` machines are unhealthy, and
    its ``interrupt_at``-th call is interrupted (Ctrl-C while it runs)."""

    def __init__(self, *bad: str, interrupt_at: int | None = None):
        self.bad, self.seen, self.interrupt_at = set(bad), [], interrupt_at

    def __call__(self, machine) -> bool:
        self.seen.append(machine.name)
        if len(self.seen) == self.interrupt_at:
            raise KeyboardInterrupt
        return machine.name not in self.bad


def _interrupted_in_batch_1(emu, machines, check) -> str:
    """Roll a reboot over ``machines`` (2 a batch); Ctrl-C while batch 1 is rebooting (the
    emulator's clock stopped, so it stays there). Returns the run id."""
    emu.clock.set_manual(True)
    with pytest.raises(BulkInterrupted) as caught, ctrl_c_after_accepted(emu, "reboot", 2, settle=0.2):
        machines.reboot(batch_size=2, health_check=check, **FAST)
    assert sum(accepted(emu, "reboot").values()) == 2
    rows = {o.machine.name: o for o in caught.value.result.outcomes}
    for machine in machines[:2]:
        assert rows[machine.name].outcome != "done"  # sent, never waited on nor checked
    emu.clock.advance(120)  # the reboots in flight complete
    emu.clock.set_manual(False)
    return journal_runs()[0].run_id


def test_the_batch_in_flight_is_checked_and_a_failure_stops_the_roll(emu, dc):
    machines = MachineList(fetched(dc, emu, name=f"roll-a{i}") for i in range(6))
    check = Check("roll-a0")
    run_id = _interrupted_in_batch_1(emu, machines, check)
    assert check.seen == []
    emu.clear_requests()
    result = resume(run_id, health_check=check, progress=False)
    assert mutations(emu) == []  # batch 1 is not rebooted again; batches 2 and 3 never go
    assert sorted(check.seen) == ["roll-a0", "roll-a1"]
    rows = {row["name"]: row for row in result}
    assert rows["roll-a0"]["outcome"] == "failed"
    assert rows["roll-a1"]["outcome"] == "done"
    for name in ("roll-a2", "roll-a3", "roll-a4", "roll-a5"):
        assert rows[name]["outcome"] == "not reached"
        assert rows[name]["reason"].startswith("the roll stopped after batch 1: 1 machine(s) "
                                               "failed")
    assert not result.ok


def test_the_batch_in_flight_passes_its_check_then_the_roll_goes_on(emu, dc):
    machines = MachineList(fetched(dc, emu, name=f"roll-b{i}") for i in range(4))
    check = Check()
    run_id = _interrupted_in_batch_1(emu, machines, check)
    emu.clear_requests()
    result = resume(run_id, health_check=check, progress=False)
    assert accepted(emu, "reboot") == Counter({m.id: 1 for m in machines[2:]})
    assert check.seen[:2] == ["roll-b0", "roll-b1"] and sorted(check.seen[2:]) == \
        ["roll-b2", "roll-b3"]
    assert result.ok, result.summary()
    assert [row["batch"] for row in result] == [1, 1, 2, 2]


def test_a_batch_that_passed_its_check_is_not_checked_again(emu, dc):
    machines = MachineList(fetched(dc, emu, name=f"roll-c{i}") for i in range(4))
    check = Check(interrupt_at=3)  # Ctrl-C in the check of batch 2
    calls = check.seen

    with pytest.raises(BulkInterrupted):
        machines.reboot(batch_size=2, health_check=check, **FAST)
    assert calls[:2] == ["roll-c0", "roll-c1"]
    run_id = journal_runs()[0].run_id
    emu.clear_requests()
    result = resume(run_id, health_check=check, progress=False)
    assert mutations(emu) == []
    assert calls[3:] == ["roll-c2", "roll-c3"]  # batch 2 only
    rows = {row["name"]: row for row in result}
    assert rows["roll-c0"]["outcome"] == "skipped" and rows["roll-c2"]["outcome"] == "done"
    assert result.ok


def test_ctrl_c_in_the_health_check_leaves_the_batch_unchecked(emu, dc):
    machines = MachineList(fetched(dc, emu, name=f"roll-d{i}") for i in range(4))
    check = Check(interrupt_at=2)  # Ctrl-C while the second machine is checked
    calls = check.seen

    with pytest.raises(BulkInterrupted) as caught:
        machines.reboot(batch_size=2, health_check=check, **FAST)
    rows = {o.machine.name: o for o in caught.value.result.outcomes}
    assert rows["roll-d0"].outcome != "done" and rows["roll-d1"].outcome != "done"
    run_id = journal_runs()[0].run_id
    emu.clear_requests()
    result = resume(run_id, health_check=check, progress=False)
    assert calls[2:4] == ["roll-d0", "roll-d1"]  # batch 1 checked again, then batch 2
    assert accepted(emu, "reboot") == Counter({m.id: 1 for m in machines[2:]})
    assert result.ok


def test_a_batch_in_flight_that_cannot_be_re_read_does_not_say_nothing_was_sent(emu, dc,
                                                                                connect):
    """The resume could not re-read the machines (the listing kept failing): batch 1's rows,
    whose reboots the run had sent, said "nothing was sent", as the untouched rows did."""
    machines = MachineList(fetched(dc, emu, name=f"roll-e{i}") for i in range(4))
    run_id = _interrupted_in_batch_1(emu, machines, Check())
    emu.faults.add(path=r"/machines\?", method="GET", status=500)
    emu.clear_requests()
    quick = connect(retries=1, retry_budget=2, backoff=0.01)  # the listing fails at once
    result = resume(run_id, health_check=Check(), progress=False, datacenters=quick)
    assert mutations(emu) == []
    rows = {row["name"]: row for row in result}
    for name in ("roll-e0", "roll-e1"):
        assert rows[name]["outcome"] == "not reached", rows[name]
        assert "nothing was sent" not in rows[name]["reason"], rows[name]["reason"]
        assert rows[name]["reason"].startswith(
            "could not re-fetch the machine to wait on it and check it; its request was already "
            "sent in this run at "), rows[name]["reason"]
        assert rows[name]["reason"].endswith("(accepted: HTTP 202): not sent again")
    assert "4 not reached (2 of them sent, not seen done)" in result.summary(), result.summary()
    for name in ("roll-e2", "roll-e3"):
        assert rows[name]["outcome"] == "not reached"
        assert rows[name]["reason"].endswith("nothing was sent"), rows[name]["reason"]
