"""Bulk actions over many machines: safe, bounded, and accountable.

:func:`run_bulk` applies one action (start, stop, reboot, resize, rename,
create_snapshot, start_from_snapshot, delete_snapshot, add_tags, replace_tags,
delete_tags, update_metadata, delete) to many machines, in any datacenters,
and returns a :class:`BulkResult` with one row per machine. Every machine
gets an outcome:

- ``done``: the request was accepted (and, with ``wait``, the target reached);
- ``failed``: the request, the wait or the health check failed (with the error);
- ``skipped``: the action does not apply, with the reason the rules table
  (smartdc_nb.rules) gives (start on a running machine, delete with deletion
  protection on, ...): nothing is sent;
- ``not reached``: interrupted (Ctrl-C), a rolling update stopped before it, or
  the cloud could not be asked (the re-fetch failed, or the request was
  throttled beyond the retry budget), with the error and the reason;
- ``planned``: ``dry_run=True`` lists what would be done, sending nothing.

How it runs:

- The machines are re-fetched first (one listing per datacenter) so skips are
  decided on current states (``refresh=False`` uses the known payloads). A
  machine that cannot be re-fetched (the cloud keeps failing or throttling
  after the transport's retries) is ``not reached``, with the error: the call
  never raises its table away.
- Destructive actions (stop, delete, delete_snapshot, start_from_snapshot)
  need ``confirm=True``.
- Requests go out from ``concurrency`` threads, through each datacenter's
  shared rate limiter; a 429 is retried by the transport as the server says.
  One machine's failure never stops the others.
- ``wait=True`` waits for each action's natural end (see
  :data:`ACTIONS`: e.g. ``stopped`` after stop, the new name after rename, the
  snapshot ``created`` after create_snapshot) with the multi-machine waiter
  (smartdc_nb.waiters); ``wait="running"`` (or a list of states) names the
  states instead.
- Rolling mode, ``batch_size=N``: act on N machines, wait for them, call
  ``health_check(machine)`` for each (truthy means healthy; an exception
  means unhealthy), and stop at the first batch with a failure — the rest are
  ``not reached`` with the reason.
- Ctrl-C stops new work, lets the requests in flight finish, and raises
  :class:`BulkInterrupted` whose ``result`` is the full table.

:class:`BulkActions` gives a class (MachineList, Fleet, the DataFrame
accessor) these actions as methods over its ``_bulk_targets()``.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from . import rules
from .datacenter import validate_machine_name
from .errors import (BulkActionError, InvalidInputError, SmartDCError, TooManyRequestsError,
                     WaitInterrupted)
from .resources.machine import Machine
from .resources.snapshot import Snapshot
from .resources.validate import check_metadata, check_tags, check_snapshot_name, check_states
from .rules import MACHINE_STATES, SNAPSHOT_STATES
from .progress import CountBar, summary
from .waiters import (ResultTable, Target, Tracker, refresh_machines, unique_machines,
                      wait_trackers)

if TYPE_CHECKING:
    import pandas

DONE, FAILED, SKIPPED, NOT_REACHED, PLANNED = "done", "failed", "skipped", "not reached", "planned"
OUTCOMES = (DONE, FAILED, SKIPPED, NOT_REACHED, PLANNED)


class BulkInterrupted(BulkActionError, KeyboardInterrupt):
    """Ctrl-C during a bulk action; ``result`` (also ``outcomes``) is the full BulkResult."""

    def __init__(self, message: str, result: BulkResult):
        super().__init__(message, outcomes=result)
        self.result = result


# ------------------------------------------------------------------ actions


def _tags_of(machine: Machine) -> dict:
    return machine.raw.get("tags") or {}


@dataclass(frozen=True)
class Action:
    """How one bulk action is checked, sent, described and awaited.

    ``prepare(*args, **kwargs)`` validates the arguments once and returns the
    params; ``wanted(machine, params)`` is the argument the rules table
    (smartdc_nb.rules) judges the machine against (see :meth:`why_not`); ``send``
    makes the request(s) and returns the resource to wait on;
    ``describe`` is the request as the plan shows it; ``target`` is what
    ``wait=True`` waits for; ``done`` names that end in summaries.
    """

    name: str
    prepare: Callable[..., dict]
    wanted: Callable[[Machine, dict], Any]
    send: Callable[[Machine, dict], Any]
    describe: Callable[[Machine, dict], str]
    target: Callable[[Machine, dict], Target]
    done: str
    snapshot_wait: bool = False

    @property
    def destructive(self) -> bool:
        """Whether a run needs ``confirm=True`` (the rules table says)."""
        return self.name in rules.DESTRUCTIVE

    def verdict(self, machine: Machine, params: dict) -> rules.Verdict:
        """The rules' verdict on this action for ``machine`` with the run's ``params``."""
        return rules.verdict(self.name, machine, self.wanted(machine, params))

    def why_not(self, machine: Machine, params: dict) -> str | None:
        """Why the action does not apply to ``machine`` (it is then skipped), or None."""
        return self.verdict(machine, params).reason


def _no_args(name: str) -> Callable[..., dict]:
    def prepare(*args: Any, **kwargs: Any) -> dict:
        if args or kwargs:
            raise InvalidInputError(f"{name} takes no arguments (got {args or ''}{kwargs or ''})")
        return {}
    return prepare


def _one_arg(name: str, what: str, check: Callable[[Any], Any] = lambda v: v):
    def prepare(*args: Any, **kwargs: Any) -> dict:
        value = kwargs.pop(what, None) if what in kwargs else (args[0] if args else None)
        if value is None or len(args) > 1 or kwargs:
            raise InvalidInputError(f"{name} needs exactly one argument: {what}")
        return {what: check(value)}
    return prepare


def _mapping(name: str, check: Callable[[Mapping], dict], allow_empty: bool = False):
    def prepare(*args: Any, **kwargs: Any) -> dict:
        values: dict = {}
        for arg in args:
            if not isinstance(arg, Mapping):
                raise InvalidInputError(f"{name} takes a dict and/or key=value arguments, "
                                        f"not {arg!r}")
            values.update(arg)
        values.update(kwargs)
        if not values and not allow_empty:
            raise InvalidInputError(f"{name} needs at least one key=value")
        return {"items": check(values)}
    return prepare


def _names(*args: Any, **kwargs: Any) -> dict:
    names = [a for arg in args for a in ([arg] if isinstance(arg, str) else arg)]
    if kwargs or not names or not all(isinstance(n, str) and n for n in names):
        raise InvalidInputError("delete_tags needs tag names: delete_tags('role', 'env')")
    return {"names": names}


TEMPLATE_FIELDS = ("name", "id", "short_id", "datacenter", "date", "time", "datetime")


def _template_fields(machine: Machine, params: dict) -> dict[str, Any]:
    now: datetime = params["now"]
    return {"name": machine.name, "id": machine.id, "short_id": (machine.id or "")[:8],
            "datacenter": machine.datacenter.name or "", "date": now.strftime("%Y%m%d"),
            "time": now.strftime("%H%M%S"), "datetime": now.strftime("%Y%m%dT%H%M%SZ")}


def _expand(template: Any, machine: Machine, params: dict) -> str:
    if callable(template):
        return template(machine)
    return template.format(**_template_fields(machine, params))


def _template(what: str):
    def prepare(*args: Any, **kwargs: Any) -> dict:
        value = kwargs.pop(what, None) if what in kwargs else (args[0] if args else None)
        if value is None or len(args) > 1 or kwargs:
            raise InvalidInputError(f"give one {what}: a template like '{{name}}-old' or a "
                                    "callable(machine) -> str")
        if not (callable(value) or isinstance(value, str)):
            raise InvalidInputError(
                f"{what} must be a template string or a callable, not {value!r}")
        if isinstance(value, str):
            try:
                value.format(**dict.fromkeys(TEMPLATE_FIELDS, ""))
            except (KeyError, IndexError, ValueError) as exc:
                raise InvalidInputError(
                    f"bad {what} template {value!r} ({type(exc).__name__}: {exc}); its fields "
                    f"are {', '.join('{' + k + '}' for k in TEMPLATE_FIELDS)}") from None
        return {"template": value, "now": datetime.now(timezone.utc)}
    return prepare


def _states_target(*states: str) -> Callable[[Machine, dict], Target]:
    def target(machine: Machine, params: dict) -> Target:
        return Target.of(states)
    return target


def _check_target(description: Callable[[Machine, dict], str],
                  predicate: Callable[[dict, Machine, dict], bool]):
    def target(machine: Machine, params: dict) -> Target:
        return Target.check(lambda raw: predicate(raw, machine, params),
                            description(machine, params))
    return target


def _rollback_target(machine: Machine, params: dict) -> Target:
    return Target.of((rules.after_rollback(params["before"].get(machine)),))


def _package(machine: Machine, params: dict) -> dict:
    return params["packages"][machine.datacenter]


def _new_name(machine: Machine, params: dict) -> str:
    return params["names"][machine]


def _rollback_send(machine: Machine, params: dict) -> Machine:
    params["before"][machine] = machine.state
    return machine.start_from_snapshot(params["name"])


def _add_tags_send(machine: Machine, params: dict) -> Machine:
    machine.add_tags(**params["items"])  # returns the tags (the seed's API); wait on the machine
    return machine


def _replace_tags_send(machine: Machine, params: dict) -> Machine:
    machine.replace_tags(**params["items"])
    return machine


def _delete_tags_send(machine: Machine, params: dict) -> Machine:
    for name in params["names"]:
        if name in _tags_of(machine):
            machine.delete_tag(name)
    return machine


def _items_landed(key: str):
    def landed(raw: dict, machine: Machine, params: dict) -> bool:
        have = raw.get(key) or {}
        return all(k in have and have[k] == v for k, v in params["items"].items())
    return landed


def _path(machine: Machine, *rest: str) -> str:
    return "/".join([machine.path, *rest])


def _named(machine: Machine, params: dict) -> str | None:
    """The expanded name, once planned (a panel asks before the run expands them)."""
    return params.get("names", {}).get(machine)


def _nothing(machine: Machine, params: dict) -> None:
    return None


def _simple(name: str, send: Callable, request: str, target: str) -> Action:
    return Action(name, _no_args(name), _nothing, send,
                  lambda m, p: request.format(path=m.path), _states_target(target), target)


ACTIONS: dict[str, Action] = {a.name: a for a in [
    _simple("start", lambda m, p: m.start(), "POST {path}?action=start", "running"),
    _simple("stop", lambda m, p: m.stop(), "POST {path}?action=stop", "stopped"),
    _simple("reboot", lambda m, p: m.reboot(), "POST {path}?action=reboot", "running"),
    _simple("delete", lambda m, p: m.delete(), "DELETE {path}", "deleted"),
    Action("resize", _one_arg("resize", "package"), lambda m, p: _package(m, p)["name"],
           lambda m, p: m.resize(_package(m, p)),
           lambda m, p: f"POST {m.path}?action=resize&package={_package(m, p)['id']}",
           _check_target(lambda m, p: f"package {_package(m, p)['name']}",
                         lambda raw, m, p: raw.get("package") == _package(m, p)["name"]),
           "the new package"),
    Action("rename", _template("pattern"), _named,
           lambda m, p: m.rename(_new_name(m, p)),
           lambda m, p: f"POST {m.path}?action=rename&name={_new_name(m, p)}",
           _check_target(lambda m, p: f"name {_new_name(m, p)}",
                         lambda raw, m, p: raw.get("name") == _new_name(m, p)),
           "the new names"),
    Action("create_snapshot", _template("name"), _named,
           lambda m, p: m.create_snapshot(_new_name(m, p)),
           lambda m, p: f'POST {_path(m, "snapshots")} {{"name": "{_new_name(m, p)}"}}',
           _states_target("created"), "snapshots created", snapshot_wait=True),
    Action("start_from_snapshot", _one_arg("start_from_snapshot", "name", check_snapshot_name),
           lambda m, p: p["name"], _rollback_send,
           lambda m, p: f"POST {_path(m, 'snapshots', p['name'])}", _rollback_target,
           "the rollback done"),
    Action("delete_snapshot", _one_arg("delete_snapshot", "name", check_snapshot_name),
           lambda m, p: p["name"],
           lambda m, p: Snapshot(m, data={"name": p["name"], "state": "created"}).delete(),
           lambda m, p: f"DELETE {_path(m, 'snapshots', p['name'])}",
           _states_target("deleted"), "snapshots deleted", snapshot_wait=True),
    Action("add_tags", _mapping("add_tags", check_tags), lambda m, p: p["items"],
           _add_tags_send,
           lambda m, p: f"POST {_path(m, 'tags')} {p['items']}",
           _check_target(lambda m, p: "the tags set", _items_landed("tags")), "tags set"),
    Action("replace_tags", _mapping("replace_tags", check_tags, allow_empty=True),
           lambda m, p: p["items"], _replace_tags_send,
           lambda m, p: f"PUT {_path(m, 'tags')} {p['items']}",
           _check_target(lambda m, p: "the tags replaced",
                         lambda raw, m, p: (raw.get("tags") or {}) == p["items"]),
           "tags replaced"),
    Action("delete_tags", _names, lambda m, p: p["names"], _delete_tags_send,
           lambda m, p: "; ".join(f"DELETE {_path(m, 'tags', n)}" for n in p["names"]
                                  if n in _tags_of(m)),
           _check_target(lambda m, p: "the tags deleted",
                         lambda raw, m, p: not any(n in (raw.get("tags") or {})
                                                   for n in p["names"])),
           "tags deleted"),
    Action("update_metadata", _mapping("update_metadata", check_metadata),
           lambda m, p: p["items"], lambda m, p: m.update_metadata(**p["items"]),
           lambda m, p: f"POST {_path(m, 'metadata')} keys {sorted(p['items'])}",
           _check_target(lambda m, p: "the metadata set", _items_landed("metadata")),
           "metadata set"),
]}


def _plan_params(action: Action, machines: Sequence[Machine], params: dict,
                 outcomes: dict[Machine, Outcome]) -> None:
    """Per-machine parameters: resolved packages, expanded names (failures mark the row)."""
    if action.name == "resize":
        params["packages"] = {}
        for machine in machines:
            dc = machine.datacenter
            if dc in params["packages"] or outcomes[machine].outcome:
                continue
            try:
                params["packages"][dc] = machine.resolve_package(params["package"])
            except SmartDCError as exc:
                params["packages"][dc] = None
                for other in machines:
                    if other.datacenter == dc and isinstance(exc, InvalidInputError):
                        outcomes[other].end(FAILED, error=exc)
                    elif other.datacenter == dc:
                        outcomes[other].end(NOT_REACHED, error=exc,
                                            reason="could not look the package up; nothing was "
                                                   "sent")
    if action.name in ("rename", "create_snapshot"):
        check = validate_machine_name if action.name == "rename" else check_snapshot_name
        params["names"] = names = {}
        taken: dict[tuple, Machine] = {}
        for machine in machines:
            try:
                names[machine] = check(_expand(params["template"], machine, params))
            except InvalidInputError as exc:
                outcomes[machine].end(FAILED, error=exc)
                continue
            key = (machine.datacenter, names[machine])
            if action.name == "rename" and key in taken and names[machine] != machine.name:
                outcomes[machine].end(FAILED, error=InvalidInputError(
                    f"the new name {names[machine]!r} would also be given to "
                    f"{taken[key].label}; names must be unique in a datacenter"))
            taken[key] = machine
    if action.name == "start_from_snapshot":
        params["before"] = {}


# ------------------------------------------------------------------ outcomes


@dataclass(eq=False)
class Outcome:
    """One machine's row of a bulk action."""

    machine: Machine
    action: str
    outcome: str | None = None
    error: BaseException | None = None
    reason: str = ""
    request: str = ""
    batch: int | None = None
    started: float | None = None
    finished: float | None = None
    history: list = field(default_factory=list)

    def end(self, outcome: str, *, error: BaseException | None = None, reason: str = "") -> None:
        self.outcome, self.error, self.reason = outcome, error, reason
        self.finished = time.monotonic()

    def row(self) -> dict[str, Any]:
        machine = self.machine
        seconds = (self.finished - self.started) if self.started and self.finished else None
        return {
            "datacenter": machine.datacenter.name or machine.datacenter.url,
            "id": machine.id,
            "name": machine.name,
            "action": self.action,
            "outcome": self.outcome,
            "error": str(self.error) if self.error is not None else None,
            "reason": self.reason or None,
            "request": self.request or None,
            "seconds": round(seconds, 3) if seconds is not None else None,
            "final_state": machine.state,
            "batch": self.batch,
            "history": [(when.isoformat(), state) for when, state in self.history],
        }


