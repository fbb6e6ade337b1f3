"""One runner at a time for a run (or a plan): a lock file next to the journal.

Two notebooks or terminals that resume the same interrupted run at once both read the
journal before either sent anything, so each sent every machine's request: each machine got
it twice. A resume (and a plan's apply) therefore holds an exclusive ``flock`` on a file of
its own for the run, from before it reads the journal to the end of its run; another process
or thread that asks for the same run is refused at once, in words, with nothing sent. The
kernel drops the lock when the holder dies (``kill -9`` included), so an interrupted run
never stays locked.

The files live in ``.<journal name>.locks/`` beside the journal and are removed when
released; a holder that finds its file removed under it (by the holder before it) locks the
new one instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock; the lock is then a no-op, as the journal's is
    fcntl = None  # type: ignore[assignment]

from .errors import SmartDCError
from .journal_place import JournalError
from .journal_segments import newest_first


class RunInProgressError(SmartDCError):
    """Another process or thread is running, resuming or applying this same run (or plan)."""


class RunLock:
    """The lock of ``what`` (a run id, ``plan-<id>``) beside journal ``path``."""

    def __init__(self, path: str | Path, what: str):
        path = Path(path).expanduser()
        if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}", what):  # a caller's text
            what = hashlib.sha256(what.encode()).hexdigest()[:32]
        self.file = path.parent / f".{path.name}.locks" / what
        self._fd: int | None = None

    def acquire(self, busy: str, advice: str = "") -> RunLock:
        """Take the lock, or raise RunInProgressError: ``busy``, who holds it and since when,
        that nothing was sent, and ``advice``. Returns self, a context manager that releases
        it."""
        if fcntl is None:
            return self
        while True:
            try:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise JournalError(
                    f"cannot lock {self.file} beside the journal ({exc}); nothing was sent. "
                    f"Make {self.file.parent} a writable directory, or keep the journal "
                    "elsewhere.", elsewhere=True) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode(errors="replace").strip()
                os.close(fd)
                raise RunInProgressError(f"{busy}{f' ({holder})' if holder else ''}; nothing "
                                         f"was sent{'. ' + advice if advice else ''}") from None
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(self.file).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder before us removed it as we opened it: lock the new one
        os.ftruncate(fd, 0)
        os.write(fd, (f"process {os.getpid()} on {socket.gethostname()}, since "
                      f"{time.strftime('%H:%M:%S')}").encode())
        self._fd = fd
        _held[fd] = self
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        _held.pop(fd, None)
        try:
            os.unlink(self.file)  # while still locked: a waiter then sees it is gone
        except OSError:
            pass
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: The locks this process holds, by descriptor.
_held: dict[int, RunLock] = {}


def _drop_after_fork() -> None:
    """A forked child (a health check's pool, say) is not the runner: it closes its copies
    of the locks without unlocking them (a flock goes when the last copy closes), so that a
    runner killed with kill -9 leaves its run free to resume while its workers live on."""
    for fd, lock in list(_held.items()):
        lock._fd = None
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_after_fork)


def holder(path: str | Path, what: str) -> str | None:
    """Who holds ``what``'s lock beside journal ``path`` now (its text), or None: a run
    whose journal shows no end is still running when its lock is held."""
    if fcntl is None:
        return None
    lock = RunLock(path, what)
    try:
        fd = os.open(lock.file, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.read(fd, 200).decode(errors="replace").strip() or "another process"
    finally:
        os.close(fd)  # a shared lock taken goes with it
    return None


def plan_lock(datacenter: Any, plan_id: str) -> Any:
    """Plan ``plan_id``'s lock, taken, beside ``datacenter``'s journal (a no-op without one)."""
    from .journaling import journal_of

    journal = journal_of(datacenter) if datacenter is not None else None
    if journal is None:
        return contextlib.nullcontext()
    return RunLock(journal.path, f"plan-{plan_id}").acquire(
        f"plan {plan_id} is being applied elsewhere now",
        "Let that end, and read its result before applying it again")


def applied_since(datacenter: Any, plan_id: str, since: float) -> dict | None:
    """The run record of plan ``plan_id`` begun at or after ``since`` (epoch seconds) in
    ``datacenter``'s journal, or None (None too without a journal).

    Only the lines that hold the id are parsed: a search of the bytes (mmap) finds them, so
    a journal of a million records does not cost a million JSON parses per apply.
    """
    from .journaling import journal_of

    journal = journal_of(datacenter) if datacenter is not None else None
    if journal is None:
        return None
    for file in newest_first(journal.path):  # the live file, then segments newest first
        found = _applied_in(file, plan_id, since)
        if found is not None:
            return found
    return None


def _applied_in(file_path: Path, plan_id: str, since: float) -> dict | None:
    """applied_since in one of the journal's files (the live one, or a segment)."""
    needle = plan_id.encode()
    try:
        with open(file_path, "rb") as file:
            if fcntl is not None:
                fcntl.flock(file.fileno(), fcntl.LOCK_SH)  # no half-written record
            stat = os.fstat(file.fileno())
            size = stat.st_size
            # last written before (a second for the kernel's coarse clock): not searched
            if not size or stat.st_mtime < since - 1:
                return None
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                at = data.find(needle)
                while at >= 0:
                    end = data.find(b"\n", at)
                    end = size if end < 0 else end
                    record = _record(data[data.rfind(b"\n", 0, at) + 1:end])
                    if record.get("kind") == "run" and record.get("plan_id") == plan_id \
                            and _epoch(record.get("time")) >= since:
                        return record
                    at = data.find(needle, end)
    except FileNotFoundError:  # no live file (yet, or just rotated), or a segment pruned
        return None
    except OSError as exc:
        raise JournalError(f"cannot read the journal at {file_path} ({exc}); nothing "
                           "was sent") from exc
    return None


def _record(line: bytes) -> dict:
    try:
        record = json.loads(line)
    except ValueError:  # damaged: the readers warn of it; here it is no earlier run
        return {}
    return record if isinstance(record, dict) else {}


def _epoch(text: Any) -> float:
    from .journal_views import _parse_time  # how every reader reads a record's time

    try:
        return _parse_time(text).timestamp()
    except ValueError:
        return float("-inf")


__all__ = ["RunLock", "RunInProgressError", "plan_lock", "applied_since", "holder"]
