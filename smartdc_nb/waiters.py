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
- the **interval** starts at ``interval`` and grows by half each quiet poll,
  up to ``max_interval``; a change resets it. Ctrl-C ends the wait at once with
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

import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from . import limits
from .errors import (APIError, GoneError, NotFoundError, ServerError, TooManyRequestsError,
                     TransportError, WaitError, WaitFailed, WaitInterrupted, WaitTimeout,
                     WaitUnanswered)
from .resources.audit import PendingAction, action_entry
from .resources.machine import Machine
from .resources.snapshot import Snapshot
from .seam import render_html as html_repr
from .progress import CountBar, StateBar, summary

if TYPE_CHECKING:
    import pandas

DEFAULT_TIMEOUT = 600.0
DEFAULT_INTERVAL = 2.0  # the seed's poll interval
DEFAULT_MAX_INTERVAL = 10.0
BACKOFF = 1.5
#: audit reads per poll round of a multi-machine wait (each is one request)
AUDIT_BUDGET = 5
#: audit reads after a multi-machine wait to explain the machines that failed
EXPLAIN_CAP = 25
#: audit entries kept on an error or result row
AUDIT_SHOWN = 5
#: errors worth polling through: the answer may be different next time
TRANSIENT = (TransportError, ServerError, TooManyRequestsError)
#: states shown while a job runs (a refused action never shows them)
TRANSITIONAL = {"machine": ("provisioning", "stopping", "ready"), "snapshot": ("queued", "running")}
#: actions whose end is known only from the audit log: the machine comes back
#: to the state it had (reboot, rollback) or keeps it (resize, rename), and a
#: snapshot under a name already taken shows the old one "created", so the
#: state alone proves nothing
ALWAYS_CONFIRM = ("reboot", "rollback_snapshot", "resize", "rename", "create_snapshot")
#: the state an action needs, to explain a refusal
NEEDS = {"start": "stopped", "stop": "running", "reboot": "running"}

REACHED, FAILED, TIMED_OUT, INTERRUPTED = "reached", "failed", "timed out", "interrupted"


class Target:
    """What a tracker waits for: one of ``states``, or ``predicate(raw)`` true."""

    def __init__(self, states: tuple[str, ...] = (),
                 predicate: Callable[[dict], bool] | None = None, description: str = ""):
        self.states = tuple(states)
        self.predicate = predicate
        self.description = description or " or ".join(self.states)

    @classmethod
    def of(cls, states: Iterable[str]) -> Target:
        """One of ``states``."""
        return cls(tuple(states))

    @classmethod
    def leaving(cls, state: str) -> Target:
        """Any state but ``state`` (the seed's poll_while)."""
        return cls((), lambda raw: raw.get("state") != state, f"a state other than {state}")

    @classmethod
    def check(cls, predicate: Callable[[dict], bool], description: str) -> Target:
        return cls((), predicate, description)

    @property
    def awaits_deleted(self) -> bool:
        return "deleted" in self.states

    @property
    def names(self) -> tuple[str, ...]:
        return self.states or (self.description,)

    def met(self, state: str | None, raw: dict) -> bool:
        if self.predicate is not None:
            return bool(self.predicate(raw))
        return state in self.states


def _compact(entry: dict) -> dict:
    return {"action": entry.get("action"), "success": entry.get("success"),
            "time": entry.get("time")}


