"""What a wait waits for (:class:`Target`) and how it follows one resource (:class:`Tracker`).

A Tracker records the states seen and the audit entries read, and decides when its
resource reached its target, failed, or was refused (see :mod:`.waits`).
"""

from __future__ import annotations

import math
import os
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import (
    InvalidInputError,
    RequestTimeoutError,
    ServerError,
    TooManyRequestsError,
    TransportError,
    WaitError,
    WaitFailed,
    WaitInterrupted,
    WaitTimeout,
    WaitUnanswered,
)
from ..resources.audit import PendingAction, action_entry
from ..resources.machine import Machine
from ..resources.snapshot import Snapshot
from ..resources.validate import check_states
from ..rules import MACHINE_STATES, SNAPSHOT_STATES

if TYPE_CHECKING:
    pass

DEFAULT_TIMEOUT = 600.0
DEFAULT_INTERVAL = 2.0  # the seed's poll interval
DEFAULT_MAX_INTERVAL = 10.0
#: the environment variable giving the interval a wait starts at when its caller names none
INTERVAL_ENV = "SMARTDC_NB_WAIT_INTERVAL"
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
#: states that end a wait as failed unless awaited (``fail_on``'s default): a snapshot shows
#: its newest job's outcome, and a job can be canceled
FAILURES = {"machine": ("failed",), "snapshot": ("failed", "canceled")}
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
    def leaving(cls, states: tuple[str, ...]) -> Target:
        """Any state but ``states`` (the seed's poll_while)."""
        return cls((), lambda raw: raw.get("state") not in states,
                   f"a state other than {' or '.join(states)}")

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
                 fail_on: str | Iterable[str] | None = None, action: PendingAction | None = None,
                 label: str | None = None):
        self.resource = resource
        self.kind = "snapshot" if isinstance(resource, Snapshot) else "machine"
        self.machine: Machine = resource.machine if isinstance(resource, Snapshot) else resource
        self.target = target
        # one state may be a string, as for the awaited ones; a typo would never fail the wait
        self.fail_on = check_states(FAILURES[self.kind] if fail_on is None else fail_on,
                                    SNAPSHOT_STATES if self.kind == "snapshot"
                                    else MACHINE_STATES, self.kind, empty_ok=True)
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
        self.audit_error: BaseException | None = None  # why the audit log could not be read
        self.failure_seen = False  # a failure state seen; the audit is read once to name it
        self.last_error: BaseException | None = None
        self.slowest_answer = 0.0  # seconds the slowest answered poll took
        self.cut_short: RequestTimeoutError | None = None  # the last poll, cut by the wait's end
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

    def observe(self, state: str | None, raw: dict | None = None, missing: bool = False,
                seconds: float = 0.0) -> None:
        """An answer (``seconds``: how long its request took) showing ``state``."""
        self.last_error = self.cut_short = None
        self.slowest_answer = max(self.slowest_answer, seconds)
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
        """Remember the last error of a poll. A request cut off by the wait's own deadline says
        nothing new about the cloud when an earlier poll already failed (that error stays), nor
        when it was cut sooner than the cloud had been answering: the wait ran out, and the
        cloud is not said to have stopped answering."""
        if isinstance(error, RequestTimeoutError) and not error.limit.startswith("request_timeout"):
            if self.last_error is not None:
                return
            if error.spent is not None and error.spent < self.slowest_answer:
                self.cut_short = error
                return
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

    @property
    def unmade(self) -> bool:
        """A snapshot its tracked create job has not been seen to make: CloudAPI shows
        ``deleted`` for a snapshot the machine lacks, while the job is queued or running
        and after it failed (sdc-cloudapi lib/snapshots.js get), so only the audit log
        tells the two apart."""
        return (self.kind == "snapshot" and self.state == "deleted" and not self.missing
                and self.action is not None and self.action.action == "create_snapshot"
                and not self.confirmed)

    @property
    def shown(self) -> str | None:
        """The state in the words a bar shows: 'deleted' reads as gone, so a snapshot its
        create job has not made is said to be not made (yet), CloudAPI's word beside it."""
        if self.unmade:
            return f"not made{' yet' if self.outcome is None else ''} (CloudAPI: deleted)"
        return self.state

    def evaluate(self) -> None:
        """Decide after an observation: reached, failed, or keep waiting (maybe read the audit)."""
        self.wants_audit = None
        if self.outcome is not None or self.last_error is not None:
            return
        if self.unmade:
            if self.same_polls >= 2:
                self.wants_audit = "stall"
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
            if self.kind == "snapshot" and self.action is not None and not self.failure_seen:
                # the audit log names the job that failed (apply_audit), else this does
                self.failure_seen = True
                self.wants_audit = "confirm"
            else:
                self._fail_state()
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

    def _fail_state(self) -> None:
        why = (" (CloudAPI shows the outcome of the newest create, rollback or delete job "
               f"of a snapshot: that job {'was canceled' if self.state == 'canceled' else 'failed'})"
               if self.kind == "snapshot" and self.state in ("failed", "canceled") else "")
        self.fail(f"{self.label} is {self.state}{why}")

    def apply_audit(self, entries: list[dict]) -> None:
        """Use the machine's audit log: a refusal of the tracked action ends the wait."""
        self.audit = [_compact(e) for e in entries[:AUDIT_SHOWN]]
        self.audit_at = time.monotonic()
        if self.action is None or self.outcome is not None:
            return
        entry = action_entry(self.action, entries)
        if entry is None:
            if self.failure_seen:
                self._fail_state()
            return
        if entry.get("success") != "yes":
            needs = NEEDS.get(self.action.action)
            why = (f"; {self.action.action} needs a {needs} machine and it was {self.state}"
                   if needs and self.state != needs else "")
            taken, by_it = self._existed()
            why += taken + (" ('unknown' is the audit log's name of a firewall change)"
                            if self.action.action == "unknown" else "")
            if self.unmade:  # kept on the Snapshot: its card says it, not "until the job makes it"
                self.resource.create_failed_at = entry.get("time")
                why += (f"; no snapshot {self.resource.name} was made: its job failed or was "
                        "canceled (CloudAPI shows either as 'deleted', with nothing to tell them "
                        "apart)")
            # an operator's cancel also gives success "no": the snapshot's state tells it apart
            head = (f"the {self.action.action!r} job on {self.label} was canceled (its snapshot "
                    "shows 'canceled')" if self.kind == "snapshot" and self.state == "canceled"
                    else f"the {self.action.action!r} job on {self.label} did not succeed"
                    if self.unmade or by_it else
                    f"the cloud refused {self.action.action!r} on {self.label}")
            self.fail(f"{head}: the audit log records it with success \"no\" at "
                      f"{entry.get('time')}{why}. CloudAPI accepts actions with 202 and checks "
                      "them later")
            return
        self.confirmed = True
        if self.target.met(self.state, self.raw):
            self._end(REACHED)
        elif self.failure_seen:
            self._fail_state()

    def _existed(self) -> tuple[str, bool]:
        """Why a create_snapshot did not succeed, from when the snapshot seen was taken, and
        whether its own job took it: before the request, the name was taken (CloudAPI never
        replaces one); after it, the job failed once it took it (VMAPI undoes nothing)."""
        if self.kind != "snapshot" or self.action is None or \
                self.action.action != "create_snapshot":
            return "", False
        created = self.resource.created
        if created is None or self.action.date is None:
            return "", False
        if created >= self.action.date:  # a cancel after taking it shows 'canceled': said so
            return (f"; its job failed after taking it: snapshot {self.resource.name} is on the "
                    "machine all the same, shown failed (VMAPI's job undoes nothing)",
                    True) if self.state == "failed" else ("", False)
        return (f"; a snapshot named {self.resource.name} already existed (created "
                f"{created:%Y-%m-%d %H:%M:%S} UTC) and CloudAPI never replaces one", False)

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
            return f" The audit log could not be read: {self.audit_error}." \
                if self.audit_error is not None else ""
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
            if self.cut_short is not None:
                text += (" Its last poll was cut off by the wait's end before an answer; the "
                         f"cloud had been answering, in up to {self.slowest_answer:.1f}s.")
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


def default_interval() -> float:
    """The interval (seconds) a wait starts at when given none: ``$SMARTDC_NB_WAIT_INTERVAL``,
    else :data:`DEFAULT_INTERVAL` (2 s, the seed's).

    Read at each wait, so a kernel's environment sets it for every wait in it: a cloud whose
    jobs take well under 2 s (the demo at ``--speed 20``, the test suite's) is polled at its pace.
    """
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(f"{INTERVAL_ENV}={raw!r} is not a number of seconds > 0: set it to "
                                f"the interval waits start at (e.g. 0.5), or unset it for "
                                f"{DEFAULT_INTERVAL:g} s")
    return value


__all__ = ["Target", "Tracker", "REACHED", "FAILED", "TIMED_OUT", "INTERRUPTED", "DEFAULT_TIMEOUT",
           "DEFAULT_INTERVAL", "DEFAULT_MAX_INTERVAL", "INTERVAL_ENV", "TRANSIENT",
           "default_interval"]