class BulkResult(ResultTable):
    """The outcome table of a bulk action: one row per machine.

    Columns of :attr:`frame` (typed: text columns are pandas strings with
    ``<NA>`` for nothing): datacenter, name, id, action, outcome (done, failed,
    skipped, not reached, planned), final_state, reason (why skipped or not
    reached), error, seconds, batch (rolling mode), request (what was or
    would be sent) and history (the states seen while waiting, e.g.
    ``stopping → stopped``; with their times in ``outcomes[i].history``).
    """

    # what a person reads first, first; the request line and the timed history last
    COLUMNS = ("datacenter", "name", "id", "action", "outcome", "final_state", "reason", "error",
               "seconds", "batch", "request", "history")
    DTYPES = {"datacenter": "string", "name": "string", "id": "string", "action": "string",
              "final_state": "string", "reason": "string", "error": "string", "seconds": "Float64",
              "batch": "Int64", "request": "string", "history": "string"}

    def __init__(self, action: str, outcomes: Sequence[Outcome], elapsed: float, *,
                 dry_run: bool = False, interrupted: bool = False, waited_for: str | None = None):
        self.action = action
        self.items = self.outcomes = list(outcomes)
        self.elapsed = elapsed
        self.dry_run = dry_run
        self.interrupted = interrupted
        self.waited_for = waited_for
        self.rows = [o.row() for o in self.outcomes]

    @property
    def counts(self) -> dict[str, int]:
        """Machines per outcome."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for outcome in self.outcomes:
            counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
        return counts

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing was left unreached."""
        counts = self.counts
        return not counts[FAILED] and not counts[NOT_REACHED]

    @property
    def frame(self) -> pandas.DataFrame:
        import pandas as pd

        rows = [dict(row, history=" → ".join(state for _when, state in row["history"]) or None)
                for row in self.rows]  # the timed history stays on result.outcomes[i].history
        frame = pd.DataFrame(rows, columns=list(self.COLUMNS)).astype(self.DTYPES)
        frame["outcome"] = pd.Categorical(frame["outcome"], categories=list(OUTCOMES))
        return frame

    def summary(self) -> str:
        """One line: the action, how many machines, the counts by outcome, the time."""
        verb = "plan for" if self.dry_run else ""
        counts = ", ".join(f"{n} {outcome}" for outcome, n in self.counts.items() if n)
        waited = (f" ({'would wait' if self.dry_run else 'waited'} for {self.waited_for})"
                  if self.waited_for else "")
        head = f"{verb} {self.action}".strip()
        acted = any(o.outcome in (DONE, FAILED, NOT_REACHED, PLANNED) for o in self.outcomes)
        if not acted:
            waited = ""
            counts = "nothing to do" + (f" ({counts})" if counts else "")
        text = f"{head} on {len(self.outcomes)} machines{waited}: {counts}"
        if not self.dry_run and acted:
            text += f" in {self.elapsed:.1f}s"
        if self.interrupted:
            text += " — interrupted"
        failed = [o for o in self.outcomes if o.outcome == FAILED][:3]
        if failed:
            text += "; failed: " + "; ".join(f"{o.machine.label}: {_first_line(o.error)}"
                                             for o in failed)
        return text