class Tracker:
    """The wait of one resource (a Machine or a Snapshot) towards its Target."""

    def __init__(self, resource: Machine | Snapshot, target: Target, *,
                 fail_on: Iterable[str] = ("failed",), action: PendingAction | None = None,
                 label: str | None = None):
        self.resource = resource
        self.kind = "snapshot" if isinstance(resource, Snapshot) else "machine"
        self.machine: Machine = resource.machine if isinstance(resource, Snapshot) else resource
        self.target = target
        self.fail_on = tuple(fail_on)
        self.action = action if action is not None and action.action else None
        self.label = label or resource.label
        self.needs_confirmation = bool(self.action and self.action.action in ALWAYS_CONFIRM)
        self.state: str | None = resource.state
        self.raw: dict = getattr(resource, "raw_as_served", resource.raw)
        self.history: list[tuple[datetime, str | None]] = []
        self.missing = False
        self.confirmed = False  # the audit log shows the tracked action done
        self.same_polls = 0  # consecutive polls that saw the same state
        self.changed = False
        self.wants_audit: str | None = None  # "confirm" or "stall"
        self.audit: list[dict] | None = None
        self.audit_at = 0.0
        self.last_error: BaseException | None = None
        self.outcome: str | None = None
        self.reason = ""
        self.cause: BaseException | None = None
        self.started = time.monotonic()
        self.finished: float | None = None
        self.error: WaitError | None = None

    # ---------------------------------------------------------------- facts

    @property
    def gone(self) -> bool:
        return self.missing or self.state == "deleted"

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def observe(self, state: str | None, raw: dict | None = None, missing: bool = False) -> None:
        self.last_error = None
        self.missing = missing
        if raw is not None:
            self.raw = raw
        if not self.history or self.history[-1][1] != state:
            self.history.append((datetime.now(timezone.utc), state))
            self.changed = True
            self.same_polls = 1
        else:
            self.same_polls += 1
        self.state = state

    def note_error(self, error: BaseException) -> None:
        self.last_error = error

    # ------------------------------------------------------------ decisions

    def _end(self, outcome: str, reason: str = "", cause: BaseException | None = None) -> None:
        if self.outcome is None:
            self.outcome, self.reason, self.cause = outcome, reason, cause
            self.finished = time.monotonic()
            if outcome in (REACHED, FAILED) and self.action is not None:
                self.machine.finish_action(self.action)

    def fail(self, reason: str, cause: BaseException | None = None) -> None:
        self._end(FAILED, reason, cause)

    def evaluate(self) -> None:
        """Decide after an observation: reached, failed, or keep waiting (maybe read the audit)."""
        self.wants_audit = None
        if self.outcome is not None or self.last_error is not None:
            return
        if self.gone:
            if self.target.awaits_deleted:
                self._end(REACHED)
            elif self.missing:
                self.fail(f"{self.label} no longer exists (404)")
            else:
                self.fail(f"{self.label} was deleted")
            return
        if self.state in self.fail_on and self.state not in self.target.states:
            self.fail(f"{self.label} is {self.state}")
        elif self.target.met(self.state, self.raw):
            if self.needs_confirmation and not self.confirmed:
                # The target state is the one the machine had before the action
                # (reboot): only the audit log can say the action happened.
                self.wants_audit = "confirm"
            else:
                self._end(REACHED)
        elif self.action and self.same_polls >= 2 and self.state not in TRANSITIONAL[self.kind]:
            # Resting in a state that is not the target: maybe the cloud refused the action.
            self.wants_audit = "stall"

    def apply_audit(self, entries: list[dict]) -> None:
        """Use the machine's audit log: a refusal of the tracked action ends the wait."""
        self.audit = [_compact(e) for e in entries[:AUDIT_SHOWN]]
        self.audit_at = time.monotonic()
        if self.action is None or self.outcome is not None:
            return
        entry = action_entry(self.action, entries)
        if entry is None:
            return
        if entry.get("success") != "yes":
            needs = NEEDS.get(self.action.action)
            why = (f"; {self.action.action} needs a {needs} machine and it was {self.state}"
                   if needs and self.state != needs else "")
            why += self._existed()
            self.fail(f"the cloud refused {self.action.action!r} on {self.label}: the audit log "
                      f"records it with success \"no\" at {entry.get('time')}{why}. CloudAPI "
                      "accepts actions with 202 and checks them later")
            return
        self.confirmed = True
        if self.target.met(self.state, self.raw):
            self._end(REACHED)

    def _existed(self) -> str:
        """Why a create_snapshot was refused, when the snapshot seen predates the request."""
        if self.kind != "snapshot" or self.action is None or \
                self.action.action != "create_snapshot":
            return ""
        created = self.resource.created
        if created is None or self.action.date is None or created >= self.action.date:
            return ""
        return (f"; a snapshot named {self.resource.name} already existed (created "
                f"{created:%Y-%m-%d %H:%M:%S} UTC) and CloudAPI never replaces one")

    def stop(self, outcome: str) -> None:
        """End a tracker still waiting at the deadline or on Ctrl-C."""
        if self.outcome is None:
            note = f"; last error: {self.last_error}" if self.last_error is not None else ""
            self._end(outcome, note)

    # --------------------------------------------------------------- report

    def history_text(self) -> str:
        return " → ".join(str(state) for _, state in self.history) or "nothing"

    def audit_text(self) -> str:
        if not self.audit:
            return ""
        latest = ", ".join(f"{e['action']} {'ok' if e['success'] == 'yes' else 'FAILED'} at "
                           f"{e['time']}" for e in self.audit[:3])
        return f" Latest audit entries: {latest}."

    def make_error(self, timeout: float | None) -> WaitError | None:
        if self.outcome in (None, REACHED):
            return None
        wanted = self.target.description
        if self.outcome == FAILED:
            cls, text = WaitFailed, f"{self.reason} (waiting for {wanted})."
        elif self.outcome == TIMED_OUT and isinstance(self.last_error, TransportError):
            cls = WaitUnanswered
            text = (f"{self.label} did not reach {wanted} within {timeout:g}s: the cloud stopped "
                    f"answering (its last request got no answer: {self.last_error}). It was "
                    f"{self.state} when last seen.")
        elif self.outcome == TIMED_OUT:
            cls = WaitTimeout
            text = (f"{self.label} did not reach {wanted} within {timeout:g}s; it is "
                    f"{self.state}{self.reason}.")
        else:
            cls = WaitInterrupted
            text = f"interrupted after {self.seconds:.1f}s waiting for {self.label} to reach " \
                   f"{wanted}; it was {self.state}."
        text += f" States seen: {self.history_text()}.{self.audit_text()}"
        return cls(text, resource=self.resource, targets=self.target.names, last_state=self.state,
                   elapsed=self.seconds, history=list(self.history), audit=list(self.audit or []),
                   cause=self.cause or self.last_error)

    def row(self) -> dict[str, Any]:
        machine = self.machine
        return {
            "datacenter": machine.datacenter.name or machine.datacenter.url,
            "id": machine.id,
            "name": self.resource.name if isinstance(self.resource, Snapshot) else machine.name,
            "final_state": self.state,
            "reached": self.outcome == REACHED,
            "outcome": self.outcome,
            "seconds": round(self.seconds, 3),
            "error": str(self.error) if self.error is not None else None,
            "history": [(when.isoformat(), state) for when, state in self.history],
            "audit": list(self.audit or []),
        }


