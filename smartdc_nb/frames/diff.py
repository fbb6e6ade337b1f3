"""What changed in a fleet between two points: ``smartdc_nb.diff(a, b)`` -> :class:`FleetDiff`.

    >>> d = smartdc_nb.diff(-2, -1)          # the two latest saved points
    >>> d = smartdc_nb.diff("20261101T...", fleet)   # a saved point against the fleet now
    >>> d                                     # counts per datacenter, then the changes
    >>> d.appeared, d.vanished, d.changes, d.frame, d.counts

``a`` and ``b`` are each a :class:`~smartdc_nb.frames.history.Point`, what
:func:`~smartdc_nb.frames.history.load` takes (a point's name, path or
position), a machines frame (then snapshots are not compared), or a Fleet /
DataCenter (read now, nothing saved). A machine is identified by
(datacenter, id); a renamed machine is a change of ``name``, not a machine
that vanished and another that appeared.

Nothing that could not be read is compared: a datacenter whose machines
could not be listed at either point, or that a point did not cover (one taken
of fewer datacenters), is counted as unknown (not as machines that vanished
or appeared), a machine whose snapshots could not be listed is
not compared for snapshots, and a frame without tag information
(``tags_as=None``) leaves tags uncompared. Each such gap is a :class:`Gap`
in ``.gaps``, said in the summary, the card and ``attrs["partial"]`` of
``.frame``, ``.changes`` and ``.counts`` (the ``not_read`` column names the
point a datacenter could not be read at).
"""

from __future__ import annotations

import html
from typing import Any, Iterable, NamedTuple

import pandas as pd

from ..errors import InvalidInputError
from . import columns as conv
from .diff_changes import COMPARED, changes, na, tag_dicts

CHANGES = ("appeared", "vanished", "changed")
LONG_COLUMNS = ("datacenter", "machine_id", "machine_name", "change", "column", "before", "after")
COUNT_COLUMNS = ("datacenter", "appeared", "vanished", "changed", "changes", "not_read")
#: how many machines a note names before "and N more"
NAMED = 3


class Gap(NamedTuple):
    """Something a point could not read, so the diff did not compare it."""

    point: str              # the point's label (before_label or after_label)
    what: str               # "machines", "snapshots" or "tags"
    datacenter: str | None
    machine: str | None     # the machine's name, for snapshots
    error: str              # why


