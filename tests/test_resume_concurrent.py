"""Two at once: a run resumed twice at the same time, or resumed while it still runs.

Each case holds the first runner's requests in the emulator (a ``hold`` fault) so the second
comes while the first has the run: no timing guesses.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
from test_machine_support import FAST, accepted, fetched, in_thread, mutations, until_held

from smartdc_nb.journal_views import journal_run, journal_runs
from smartdc_nb.machinelist import MachineList
from smartdc_nb.resuming import resume
from smartdc_nb.run_locks import RunInProgressError


def _refused_run(emu, dc, count: int) -> tuple[MachineList, str]:
    """A stop run the cloud refused for every machine (503: it did not act)."""
    machines = MachineList(fetched(dc, emu, name=f"rc-{i}") for i in range(count))
    emu.faults.add(r"action=stop", method="POST", status=503)
    machines.stop(confirm=True, **FAST)
    emu.faults.clear()
    emu.clear_requests()
    return machines, journal_runs()[0].run_id


def test_a_second_resume_of_a_run_being_resumed_is_refused_and_sends_nothing(emu, dc):
    machines, run_id = _refused_run(emu, dc, 3)
    hold = emu.faults.add(r"action=stop", method="POST", hold=True)
    first, out = in_thread(lambda: resume(run_id, progress=False))
    until_held(emu, hold)
    with pytest.raises(RunInProgressError, match=rf"run {run_id} is still running or being "
                                                 r"resumed elsewhere \(process \d+ on .*\); "
                                                 "nothing was sent. Let that end"):
        resume(run_id, progress=False)
    emu.faults.release(hold)
    first.join(30)
    assert "error" not in out and out["result"].counts["done"] == 3
    assert accepted(emu, "stop") == Counter({m.id: 1 for m in machines})
    assert journal_run(run_id).status == "ended"
    emu.clear_requests()  # the lock went with the first resume: another one may run now
    assert resume(run_id, progress=False).counts["skipped"] == 3 and mutations(emu) == []


def test_resuming_a_run_still_running_in_another_process_is_refused(emu, dc, journal_path):
    machines = MachineList(fetched(dc, emu, name=f"rr-{i}") for i in range(2))
    hold = emu.faults.add(r"action=stop", method="POST", hold=True)
    running, out = in_thread(lambda: machines.stop(confirm=True, **FAST))
    until_held(emu, hold)
    run_id = journal_runs()[0].run_id
    # what a terminal sees meanwhile: not "incomplete", which invites a resume
    assert journal_run(run_id).status == "running"
    listed = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "journal",
                             "--path", str(journal_path)], capture_output=True, text=True,
                            timeout=120)
    assert "running" in listed.stdout and "incomplete" not in listed.stdout, listed.stdout
    cli = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "resume", run_id,
                          "--path", str(journal_path)], capture_output=True, text=True,
                         timeout=120)
    assert cli.returncode == 2, cli.stdout + cli.stderr
    assert f"run {run_id} is still running or being resumed elsewhere" in cli.stderr
    assert "nothing was sent" in cli.stderr
    emu.faults.release(hold)
    running.join(30)
    assert "error" not in out and out["result"].counts["done"] == 2
    assert accepted(emu, "stop") == Counter({m.id: 1 for m in machines})
    assert journal_run(run_id).status == "ended"