# ------------------------------------------------------------------ polling


class Poller:
    """Observes trackers with as few requests as possible (see the module docstring)."""

    def __init__(self) -> None:
        self.pages: dict[Any, int] = {}  # datacenter -> pages its listing took last time

    def observe(self, trackers: Sequence[Tracker]) -> None:
        by_dc: dict[Any, list[Tracker]] = defaultdict(list)
        for tracker in trackers:
            if isinstance(tracker.resource, Snapshot):
                _observe_one(tracker)
            else:
                by_dc[tracker.machine.datacenter].append(tracker)
        for dc, group in by_dc.items():
            if len(group) < max(2, self.pages.get(dc, 1)):
                for tracker in group:
                    _observe_one(tracker)
            else:
                self._observe_listing(dc, group)

    def _observe_listing(self, dc: Any, group: list[Tracker]) -> None:
        wanted = {t.machine.id: t for t in group}
        seen: set[str] = set()
        pages = 0
        # one page after another: the listing stops as soon as every awaited machine was
        # seen, and a poll's requests count more here than its latency
        listing = dc.iter_machine_pages(tombstone=True, page_concurrency=1)
        try:
            for page in listing:
                pages += 1
                for raw in page:
                    tracker = wanted.get(raw.get("id"))
                    if tracker is not None and raw["id"] not in seen:
                        seen.add(raw["id"])
                        tracker.machine.update_from(raw)
                        tracker.observe(raw.get("state"), tracker.machine.raw_as_served)
                if len(seen) == len(wanted):
                    break
            else:
                for machine_id, tracker in wanted.items():
                    if machine_id not in seen:
                        tracker.observe(None, missing=True)
        except TRANSIENT as exc:
            for machine_id, tracker in wanted.items():
                if machine_id not in seen:
                    tracker.note_error(exc)
        except APIError as exc:
            for machine_id, tracker in wanted.items():
                if machine_id not in seen:
                    tracker.fail(f"listing the machines of {dc.name or dc.url} failed: {exc}", exc)
        finally:
            listing.close()
        self.pages[dc] = max(pages, self.pages.get(dc, 1))


