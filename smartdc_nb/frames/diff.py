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
"""

from __future__ import annotations

import html
from typing import Any, Iterable

import pandas as pd

from ..errors import InvalidInputError
from . import columns as conv

#: machine columns compared, in the order changes are listed
COMPARED = ("name", "state", "package", "image", "primary_ip", "public_ips", "private_ips",
            "firewall_enabled", "deletion_protection")
CHANGES = ("appeared", "vanished", "changed")
LONG_COLUMNS = ("datacenter", "machine_id", "machine_name", "change", "column", "before", "after")
COUNT_COLUMNS = ("datacenter", "appeared", "vanished", "changed", "changes")


class FleetDiff:
    """The difference between two fleet points (see the module docstring).

    ``appeared`` / ``vanished``: machines frames (rows of ``b`` / of ``a``);
    ``changes``: one row per changed value (datacenter, machine_id,
    machine_name, column, before, after; tags as ``tag.<key>``, snapshots as
    ``snapshot.<name>`` with the snapshot's state); ``counts``: per
    datacenter; ``frame``: everything as one long table with a ``change``
    column (appeared / vanished / changed).
    """

    def __init__(self, a: Any, b: Any, *, before: str = "a", after: str = "b",
                 datacenters: Iterable[str] = ()):
        self.before_label, self.after_label = before, after
        self._datacenters = sorted(datacenters)
        ma, mb = _machines(a), _machines(b)
        ka, kb = _keys(ma), _keys(mb)
        in_a, in_b = set(ka), set(kb)
        self.appeared = _frame_rows(mb, [k not in in_a for k in kb])
        self.vanished = _frame_rows(ma, [k not in in_b for k in ka])
        self.compared_snapshots = _snaps(a) is not None and _snaps(b) is not None
        self.changes = _changes(ma, mb, ka, kb, _snaps(a) if self.compared_snapshots else None,
                                _snaps(b) if self.compared_snapshots else None)
        self.frame = self._long()
        self.counts = self._counts()

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
            **{c: conv.strings([None if _na(v) else v for v in cols[c]])
               for c in LONG_COLUMNS if c != "change"},
            "change": pd.Categorical(cols["change"], categories=list(CHANGES))},
            columns=list(LONG_COLUMNS))
        frame.attrs["kind"] = "diff"
        return frame

    def _counts(self) -> pd.DataFrame:
        names = sorted(set(self.frame["datacenter"].dropna()) | set(self._datacenters))
        rows = []
        for name in names:
            mine = self.frame[self.frame["datacenter"] == name]
            changed = mine[mine["change"] == "changed"]
            rows.append((name, int((mine["change"] == "appeared").sum()),
                         int((mine["change"] == "vanished").sum()),
                         changed["machine_id"].nunique(), len(changed)))
        cols = list(zip(*rows)) if rows else [[]] * 5
        frame = pd.DataFrame({"datacenter": conv.strings(list(cols[0])),
                              **{c: conv.ints(list(v)) for c, v in zip(COUNT_COLUMNS[1:],
                                                                       cols[1:])}},
                             columns=list(COUNT_COLUMNS))
        frame.attrs["kind"] = "diff_counts"
        return frame

    def __len__(self) -> int:
        return len(self.frame)

    def __bool__(self) -> bool:
        return len(self.frame) > 0

    def summary(self) -> str:
        """One line: how many machines appeared, vanished and changed."""
        changed = self.changes["machine_id"].nunique() if len(self.changes) else 0
        return (f"{self.before_label} -> {self.after_label}: {len(self.appeared)} appeared, "
                f"{len(self.vanished)} vanished, {changed} changed ({len(self.changes)} "
                f"values)")

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


def _na(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str | None:
    """A value as the change table shows it (lists joined, booleans lower-case)."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if _na(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _changes(ma: pd.DataFrame, mb: pd.DataFrame, ka: list, kb: list,
             sa: pd.DataFrame | None, sb: pd.DataFrame | None) -> pd.DataFrame:
    rows_a = {k: i for i, k in enumerate(ka)}
    rows: list[tuple] = []
    columns = [c for c in COMPARED if c in ma and c in mb]
    va = {c: ma[c].tolist() for c in [*columns, "tags"] if c in ma}
    vb = {c: mb[c].tolist() for c in [*columns, "tags"] if c in mb}
    snaps_a, snaps_b = _snapshot_states(sa), _snapshot_states(sb)
    names_b = mb["name"].tolist()
    for j, key in enumerate(kb):
        i = rows_a.get(key)
        if i is None:
            continue
        name = names_b[j]
        for column in columns:
            before, after = _text(va[column][i]), _text(vb[column][j])
            if before != after:
                rows.append((*key, name, column, before, after))
        if "tags" in va and "tags" in vb:
            ta = va["tags"][i] if isinstance(va["tags"][i], dict) else {}
            tb = vb["tags"][j] if isinstance(vb["tags"][j], dict) else {}
            for tag in sorted(set(ta) | set(tb), key=str):
                before = _text(ta[tag]) if tag in ta else None
                after = _text(tb[tag]) if tag in tb else None
                if before != after or (tag in ta) != (tag in tb):
                    rows.append((*key, name, f"tag.{tag}", before, after))
        if snaps_a is not None and snaps_b is not None:
            na, nb = snaps_a.get(key, {}), snaps_b.get(key, {})
            for snap in sorted(set(na) | set(nb), key=str):
                if na.get(snap) != nb.get(snap):
                    rows.append((*key, name, f"snapshot.{snap}", na.get(snap), nb.get(snap)))
    cols = list(zip(*rows)) if rows else [[]] * 6
    names = ("datacenter", "machine_id", "machine_name", "column", "before", "after")
    frame = pd.DataFrame({n: conv.strings([None if _na(v) else v for v in c])
                          for n, c in zip(names, cols)}, columns=list(names))
    frame.attrs["kind"] = "diff"
    return frame


def _snapshot_states(snaps: pd.DataFrame | None) -> dict | None:
    if snaps is None:
        return None
    out: dict[tuple, dict[str, str]] = {}
    for dc, mid, name, state in zip(snaps["datacenter"], snaps["machine_id"], snaps["name"],
                                    snaps["state"]):
        out.setdefault((dc, mid), {})[str(name)] = _text(state)
    return out


__all__ = ["COMPARED", "FleetDiff", "diff"]
