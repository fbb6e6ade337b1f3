"""Helpers shared by the Machine, Snapshot, wait and bulk tests (no tests here).

They read the emulator's request log and inject machines; every test using
them still talks HTTP to the emulator.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter
from typing import Any, Iterator

from smartdc_nb.machine import Machine

#: wait options for tests: the emulator's transitions take 0.1-0.5 s
FAST: dict[str, Any] = {"interval": 0.05, "max_interval": 0.2, "progress": False}
MUTATING = ("POST", "PUT", "DELETE")


def logged(emu, method: str | None = None, path_end: str | None = None,
           datacenter: str | None = None) -> list[dict]:
    """The logged requests, optionally only a method, a path ending and a datacenter."""
    return [r for r in emu.requests
            if (method is None or r["method"] == method)
            and (path_end is None or r["path"].endswith(path_end))
            and (datacenter is None or r["datacenter"] == datacenter)]


def held(emu, fault: int) -> int:
    """How many requests have reached ``hold`` fault ``fault`` (each waits there until released)."""
    return next((f["hits"] for f in emu.faults.list() if f["id"] == fault), 0)


def until_held(emu, fault: int, count: int = 1, what: str = "the held request",
               timeout: float = 30.0) -> None:
    """Until ``count`` requests wait at ``hold`` fault ``fault``: the order of a test's events
    fixed by the emulator, not by sleeping."""
    from polling import eventually

    eventually(lambda: held(emu, fault) >= count, timeout, what)


def mutations(emu) -> list[dict]:
    return [r for r in emu.requests if r["method"] in MUTATING]


def put(emu, datacenter: str = "us-east-1", **fields: Any) -> str:
    """Inject a machine into the emulator (running joyent by default); returns its id."""
    return emu.datacenter(datacenter).put_machine(**fields)


def fetched(dc, emu, **fields: Any) -> Machine:
    """Inject a machine and fetch it through the client (one GET)."""
    return Machine(dc, put(emu, dc.name or "us-east-1", **fields))


def accepted(emu, action: str) -> Counter:
    """How many ``action`` requests (``?action=``) the cloud accepted, per machine id."""
    return Counter(r["path"].rsplit("/", 1)[1] for r in emu.requests
                   if r["method"] == "POST" and r["query"].get("action") == action
                   and r["status"] == 202)


def ctrl_c_after_accepted(emu, action: str, count: int, *, settle: float = 0.0,
                          deadline: float = 60.0) -> contextlib.AbstractContextManager:
    """A real SIGINT (Ctrl-C) to this process once the cloud has accepted ``count`` ``action``
    requests (``settle`` seconds later: into the wait that follows them)."""
    return ctrl_c_when(lambda: sum(accepted(emu, action).values()) >= count, settle=settle,
                       deadline=deadline)


@contextlib.contextmanager
def ctrl_c_when(condition: Any, *, settle: float = 0.0, deadline: float = 60.0
                ) -> Iterator[None]:
    """A real SIGINT (Ctrl-C) to this process once ``condition()`` holds (``settle`` seconds
    later), watched from a thread while the body runs."""
    done = threading.Event()

    def watch() -> None:
        ends = time.monotonic() + deadline
        while not done.is_set() and time.monotonic() < ends:
            if condition():
                time.sleep(settle)
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(timeout=5)


@contextlib.contextmanager
def ctrl_c_after(seconds: float) -> Iterator[None]:
    """Deliver a real SIGINT to this process after ``seconds`` (as Ctrl-C in a terminal)."""
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()


def accepted_stops(emu) -> Counter:
    """How many stop requests the cloud accepted, per machine id."""
    return accepted(emu, "stop")


def forget_records(journal_path, **where) -> None:
    """Delete journal records, as if the process had died before writing them."""
    lines = journal_path.read_text().splitlines(keepends=True)
    kept = [line for line in lines
            if not all(json.loads(line).get(k) == v for k, v in where.items())]
    assert len(kept) < len(lines)
    journal_path.write_text("".join(kept))


def in_thread(call) -> tuple[threading.Thread, dict]:
    """Run ``call()`` in a daemon thread; its result or error lands in the dict."""
    out: dict = {}

    def go() -> None:
        try:
            out["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread, out


def connect_source(emu, key, **options: Any) -> str:
    """The line of a script (run in a subprocess) that connects ``dc`` to ``emu``'s us-east-1
    with ``key`` (a triton_keys entry), ``options`` added (rate_limit=False unless given)."""
    given = {"rate_limit": False, **options}
    extra = "".join(f", {name}={value!r}" for name, value in given.items())
    return (f"dc = smartdc_nb.connect(url={emu.urls['us-east-1']!r}, account='demo', "
            f"key_id={key.md5!r}, key_path={str(key.private)!r}, name='us-east-1'{extra})")