def _observe_one(tracker: Tracker) -> None:
    """GET one machine or snapshot (a machine's 410 tombstone becomes its payload)."""
    resource = tracker.resource
    try:
        resource.refresh()
    except (NotFoundError, GoneError):
        tracker.observe(None, missing=True)
    except TRANSIENT as exc:
        tracker.note_error(exc)
    except APIError as exc:
        tracker.fail(f"fetching {tracker.label} failed: {exc}", exc)
    else:
        tracker.observe(resource.state, getattr(resource, "raw_as_served", resource.raw))


def _read_audit(tracker: Tracker) -> None:
    try:
        entries = tracker.machine.audit()
    except (*TRANSIENT, NotFoundError, GoneError) as exc:
        tracker.audit_at = time.monotonic()  # try again in a later round
        if isinstance(exc, TransportError):
            tracker.note_error(exc)  # no answer at all: a wait ending now says so
        return
    tracker.apply_audit(entries)


def _read_audits(trackers: Sequence[Tracker], budget: int | None) -> None:
    """Read the audit of every tracker that needs a confirmation, and of up to
    ``budget`` stalled ones (those read longest ago first)."""
    for tracker in trackers:
        if tracker.wants_audit == "confirm" and tracker.outcome is None:
            _read_audit(tracker)
    stalled = sorted((t for t in trackers if t.wants_audit == "stall" and t.outcome is None),
                     key=lambda t: t.audit_at)
    for tracker in stalled[:budget]:
        _read_audit(tracker)


# ------------------------------------------------------------------ the loop


def _check_timing(timeout: float | None, interval: float, max_interval: float) -> None:
    from .errors import InvalidInputError

    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise InvalidInputError(f"timeout must be a positive number of seconds or None (no "
                                f"deadline), not {timeout!r}")
    if not (isinstance(interval, (int, float)) and interval > 0):
        raise InvalidInputError(f"interval must be a positive number of seconds, not {interval!r}")
    if not (isinstance(max_interval, (int, float)) and max_interval > 0):
        raise InvalidInputError(f"max_interval must be a positive number of seconds, not "
                                f"{max_interval!r}")


def run(trackers: Sequence[Tracker], *, timeout: float | None = DEFAULT_TIMEOUT,
        interval: float = DEFAULT_INTERVAL, max_interval: float = DEFAULT_MAX_INTERVAL,
        progress: Any = None, single: bool = False, title: str = "") -> bool:
    """Poll ``trackers`` until every one has an outcome; True when interrupted (Ctrl-C).

    ``single`` shows one state bar (else one bar counting reached resources).
    Every tracker ends with ``outcome`` and, unless reached, ``error``.
    Every request of the wait ends by the deadline plus one ``interval``.
    """
    _check_timing(timeout, interval, max_interval)
    ends = time.monotonic() + timeout + interval if timeout is not None else None
    with limits.cutoff(ends):
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
    pending = list(trackers)
    delay = interval
    interrupted = False
    note: str | None = None
    feed = _open_feed(trackers)  # listen where the changefeed is up (smartdc_nb.feedwait)
    timed, next_round = True, started

    def show() -> None:
        if single:
            bar.update(only.state, time.monotonic() - started)  # type: ignore[union-attr]
        else:
            bar.update(sum(t.outcome == REACHED for t in trackers), note)  # type: ignore[call-arg]

    try:
        while pending:
            for tracker in pending:
                tracker.changed = False
            if feed is None:
                poller.observe(pending)
                observed = None
            else:
                polled, observed = feed.observe(pending, timed)
                if timed:  # a round woken by a change polls nothing
                    poller.observe(polled)
                    observed.update(polled)
            for tracker in pending:
                tracker.evaluate()
                if observed is not None and tracker not in observed:
                    tracker.wants_audit = None  # nothing new seen: no audit read this round
            _read_audits(pending, None if single else AUDIT_BUDGET)
            changed = [t for t in pending if t.changed]
            if changed:
                last = changed[-1]
                note = f"{last.label}: {last.state}"
            pending = [t for t in pending if t.outcome is None]
            show()
            if not pending:
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
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
        if feed is not None:
            feed.close()
    if not interrupted:
        _explain(trackers, EXPLAIN_CAP if not single else 1)
    for tracker in trackers:
        tracker.error = tracker.make_error(timeout)
    ok = all(t.outcome == REACHED for t in trackers)
    bar.close(ok)
    elapsed = time.monotonic() - started
    if single:
        text = (f"{only.label}: {only.state} after {elapsed:.1f}s" if ok
                else str(only.error).split(" States seen:")[0])
    else:
        text = _summary_line(trackers, title, elapsed)
    summary(text, progress, bar)
    return interrupted