def _first_line(error: BaseException | None) -> str:
    text = str(error) if error is not None else ""
    return text if len(text) <= 120 else text[:119] + "…"


# ------------------------------------------------------------------ running


def _check_options(concurrency: Any, batch_size: Any, health_check: Any) -> None:
    if not (isinstance(concurrency, int) and concurrency >= 1):
        raise InvalidInputError(f"concurrency must be a whole number >= 1, not {concurrency!r}")
    if batch_size is not None and not (isinstance(batch_size, int) and batch_size >= 1):
        raise InvalidInputError(
            f"batch_size must be a whole number >= 1 or None, not {batch_size!r}")
    if health_check is not None and not callable(health_check):
        raise InvalidInputError("health_check must be a callable taking a Machine")


def _wait_states(action: Action, wait: Any) -> tuple[str, ...]:
    """``wait=`` states, checked: snapshot states for snapshot actions, else machine states."""
    if action.snapshot_wait:
        return check_states(wait, SNAPSHOT_STATES, "snapshot")
    return check_states(wait, MACHINE_STATES, "machine")


def _wait_target(action: Action, wait: Any, machine: Machine, params: dict) -> Target:
    return action.target(machine, params) if wait is True else Target.of(wait)


def run_bulk(machines: Iterable[Machine], action: str, *args: Any, confirm: bool = False,
             dry_run: bool = False, wait: bool | str | Iterable[str] = False,
             timeout: float | None = 600.0, concurrency: int = 8, batch_size: int | None = None,
             health_check: Callable[[Machine], Any] | None = None, raise_on_failure: bool = False,
             progress: Any = None, refresh: bool = True, interval: float = 2.0,
             max_interval: float = 10.0, **kwargs: Any) -> BulkResult:
    """Apply ``action`` (with ``args``/``kwargs``) to every machine; see the module docstring.

    ``wait``: False, True (the action's natural end) or states; ``timeout``
    bounds each wait (per batch in rolling mode). ``batch_size`` and
    ``health_check`` make it a rolling update (they imply ``wait=True``).
    ``raise_on_failure=True`` raises BulkActionError (``outcomes`` is the
    result) when any machine failed or was not reached.
    """
    spec = ACTIONS.get(action) if isinstance(action, str) else None
    if spec is None:
        raise InvalidInputError(f"unknown bulk action {action!r}; one of {', '.join(ACTIONS)}")
    _check_options(concurrency, batch_size, health_check)
    if wait is not True and wait is not False:
        wait = _wait_states(spec, wait)
    targets = unique_machines(machines)
    params = spec.prepare(*args, **kwargs)
    refusal = rules.confirm_message(action, confirm, dry_run, len(targets))
    if refusal:
        raise InvalidInputError(refusal)
    if (batch_size or health_check) and not wait:
        wait = True
    started = time.monotonic()
    missing = set()
    unread: dict[Machine, BaseException] = {}
    outcomes = {m: Outcome(m, action) for m in targets}
    if refresh and targets:
        try:
            missing = set(refresh_machines(targets, errors=unread))
        except KeyboardInterrupt:
            for row in outcomes.values():
                row.end(NOT_REACHED, reason="interrupted (Ctrl-C) before it was sent")
            result = BulkResult(action, list(outcomes.values()), time.monotonic() - started,
                                interrupted=True)
            summary(result.summary(), progress)
            raise BulkInterrupted(f"{result.summary()}. The full table is this exception's "
                                  ".result", result) from None
    for machine in targets:
        if machine in missing:
            outcomes[machine].end(SKIPPED, reason="the machine no longer exists (404)")
        elif machine in unread:
            outcomes[machine].end(NOT_REACHED, error=unread[machine],
                                  reason="could not re-fetch the machine before acting; "
                                         "nothing was sent")
    _plan_params(spec, [m for m in targets if not outcomes[m].outcome], params, outcomes)
    for machine in targets:
        row = outcomes[machine]
        if row.outcome:
            continue
        reason = spec.why_not(machine, params)
        if reason:
            row.end(SKIPPED, reason=reason)
        else:
            row.request = spec.describe(machine, params)
    todo = [outcomes[m] for m in targets if outcomes[m].outcome is None]
    waited_for = None
    if wait:
        waited_for = spec.done if wait is True else " or ".join(wait)
    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)] if batch_size \
        else [todo]
    for number, batch in enumerate(batches, 1):
        for row in batch:
            row.batch = number if batch_size else None
    if not todo and not dry_run:  # said in words, with no empty 0/0 bar and no run journaled
        result = BulkResult(action, list(outcomes.values()), time.monotonic() - started,
                            waited_for=waited_for)
        summary(result.summary(), progress)
        return result
    if dry_run:
        for row in todo:
            row.end(PLANNED)
        result = BulkResult(action, list(outcomes.values()), 0.0, dry_run=True,
                            waited_for=waited_for)
        summary(result.summary(), progress)
        return result
    from . import journaling  # the run record goes first: an unwritable journal stops us here

    run = journaling.start_bulk_run(action, [r.machine for r in todo], args, kwargs, params, dict(
        wait=wait, timeout=timeout, concurrency=concurrency, batch_size=batch_size,
        health_check=health_check, interval=interval, max_interval=max_interval))
    runner = _Runner(spec, params, wait, concurrency, progress, timeout, interval, max_interval,
                     health_check)
    runner.run = run
    interrupted = False
    try:
        for number, batch in enumerate(batches, 1):
            runner.act(batch)
            if wait:
                runner.wait(batch)
            if health_check:
                runner.check_health(batch)
            failed = [r for r in batch if r.outcome == FAILED]
            if batch_size and failed and number < len(batches):
                why = (f"the roll stopped after batch {number}: {len(failed)} machine(s) failed "
                       f"(first: {failed[0].machine.label})")
                for later in batches[number:]:
                    for row in later:
                        row.end(NOT_REACHED, reason=why)
                break
    except KeyboardInterrupt:
        interrupted = True
        for row in outcomes.values():
            if row.outcome is None:
                row.end(NOT_REACHED, reason="interrupted (Ctrl-C) before it was sent")
    result = BulkResult(action, list(outcomes.values()), time.monotonic() - started,
                        interrupted=interrupted, waited_for=waited_for)
    journaling.end_run(run, "interrupted" if interrupted else "ended", result.counts)
    summary(result.summary(), progress)
    if interrupted:
        raise BulkInterrupted(f"{result.summary()}. The full table is this exception's .result",
                              result)
    if raise_on_failure and not result.ok:
        raise BulkActionError(result.summary(), outcomes=result)
    return result