class FleetDiff:
    """The difference between two fleet points (see the module docstring).

    ``appeared`` / ``vanished``: machines frames (rows of ``b`` / of ``a``);
    ``changes``: one row per changed value (datacenter, machine_id,
    machine_name, column, before, after; tags as ``tag.<key>``, snapshots as
    ``snapshot.<name>`` with the snapshot's state); ``counts``: per
    datacenter; ``frame``: everything as one long table with a ``change``
    column (appeared / vanished / changed); ``gaps``: what was not compared
    because a point could not read it (empty: the diff is complete).
    """

    def __init__(self, a: Any, b: Any, *, before: str = "a", after: str = "b",
                 datacenters: Iterable[str] = ()):
        self.before_label, self.after_label = before, after
        ma, mb = _machines(a), _machines(b)
        sides = ((before, a, ma), (after, b, mb))
        self.gaps: list[Gap] = [Gap(label, "machines", str(dc), None, str(why))
                                for label, side, _ in sides
                                for dc, why in _machine_errors(side).items()]
        # a datacenter a side did not cover (a point of fewer datacenters) was not read there
        covered = [_covered(side) for _, side, _ in sides]
        everywhere = set(datacenters).union(*(c for c in covered if c is not None))
        for (label, _, _), mine in zip(sides, covered):
            if mine is None:
                continue
            failed = {g.datacenter for g in self.gaps if g.point == label}
            self.gaps += [Gap(label, "machines", dc, None, f"not among {label}'s datacenters "
                              f"({', '.join(mine) or 'none'})")
                          for dc in sorted(everywhere - set(mine) - failed)]
        unknown = {str(g.datacenter) for g in self.gaps}
        self._datacenters = sorted(set(datacenters) | unknown)
        ka, kb = _keys(ma), _keys(mb)
        in_a, in_b = set(ka), set(kb)
        # a machine missing from a side whose datacenter could not be read there is unknown
        self.appeared = _frame_rows(mb, [k not in in_a and k[0] not in unknown for k in kb])
        self.vanished = _frame_rows(ma, [k not in in_b and k[0] not in unknown for k in ka])
        self.compared_snapshots = _snaps(a) is not None and _snaps(b) is not None
        # two machines frames never hold snapshots (documented); a point saved without them does
        self._no_snapshots = [] if all(isinstance(s, pd.DataFrame) for s in (a, b)) else [
            label for label, side, _ in sides if _snaps(side) is None]
        unlisted: set[tuple[str, str]] = set()
        if self.compared_snapshots:
            for label, side, machines in sides:
                names = dict(zip(_keys(machines), machines["name"].astype(object)))
                for where, why in (getattr(side, "snapshot_errors", None) or {}).items():
                    dc, _, mid = str(where).partition("/")
                    unlisted.add((dc, mid))
                    self.gaps.append(Gap(label, "snapshots", dc, names.get((dc, mid)) or mid,
                                         str(why)))
        tags = (tag_dicts(ma), tag_dicts(mb))
        self.compared_tags = tags[0] is not None and tags[1] is not None
        self.gaps += [Gap(label, "tags", None, None, "the frame has no tag information (built "
                          "with tags_as=None); build it with tags_as='dict' or 'columns'")
                      for (label, _, _), t in zip(sides, tags) if t is None]
        self.changes = changes(ma, mb, ka, kb, tags if self.compared_tags else None,
                               (_snaps(a), _snaps(b)) if self.compared_snapshots else None,
                               unlisted)
        self.frame = self._long()
        self.counts = self._counts()
        notes = self.notes()
        for frame in (self.frame, self.changes, self.counts):
            frame.attrs["partial"] = list(notes)

    def notes(self) -> list[str]:
        """What was not compared, one sentence per gap (per point for snapshots)."""
        out = [f"{g.datacenter} {'was not' if g.error.startswith('not among') else 'could not be'}"
               f" read at {g.point}: its machines are not compared"
               for g in self.gaps if g.what == "machines"]
        for label in (self.before_label, self.after_label):
            snaps = [g for g in self.gaps if g.what == "snapshots" and g.point == label]
            if snaps:
                named = ", ".join(f"{g.machine} in {g.datacenter}" for g in snaps[:NAMED])
                more = f" and {len(snaps) - NAMED} more" if len(snaps) > NAMED else ""
                out.append(f"snapshots of {len(snaps)} machine{'s' * (len(snaps) != 1)} could "
                           f"not be listed at {label} ({named}{more}), not compared")
        out += [f"snapshots not compared ({label} has none: saved without them, or a machines "
                "frame)" for label in self._no_snapshots]
        out += [f"tags not compared ({g.point} has no tag information: build frames with "
                "tags_as='dict' or 'columns')" for g in self.gaps if g.what == "tags"]
        return out

    def _long(self) -> pd.DataFrame:
        parts = []
        for change, machines in (("appeared", self.appeared), ("vanished", self.vanished)):
            parts.append({"datacenter": list(machines["datacenter"]),
                          "machine_id": list(machines["id"]),
                          "machine_name": list(machines["name"]),
                          "change": [change] * len(machines), "column": [None] * len(machines),
                          "before": [None] * len(machines), "after": [None] * len(machines)})
        ch = self.changes
        parts.append({**{c: list(ch[c]) for c in ("datacenter", "machine_id", "machine_name",
                                                  "column", "before", "after")},
                      "change": ["changed"] * len(ch)})
        cols = {c: [v for p in parts for v in p[c]] for c in LONG_COLUMNS}
        frame = pd.DataFrame({
            **{c: conv.strings([None if na(v) else v for v in cols[c]])
               for c in LONG_COLUMNS if c != "change"},
            "change": pd.Categorical(cols["change"], categories=list(CHANGES))},
            columns=list(LONG_COLUMNS))
        frame.attrs["kind"] = "diff"
        return frame

    def _counts(self) -> pd.DataFrame:
        names = sorted(set(self.frame["datacenter"].dropna()) | set(self._datacenters))
        not_read: dict[str, list[str]] = {}
        for gap in self.gaps:
            if gap.what == "machines":
                not_read.setdefault(str(gap.datacenter), []).append(gap.point)
        rows = []
        for name in names:
            if name in not_read:  # unknown, not zero: nothing is known of it at that point
                rows.append((name, None, None, None, None, ", ".join(not_read[name])))
                continue
            mine = self.frame[self.frame["datacenter"] == name]
            changed = mine[mine["change"] == "changed"]
            rows.append((name, int((mine["change"] == "appeared").sum()),
                         int((mine["change"] == "vanished").sum()),
                         changed["machine_id"].nunique(), len(changed), None))
        cols = list(zip(*rows)) if rows else [[]] * 6
        frame = pd.DataFrame({"datacenter": conv.strings(list(cols[0])),
                              **{c: conv.ints(list(v)) for c, v in zip(COUNT_COLUMNS[1:5],
                                                                       cols[1:5])},
                              "not_read": conv.strings(list(cols[5]))},
                             columns=list(COUNT_COLUMNS))
        frame.attrs["kind"] = "diff_counts"
        return frame

    def __len__(self) -> int:
        return len(self.frame)

    def __bool__(self) -> bool:
        return len(self.frame) > 0

    def summary(self) -> str:
        """One line: how many machines appeared, vanished and changed, and what was not
        compared (``partial: ...``) when a point could not read everything."""
        notes = self.notes()
        partial = f"; partial: {'; '.join(notes)}" if notes else ""
        return f"{self.before_label} -> {self.after_label}: {self.tally()}{partial}"

    def tally(self) -> str:
        """``"2 appeared, 0 vanished, 1 changed (3 values)"``: the counts alone."""
        changed = self.changes["machine_id"].nunique() if len(self.changes) else 0
        values = len(self.changes)
        return (f"{len(self.appeared)} appeared, {len(self.vanished)} vanished, {changed} "
                f"changed ({values} value{'' if values == 1 else 's'})")

    def __repr__(self) -> str:
        return f"<FleetDiff {self.summary()}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        lines = [self.summary()]
        for row in self.frame.head(40).itertuples(index=False):
            what = "" if row.change != "changed" else f" {row.column}: {row.before} -> {row.after}"
            lines.append(f"  {row.datacenter} {row.machine_name} {row.change}{what}")
        if len(self.frame) > 40:
            lines.append(f"  ... and {len(self.frame) - 40} more (.frame has every row)")
        printer.text("\n".join(lines))

    def _repr_html_(self) -> str:
        try:
            from .diff_view import render
        except ImportError:  # the display package is optional here: fall back to escaped text
            return f"<pre>{html.escape(self.summary())}</pre>"
        return render(self)


