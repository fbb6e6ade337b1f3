"""What became of each machine of a bulk run: :class:`Outcome` rows and the :class:`BulkResult`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..errors import (
    BulkActionError, WaitTimeout,
)
from ..pandas_text import dtypes
from ..resources.machine import Machine
from .results import ResultTable

if TYPE_CHECKING:
    import pandas

DONE, FAILED, SKIPPED, NOT_REACHED, PLANNED = "done", "failed", "skipped", "not reached", "planned"
OUTCOMES = (DONE, FAILED, SKIPPED, NOT_REACHED, PLANNED)
#: The reason of a ``done`` row no wait confirmed: the cloud's 202 says its job was queued,
#: not that it ran (a job the cloud then refuses shows only in the machine's audit log).
ACCEPTED_ONLY = "accepted by the cloud; not waited for, so not seen done (its job may still fail)"
#: The reason of a ``not reached`` row whose request Ctrl-C stopped before it went out.
UNSENT_AT_CTRL_C = "interrupted (Ctrl-C) before it was sent"


class BulkInterrupted(BulkActionError, KeyboardInterrupt):
    """Ctrl-C during a bulk action; ``result`` (also ``outcomes``) is the full BulkResult."""

    def __init__(self, message: str, result: BulkResult):
        super().__init__(message, outcomes=result)
        self.result = result

    @classmethod
    def of(cls, result: BulkResult) -> BulkInterrupted:
        """The exception of an interrupted ``result``: its summary, and how to go on (a
        script's user reads this line, not the table) when the run was journalled."""
        run_id = result.run_id
        go_on = (f"; smartdc_nb.resume({run_id!r}) or `smartdc-nb resume {run_id}` sends what "
                 "was not sent" if run_id else "")
        return cls(f"{result.summary()}{go_on}. The full table is this exception's .result",
                   result)


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
    #: the cloud accepted its request (a row left not reached by Ctrl-C may still have acted)
    sent: bool = False
    #: its request's answer was not waited for (a second Ctrl-C): the row, in a table already
    #: given to the user, no longer changes when the answer comes
    let_go: bool = False

    def end(self, outcome: str, *, error: BaseException | None = None, reason: str = "") -> None:
        if self.let_go:
            return
        self.outcome, self.error, self.reason = outcome, error, reason
        self.finished = time.monotonic()

    def let_go_of(self, reason: str) -> None:
        """End the row as not reached with ``reason`` and keep it so (see :attr:`let_go`)."""
        self.end(NOT_REACHED, reason=reason)
        self.let_go = True

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
        #: the journal's run id (smartdc_nb.resume takes it) and the applied plan's id, if any
        self.run_id: str | None = None
        self.plan_id: str | None = None
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
        """The rows as a typed DataFrame (the columns in the class docstring)."""
        import pandas as pd

        rows = [dict(row, history=" → ".join(state for _when, state in row["history"]) or None)
                for row in self.rows]  # the timed history stays on result.outcomes[i].history
        frame = pd.DataFrame(rows, columns=list(self.COLUMNS)).astype(dtypes(self.DTYPES))
        frame["outcome"] = pd.Categorical(frame["outcome"], categories=list(OUTCOMES))
        return frame

    def summary(self) -> str:
        """One line: the action, how many machines, the counts by outcome, the time."""
        verb = "plan for" if self.dry_run else ""
        # without a wait, done is the cloud's 202: its job may still fail (say so, not "done")
        unconfirmed = " (accepted, not waited for)" if not self.waited_for and not self.dry_run \
            else ""
        # a Ctrl-C while waiting leaves sent rows not reached: the count must not read as
        # "nothing was done" when the cloud took some of them
        sent = sum(o.outcome == NOT_REACHED and o.sent for o in self.outcomes)
        after = {DONE: unconfirmed,
                 NOT_REACHED: f" ({sent} of them sent, not seen done)" if sent else ""}
        counts = counts_text(self.counts, after)
        waited = (f" ({'would wait' if self.dry_run else 'waited'} for {self.waited_for})"
                  if self.waited_for else "")
        head = f"{verb} {self.action}".strip()
        acted = any(o.outcome in (DONE, FAILED, NOT_REACHED, PLANNED) for o in self.outcomes)
        if not acted:
            waited = ""
            counts = "nothing to do" + (f" ({counts})" if counts else "")
        count = len(self.outcomes)
        text = f"{head} on {count} machine{'s' * (count != 1)}{waited}: {counts}"
        if not self.dry_run and acted:
            text += f" in {self.elapsed:.1f}s"
        if self.interrupted:
            text += " — interrupted"
        failed = [o for o in self.outcomes if o.outcome == FAILED][:3]
        if failed:
            text += "; failed: " + "; ".join(f"{o.machine.label}: {_first_line(_said(o))}"
                                             for o in failed)
        return text


def counts_text(counts: Mapping[str, int], after: Mapping[str, str] | None = None) -> str:
    """Machines per outcome as a run's summary says them ("7 done, 1 failed"), ``after`` an
    outcome's count what follows it; the journal's record of a run's end holds ``counts``,
    and a refusal that names the run says them in these words too (plan_runs)."""
    return ", ".join(f"{n} {outcome}" + (after or {}).get(outcome, "")
                     for outcome, n in counts.items() if n)


def _said(outcome: Outcome) -> Any:
    """What the summary says of a failed row: its error, or its reason when that says more: a
    request whose answer was lost (the cloud may have applied it: that comes first, not the
    URL), or one accepted whose wait ran out (the cloud may still finish it)."""
    said_more = getattr(outcome.error, "maybe_applied", False) or \
        isinstance(outcome.error, WaitTimeout)
    return outcome.reason if said_more and outcome.reason else outcome.error


def _first_line(error: Any) -> str:
    text = str(error) if error is not None else ""
    return text if len(text) <= 120 else text[:119] + "…"


__all__ = ["Outcome", "BulkResult", "BulkInterrupted", "counts_text", "DONE", "FAILED", "SKIPPED", "NOT_REACHED",
           "PLANNED", "OUTCOMES", "ACCEPTED_ONLY", "UNSENT_AT_CTRL_C"]
