"""A process forked after connect (multiprocessing's default on Linux) and its connections.

A forked child inherits the parent's open keep-alive connections; two processes reading
answers from one socket take each other's answers.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from test_machine_support import fetched

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")


def _child(work, out: int) -> None:
    """Run ``work()`` in this forked child, write its answer (or error) to ``out``, exit."""
    try:
        answer = {"answer": work()}
    except BaseException as exc:  # noqa: BLE001 - handed to the parent
        answer = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    try:
        os.write(out, (json.dumps(answer) + "\n").encode())
    finally:
        os._exit(0)


def _answer(read: int) -> dict:
    with os.fdopen(read) as pipe:
        return json.loads(pipe.readline() or '{"error": "no answer"}')


def test_processes_forked_after_connect_never_read_each_others_answers(emu, connect):
    dc = connect(request_timeout=20)
    a, b = fetched(dc, emu, name="fork-a"), fetched(dc, emu, name="fork-b")
    # one idle keep-alive connection in the pool when the children are forked
    emu.faults.add(a.id + "$", method="GET", latency=2.0)  # a's answer comes late
    first_read, first_out = os.pipe()
    second_read, second_out = os.pipe()
    go_read, go_write = os.pipe()
    first = os.fork()
    if first == 0:
        _child(lambda: dc.machine(a.id).id, first_out)
    second = os.fork()
    if second == 0:
        os.read(go_read, 1)
        _child(lambda: dc.machine(b.id).id, second_out)
    os.close(first_out)
    os.close(second_out)
    try:
        ends = time.monotonic() + 10  # the first child's request reached the cloud ...
        while not any(f["hits"] for f in emu.faults.list()):
            assert time.monotonic() < ends, "the first child's request never came"
            time.sleep(0.01)
        os.kill(first, signal.SIGSTOP)  # ... and it will not read for now: only the second
        os.write(go_write, b"x")  # asks, while a's answer is still 2 s away
        second_answer = _answer(second_read)
        os.kill(first, signal.SIGCONT)
        first_answer = _answer(first_read)
    finally:
        for pid in (first, second):
            os.kill(pid, signal.SIGCONT)
            os.waitpid(pid, 0)
    assert second_answer == {"answer": b.id}
    assert first_answer == {"answer": a.id}


def test_a_child_never_cuts_the_parents_connection_at_a_deadline_of_the_parents(emu, connect):
    """A request in flight when the process forks: its deadline is the parent's business; the
    child's own watchdog once shut the shared socket down at it, under a later request."""
    import threading

    from smartdc_nb.limits import cutoff

    dc = connect(request_timeout=60)
    a, b = fetched(dc, emu, name="cut-a"), fetched(dc, emu, name="cut-b")
    hold = emu.faults.add(a.id + "$", method="GET", hold=True)
    started = time.monotonic()

    def short_call() -> None:
        with cutoff(started + 2):  # a call that must end 2 s from now (a wait's deadline)
            dc.machine(a.id)

    first = threading.Thread(target=short_call)
    first.start()
    while not any(f["hits"] for f in emu.faults.list()):
        time.sleep(0.01)
    child = os.fork()  # with that call in flight
    if child == 0:
        try:
            dc.machine(b.id)  # the child's own request: its watchdog runs
            time.sleep(4)
        finally:
            os._exit(0)
    try:
        emu.faults.release(hold)
        first.join(10)
        # the parent's next request goes out on the same kept-alive connection, and is
        # still in flight when the first call's deadline passes
        emu.faults.add(a.id + r"\?action=stop", method="POST", hold=True)
        errors: list = []
        second = threading.Thread(target=lambda: _stop(a, errors))
        second.start()
        time.sleep(max(0.0, started + 3 - time.monotonic()))
        emu.faults.clear()
        second.join(10)
    finally:
        os.waitpid(child, 0)
    assert errors == []  # it was: TransportError: no answer (Remote end closed connection)


def _stop(machine, errors: list) -> None:
    try:
        machine.stop()
    except Exception as exc:  # noqa: BLE001 - the test's to judge
        errors.append(exc)