def _open_feed(trackers: Sequence[Tracker]) -> Any:
    """The changefeed watch of a wait, or None (no machine awaited where a feed may be)."""
    from .feedwait import FeedWatch

    return FeedWatch.open(trackers)


def _explain(trackers: Sequence[Tracker], cap: int) -> None:
    """Read the audit of the resources that failed or timed out (if not read yet), up to ``cap``."""
    unexplained = [t for t in trackers if t.outcome in (FAILED, TIMED_OUT) and t.audit is None
                   and not t.missing]
    for tracker in unexplained[:cap]:
        _read_audit(tracker)


def _summary_line(trackers: Sequence[Tracker], title: str, elapsed: float) -> str:
    counts = _counts(trackers)
    text = f"{counts.get(REACHED, 0)}/{len(trackers)} reached {title} in {elapsed:.1f}s"
    others = [f"{n} {outcome}" for outcome, n in counts.items() if outcome != REACHED and n]
    if others:
        text += "; " + ", ".join(others)
        failed = [t for t in trackers if t.outcome != REACHED][:3]
        text += " (" + "; ".join(f"{t.label}: {t.state}" for t in failed) + \
            (", …" if len(trackers) - counts.get(REACHED, 0) > 3 else "") + ")"
    return text


def _counts(trackers: Iterable[Tracker]) -> dict[str, int]:
    counts = {REACHED: 0, FAILED: 0, TIMED_OUT: 0, INTERRUPTED: 0}
    for tracker in trackers:
        if tracker.outcome in counts:
            counts[tracker.outcome] += 1
    return counts


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
             interval: float = DEFAULT_INTERVAL, max_interval: float = DEFAULT_MAX_INTERVAL,
             fail_on: Iterable[str] = ("failed",), progress: Any = None) -> Any:
    """Wait for one Machine or Snapshot; return it, or raise the WaitError that ended the wait."""
    tracker = Tracker(resource, target, fail_on=fail_on, action=_action_for(resource))
    run([tracker], timeout=timeout, interval=interval, max_interval=max_interval,
        progress=progress, single=True)
    if tracker.error is not None:
        raise tracker.error
    return resource


def wait_machines(machines: Iterable[Machine], states: str | Iterable[str], *,
                  timeout: float | None = DEFAULT_TIMEOUT, interval: float = DEFAULT_INTERVAL,
                  max_interval: float = DEFAULT_MAX_INTERVAL, fail_on: Iterable[str] = ("failed",),
                  progress: Any = None, raise_on_failure: bool = False) -> WaitResult:
    """Wait for many machines (any datacenters) to reach ``states``; returns a :class:`WaitResult`.

    Each machine's :attr:`~smartdc_nb.machine.Machine.pending_action` is
    watched as in a single wait. With ``raise_on_failure`` a machine that did
    not reach the target raises its WaitError (``.result`` holds the table).
    Ctrl-C raises WaitInterrupted with ``.result``.
    """
    from .resources.validate import check_states
    from .rules import MACHINE_STATES

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


