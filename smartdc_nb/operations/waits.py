"""Waits that end: one engine for a machine, a snapshot, and many machines at once.

A wait follows :class:`Tracker`\\ s (one per awaited resource) until each
reaches its :class:`Target` (states, or a condition on the payload), fails,
or the deadline passes:

- **failure states** (``failed`` unless awaited) end a tracker with WaitFailed;
- **disappearance** (410 tombstone or 404) is failure, except when
  ``deleted`` is awaited, where it is success;
- **refused actions**: CloudAPI accepts an action in the wrong state with 202
  and records it in the machine's audit log with ``success: "no"``. When the
  machine shows no progress, the audit log is read and an entry for the
  tracked action newer than the action's server ``Date`` ends the wait
  (naming the action) instead of the deadline;
- **confirmation**: after a reboot or a start from a snapshot the machine
  comes back to the state it had, and the state may never visibly change
  between two polls; reaching the target counts only once the audit log shows
  the action done (an entry newer than the request, as the triton CLI checks
  reboots), so ``m.reboot().wait_for("running")`` cannot return before the
  reboot happened;
- **transient errors** (no answer, 5xx, 429 after the transport's retries) are
  noted and the poll is repeated, within the deadline; a wait that ends while
  the cloud gives no answer raises WaitUnanswered (a WaitTimeout) saying so;
- **the deadline is passed down**: every request of a wait ends by the
  deadline plus one ``interval`` (:func:`smartdc_nb.limits.cutoff`), so a dead
  or hung cloud cannot hold a wait past it;
- the **interval** starts at ``interval`` (by default 2 s, the seed's, or the
  ``SMARTDC_NB_WAIT_INTERVAL`` environment variable's seconds) and grows by half
  each quiet poll, up to ``max_interval``; a change resets it. Ctrl-C ends the wait at once with
  WaitInterrupted carrying what was seen.

Many machines are polled with ListMachines (``tombstone=true``, so failed and
deleted machines are seen) per datacenter, paging only until every awaited
machine of that datacenter was seen: a poll costs ceil(machines / 1000)
requests at most, not one per machine. When fewer machines are awaited in a
datacenter than a listing has pages, they are fetched one by one instead
(whichever costs fewer requests). Audit reads for stalled machines are capped
per poll (:data:`AUDIT_BUDGET`).

Where the datacenter has a changefeed (and the DataCenter was not connected
with ``changefeed=False``), machines are observed from the feed instead of
polled while it is live, and the wait wakes on their changes
(smartdc_nb.feedwait); polling takes over while the feed is away.

Errors and results carry, per resource, the states seen with their times and
the latest audit entries (action, success, time).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .. import limits
from ..errors import (
    WaitInterrupted,
)
from ..progress import CountBar, StateBar, print_summary
from ..resources.audit import PendingAction
from ..resources.machine import Machine
from ..resources.snapshot import Snapshot
from .polling import Poller, _read_audit, _read_audits, unique_machines
from .results import WaitResult, _counts, _summary_line
from .silence import POLL_BOUND, Silence, notice_period, say
from .targets import (
    AUDIT_BUDGET,
    BACKOFF,
    DEFAULT_MAX_INTERVAL,
    DEFAULT_TIMEOUT,
    EXPLAIN_CAP,
    FAILED,
    INTERRUPTED,
    REACHED,
    TIMED_OUT,
    Target,
    Tracker,
    default_interval,
)

if TYPE_CHECKING:
    pass

# ------------------------------------------------------------------ the loop


def _seconds(value: Any) -> bool:
    """A positive, finite number of seconds: True is no duration (as in limits.check_limit),
    and inf would pass as a deadline nothing can show or reach (None means no deadline)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value) and value > 0


def _check_timing(timeout: float | None, interval: float | None, max_interval: float) -> None:
    """Refuse a bad ``timeout``/``interval``/``max_interval`` (``interval=None``: the default).

    The one check for every wait: a single wait's, and a bulk run's before it sends anything.
    """
    from ..errors import InvalidInputError

    if interval is None:
        interval = default_interval()
    if timeout is not None and not _seconds(timeout):
        raise InvalidInputError(f"timeout must be a positive number of seconds or None (no "
                                f"deadline), not {timeout!r}")
    if not _seconds(interval):
        raise InvalidInputError(f"interval must be a positive number of seconds, not {interval!r}")
    if not _seconds(max_interval):
        raise InvalidInputError(f"max_interval must be a positive number of seconds, not "
                                f"{max_interval!r}")


