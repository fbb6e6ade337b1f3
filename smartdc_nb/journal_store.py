"""Where and how the journal is stored: JSON-lines files (see smartdc_nb.journaling).

Why JSON lines, appended with one ``write()`` under a file lock, rather than
SQLite: a record costs three system calls and no page rewrites (SQLite in WAL
mode spent ~25 µs per commit even without fsync, a noticeable share of a local
request; benchmarks/bench_journal.py); a damaged or truncated file loses only
its damaged lines, where a damaged SQLite page could not be opened at all; and
``tail -f`` and ``jq`` read it. ``flock`` serialises writers from many
processes, a lock writers from many threads, so records never interleave;
readers take the shared lock and never see half a record.

Durability (``SMARTDC_NB_JOURNAL_SYNC`` or ``Journal(sync=...)``):

``background`` (the default)
    each record is in the operating system before the request is sent, so a
    ``kill -9`` or a crash of Python loses nothing; a background thread fsyncs
    the file after writes, at most every 200 ms (records written in between
    share one fsync), so a power loss loses at most the records of the last
    ~200 ms plus one disk flush.
``full``
    each record is fsync'd before the request is sent, so even a power loss
    loses at most the record being written; costs a disk flush per record
    (about 0.2-0.6 ms here, more on a busy disk).
``none``
    never fsync; the operating system writes the file back when it likes.

Rotation (``SMARTDC_NB_JOURNAL_ROTATE``, default 64 MiB; smartdc_nb.journal_segments): the
same background thread, which stats the path every 200 ms anyway, renames the file to a
segment (``journal.<UTC time>.jsonl``) once it passes the limit, under the writers' lock; the
next record opens a new file, so writing a record costs no more system calls. Readers read
the segments then the file as one journal; ``seq`` numbers the records of all of them, oldest
first, as they are when read (a pruned segment renumbers the records after it);
``smartdc-nb journal --prune DAYS`` removes old segments whole (smartdc_nb.journal_pruning).
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows: threads are still serialised; processes are not
    fcntl = None  # type: ignore[assignment]

from .journal_place import ELSEWHERE, ENV, OFF, TERMINAL_ELSEWHERE, JournalError, \
    JournalWarning, default_path
from .journal_lines import now_text, record_line
from .journal_segments import configured_limit, files, rotate
from .journal_shape import check

# Bound once: append() runs twice per mutating request, after a round trip that left the
# CPU's caches cold, where each attribute lookup costs more than it does in a loop.
_flock = fcntl.flock if fcntl is not None else None
_LOCK_EX, _LOCK_UN = (fcntl.LOCK_EX, fcntl.LOCK_UN) if fcntl is not None else (0, 0)
_write = os.write

SYNC_ENV = "SMARTDC_NB_JOURNAL_SYNC"
SYNC_MODES = ("background", "full", "none")
#: Columns of a record, in order (also the journal() DataFrame's columns).
COLUMNS = ("seq", "time", "kind", "run_id", "plan_id", "profile", "account", "user",
           "datacenter", "machine_id", "machine_name", "action", "arguments", "method", "path",
           "request_id", "state_before", "http_status", "outcome", "error", "seconds", "intent",
           "detail")
#: Seconds the background syncer waits for another write before it ends.
SYNCER_IDLE = 5.0
#: Seconds between two background fsyncs at most: records written in between share one
#: (PostgreSQL's WAL writer, with synchronous_commit off, also waits 200 ms between flushes).
SYNC_INTERVAL = 0.2


class Journal:
    """One journal file. Thread-safe; other processes may write the same file."""

    _opened: dict[Path, Journal] = {}
    _opened_lock = threading.Lock()

    def __init__(self, path: str | Path, sync: str | None = None,
                 rotate: str | int | None = None):
        # Absolute: the file is opened again when its path names another (see _moved), and a
        # notebook's os.chdir() must not move the journal then.
        self.path = Path(path).expanduser().absolute()
        self.sync = (sync or os.environ.get(SYNC_ENV) or "background").strip().lower()
        # A mode given here is refused at once; the environment's only when writing: reading
        # (smartdc-nb journal, resume's look at a run) does not depend on it.
        if sync is not None and self._sync_problem():
            raise JournalError(self._sync_problem())
        self.rotate_at, self._rotate_problem = configured_limit(rotate)  # the same way
        self._size = 0  # the open file's size when _moved last looked
        self._background = self.sync == "background"
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None  # the open file's (device, inode)
        self._stale = False  # the path names another file now: open it again (_sync_loop)
        self._check_tail = True
        self._unsynced = threading.Event()
        self._syncer: threading.Thread | None = None

    @classmethod
    def at(cls, path: str | Path) -> Journal:
        """The one Journal object of this process for ``path`` (one open file per path)."""
        key = Path(path).expanduser().absolute()
        with cls._opened_lock:
            journal = cls._opened.get(key)
            if journal is None:
                journal = cls._opened[key] = cls(key)
            return journal

    def __repr__(self) -> str:
        return f"<Journal {self.path}>"

    def open(self) -> Journal:
        """Create the file if needed; :class:`JournalError` if it cannot be written."""
        if self._fd is None:
            with self._lock:
                self._open()
        return self

    def _sync_problem(self) -> str | None:
        if self.sync in SYNC_MODES:
            return None
        return (f"the journal's sync mode must be one of {', '.join(SYNC_MODES)} (${SYNC_ENV}), "
                f"not {self.sync!r}")

    def _cannot(self, verb: str, exc: OSError, nothing_sent: bool, more: str = "") -> JournalError:
        """The error for a record that could not be written: before any request (the file's
        opening, a run's first record, a request's intent) it says so, and what to do."""
        text = f"cannot {verb} the journal at {self.path} ({exc}){more}"
        if not nothing_sent:
            return JournalError(text)
        return JournalError(f"{text}; nothing was sent.", elsewhere=True)

    def _open(self) -> None:
        if self._fd is not None:
            return
        problem = self._sync_problem() or self._rotate_problem
        if problem:
            raise JournalError(f"{problem}; nothing was sent")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            opened = os.fstat(self._fd)
        except OSError as exc:
            raise self._cannot("write", exc, nothing_sent=True) from exc
        self._identity = (opened.st_dev, opened.st_ino)
        self._stale = False
        self._check_tail = True
        self._syncer = None
        _live.add(self)

    def close(self) -> None:
        """Fsync what was written and close the file (a later write opens it again)."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            if self.sync != "none":
                os.fsync(fd)
            os.close(fd)
        self._unsynced.set()  # wakes the syncer, which sees the file closed and ends

    def write(self, shared: str = "", *, before_sending: bool = False, **record: Any) -> None:
        """Append one record.

        ``shared`` is more of its fields, encoded by :func:`fragment` (not repeated in
        ``record``). ``arguments`` and ``detail`` are JSON text (:func:`to_json`); ``ref``
        names a record that a later one points at with ``intent=`` (read back as that
        record's ``seq``). The record is in the operating system when this returns, and
        fsync'd as the sync mode says. ``before_sending``: no request was sent yet (see append).
        """
        record.setdefault("time", now_text())
        self.append(record_line(record, shared), before_sending=before_sending)

    def append(self, line: bytes, *, before_sending: bool = False) -> None:
        """Append one record already encoded as a line (write() and :func:`outcome_line`).

        ``before_sending`` says the record comes before any request (a run's first record, a
        request's intent): a JournalError then says nothing was sent, and what to do.
        """
        with self._lock:
            fd = self._fd
            # The path is watched off the request path (_sync_loop); after a quiet spell the
            # watcher has ended, and the first record looks itself.
            if fd is not None and (self._stale or (self._syncer is None and self._moved())):
                self._drop()
                fd = None
            if fd is None:
                self._open()
                fd = self._fd
                assert fd is not None
            try:
                if _flock is not None:
                    _flock(fd, _LOCK_EX)
                try:
                    if self._check_tail:
                        self._end_line(fd, os.lseek(fd, 0, os.SEEK_END))
                    self._check_tail = True  # until this write is known whole
                    done = _write(fd, line)
                    while done < len(line):  # a short write is rare (a full disk), not an error
                        done += _write(fd, line[done:])
                    self._check_tail = False
                finally:
                    if _flock is not None:
                        _flock(fd, _LOCK_UN)
            except OSError as exc:
                raise self._cannot("write", exc, before_sending) from exc
            if not self._unsynced.is_set():
                self._unsynced.set()
            if self._syncer is None:  # decided under the lock the syncer ends under
                self._syncer = threading.Thread(target=self._sync_loop, daemon=True,
                                                name=f"journal sync {self.path.name}")
                self._syncer.start()
        if self.sync == "full":
            try:
                os.fsync(fd)
            except OSError as exc:
                raise self._cannot("fsync", exc, before_sending,
                                   "; the record was written but may not be on disk") from exc

    def _moved(self) -> bool:
        """Whether the path names another file than the one open (or none): a kernel keeps its
        journal open for days, while the file is removed, rotated (mv, then a new file) or its
        directory deleted; records written on would go to a file nobody can read. Asked every
        SYNC_INTERVAL by _sync_loop, not per record as logging's WatchedFileHandler does: a
        stat right after a round trip costs ~10-18 µs, a seventh of a record's whole cost."""
        try:
            now = os.stat(self.path)
        except OSError:  # gone, or no longer reachable: opening it again says which
            return True
        self._size = now.st_size  # for rotation (_sync_loop): no stat more
        return (now.st_dev, now.st_ino) != self._identity

    def _drop(self) -> None:
        """Close the open file (under self._lock) to open the path again: what was written to
        it stays in it (fsync'd, unless the mode is none)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self.sync != "none":
                os.fsync(fd)
        except OSError:
            pass  # its records are in the old file whatever the disk did; the new one matters
        finally:
            os.close(fd)

    def _end_line(self, fd: int, size: int) -> None:
        """End a torn last line (a crash while writing) so the next record starts its own."""
        if size:
            os.lseek(fd, size - 1, os.SEEK_SET)  # not os.pread: Windows has none
            if os.read(fd, 1) != b"\n":
                os.write(fd, b"\n")  # O_APPEND: at the end, wherever the offset is

    def _sync_loop(self) -> None:
        """While records are written: fsync after them in ``background`` mode (writes that
        come during an fsync share the next one), and every SYNC_INTERVAL see whether the path
        still names the open file (_moved; the next record then opens it again) and whether
        it passed the rotation size (journal_segments.rotate). Ends when the
        file is closed or nothing was written for SYNCER_IDLE (the next write starts another)."""
        quiet_since = time.monotonic()
        while self._syncer is threading.current_thread():
            wrote = self._unsynced.wait(SYNC_INTERVAL)
            if wrote:
                self._unsynced.clear()
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > SYNCER_IDLE:
                with self._lock:
                    if not self._unsynced.is_set():
                        self._syncer = None
                        return
                continue
            fd = self._fd
            if fd is None:
                return
            if wrote and self._background:
                try:
                    os.fsync(fd)
                except OSError:  # closed under us: close() synced it
                    return
            if not self._stale:
                if self._moved():
                    self._stale = True
                elif (limit := self.rotate_at) and self._size >= limit:
                    rotate(self, limit)  # then stale: the next record opens anew
            if wrote:
                # At most this often, in every mode: appends wait while the page they extend
                # is written out, so fsyncing after every record made each request wait for
                # the disk; and a thread woken by every record costs each request a wake-up
                # and a turn at the interpreter (~100 µs in `none` mode, bench_journal.py).
                time.sleep(SYNC_INTERVAL)

    def rows(self, match: Callable[[dict], bool] | None = None) -> list[dict]:
        """Records (every column) that ``match``, oldest first: the segments', then the
        live file's (journal_segments). ``seq`` numbers the lines of those files, from 1, in
        that order, as they are when read: it names a record within one reading (``intent``
        is the ``seq`` of the record an outcome's ``intent=`` named, in any of the files).

        A line that is not a whole record, or not of a record's shape
        (journal_shape.check), is skipped with a :class:`JournalWarning` saying where and why.
        """
        return list(self.iter_rows(match))

    def iter_rows(self, match: Callable[[dict], bool] | None = None) -> Iterator[dict]:
        """:meth:`rows` one at a time, each file read line by line: a journal of a million
        records is never in memory at once (benchmarks/bench_journal_read.py). Each file's
        shared lock is held until its last line is read: consume it at once."""
        for _, record in self.records():
            if match is None or match(record):
                yield {name: record.get(name) for name in COLUMNS}

    def records(self) -> Iterator[tuple[Path, dict]]:
        """Every readable record as it was written (with ``seq``; ``intent`` resolved), and
        the file it is in, oldest first (iter_rows; pruning, which needs to know the file)."""
        refs: dict[str, int] = {}
        seq = 0
        for where, file in files(self.path):
            try:
                for line_number, line in enumerate(file, start=1):
                    seq += 1
                    record = self._record(seq, line, refs, where, line_number)
                    if record is not None:
                        yield where, record
            except OSError as exc:
                raise JournalError(f"cannot read the journal at {where} ({exc})") from exc

    def _record(self, seq: int, line: bytes, refs: dict[str, int], where: Path,
                line_number: int) -> dict | None:
        """Line ``line_number`` of file ``where``, record ``seq``, as a record (``intent``
        resolved through ``refs``), None if blank or damaged (said with a warning)."""
        if not line.strip():
            return None
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            check(record)  # before ref/intent, and before match, use its fields
        except ValueError as exc:
            self.warn_damaged(seq, exc, where, line_number)
            return None
        record["seq"] = seq
        if "ref" in record:
            refs[record["ref"]] = seq
        if "intent" in record:
            record["intent"] = refs.pop(record["intent"], None)  # one outcome per intent: the
            # table holds only intents still waiting for theirs, not one entry per request ever
        return record

    def warn_damaged(self, seq: int, problem: Exception, where: Path | None = None,
                     line_number: int | None = None) -> None:
        """Say that record ``seq`` (line ``line_number`` of file ``where``: of the live file,
        when not said) is skipped, and why (the other records are still read)."""
        line = f" (line {line_number})" if line_number not in (None, seq) else ""
        warnings.warn(f"journal {where or self.path}: record {seq}{line} is damaged ({problem}); "
                      "skipped, the other records are shown", JournalWarning, stacklevel=6)


#: Journals with an open file in this process, fsync'd and closed at exit.
_live: set[Journal] = set()


def _forget_after_fork() -> None:
    """In a forked child: each journal opens its own file on its next write (the inherited
    descriptor shares the parent's flock), with fresh locks (the parent's threads held them)."""
    for journal in list(_live):
        fd, journal._fd = journal._fd, None
        journal._lock = threading.Lock()
        journal._unsynced = threading.Event()
        journal._syncer = None
        if fd is not None:
            try:
                os.close(fd)  # the parent's lock stays: its own descriptor is still open
            except OSError:
                pass
    _live.clear()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_after_fork)


@atexit.register
def _close_all() -> None:
    for journal in list(_live):
        try:
            journal.close()
        except OSError:
            pass


__all__ = ["Journal", "JournalError", "JournalWarning", "default_path", "COLUMNS", "ENV",
           "ELSEWHERE", "TERMINAL_ELSEWHERE", "SYNC_ENV", "SYNC_MODES", "OFF"]