class _Runner:
    """Sends one batch's requests from a thread pool, then waits and checks health."""

    def __init__(self, spec: Action, params: dict, wait: Any, concurrency: int, progress: Any,
                 timeout: float | None, interval: float, max_interval: float,
                 health_check: Callable[[Machine], Any] | None):
        self.spec, self.params, self.wait_for = spec, params, wait
        self.concurrency, self.progress = concurrency, progress
        self.timeout, self.interval, self.max_interval = timeout, interval, max_interval
        self.health = health_check
        self.sent: dict[Outcome, Any] = {}
        self.run: Any = None  # the journal's run context (smartdc_nb.journaling)

    def _send(self, row: Outcome) -> None:
        from .journaling import inside

        row.started = time.monotonic()
        try:
            with inside(self.run):  # this worker thread's requests belong to the run
                self.sent[row] = self.spec.send(row.machine, self.params)
        except TooManyRequestsError as exc:  # a throttled request was not applied
            row.end(NOT_REACHED, error=exc, reason="throttled (429) beyond the retry budget: "
                                                   "the cloud did not apply that request")
        except Exception as exc:  # one machine's failure never stops the others
            row.end(FAILED, error=exc)
        else:
            row.end(DONE)

    def act(self, batch: list[Outcome]) -> None:
        bar = CountBar(len(batch), f"{self.spec.name}: sending", self.progress)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.concurrency,
                                                     thread_name_prefix="smartdc_nb-bulk")
        futures: list[concurrent.futures.Future] = []
        try:
            for row in batch:
                futures.append(pool.submit(self._send, row))
            pending = set(futures)
            while pending:
                # a short timeout keeps the main thread where Ctrl-C can reach it
                _, pending = concurrent.futures.wait(
                    pending, timeout=0.25, return_when=concurrent.futures.FIRST_COMPLETED)
                bar.update(len(futures) - len(pending))
        except KeyboardInterrupt:
            bar.close(False)
            pool.shutdown(wait=True, cancel_futures=True)  # in-flight requests finish
            raise
        pool.shutdown(wait=True)
        bar.close(all(r.outcome == DONE for r in batch))

    def wait(self, batch: list[Outcome]) -> None:
        trackers: dict[Any, Outcome] = {}
        for row in batch:
            if row.outcome != DONE:
                continue
            resource = self.sent.get(row)
            resource = resource if self.spec.snapshot_wait else row.machine
            target = _wait_target(self.spec, self.wait_for, row.machine, self.params)
            action = row.machine.pending_action
            if isinstance(resource, Snapshot):
                action = action if action and action.subject == resource.name else None
            trackers[Tracker(resource, target, action=action, label=row.machine.label)] = row
        if not trackers:
            return
        title = self.spec.done if self.wait_for is True else \
            next(iter(trackers)).target.description
        try:
            wait_trackers(list(trackers), title, timeout=self.timeout, interval=self.interval,
                          max_interval=self.max_interval, progress=self.progress)
        except WaitInterrupted:
            for tracker, row in trackers.items():
                row.history = list(tracker.history)
                if tracker.outcome != "reached":
                    row.end(NOT_REACHED, reason="interrupted (Ctrl-C) while waiting; the "
                                                "request was sent")
            raise KeyboardInterrupt from None
        for tracker, row in trackers.items():
            row.history = list(tracker.history)
            row.finished = tracker.finished or row.finished
            if tracker.error is not None:
                row.end(FAILED, error=tracker.error)

    def check_health(self, batch: list[Outcome]) -> None:
        for row in batch:
            if row.outcome != DONE:
                continue
            try:
                healthy = self.health(row.machine)
            except Exception as exc:
                row.end(FAILED, error=exc, reason="the health check raised an exception")
                continue
            if not healthy:
                row.end(FAILED, error=BulkActionError(
                    f"health check of {row.machine.label} returned {healthy!r}"),
                    reason="unhealthy after the action")


