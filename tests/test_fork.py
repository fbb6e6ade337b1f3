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
