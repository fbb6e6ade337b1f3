"""The journal: an append-only record of every mutating request the toolkit sends.

Each POST/PUT/DELETE that smartdc_nb sends (a single Machine action, a bulk
run, a panel button, a runbook) is written twice: an ``intent`` record before
the request and an ``outcome`` record after it (HTTP status, request id,
error, seconds). A bulk run also writes a ``run`` record (action, arguments,
options, every machine with its state) when it starts and ``run-end`` when it
ends, which is what :func:`smartdc_nb.resume` reads to continue it.

Where: ``connect(journal=PATH)``, else ``$SMARTDC_NB_JOURNAL``, else
``journal.sqlite`` in the user's state directory (platformdirs: XDG on Linux,
``~/Library/Application Support`` on macOS, ``%LOCALAPPDATA%`` on Windows).
``connect(journal=False)`` (or ``SMARTDC_NB_JOURNAL=off``) turns it off. A
location that cannot be written raises :class:`JournalError` before the first
mutating request is sent, never after.

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

import contextlib
import contextvars
import json
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

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
    if isinstance(value, str) and len(value) > MAX_VALUE:
        return value[:MAX_VALUE] + f"… ({len(value)} characters)"
    if isinstance(value, Mapping):
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


# ------------------------------------------------------------------ context


@dataclass
class RunContext:
    """The run the requests of this thread belong to (bulk run, or one single action)."""

    journal: Journal
    run_id: str
    plan_id: str | None = None
    action: str | None = None
    datacenter: Any = None
    started: float = field(default_factory=time.monotonic)


@dataclass
class MachineContext:
    machine: Any
    action: str | None
    state_before: str | None
    extra: dict = field(default_factory=dict)


_RUN: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("smartdc_nb_run",
                                                                        default=None)
_MACHINE: contextvars.ContextVar[MachineContext | None] = contextvars.ContextVar(
    "smartdc_nb_machine", default=None)
_PLAN: contextvars.ContextVar[str | None] = contextvars.ContextVar("smartdc_nb_plan",
                                                                 default=None)


def new_run_id() -> str:
    """A short, sortable run id: UTC time, then randomness."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def journal_of(datacenter: Any) -> Journal | None:
    """The Journal a DataCenter writes to (None when it is off); no I/O."""
    setting = getattr(datacenter, "journal_setting", None)
    if setting is False:
        return None
    if isinstance(setting, Journal):
        return setting
    path = Path(setting).expanduser() if setting not in (None, True) else default_path()
    return Journal.at(path) if path is not None else None


@contextlib.contextmanager
def about_machine(machine: Any, action: str | None, state_before: str | None
                  ) -> Iterator[None]:
    """Say which machine and action the requests sent inside belong to."""
    token = _MACHINE.set(MachineContext(machine, action, state_before))
    try:
        yield
    finally:
        _MACHINE.reset(token)


@contextlib.contextmanager
def under_plan(plan_id: str | None) -> Iterator[None]:
    """Mark the runs started inside as applying plan ``plan_id``."""
    token = _PLAN.set(plan_id)
    try:
        yield
    finally:
        _PLAN.reset(token)


def who(datacenter: Any) -> dict[str, Any]:
    profile = getattr(datacenter, "profile", None)
    return {"profile": getattr(profile, "name", None), "account": datacenter.login,
            "user": datacenter.user, "datacenter": datacenter.name or datacenter.url}


def connection_of(datacenter: Any) -> dict[str, Any]:
    """What a new process needs to reach this datacenter again (never a secret)."""
    profile = getattr(datacenter, "profile", None)
    return {"url": datacenter.url, "name": datacenter.name, "account": datacenter.account_name,
            "user": datacenter.user, "act_as": datacenter.login
            if datacenter.login != datacenter.account_name else None,
            "roles": list(datacenter.roles), "insecure": datacenter.insecure,
            "profile": getattr(profile, "name", None),
            "key_id": getattr(profile, "key_id", None),
            "key_path": getattr(profile, "key_path", None),
            "rate_limit": _plain_rate(getattr(datacenter, "_options", {}).get("rate_limit", True))}


