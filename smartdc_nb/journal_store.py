"""Where and how the journal is stored: one SQLite file in WAL mode (see smartdc_nb.journaling).

Why SQLite (WAL mode) rather than JSON lines: one transaction per record is
atomic, so a ``kill -9`` leaves either the whole record or none of it, never a
torn line to repair; ``synchronous=FULL`` fsyncs the log at every commit, so a
record that was written survives a crash; SQLite's own file locks serialise
writers from many threads and processes (``busy_timeout`` waits for the lock),
so no hand-written locking; WAL lets readers (``smartdc-nb journal``) read
while a run writes; and queries by run, machine and time use indexes.

Durability: by default every record is fsync'd (``synchronous=FULL``), so it
survives a power loss too. That costs one or two fsyncs per request, a
noticeable share of a local round trip (benchmarks/bench_journal.py), little
against a real cloud's. ``SMARTDC_NB_JOURNAL_SYNC=normal`` skips the fsync:
records still survive the process being killed (SQLite's WAL guarantees
committed transactions across application crashes), but the last ones may be
lost if the machine itself goes down.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from .errors import SmartDCError

ENV = "SMARTDC_NB_JOURNAL"
SYNC_ENV = "SMARTDC_NB_JOURNAL_SYNC"
SYNC_MODES = ("full", "normal")
OFF = ("off", "0", "false", "no", "none")
#: Columns of a record, in order (also the journal() DataFrame's columns).
COLUMNS = ("seq", "time", "kind", "run_id", "plan_id", "profile", "account", "user",
           "datacenter", "machine_id", "machine_name", "action", "arguments", "method", "path",
           "request_id", "state_before", "http_status", "outcome", "error", "seconds", "intent",
           "detail")
# Few indexes and no AUTOINCREMENT: each one is another page written (and synced) per record.
# Records are never deleted, so the rowid alone numbers them in order.
SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL, kind TEXT NOT NULL, run_id TEXT, plan_id TEXT,
    profile TEXT, account TEXT, user TEXT, datacenter TEXT, machine_id TEXT, machine_name TEXT,
    action TEXT, arguments TEXT, method TEXT, path TEXT, request_id TEXT, state_before TEXT,
    http_status INTEGER, outcome TEXT, error TEXT, seconds REAL, intent INTEGER, detail TEXT);
CREATE INDEX IF NOT EXISTS records_run ON records (run_id);
"""
#: Longest text kept of one argument value (a boot script can be large; the journal says
#: what was asked, not a copy of every payload).
MAX_VALUE = 500


class JournalError(SmartDCError):
    """The journal cannot be opened or written (raised before any mutating request)."""


def default_path() -> Path | None:
    """Where the journal lives when ``connect()`` was not told: the env var, else platformdirs."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in OFF:
        return None
    if value:
        return Path(value).expanduser()
    import platformdirs

    return platformdirs.user_state_path("smartdc_nb", appauthor=False) / "journal.sqlite"


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _short(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_VALUE else \
            value[:MAX_VALUE] + f"… ({len(value)} characters)"
    if isinstance(value, dict) or (not isinstance(value, (int, float, list, tuple))
                                   and isinstance(value, Mapping)):  # the ABC check is slow
        return {str(k): _short(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_short(v) for v in value]
    return value


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(_short(value), default=repr, sort_keys=True)


class Journal:
    """One journal file. Thread-safe; other processes may write the same file."""

    _opened: dict[Path, Journal] = {}
    _opened_lock = threading.Lock()

    def __init__(self, path: str | Path, sync: str | None = None):
        self.path = Path(path).expanduser()
        sync = (sync or os.environ.get(SYNC_ENV) or "full").strip().lower()
        if sync not in SYNC_MODES:
            raise JournalError(f"the journal's sync mode must be one of {', '.join(SYNC_MODES)} "
                               f"(${SYNC_ENV}), not {sync!r}")
        self.sync = sync
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    @classmethod
    def at(cls, path: str | Path) -> Journal:
        """The one Journal object of this process for ``path`` (one connection per file)."""
        key = Path(path).expanduser().absolute()
        with cls._opened_lock:
            journal = cls._opened.get(key)
            if journal is None:
                journal = cls._opened[key] = cls(key)
            return journal

    def __repr__(self) -> str:
        return f"<Journal {self.path}>"

    def open(self) -> Journal:
        """Create the file and its table if needed; :class:`JournalError` if it cannot be written."""
        with self._lock:
            if self._db is None:
                self._db = self._connect()
        return self

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                 check_same_thread=False)
            # Small pages: a record is a few hundred bytes, and every commit writes (and with
            # FULL syncs) whole pages; 1 KiB pages measured 2-3x cheaper per record than 4 KiB.
            # Takes effect when the file is new (before WAL mode and the first table).
            db.execute("PRAGMA page_size=1024")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.sync.upper()}")  # FULL: fsync per record
            db.executescript(SCHEMA)
            db.execute("BEGIN IMMEDIATE")  # proves the file takes writes, before any request
            db.execute("ROLLBACK")
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(
                f"cannot write the journal at {self.path} ({exc}); nothing was sent. Give a "
                f"writable file with connect(journal=PATH) or ${ENV}, or turn the journal off "
                f"with connect(journal=False)") from exc
        return db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def write(self, **record: Any) -> int:
        """Append one record (one transaction, fsync'd); returns its ``seq``."""
        record.setdefault("time", now_text())
        names = [c for c in COLUMNS if c in record and c != "seq"]
        db = self.open()._db
        assert db is not None
        sql = f"INSERT INTO records ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        try:
            with self._lock:
                return db.execute(sql, [record[n] for n in names]).lastrowid or 0
        except sqlite3.Error as exc:
            raise JournalError(f"cannot write the journal at {self.path} ({exc})") from exc

    def rows(self, where: str = "", params: tuple = ()) -> list[tuple]:
        """Raw rows (COLUMNS order) matching an SQL condition, oldest first."""
        if not self.path.exists():
            return []
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30.0)
            try:
                sql = f"SELECT {', '.join(COLUMNS)} FROM records"
                return db.execute(sql + (f" WHERE {where}" if where else "") + " ORDER BY seq",
                                  params).fetchall()
            finally:
                db.close()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # a writer made the file and not yet its table
                return []
            raise JournalError(f"cannot read the journal at {self.path} ({exc})") from exc
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read the journal at {self.path} ({exc}); if the file "
                               f"is damaged, `sqlite3 {self.path} .recover` saves what it can"
                               ) from exc


__all__ = ["Journal", "JournalError", "default_path", "to_json", "now_text", "COLUMNS", "ENV",
           "SYNC_ENV", "SYNC_MODES", "OFF"]