def run(trackers: Sequence[Tracker], *, timeout: float | None = DEFAULT_TIMEOUT,
        interval: float | None = None, max_interval: float = DEFAULT_MAX_INTERVAL,
        progress: Any = None, single: bool = False, title: str = "") -> bool:
    """Poll ``trackers`` until every one has an outcome; True when interrupted (Ctrl-C).

    ``single`` shows one state bar (else one bar counting reached resources).
    Every tracker ends with ``outcome`` and, unless reached, ``error``.
    Every request of the wait ends by the deadline plus one ``interval``; ``interval=None``
    is :func:`~smartdc_nb.operations.targets.default_interval` (2 s, or
    ``$SMARTDC_NB_WAIT_INTERVAL``).
    """
    if interval is None:
        interval = default_interval()
    _check_timing(timeout, interval, max_interval)
    ends = time.monotonic() + timeout + interval if timeout is not None else None
    # a poll ends within the notice period, so a hung one does not hold the notice back;
    # never under POLL_BOUND, so a short period does not cut a slow answer
    bound = max(notice_period(), POLL_BOUND)
    with limits.cutoff(ends), limits.each_within(bound, f"the wait's {bound:g}s per poll"):
        return _run(trackers, timeout=timeout, interval=interval, max_interval=max_interval,
                    progress=progress, single=single, title=title)


def _run(trackers: Sequence[Tracker], *, timeout: float | None, interval: float,
         max_interval: float, progress: Any, single: bool, title: str) -> bool:
    max_interval = max(max_interval, interval)
    started = time.monotonic()
    deadline = started + timeout if timeout is not None else None
    for tracker in trackers:
        tracker.started = started
    if single:
        only = trackers[0]
        bar: StateBar | CountBar = StateBar(only.label, only.target.description, timeout, progress)
    else:
        bar = CountBar(len(trackers), f"waiting for {title}", progress)
    poller = Poller()
    silence = Silence(started)
    pending = list(trackers)
    delay = interval
    interrupted = False
    note: str | None = None
    feed = None
    timed, next_round = True, started
    final = False  # the last round before a timeout, polled whatever the feed says
    fresh: set[Tracker] = set()  # the trackers the last round polled

    def show() -> None:
        if single:
            bar.update(only.shown, time.monotonic() - started)  # type: ignore[union-attr]
        else:
            bar.update(sum(t.outcome == REACHED for t in trackers), note)  # type: ignore[call-arg]

    ok = False
    try:  # whatever goes wrong, the bar never stays open
        try:
            # inside the try: the feed's upgrade may hang, and Ctrl-C there ends the wait as anywhere
            feed = _open_feed(trackers, deadline)  # listen where the changefeed is up
            while pending:
                for tracker in pending:
                    tracker.changed = False
                if feed is None or final:
                    poller.observe(pending)
                    observed = None
                else:
                    polled, observed = feed.observe(pending, timed)
                    if timed:  # a round woken by a change polls nothing
                        poller.observe(polled)
                        observed.update(polled)
                    fresh = set(polled) if timed else set()
                for tracker in pending:
                    tracker.evaluate()
                    if observed is not None and tracker not in observed:
                        tracker.wants_audit = None  # nothing new seen: no audit read this round
                _read_audits(pending, None if single else AUDIT_BUDGET)
                changed = [t for t in pending if t.changed]
                if changed:
                    last = changed[-1]
                    note = f"{last.label}: {last.shown}"
                pending = [t for t in pending if t.outcome is None]
                show()
                if not pending:
                    break
                if timed and (quiet := silence.check(pending, deadline)):
                    say(quiet, bar, progress)
                    note = quiet.short  # the bar's note until a machine changes
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    if feed is not None and not final and not fresh.issuperset(pending):
                        # A feed can stay connected yet fall silent, and a quiet machine is
                        # polled only every QUIET_CHECK: never time out on that stale view.
                        final = True
                        continue
                    for tracker in pending:
                        tracker.stop(TIMED_OUT)
                    break
                if timed:
                    delay = interval if changed else min(delay * BACKOFF, max_interval)
                    next_round = now + delay
                wake = next_round if deadline is None else min(next_round, deadline)
                if feed is not None:
                    timed = not feed.sleep(wake, show)
                    continue
                while (left := wake - time.monotonic()) > 0:
                    time.sleep(min(left, 0.5))
                    show()
        except KeyboardInterrupt:
            interrupted = True
            for tracker in trackers:
                tracker.stop(INTERRUPTED)
        finally:
            if feed is not None:  # a hung server's close finishes in the background, past
                # the wait's end (deadline + interval) only by what it was already past
                feed.close(wait=0.25 if deadline is None else
                           min(0.25, max(0.0, deadline + interval - time.monotonic())))
        if not interrupted:
            _explain(trackers, EXPLAIN_CAP if not single else 1)
        for tracker in trackers:
            tracker.error = tracker.make_error(timeout)
        ok = all(t.outcome == REACHED for t in trackers)
    finally:
        bar.close(ok, _ending(trackers, single, timeout))
    elapsed = time.monotonic() - started
    if single:
        text = (f"{only.label}: {only.state} after {elapsed:.1f}s" if ok
                else str(only.error).split(" States seen:")[0])
    else:
        text = _summary_line(trackers, title, elapsed)
    print_summary(text, progress, bar)
    return interrupted


