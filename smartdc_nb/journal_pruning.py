"""Pruning the journal: old segments removed whole (``smartdc-nb journal --prune DAYS``).

    >>> smartdc_nb.journal_prune(90, dry_run=True)   # what would go, what stays and why
    >>> smartdc_nb.journal_prune(90)                 # remove it

A segment (a file rotation made of the live journal: smartdc_nb.journal_segments) is
removed when its newest record is older than ``days`` and it holds no record of a bulk run
that has not ended: a run without its ``run-end`` (incomplete, or running now) or one that
was interrupted may still be resumed, and resume needs every record of it. Nothing is
rewritten or truncated: a segment goes whole or stays whole, and the live file always stays.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .errors import InvalidInputError
from .journal_place import JournalError
from .journal_segments import segments, strays

#: What a kept run is when it has no run-end (after its last start or resume).
NOT_ENDED = "no run-end: incomplete, or running now"


@dataclass
class Segment:
    """One segment of the journal, as pruning read it."""

    path: Path
    bytes: int = 0
    records: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None
    runs: set[str] = field(default_factory=set)  # bulk runs with records here
    written: datetime | None = None  # when the file was last written
    why_kept: str | None = None

    def line(self) -> str:
        span = (f", {_when(self.oldest)} to {_when(self.newest)}" if self.newest
                else ", no readable record")
        kept = f" — kept: {self.why_kept}" if self.why_kept else ""
        return f"  {self.path.name}: {_records(self.records)}, {_size(self.bytes)}{span}{kept}"


@dataclass
class Pruned:
    """What :func:`journal_prune` removed (or, in a dry run, would remove) and kept, and why."""

    path: Path
    days: float
    before: datetime
    removed: list[Segment]
    kept: list[Segment]
    dry_run: bool = False
    failed: list[Segment] = field(default_factory=list)  # to remove, but could not be (kept)
    unread: list[Path] = field(default_factory=list)  # named after a segment, not as one

    @property
    def records(self) -> int:
        return sum(s.records for s in self.removed)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.removed)

    def __repr__(self) -> str:
        if not (self.removed or self.kept or self.unread or self.path.exists()):
            return f"there is no journal at {self.path} (no file, no segment): nothing to prune"
        verb = "would remove" if self.dry_run else "removed"
        lines = [f"journal {self.path}: segments whose newest record is older than "
                 f"{self.days:g} days (before {_when(self.before)}) and that hold no run still "
                 f"to end{' (dry run: nothing removed)' if self.dry_run else ''}"]
        if self.removed:
            times = [t for s in self.removed for t in (s.oldest, s.newest) if t]
            span = f", from {_when(min(times))} to {_when(max(times))}" if times else ""
            lines.append(f"{verb} {len(self.removed)} segment(s): {_records(self.records)}, "
                         f"{_size(self.bytes)}{span}")
            lines += [s.line() for s in self.removed]
        else:
            lines.append(f"{verb} nothing")
        if self.kept:
            lines.append(f"kept {len(self.kept)} segment(s):")
            lines += [s.line() for s in self.kept]
        if self.unread:
            lines.append(f"not read, so not pruned: {len(self.unread)} file(s) named after a "
                         f"segment of this journal, but not as one: "
                         f"{', '.join(p.name for p in self.unread)}; the journal reads only "
                         f"its segments as rotation named them (gunzip a compressed one, or "
                         f"rename it back, to read and prune it)")
        lines.append(f"the live file {self.path.name} is never pruned")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def _records(count: int) -> str:
    return f"{count} record{'' if count == 1 else 's'}"


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def checked_days(days: Any) -> float:
    """``days`` as a number of days (0 or more), or InvalidInputError saying what to give."""
    if isinstance(days, str):
        try:
            days = float(days.strip())
        except ValueError:
            pass
    if isinstance(days, int) and days > 1e300:  # no float holds it; far too many days anyway
        raise _TooFar(_too_far("so many"))
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not math.isfinite(days) \
            or days < 0:
        raise InvalidInputError(f"days must be a number of days, 0 or more (the segments whose "
                                f"newest record is older are removed), not {days!r}")
    try:
        _cutoff(float(days))
    except OverflowError:  # a slip such as 1e10: no record can be that old
        raise _TooFar(_too_far(str(days))) from None
    return float(days)


class _TooFar(InvalidInputError):
    """More days than the calendar holds before now."""


def _too_far(days: str) -> str:
    return f"{days} days ago is before the calendar's year 1: give fewer days"


def _cutoff(days: float) -> datetime:
    """The time ``days`` days before now (OverflowError before year 1)."""
    return datetime.now(timezone.utc) - timedelta(days=days)


def journal_prune(days: float, *, path: str | Path | None = None,
                  dry_run: bool = False) -> Pruned:
    """Remove the journal's segments whose newest record is older than ``days`` days and
    that hold no record of a bulk run that has not ended (see the module docstring).

    ``path`` the journal (default as for connect()); ``dry_run`` says the same, removes
    nothing. Returns what was removed and kept, and why (its repr says it).
    """
    from .journal_views import _journal

    before = _cutoff(checked_days(days))
    journal = _journal(path)
    found: dict[Path, Segment] = {}
    for segment in segments(journal.path):
        found[segment] = Segment(segment)
    # bulk runs: their last run-end's outcome, or NOT_ENDED after a start or resume
    ended: dict[str, str] = {}
    for where, record in journal.records():
        kind, run_id = record["kind"], record["run_id"]
        if kind in ("run", "resume") and (kind == "run" or run_id in ended):
            ended[run_id] = NOT_ENDED
        elif kind == "run-end" and run_id in ended:
            ended[run_id] = record.get("outcome") or "ended?"
        if where == journal.path:
            continue
        segment = found.setdefault(where, Segment(where))  # rotated since they were listed
        segment.records += 1
        moment = datetime.fromisoformat(record["time"])  # journal_shape checked it
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        segment.oldest = min(segment.oldest or moment, moment)
        segment.newest = max(segment.newest or moment, moment)
        if run_id in ended:
            segment.runs.add(run_id)
    removed, kept, failed = [], [], []
    for segment in found.values():
        try:
            stat = os.stat(segment.path)
        except FileNotFoundError:  # pruned meanwhile by another
            continue
        segment.bytes = stat.st_size
        segment.written = datetime.fromtimestamp(stat.st_mtime, timezone.utc)
        segment.why_kept = _why_kept(segment, before, ended)
        if segment.why_kept is None and not dry_run:
            try:
                os.unlink(segment.path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                segment.why_kept = f"cannot remove it ({exc})"
                failed.append(segment)
        (kept if segment.why_kept else removed).append(segment)
    return Pruned(journal.path, float(days), before, removed, kept, dry_run, failed,
                  strays(journal.path))


def _why_kept(segment: Segment, before: datetime, ended: dict[str, str]) -> str | None:
    open_runs = sorted(r for r in segment.runs if ended[r] != "ended")
    if open_runs:
        runs = ", ".join(f"run {r} ({ended[r]})" for r in open_runs)
        return (f"holds records of {runs}, not ended: it may still be resumed "
                f"(smartdc-nb resume {open_runs[0]})")
    if segment.newest is None:  # no record can be read in it: its own age decides
        if segment.written and segment.written >= before:
            return f"it has no readable record and was written {_when(segment.written)}"
        return None
    if segment.newest >= before:
        return f"its newest record ({_when(segment.newest)}) is not older than that"
    return None


def days_argument(text: str) -> float:
    """An argparse type for --prune: a number of days, 0 or more."""
    try:
        return checked_days(text)
    except _TooFar:
        raise argparse.ArgumentTypeError(_too_far(text)) from None
    except InvalidInputError:
        raise argparse.ArgumentTypeError(f"must be a number of days, 0 or more, not {text!r}"
                                         ) from None


def command(args: argparse.Namespace, path: Path) -> int:
    """``smartdc-nb journal --prune DAYS [--dry-run]``: 0, 1 if a segment could not be
    removed, 2 for bad input."""
    problem = ("--dry-run goes with --prune DAYS" if args.prune is None else
               "--prune DAYS prunes the whole journal: give no run id" if args.run_id else None)
    if problem:
        print(f"smartdc-nb journal: {problem}", file=sys.stderr)
        return 2
    try:
        pruned = journal_prune(args.prune, path=path, dry_run=args.dry_run)
    except (JournalError, InvalidInputError) as exc:
        print(f"smartdc-nb journal: {exc}", file=sys.stderr)
        return 2
    print(repr(pruned))
    return 1 if pruned.failed else 0


__all__ = ["journal_prune", "Pruned", "Segment", "checked_days"]
