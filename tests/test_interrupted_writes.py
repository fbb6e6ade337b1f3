"""Ctrl-C in a bulk action while the cloud holds its requests: said at once, and a second
Ctrl-C stops waiting without calling the sent requests unsent.

On Ctrl-C a bulk action lets the requests already on their way finish, so that what the
cloud did with them is known and journalled. With the cloud holding them, the cell stayed
busy until their timeout without a word; a second Ctrl-C stopped the wait, and the table
then said "interrupted (Ctrl-C) before it was sent" of requests the cloud had in hand.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from polling import eventually
from test_machine_support import accepted, ctrl_c_after_accepted, held, put

from smartdc_nb import journal
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
    # the journal says the same of them (their intents were written before their turn came)
    outcomes = journal(path=journal_path).query("kind == 'outcome'")
    assert sorted(outcomes["outcome"]) == ["accepted", "interrupted", "interrupted"]
    assert outcomes["error"].str.contains("before it was sent").sum() == 2
