"""The journal: an append-only record of every mutating request the toolkit sends.

Each POST/PUT/DELETE that smartdc_nb sends (a single Machine action, a bulk
run, a panel button, a runbook) is written twice: an ``intent`` record before
the request and an ``outcome`` record after it (HTTP status, request id,
error, seconds). A bulk run also writes a ``run`` record (action, arguments,
options, every machine with its state) when it starts, a ``batch`` record when a
batch's wait and health check end, and ``run-end`` when it ends, which is what
:func:`smartdc_nb.resume` reads to continue it.

Where: ``connect(journal=PATH)``, else ``$SMARTDC_NB_JOURNAL``, else
``journal.jsonl`` in the user's state directory (platformdirs: XDG on Linux,
``~/Library/Application Support`` on macOS, ``%LOCALAPPDATA%`` on Windows).
``connect(journal=False)`` (or ``SMARTDC_NB_JOURNAL=off``) turns it off. A
location that cannot be written raises :class:`JournalError` before the first
mutating request is sent, never after. How it is stored (JSON lines, one locked
append per record, fsync'd), and why: smartdc_nb.journal_store.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .journal_lines import (fragment, intent_line, json_string, new_ref, new_run_id, now_text,
                            outcome_line, to_json)
from .journal_store import COLUMNS, ENV, Journal, JournalError, default_path
from .call_groups import Abandoned
from .masking import may_carry_secrets
from .plan_ids import callable_identity


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
    lock: Any = None  # a bulk run's RunLock (run_locks), released by release_run


@dataclass
class MachineContext:
    machine: Any
    action: str | None
    state_before: str | None
    extra: dict = field(default_factory=dict)


#: The outcome of a request refused before it went out (after a Ctrl-C): its intent was
#: written, nothing reached the cloud.
NOT_SENT = "not sent"

_RUN: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("smartdc_nb_run",
                                                                        default=None)
_MACHINE: contextvars.ContextVar[MachineContext | None] = contextvars.ContextVar(
    "smartdc_nb_machine", default=None)
_PLAN: contextvars.ContextVar[str | None] = contextvars.ContextVar("smartdc_nb_plan",
                                                                 default=None)


def journal_of(datacenter: Any) -> Journal | None:
    """The Journal a DataCenter writes to (None when it is off); no I/O."""
    setting = getattr(datacenter, "journal_setting", None)
    if setting is False:
        return None
    if isinstance(setting, Journal):
        return setting
    # Resolved once per setting (and $SMARTDC_NB_JOURNAL, when the setting defers to it):
    # expanding and resolving the path cost ~10 µs, on every mutating request.
    key = (setting, os.environ.get(ENV) if setting in (None, True) else None)
    try:
        return _resolved[key]
    except KeyError:
        pass
    path = Path(setting).expanduser() if setting not in (None, True) else default_path()
    journal = _resolved[key] = Journal.at(path) if path is not None else None
    return journal


#: journal_of's answers, by (the connection's setting, $SMARTDC_NB_JOURNAL).
_resolved: dict[tuple[Any, str | None], Journal | None] = {}


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


#: who()'s fields as a fragment, by their values: the same few for every request sent.
_who_fragments: dict[tuple, str] = {}


def _who_fragment(datacenter: Any) -> str:
    """who()'s fields as a fragment, made once per set of values (the fields are read here
    without who()'s dict: this runs for every mutating request)."""
    profile = getattr(datacenter, "profile", None)
    key = (getattr(profile, "name", None), datacenter.login, datacenter.user,
           datacenter.name or datacenter.url)
    text = _who_fragments.get(key)
    if text is None:
        if len(_who_fragments) > 256:  # connections come and go in a long-lived kernel
            _who_fragments.clear()
        text = _who_fragments[key] = fragment(who(datacenter))
    return text


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


_RESUMING: contextvars.ContextVar[tuple[str, Journal | None] | None] = contextvars.ContextVar(
    "smartdc_nb_resuming", default=None)


@contextlib.contextmanager
def resuming(run_id: str, journal: Journal | None = None) -> Iterator[None]:
    """The run started inside continues run ``run_id`` (same id, in ``journal``, the one the
    run is in, whatever journal the connections would write to) instead of starting one."""
    token = _RESUMING.set((run_id, journal))
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
    resumed = _RESUMING.get()
    if resumed is not None and resumed[1] is not None:
        journal = resumed[1]
    if journal is None:
        return None
    journal.open()
    context = RunContext(journal, resumed[0] if resumed else new_run_id(), _PLAN.get(), action,
                         datacenter)
    if kind == "bulk" and not resumed:  # a resume holds its own from before it read the run
        from .run_locks import RunLock

        context.lock = RunLock(journal.path, context.run_id).acquire(
            f"run {context.run_id} is already running")  # a new id: never, but said if so
    journal.write(before_sending=True, kind="resume" if resumed else "run", run_id=context.run_id,
                  plan_id=context.plan_id, action=action,
                  detail=to_json({"kind": kind, **detail}), **who(datacenter))
    return context


def end_run(context: RunContext | None, outcome: str, detail: Mapping[str, Any] | None = None,
            error: str | None = None) -> None:
    """Write a run's ``run-end`` record."""
    if context is None:
        return
    _write_after_sending(context, "its end", kind="run-end", outcome=outcome, error=error,
                         seconds=round(time.monotonic() - context.started, 3),
                         detail=to_json(detail))