def diff(a: Any, b: Any, *, directory: Any = None) -> FleetDiff:
    """What changed from ``a`` to ``b`` (see the module docstring)."""
    pa, la = _point(a, directory)
    pb, lb = _point(b, directory)
    return FleetDiff(pa, pb, before=la, after=lb, datacenters=set(_dcs(pa)) | set(_dcs(pb)))


def _machine_errors(point: Any) -> dict:
    """``{datacenter: why}`` of the datacenters whose machines a point could not list."""
    if isinstance(point, pd.DataFrame):
        return dict(point.attrs.get("errors") or {})
    return dict(point.errors or {})


def _point(value: Any, directory: Any) -> tuple[Any, str]:
    from .history import Point, capture, load

    if isinstance(value, Point):
        return value, value.name
    if isinstance(value, pd.DataFrame):
        if "id" not in value or "datacenter" not in value:
            raise InvalidInputError("diff() compares machines frames: this frame has no "
                                    "'datacenter' and 'id' columns (use fleet.frames.machines())")
        return value, str(value.attrs.get("point") or value.attrs.get("fetched_at") or "frame")
    from ..datacenter import DataCenter
    from ..fleet import Fleet

    if isinstance(value, (Fleet, DataCenter)):
        point = capture(value, progress=False)
        return point, f"now ({point.time.isoformat(timespec='seconds')})"
    point = load(value, directory)
    return point, point.name


def _covered(point: Any) -> list[str] | None:
    """The datacenters a side set out to read (None: a frame that does not say)."""
    if isinstance(point, pd.DataFrame):
        names = point.attrs.get("datacenters")
        return None if names is None else [str(n) for n in names]
    return [str(n) for n in point.datacenters]


def _machines(point: Any) -> pd.DataFrame:
    return point if isinstance(point, pd.DataFrame) else point.machines


def _snaps(point: Any) -> pd.DataFrame | None:
    return None if isinstance(point, pd.DataFrame) else point.snapshots


def _dcs(point: Any) -> list[str]:
    if isinstance(point, pd.DataFrame):
        return list(point.attrs.get("datacenters") or point["datacenter"].dropna().unique())
    return list(point.datacenters)


def _keys(machines: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(machines["datacenter"].astype(object), machines["id"].astype(object)))


def _frame_rows(machines: pd.DataFrame, keep: list[bool]) -> pd.DataFrame:
    out = machines[pd.Series(keep, index=machines.index, dtype=bool)].reset_index(drop=True)
    out.attrs = {k: v for k, v in machines.attrs.items() if k != "triton"}
    return out


__all__ = ["COMPARED", "FleetDiff", "Gap", "diff"]