# ------------------------------------------------------------------ the mixin

class BulkActions:
    """Bulk actions as methods over ``self._bulk_targets()`` (an iterable of Machines).

    Every method takes the options of :func:`run_bulk` (confirm, dry_run,
    wait, timeout, concurrency, batch_size, health_check, raise_on_failure,
    progress, refresh, interval, max_interval) and returns a BulkResult. Tag
    and metadata methods take a dict and/or key=value pairs (a key named like
    an option must go in the dict).
    """

    def _bulk_targets(self) -> Iterable[Machine]:
        raise NotImplementedError

    def _bulk(self, action: str, *args: Any, **kwargs: Any) -> BulkResult:
        # run_bulk's keyword-only options bind by name; the rest are the action's.
        return run_bulk(self._bulk_targets(), action, *args, **kwargs)

    def plan(self, action: str, *args: Any, **kwargs: Any) -> Any:
        """A :class:`~smartdc_nb.plans.Plan` of ``action`` over these machines (no change is
        made); ``plan.apply(approve=plan.id)`` runs it. See smartdc_nb.plans."""
        from .plans import make_plan

        return make_plan(self._bulk_targets(), action, *args, **kwargs)

    def start(self, **options: Any) -> BulkResult:
        """Start the stopped machines (running ones are skipped)."""
        return self._bulk("start", **options)

    def stop(self, **options: Any) -> BulkResult:
        """Stop the running machines (destructive: confirm=True)."""
        return self._bulk("stop", **options)

    def reboot(self, **options: Any) -> BulkResult:
        """Reboot the running machines; with wait, until the audit log shows each reboot done."""
        return self._bulk("reboot", **options)

    def resize(self, package: Any, **options: Any) -> BulkResult:
        """Resize to ``package`` (name, UUID or dict); machines already on it are skipped."""
        return self._bulk("resize", package, **options)

    def rename(self, pattern: str | Callable[[Machine], str], **options: Any) -> BulkResult:
        """Rename by template (``"{name}-old"``; fields name, id, short_id, datacenter, date,
        time, datetime) or ``callable(machine) -> name``."""
        return self._bulk("rename", pattern, **options)

    def create_snapshot(self, name: str | Callable[[Machine], str] = "{datetime}",
                        **options: Any) -> BulkResult:
        """Snapshot each machine; ``name`` is a template like ``"pre-{date}"`` (as rename)."""
        return self._bulk("create_snapshot", name, **options)

    def start_from_snapshot(self, name: str, **options: Any) -> BulkResult:
        """Boot each machine from snapshot ``name`` (destructive: confirm=True)."""
        return self._bulk("start_from_snapshot", name, **options)

    def delete_snapshot(self, name: str, **options: Any) -> BulkResult:
        """Delete snapshot ``name`` of each machine (destructive: confirm=True)."""
        return self._bulk("delete_snapshot", name, **options)

    def add_tags(self, tags: Mapping[str, Any] | None = None, /, **kwargs: Any) -> BulkResult:
        """Add or overwrite tags (a dict and/or tag=value)."""
        return self._bulk("add_tags", *([tags] if tags else []), **kwargs)

    def replace_tags(self, tags: Mapping[str, Any] | None = None, /, **kwargs: Any) -> BulkResult:
        """Replace all tags with these (a dict and/or tag=value)."""
        return self._bulk("replace_tags", *([tags] if tags else []), **kwargs)

    def delete_tags(self, *names: str, **options: Any) -> BulkResult:
        """Delete the named tags (machines having none of them are skipped)."""
        return self._bulk("delete_tags", *names, **options)

    def update_metadata(self, metadata: Mapping[str, str] | None = None, /,
                        **kwargs: Any) -> BulkResult:
        """Add or overwrite metadata keys (string values)."""
        return self._bulk("update_metadata", *([metadata] if metadata else []), **kwargs)

    def delete(self, **options: Any) -> BulkResult:
        """Delete the machines (destructive: confirm=True; deletion-protected ones are skipped)."""
        return self._bulk("delete", **options)


__all__ = ["run_bulk", "BulkActions", "BulkResult", "BulkInterrupted", "Outcome", "ACTIONS",
           "DONE", "FAILED", "SKIPPED", "NOT_REACHED", "PLANNED", "OUTCOMES"]
