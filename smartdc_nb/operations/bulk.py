"""Bulk actions over many machines: safe, bounded, and accountable.

:func:`run_bulk` applies one action (start, stop, reboot, resize, rename,
create_snapshot, start_from_snapshot, delete_snapshot, add_tags, replace_tags,
delete_tags, update_metadata, delete) to many machines, in any datacenters,
and returns a :class:`BulkResult` with one row per machine. Every machine
gets an outcome:

- ``done``: the request was accepted (and, with ``wait``, the target reached;
  without, the row's reason says it was not seen done: its job may still fail);
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
  (smartdc_nb.operations.waits); ``wait="running"`` (or a list of states) names the
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

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from .. import rules
from ..errors import (
    BulkActionError,
    InvalidInputError,
)
from ..progress import print_summary
from ..resources.audit import PendingAction
from ..resources.machine import Machine
from ..resources.validate import check_states
from ..rules import MACHINE_STATES, SNAPSHOT_STATES
from .actions import ACTIONS, Action, _plan_params
from .outcomes import (
    DONE,
    FAILED,
    NOT_REACHED,
    PLANNED,
    SKIPPED,
    UNSENT_AT_CTRL_C,
    BulkInterrupted,
    BulkResult,
    Outcome,
)
from .polling import list_snapshots_for, refresh_machines, unique_machines
from .runner import Runner
from .waits import _check_timing

if TYPE_CHECKING:
    pass

# ------------------------------------------------------------------ running


#: machines acted on at once when a run does not say
CONCURRENCY = 8


@dataclass(frozen=True)
class Resumed:
    """What a resumed run (smartdc_nb.resuming) knows of one machine of the run it continues.

    ``batch`` is the machine's batch in that run (its rolling batches are finished as they
    were planned); ``sent`` the run's request the cloud took before the interruption, whose
    wait and health check did not end: the machine is waited on and checked, never sent
    the request again; ``reason`` says so in its row.
    """

    batch: int | None = None
    sent: PendingAction | None = None
    reason: str = ""


def _batches(todo: list[Outcome], batch_size: int | None,
             resumed: Mapping[str, Resumed]) -> list[tuple[int | None, list[Outcome]]]:
    """``(batch number, rows)`` in order; one batch (number None) without ``batch_size``."""
    if not batch_size:
        return [(None, todo)]
    if resumed:  # a resumed roll keeps the run's batches: batch 2 is never checked with 3's
        groups: dict[int, list[Outcome]] = {}
        for row in todo:
            groups.setdefault(resumed[row.machine.id].batch or 0, []).append(row)
        return sorted(groups.items())
    return [(i // batch_size + 1, todo[i:i + batch_size])
            for i in range(0, len(todo), batch_size)]


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


def run_bulk(machines: Iterable[Machine], action: str, *args: Any, confirm: bool = False,
             dry_run: bool = False, wait: bool | str | Iterable[str] = False,
             timeout: float | None = 600.0, concurrency: int = CONCURRENCY,
             batch_size: int | None = None, health_check: Callable[[Machine], Any] | None = None,
             raise_on_failure: bool = False,
             progress: Any = None, refresh: bool = True, interval: float | None = None,
             max_interval: float = 10.0, _resumed: Mapping[str, Resumed] | None = None,
             _send_until: tuple[float | None, str] = (None, ""), **kwargs: Any) -> BulkResult:
    """Apply ``action`` (with ``args``/``kwargs``) to every machine; see the module docstring.

    ``wait``: False, True (the action's natural end) or states; ``timeout``
    bounds each wait (per batch in rolling mode). ``batch_size`` and
    ``health_check`` make it a rolling update (they imply ``wait=True``).
    ``raise_on_failure=True`` raises BulkActionError (``outcomes`` is the
    result) when any machine failed or was not reached. ``_resumed`` is for
    smartdc_nb.resume: what the interrupted run did, by machine id (see :class:`Resumed`).
    ``_send_until`` is Plan.apply's ``send_timeout``: (when the sends must end, why then).
    """
    spec = ACTIONS.get(action) if isinstance(action, str) else None
    if spec is None:
        raise InvalidInputError(f"unknown bulk action {action!r}; one of {', '.join(ACTIONS)}")
    _check_options(concurrency, batch_size, health_check)
    # the wait's own check, here: after the requests went out its refusal would lose the table
    _check_timing(timeout, interval, max_interval)
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
                row.end(NOT_REACHED, reason=UNSENT_AT_CTRL_C)
            result = BulkResult(action, list(outcomes.values()), time.monotonic() - started,
                                interrupted=True)
            print_summary(result.summary(), progress)
            raise BulkInterrupted.of(result) from None
    resumed = _resumed or {}
    for machine in targets:
        if machine in missing:
            outcomes[machine].end(SKIPPED, reason="the machine no longer exists (404)")
        elif machine in unread:
            earlier = resumed.get(machine.id)
            outcomes[machine].sent = earlier is not None and earlier.sent is not None
            outcomes[machine].end(NOT_REACHED, error=unread[machine], reason=(
                "could not re-fetch the machine to wait on it and check it; its request was "
                f"{earlier.reason.split('; not sent again')[0]}: not sent again"
                if earlier is not None and earlier.sent is not None else
                "could not re-fetch the machine before acting; nothing was sent"))
    # judged on the snapshots each machine has, as its plan is (not failed by its own check)
    list_snapshots_for(action, [m for m in targets if not outcomes[m].outcome])
    _plan_params(spec, [m for m in targets if not outcomes[m].outcome], params, outcomes)
    carried = set()
    for machine in targets:
        row = outcomes[machine]
        if row.outcome:
            continue
        again = resumed.get(machine.id)
        if again is not None and again.sent is not None:
            # Its request went out before the interruption: the rules would judge the state
            # the request itself made (a stopped machine "already stopped"); wait and check.
            row.request = spec.describe(machine, params)
            row.end(DONE, reason=again.reason)
            row.sent = True
            machine.pending_action = again.sent
            if isinstance(params.get("before"), dict):  # what a rollback's wait needs
                params["before"][machine] = again.sent.from_state
            carried.add(machine)
            continue
        reason = spec.why_not(machine, params)
        if reason:
            row.end(SKIPPED, reason=reason)
        else:
            row.request = spec.describe(machine, params)
    todo = [outcomes[m] for m in targets if outcomes[m].outcome is None or m in carried]
    waited_for = None
    if wait:
        waited_for = spec.done if wait is True else " or ".join(wait)
    batches = _batches(todo, batch_size, resumed)
    for number, batch in batches:
        for row in batch:
            row.batch = number
    if not todo and not dry_run:  # said in words, with no empty 0/0 bar and no run journaled
        result = BulkResult(action, list(outcomes.values()), time.monotonic() - started,
                            waited_for=waited_for)
        print_summary(result.summary(), progress)
        return result
    if dry_run:
        for row in todo:
            row.end(PLANNED)
        result = BulkResult(action, list(outcomes.values()), 0.0, dry_run=True,
                            waited_for=waited_for)
        print_summary(result.summary(), progress)
        return result
    from .. import journaling  # the run record goes first: an unwritable journal stops us here

    run = journaling.start_bulk_run(action, [r.machine for r in todo], args, kwargs, params, dict(
        wait=wait, timeout=timeout, concurrency=concurrency, batch_size=batch_size,
        health_check=health_check, interval=interval, max_interval=max_interval))
    try:  # the run is locked from its run record on (resume refuses it while it runs)
        runner = Runner(spec, params, wait, concurrency, progress, timeout, interval, max_interval,
                         health_check)
        runner.run, runner.send_until = run, _send_until
        interrupted = False
        current: list[Outcome] = []  # the batch between its requests and the end of its check
        try:
            for index, (number, batch) in enumerate(batches):
                current = batch
                runner.act(batch)
                if wait:
                    runner.wait(batch)
                if health_check:
                    runner.check_health(batch)
                if wait:  # what resume needs to take these machines as done
                    journaling.batch_checked(run, number,
                                             [r.machine.id for r in batch if r.outcome == DONE],
                                             [r.machine.id for r in batch if r.outcome == FAILED])
                current = []
                failed = [r for r in batch if r.outcome == FAILED]
                if batch_size and failed and index + 1 < len(batches):
                    why = (f"the roll stopped after batch {number}: {len(failed)} machine(s) failed "
                           f"(first: {failed[0].machine.label})")
                    for _later, rows in batches[index + 1:]:
                        for row in rows:
                            row.end(NOT_REACHED, reason=why)
                    break
        except KeyboardInterrupt:
            interrupted = True
            for row in current:
                if health_check and row.outcome == DONE:  # sent, but never found healthy
                    row.end(NOT_REACHED, reason="interrupted (Ctrl-C) before its health check "
                                                "ended; the request was sent")
            for row in outcomes.values():
                if row.outcome is None:
                    row.end(NOT_REACHED, reason=UNSENT_AT_CTRL_C)
        result = BulkResult(action, list(outcomes.values()), time.monotonic() - started,
                            interrupted=interrupted, waited_for=waited_for)
        journaling.end_run(run, "interrupted" if interrupted else "ended", result.counts)
        print_summary(result.summary(), progress)
        result.run_id = run.run_id if run is not None else None
        if interrupted:
            raise BulkInterrupted.of(result)
        if raise_on_failure and not result.ok:
            raise BulkActionError(result.summary(), outcomes=result)
        return result
    finally:
        journaling.release_run(run)


__all__ = ["run_bulk"]