def unique_machines(machines: Iterable[Machine]) -> list[Machine]:
    """The machines in order, each once; anything else is refused."""
    seen: set[Machine] = set()
    out = []
    for machine in machines:
        if not isinstance(machine, Machine):
            from .errors import InvalidInputError

            raise InvalidInputError(f"expected Machine objects, not {type(machine).__name__} "
                                    f"{machine!r}")
        if machine not in seen:
            seen.add(machine)
            out.append(machine)
    return out


def refresh_machines(machines: Iterable[Machine],
                     errors: dict[Machine, BaseException] | None = None) -> list[Machine]:
    """Re-fetch many machines with the cheapest requests (one listing per datacenter).

    Returns the machines that no longer exist (404: not even a tombstone).
    Transient and API errors are raised, or, when an ``errors`` dict is given,
    put there for each machine that could not be fetched.
    """
    everything = Target.check(lambda raw: True, "refresh")
    trackers = [Tracker(m, everything) for m in unique_machines(machines)]
    Poller().observe(trackers)
    for tracker in trackers:
        error = tracker.last_error or tracker.cause
        if error is not None:
            if errors is None:
                raise error
            errors[tracker.machine] = error
    return [t.machine for t in trackers if t.missing]


# ------------------------------------------------------------------ result


class ResultTable:
    """What the wait and bulk results share: rows, ``frame``, counts, reprs.

    Subclasses set ``COLUMNS``, ``items`` (objects with ``machine``,
    ``outcome`` and ``error``), ``rows`` and :meth:`summary`.
    """

    COLUMNS: tuple[str, ...] = ()
    DTYPES: dict[str, str] = {}
    items: list[Any]
    rows: list[dict[str, Any]]

    def summary(self) -> str:
        raise NotImplementedError

    @property
    def errors(self) -> list[BaseException]:
        """The error of every row that has one."""
        return [i.error for i in self.items if i.error is not None]

    def machines(self, outcome: str | None = None) -> Any:
        """The machines (a MachineList), optionally only those with ``outcome``."""
        from .machinelist import MachineList

        return MachineList(i.machine for i in self.items if outcome is None or i.outcome == outcome)

    @property
    def frame(self) -> pandas.DataFrame:
        """The rows as a DataFrame (columns: ``COLUMNS``)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows, columns=list(self.COLUMNS))
        return frame.astype(self.DTYPES) if self.DTYPES else frame

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.summary()}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        return html_repr(self)


class WaitResult(ResultTable):
    """The table of a multi-machine wait: one row per machine.

    Columns of :attr:`frame`: datacenter, id, name, final_state, reached,
    outcome (reached / failed / timed out / interrupted), seconds, error,
    history (``[(iso time, state), ...]``) and audit (latest entries).
    """

    COLUMNS = ("datacenter", "id", "name", "final_state", "reached", "outcome", "seconds",
               "error", "history", "audit")
    DTYPES = {"reached": "boolean", "seconds": "Float64"}

    def __init__(self, trackers: Sequence[Tracker], title: str, elapsed: float,
                 interrupted: bool = False):
        self.items = self.trackers = list(trackers)
        self.title = title
        self.elapsed = elapsed
        self.interrupted = interrupted
        self.rows = [t.row() for t in self.trackers]

    @property
    def ok(self) -> bool:
        """True when every machine reached the target."""
        return all(t.outcome == REACHED for t in self.trackers)

    @property
    def counts(self) -> dict[str, int]:
        """Machines per outcome: reached, failed, timed out, interrupted."""
        return _counts(self.trackers)

    def summary(self) -> str:
        return _summary_line(self.trackers, self.title, self.elapsed)


__all__ = [
    "AUDIT_BUDGET",
    "DEFAULT_INTERVAL",
    "DEFAULT_MAX_INTERVAL",
    "DEFAULT_TIMEOUT",
    "FAILED",
    "INTERRUPTED",
    "REACHED",
    "TIMED_OUT",
    "Poller",
    "ResultTable",
    "Target",
    "Tracker",
    "WaitResult",
    "refresh_machines",
    "run",
    "wait_machines",
    "wait_one",
    "wait_trackers",
]
