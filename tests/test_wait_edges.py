"""Waits at their edges: Ctrl-C while the feed opens, bad timing options, an unreadable audit
log, a hung cloud, a silent feed. Each promise of the waits holds there too."""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

import pytest
from test_machine_support import FAST, ctrl_c_when, fetched, held, logged

from smartdc_nb.errors import WaitInterrupted
from smartdc_nb.machinelist import MachineList
from smartdc_nb.operations.outcomes import BulkInterrupted


class Bars:
    """A progress factory (the public ``progress=callable``) that remembers its bars."""

    def __init__(self) -> None:
        self.made: list[Any] = []

    def __call__(self, **kwargs: Any) -> Any:
        bars = self

        class Bar:
            n, total, closed = 0, kwargs.get("total"), False

            def set_description_str(self, *a: Any, **k: Any) -> None: ...
            def set_postfix_str(self, *a: Any, **k: Any) -> None: ...
            def refresh(self, *a: Any, **k: Any) -> None: ...

            def close(self) -> None:
                self.closed = True

        bar = Bar()
        bars.made.append(bar)
        return bar

    @property
    def all_closed(self) -> bool:
        return bool(self.made) and all(b.closed for b in self.made)


@contextlib.contextmanager
def ctrl_c_once_held(emu, fault_id: int, deadline: float = 20.0) -> Iterator[None]:
    """A real SIGINT (Ctrl-C) once the held request reached the emulator; then let it go."""
    try:
        with ctrl_c_when(lambda: held(emu, fault_id), deadline=deadline):
            yield
    finally:
        emu.faults.release_all()


# ------------------------------------------------------------ Ctrl-C while the feed opens


def test_ctrl_c_while_the_feed_opens_ends_the_wait_with_what_was_seen(emu, connect):
    fdc = connect(changefeed=True)
    emu.set_durations(stop=60)
    machine = fetched(fdc, emu, name="opening")
    machine.stop()
    held = emu.faults.add(path="changefeed", hold=True)
    bars = Bars()
    with ctrl_c_once_held(emu, held), pytest.raises(WaitInterrupted) as info:
        machine.wait_for("stopped", timeout=30, interval=0.05, progress=bars)
    assert "interrupted after" in str(info.value)
    assert bars.all_closed


def test_ctrl_c_while_a_bulk_wait_opens_the_feed_leaves_nothing_done(emu, connect,
                                                                     journal_path):
    import json

    fdc = connect(changefeed=True)
    emu.set_durations(stop=60)
    machines = MachineList([fetched(fdc, emu, name=f"bulk-open-{i}") for i in range(3)])
    held = emu.faults.add(path="changefeed", hold=True)
    with ctrl_c_once_held(emu, held), pytest.raises(BulkInterrupted) as info:
        machines.stop(confirm=True, wait=True, timeout=30, **FAST)
    result = info.value.result
    assert result.counts["done"] == 0 and result.counts["not reached"] == 3
    assert all(r["reason"] == "interrupted (Ctrl-C) while waiting; the request was sent"
               for r in result)
    ends = [json.loads(line) for line in open(journal_path)
            if json.loads(line).get("kind") == "run-end"]
    assert ends[-1]["outcome"] == "interrupted"
    assert "done" not in json.dumps(ends[-1]["detail"]).replace('"done": 0', "")
    assert len(logged(emu, "POST")) == 3


# ------------------------------------------------------------ bad timing refused up front


@pytest.mark.parametrize("bad", [{"timeout": 0}, {"timeout": -5}, {"timeout": "60"},
                                 {"interval": 0}, {"max_interval": -1}])
def test_a_bulk_wait_refuses_bad_timing_before_sending_anything(emu, dc, journal_path, bad):
    from smartdc_nb.errors import InvalidInputError

    machines = MachineList([fetched(dc, emu, name=f"timing-{i}") for i in range(2)])
    emu.clear_requests()
    with pytest.raises(InvalidInputError, match="must be a positive number"):
        machines.stop(confirm=True, wait=True, progress=False, **bad)
    assert emu.requests == []  # not even the re-fetch
    assert not journal_path.exists() or '"kind": "run"' not in journal_path.read_text()


# ------------------------------------------------------------ an audit log that cannot be read


def test_an_unreadable_audit_log_is_a_note_not_the_waits_error(emu, connect):
    """An RBAC user without machineaudit: the audit GET's 403 never replaces the wait's end."""
    from smartdc_nb.errors import WaitTimeout

    ops = connect(key="ops_ed25519", user="ops")
    machines = ops.machines(state="running")[:2]
    bars = Bars()
    with pytest.raises(WaitTimeout) as info:
        machines[0].wait_for("stopped", timeout=0.5, interval=0.1, progress=bars)
    assert "the audit log could not be read" in str(info.value).lower()
    assert "403" in str(info.value) and "machineaudit" in str(info.value)
    assert bars.all_closed
    result = machines.wait_for("stopped", timeout=0.5, interval=0.1, progress=False)
    assert not result.ok and len(result) == 2
    assert all("could not be read" in r["error"] for r in result.rows)


# ------------------------------------------------------------ a hung cloud, a silent feed


def test_a_hung_cloud_cannot_hold_a_feed_wait_past_its_deadline(emu, connect):
    """Every request hangs (the changefeed's upgrade too): the wait still ends by its
    deadline plus one interval (+0.5 s of slack for a loaded machine), and says so."""
    from smartdc_nb.errors import WaitUnanswered

    fdc = connect(changefeed=True)
    machine = fetched(fdc, emu, name="hung")
    emu.faults.add(path="/demo/", hold=True)
    try:
        started = time.monotonic()
        with pytest.raises(WaitUnanswered) as info:
            machine.wait_for("stopped", timeout=1, interval=0.2, progress=False)
        elapsed = time.monotonic() - started
    finally:
        emu.faults.release_all()
    assert elapsed <= 1 + 0.2 + 0.5, f"the wait took {elapsed:.2f}s for timeout=1, interval=0.2"
    assert "(0.0s spent)" not in str(info.value)


def test_a_silent_feed_cannot_time_a_wait_out_on_a_stale_view(emu, connect):
    """The feed stays connected but delivers nothing: before declaring a timeout the wait
    polls once more, and finds the machine stopped long ago."""
    fdc = connect(changefeed=True)
    emu.set_durations(stop=0.5)
    machine = fetched(fdc, emu, name="silent")
    emu.changefeed.configure(delay=60)
    machine.stop()
    assert machine.wait_for("stopped", timeout=2, interval=0.1, progress=False) is machine
    assert machine.state == "stopped"


@pytest.mark.parametrize("bad", [{"timeout": float("inf")}, {"timeout": True},
                                 {"interval": False}, {"interval": float("nan")},
                                 {"max_interval": float("inf")}])
def test_a_wait_refuses_bools_and_endless_numbers(emu, dc, bad):
    from smartdc_nb.errors import InvalidInputError

    machine = fetched(dc, emu, name="endless")
    emu.clear_requests()
    with pytest.raises(InvalidInputError, match="must be a positive number"):
        machine.wait_for("running", progress=True, **bad)  # already there: no wait
    with pytest.raises(InvalidInputError, match="must be a positive number"):
        MachineList([machine]).stop(confirm=True, wait=True, progress=False, **bad)
    assert emu.requests == []
