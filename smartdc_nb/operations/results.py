"""Result tables: one row per resource of a wait or a bulk run, as a DataFrame and a card."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..errors import WaitUnanswered
from ..pandas_text import dtypes
from ..seam import render_html as html_repr
from .targets import FAILED, INTERRUPTED, REACHED, TIMED_OUT, Tracker

if TYPE_CHECKING:
    import pandas


def _summary_line(trackers: Sequence[Tracker], title: str, elapsed: float) -> str:
    counts = _counts(trackers)
    text = f"{counts.get(REACHED, 0)}/{len(trackers)} reached {title} in {elapsed:.1f}s"
    others = [f"{n} {outcome}" for outcome, n in counts.items() if outcome != REACHED and n]
    if others:
        text += "; " + ", ".join(others)
        failed = [t for t in trackers if t.outcome != REACHED][:3]
        text += " (" + "; ".join(_how(t) for t in failed) + \
            (", …" if len(trackers) - counts.get(REACHED, 0) > 3 else "") + ")"
        unanswered = sum(isinstance(t.error, WaitUnanswered) for t in trackers)
        if unanswered:
            text += (f"; the cloud stopped answering ({unanswered} of them got no answer: see "
                     f"the error column)")
    return text


def _how(tracker: Tracker) -> str:
    # a state nobody answered during the wait is only the last one known, not a confirmed one
    if isinstance(tracker.error, WaitUnanswered):
        return f"{tracker.label}: no answer, {tracker.state} when last seen"
    return f"{tracker.label}: {tracker.state}"


def _counts(trackers: Iterable[Tracker]) -> dict[str, int]:
    counts = {REACHED: 0, FAILED: 0, TIMED_OUT: 0, INTERRUPTED: 0}
    for tracker in trackers:
        if tracker.outcome in counts:
            counts[tracker.outcome] += 1
    return counts


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
        from ..machinelist import MachineList

        return MachineList(i.machine for i in self.items if outcome is None or i.outcome == outcome)

    @property
    def frame(self) -> pandas.DataFrame:
        """The rows as a DataFrame (columns: ``COLUMNS``)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows, columns=list(self.COLUMNS))
        return frame.astype(dtypes(self.DTYPES)) if self.DTYPES else frame

    def to_frame(self) -> pandas.DataFrame:
        """The rows as a DataFrame: ``to_frame()`` builds a frame everywhere (MachineList,
        results); ``.frame`` is the same table as a property."""
        return self.frame

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
    DTYPES = {"datacenter": "string", "id": "string", "name": "string", "final_state": "str",
              "reached": "boolean", "outcome": "str", "seconds": "Float64", "error": "str"}

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
        """One line: how many machines reached the target, in how long, and who did not."""
        return _summary_line(self.trackers, self.title, self.elapsed)


__all__ = ["ResultTable", "WaitResult"]
