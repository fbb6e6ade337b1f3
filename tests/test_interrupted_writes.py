"""Ctrl-C in a bulk action while the cloud holds its requests: said at once, and a second
Ctrl-C stops waiting without calling the sent requests unsent.

On Ctrl-C a bulk action lets the requests already on their way finish, so that what the
cloud did with them is known and journalled. With the cloud holding them, the cell stayed
busy until their timeout without a word; a second Ctrl-C stopped the wait, and the table
then said "interrupted (Ctrl-C) before it was sent" of requests the cloud had in hand.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from polling import eventually
from test_machine_support import accepted, connect_source, ctrl_c_after_accepted, held, put, until_held

from smartdc_nb import journal, journal_runs
from smartdc_nb.machine import Machine
from smartdc_nb.machinelist import MachineList
from smartdc_nb.operations.outcomes import DONE, NOT_REACHED
from smartdc_nb.ratelimit import RateLimiter


def ctrl_c_twice_once_held(emu, fault: int, count: int, gap: float) -> threading.Thread:
    """Send SIGINT once ``count`` requests wait at ``fault``, and again ``gap`` s later."""
    def run() -> None:
        deadline = time.monotonic() + 30
        while held(emu, fault) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(gap)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_twice_while_the_cloud_holds_the_requests(dc, emu, capsys, journal_path):
    machines = MachineList(Machine(dc, put(emu, name=f"held-{i}")) for i in range(2))
    dc.transport.request_timeout = 30
    fault = emu.faults.add(path=r"/demo/machines/[^/]+$", method="POST", hold=True)
    try:
        signals = ctrl_c_twice_once_held(emu, fault, 2, gap=1.0)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt) as interrupted:
            machines.stop(confirm=True, progress=False)
        took = time.monotonic() - started
        signals.join()
        said = capsys.readouterr().err
        # the first Ctrl-C said at once what the cell still waits for, and how to stop it
        assert "interrupted: waiting for the answers to the 2 stop requests already sent" in said
        assert "Ctrl-C again to stop waiting" in said
        assert re.search(r"already sent, at the latest until \d\d:\d\d:\d\d UTC, so that", said), said
        assert took < 10, f"the second Ctrl-C took {took:.1f} s to stop the wait"
        frame = interrupted.value.result.frame
        assert list(frame["outcome"]) == [NOT_REACHED] * 2
        for reason in frame["reason"]:
            assert "before it was sent" not in reason
            assert "its answer was not waited for: the cloud may have applied it" in reason
    finally:
        emu.faults.clear()
    # the answers come after all: the table the user was given stays as it was, and the
    # journal, written by the threads that were let go, records what the cloud answered
    eventually(lambda: len(journal(path=journal_path).query("kind == 'outcome'")) == 2, 10,
               "the outcomes of the two requests in the journal")
    assert list(interrupted.value.result.frame["outcome"]) == [NOT_REACHED] * 2


def test_after_ctrl_c_no_request_waiting_for_the_rate_limit_goes_out(connect, emu, capsys,
                                                                    journal_path):
    """Threads that were waiting their turn under the rate limit sent their requests after
    the Ctrl-C; now nothing more is sent once it came."""
    dc = connect(rate_limit=RateLimiter(rate=2, burst=1))
    machines = MachineList(Machine(dc, put(emu, name=f"paced-{i}")) for i in range(3))
    emu.clear_requests()
    with ctrl_c_after_accepted(emu, "stop", 1, settle=0.1):
        with pytest.raises(KeyboardInterrupt) as interrupted:
            machines.stop(confirm=True, progress=False, concurrency=3)
    time.sleep(1.5)  # past the turns the other two were waiting for
    assert sum(accepted(emu, "stop").values()) == 1
    frame = interrupted.value.result.frame
    assert sorted(frame["outcome"]) == [DONE, NOT_REACHED, NOT_REACHED]
    assert list(frame.loc[frame["outcome"] == NOT_REACHED, "reason"]) == [
        "interrupted (Ctrl-C) before it was sent"] * 2
    # the journal says the same of them (their intents were written before their turn came):
    # not sent, which a resume sends without asking the cloud, and the run's table counts so
    outcomes = journal(path=journal_path).query("kind == 'outcome'")
    assert sorted(outcomes["outcome"]) == ["accepted", "not sent", "not sent"]
    assert outcomes["error"].str.contains("before it was sent").sum() == 2
    assert journal_runs(path=journal_path)[0].counts() == {"accepted": 1, "not sent": 2}


def test_a_script_exits_at_once_after_its_second_ctrl_c(emu, triton_keys, journal_path):
    """A request let go of by a second Ctrl-C kept its thread until the cloud answered or its
    timeout came; a script ending then waited for that thread (Python joins pool threads at
    exit), so it hung for the request's timeout after the user had said twice to stop."""
    for i in range(2):
        put(emu, name=f"exiting-{i}", tags={"drill": "exit"})
    fault = emu.faults.add(path=r"/demo/machines/[^/]+$", method="POST", hold=True)
    key = triton_keys["rsa"]
    script = "\n".join(["import smartdc_nb", connect_source(emu, key, request_timeout=40),
                        "dc.machines(tags={'drill': 'exit'}).stop(confirm=True, progress=False)"])
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    try:
        until_held(emu, fault, 2, "both stops held by the cloud")
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        proc.kill()
        emu.faults.clear()
    assert "Ctrl-C again to stop waiting" in err, err[-2000:]
    assert took < 8, f"the script took {took:.1f} s to exit after its second Ctrl-C"
    # what the journal says of them makes a resume ask the cloud: neither answer was heard
    outcomes = journal(path=journal_path).query("kind == 'outcome'")
    assert list(outcomes["outcome"]) == ["interrupted", "interrupted"], (err, journal_path.read_text())
    assert re.search(r"exiting without the answers to 2 stop requests let go of at Ctrl-C: not "
                     r"waited for, the cloud may have applied them; smartdc-nb resume \S+ asks it",
                     err), err[-2000:]