def _plain_rate(value: Any) -> Any:
    """A rate_limit setting as JSON (a RateLimiter object becomes its rate)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return getattr(value, "rate", True)


_RESUMING: contextvars.ContextVar[str | None] = contextvars.ContextVar("smartdc_nb_resuming",
                                                                      default=None)


@contextlib.contextmanager
def resuming(run_id: str) -> Iterator[None]:
    """The run started inside continues run ``run_id`` (same id) instead of starting one."""
    token = _RESUMING.set(run_id)
    try:
        yield
    finally:
        _RESUMING.reset(token)


def start_run(journal: Journal | None, *, kind: str, action: str, datacenter: Any,
              detail: Mapping[str, Any]) -> RunContext | None:
    """Write a run's ``run`` record and return its context (None when the journal is off).

    The journal is opened first: a location that cannot be written raises
    JournalError here, before any request.
    """
    if journal is None:
        return None
    journal.open()
    resumed = _RESUMING.get()
    context = RunContext(journal, resumed or new_run_id(), _PLAN.get(), action, datacenter)
    journal.write(kind="resume" if resumed else "run", run_id=context.run_id,
                  plan_id=context.plan_id, action=action,
                  detail=to_json({"kind": kind, **detail}), **who(datacenter))
    return context


def end_run(context: RunContext | None, outcome: str, detail: Mapping[str, Any] | None = None,
            error: str | None = None) -> None:
    """Write a run's ``run-end`` record."""
    if context is None:
        return
    context.journal.write(kind="run-end", run_id=context.run_id, plan_id=context.plan_id,
                          action=context.action,
                          seconds=round(time.monotonic() - context.started, 3),
                          outcome=outcome, error=error, detail=to_json(detail),
                          **who(context.datacenter))


@contextlib.contextmanager
def inside(context: RunContext | None) -> Iterator[None]:
    """The requests sent inside (in this thread) belong to run ``context``."""
    token = _RUN.set(context) if context is not None else None
    try:
        yield
    finally:
        if token is not None:
            _RUN.reset(token)


def start_bulk_run(action: str, machines: list, args: tuple, kwargs: Mapping[str, Any],
                   params: Mapping[str, Any], options: Mapping[str, Any]) -> RunContext | None:
    """start_run for a bulk run: what resume needs to run it again, in the ``run`` record."""
    if not machines:
        return None
    first = machines[0].datacenter
    connections = {}
    for machine in machines:
        dc = machine.datacenter
        connections.setdefault(dc.name or dc.url, connection_of(dc))
    detail = {
        "arguments": {"args": list(args), "kwargs": dict(kwargs),
                      "callable": any(callable(a) for a in (*args, *kwargs.values()))},
        "now": params["now"].isoformat() if "now" in params else None,
        # per-machine names of a rename or snapshot; delete_tags' tag names are in its arguments
        "names": ({m.id: n for m, n in params["names"].items()}
                  if isinstance(params.get("names"), dict) else {}),
        "options": {k: v for k, v in options.items() if k != "health_check"},
        "health_check": options.get("health_check") is not None,
        "machines": [{"datacenter": m.datacenter.name or m.datacenter.url, "id": m.id,
                      "name": m.name, "state": m.state} for m in machines],
        "connections": connections,
    }
    return start_run(journal_of(first), kind="bulk", action=action, datacenter=first,
                     detail=detail)


def current_run() -> RunContext | None:
    return _RUN.get()


def _action_name(method: str, path: str, params: Mapping[str, Any] | None,
                 context: MachineContext | None) -> str:
    if params and params.get("action"):
        return str(params["action"])
    if context is not None and context.action:
        return context.action
    return f"{method} {path}"


def recorded(datacenter: Any, method: str, path: str, params: Mapping[str, Any] | None,
             body: Any, send: Callable[[], Any]) -> Any:
    """Send one mutating request through ``send()``, with its intent and outcome journalled.

    Called by DataCenter.request for every method but GET and HEAD.
    """
    context = _RUN.get()
    journal = context.journal if context is not None else journal_of(datacenter)
    if journal is None:
        return send()
    journal.open()  # JournalError here means nothing was sent
    machine = _MACHINE.get()
    target = machine.machine if machine is not None else None
    common = dict(
        run_id=context.run_id if context else new_run_id(),
        plan_id=context.plan_id if context else _PLAN.get(),
        machine_id=getattr(target, "id", None), machine_name=getattr(target, "name", None),
        action=_action_name(method, path, params, machine), **who(datacenter))
    arguments = {k: v for k, v in {"params": dict(params or {}) or None,
                                   "body": body}.items() if v is not None}
    intent = journal.write(kind="intent", method=method, path=path,
                           arguments=to_json(arguments) if arguments else None,
                           state_before=machine.state_before if machine else None, **common)
    started = time.monotonic()
    try:
        reply = send()
    except BaseException as exc:
        status = getattr(exc, "status", None)
        journal.write(kind="outcome", intent=intent, http_status=status,
                      request_id=getattr(exc, "request_id", None),
                      outcome="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                      error=f"{type(exc).__name__}: {exc}"[:2000],
                      seconds=round(time.monotonic() - started, 4), **common)
        raise
    journal.write(kind="outcome", intent=intent, http_status=reply.status,
                  request_id=reply.request_id, outcome="accepted",
                  seconds=round(time.monotonic() - started, 4), **common)
    return reply


__all__ = ["Journal", "JournalError", "default_path", "journal_of", "start_run", "end_run",
           "inside", "resuming", "start_bulk_run", "recorded",
           "about_machine", "under_plan", "current_run", "new_run_id", "COLUMNS"]