def _ending(trackers: Sequence[Tracker], single: bool, timeout: float | None) -> str:
    """How a wait ended, in the few words its bar shows in place of what it waited for."""
    if single:
        only = trackers[0]
        if only.outcome == REACHED:
            return f"reached {only.state}"
        if only.outcome == TIMED_OUT and timeout is not None:
            return f"timed out: did not reach {only.target.description} within {timeout:g}s"
        return only.outcome or "ended by an error"  # one the wait raises, not the cloud's
    return ", ".join(f"{n} {outcome}" for outcome, n in _counts(trackers).items()
                     if n or outcome == REACHED)


def _open_feed(trackers: Sequence[Tracker], deadline: float | None) -> Any:
    """The changefeed watch of a wait, or None (no machine awaited where a feed may be).

    Waiting for the feeds to come up never takes the wait past its deadline: a hung
    cloud's upgrade gets what is left of the wait, then the wait polls (and says so)."""
    from ..feedwait import READY_TIMEOUT, FeedWatch

    ready = READY_TIMEOUT if deadline is None else \
        max(0.0, min(READY_TIMEOUT, deadline - time.monotonic()))
    return FeedWatch.open(trackers, ready_timeout=ready)


def _explain(trackers: Sequence[Tracker], cap: int) -> None:
    """Read the audit of the resources that failed or timed out (if not read yet), up to ``cap``."""
    unexplained = [t for t in trackers if t.outcome in (FAILED, TIMED_OUT) and t.audit is None
                   and not t.missing]
    for tracker in unexplained[:cap]:
        _read_audit(tracker)


# ------------------------------------------------------------------ entry points


def _action_for(resource: Machine | Snapshot) -> PendingAction | None:
    """The pending action a wait on ``resource`` should watch in the audit log."""
    if isinstance(resource, Snapshot):
        action = resource.machine.pending_action
        if action and action.action in ("create_snapshot", "delete_snapshot") and \
                action.subject in (None, resource.name):
            return action
        return None
    return resource.pending_action


def wait_one(resource: Machine | Snapshot, target: Target, *,
             timeout: float | None = DEFAULT_TIMEOUT,
             interval: float | None = None, max_interval: float = DEFAULT_MAX_INTERVAL,
             fail_on: str | Iterable[str] | None = None, progress: Any = None) -> Any:
    """Wait for one Machine or Snapshot; return it, or raise the WaitError that ended the wait.

    ``fail_on`` defaults to :data:`~smartdc_nb.operations.targets.FAILURES` of its kind."""
    tracker = Tracker(resource, target, fail_on=fail_on, action=_action_for(resource))
    run([tracker], timeout=timeout, interval=interval, max_interval=max_interval,
        progress=progress, single=True)
    if tracker.error is not None:
        raise tracker.error
    return resource


def wait_machines(machines: Iterable[Machine], states: str | Iterable[str], *,
                  timeout: float | None = DEFAULT_TIMEOUT, interval: float | None = None,
                  max_interval: float = DEFAULT_MAX_INTERVAL, fail_on: str | Iterable[str] = ("failed",),
                  progress: Any = None, raise_on_failure: bool = False) -> WaitResult:
    """Wait for many machines (any datacenters) to reach ``states``; returns a :class:`WaitResult`.

    Each machine's :attr:`~smartdc_nb.resources.machine.Machine.pending_action` is
    watched as in a single wait. With ``raise_on_failure`` a machine that did
    not reach the target raises its WaitError (``.result`` holds the table).
    Ctrl-C raises WaitInterrupted with ``.result``.
    """
    from ..resources.validate import check_states
    from ..rules import MACHINE_STATES

    target = Target.of(check_states(states, MACHINE_STATES, "machine"))
    trackers = [Tracker(m, target, fail_on=fail_on, action=m.pending_action)
                for m in unique_machines(machines)]
    return wait_trackers(trackers, target.description, timeout=timeout, interval=interval,
                         max_interval=max_interval, progress=progress,
                         raise_on_failure=raise_on_failure)


def wait_trackers(trackers: Sequence[Tracker], title: str, *, raise_on_failure: bool = False,
                  **options: Any) -> WaitResult:
    """Run a multi-resource wait and return its table (see :func:`wait_machines`)."""
    started = time.monotonic()
    interrupted = run(trackers, title=title, **options) if trackers else False
    result = WaitResult(trackers, title, time.monotonic() - started, interrupted)
    if interrupted:
        error = WaitInterrupted(f"interrupted: {result.summary()}", targets=(title,),
                                elapsed=result.elapsed)
        error.result = result  # type: ignore[attr-defined]
        raise error
    if raise_on_failure and not result.ok:
        error = next(t.error for t in trackers if t.error is not None)
        error.result = result  # type: ignore[attr-defined]
        raise error
    return result


__all__ = ["wait_one", "wait_machines", "wait_trackers", "run", "Target", "Tracker"]