def release_run(context: RunContext | None) -> None:
    """Let the run be resumed (after its ``run-end``, or an error that ended it)."""
    if context is not None and context.lock is not None:
        context.lock.release()


def batch_checked(context: RunContext | None, number: int | None, passed: list[str],
                  failed: list[str]) -> None:
    """Write a ``batch`` record: the batch's wait and health check ended, and these machines
    passed them. Resume takes a machine as done only with this record; without it (Ctrl-C or
    a dead process in the wait or the check) it waits on and checks the machine again."""
    if context is None:
        return
    _write_after_sending(context, f"the end of batch {number}'s checks", kind="batch",
                         detail=to_json({"batch": number, "passed": passed, "failed": failed}))


def _write_after_sending(context: RunContext, what: str, **record: Any) -> None:
    """Write a record of a run whose requests were sent; failing to (a full disk), warn: a
    JournalError here would throw away the run's result, which says what the cloud did.
    Without the record the run is only left to resume, which asks the cloud again."""
    try:
        context.journal.write(run_id=context.run_id, plan_id=context.plan_id,
                              action=context.action, **record, **who(context.datacenter))
    except JournalError as exc:
        warnings.warn(f"{exc}; {what} is not in the journal, the run's result stands",
                      RuntimeWarning, stacklevel=4)


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
        # which check (its name and body: plan_ids), so a resume can tell it is the same one
        "health_check": (callable_identity(options["health_check"])
                         if options.get("health_check") is not None else False),
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
    if method == "POST" and path.endswith("/machines"):
        return "create_machine"
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
    machine = _MACHINE.get()
    target = machine.machine if machine is not None else None
    stamp = now_text()
    # The fields the intent and outcome share, escaped one by one (not fragment()'s dict and
    # loop): this runs for every mutating request, right after the last one's round trip
    # left the CPU's caches cold, where each step costs several times what it does in a loop.
    common = '"run_id":' + json_string(context.run_id if context else new_run_id())
    plan_id = context.plan_id if context else _PLAN.get()
    if plan_id is not None:
        common += ',"plan_id":' + json_string(plan_id)
    if target is not None:
        machine_id, name = getattr(target, "id", None), getattr(target, "name", None)
        if machine_id is not None:  # str() in case a payload's value is not text
            common += ',"machine_id":' + json_string(str(machine_id))
        if name is not None:
            common += ',"machine_name":' + json_string(str(name))
    common += ',"action":' + json_string(_action_name(method, path, params, machine))
    whom = _who_fragment(datacenter)
    if whom:
        common += "," + whom
    if params:
        arguments: dict | None = {"params": dict(params), "body": body}
        if body is None:
            del arguments["body"]  # type: ignore[index]
    else:
        arguments = {"body": body} if body is not None else None
    intent = new_ref()  # the outcome's link to its intent
    journal.append(intent_line(common, stamp, intent, method, path,
                               to_json(arguments, may_carry_secrets(method, path))
                               if arguments else None,
                               machine.state_before if machine else None), before_sending=True)
    started = time.monotonic_ns()
    try:
        reply = send()
    except BaseException as exc:
        _write_outcome(journal, common, intent=intent, http_status=getattr(exc, "status", None),
                       request_id=getattr(exc, "request_id", None),
                       outcome=_outcome_of(exc),
                       error=f"{type(exc).__name__}: {exc}"[:2000],
                       seconds=round((time.monotonic_ns() - started) / 1e9, 4))
        raise
    nanos = time.monotonic_ns() - started
    try:
        journal.append(outcome_line(common, intent, reply.status, reply.request_id, nanos))
    except JournalError as exc:
        _warn_unrecorded(exc, reply.status, stacklevel=4)
    return reply


def _outcome_of(exc: BaseException) -> str:
    """The outcome of a request that raised ``exc``: ``not sent`` (refused before it went out
    after a Ctrl-C: call_groups.Abandoned; a resume sends it without asking the cloud),
    ``interrupted`` (Ctrl-C, or given up on its way: only the cloud can tell) or ``failed``."""
    if isinstance(exc, Abandoned):
        return "interrupted" if exc.sent else NOT_SENT
    return "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"


def _write_outcome(journal: Journal, common: str, **record: Any) -> None:
    """Write an outcome; failing to, warn: the request was sent and its answer must not be lost
    (the intent without an outcome makes resume ask the cloud what happened)."""
    try:
        journal.write(common, kind="outcome", **record)
    except JournalError as exc:
        _warn_unrecorded(exc, record.get("http_status"), stacklevel=5)


def _warn_unrecorded(problem: JournalError, status: int | None, stacklevel: int) -> None:
    warnings.warn(f"{problem}; the request itself was sent (HTTP {status})", RuntimeWarning,
                  stacklevel=stacklevel)


__all__ = ["Journal", "JournalError", "default_path", "to_json", "COLUMNS", "ENV", "journal_of",
           "start_run", "end_run", "release_run", "batch_checked",
           "inside", "resuming", "start_bulk_run", "recorded",
           "about_machine", "under_plan", "current_run", "new_run_id", "COLUMNS"]
