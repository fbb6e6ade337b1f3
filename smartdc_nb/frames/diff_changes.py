"""The value-by-value comparison behind :class:`~smartdc_nb.frames.diff.FleetDiff`: machine
columns, tags (whatever shape the frame holds them in) and snapshot states."""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import columns as conv
from .columns import TAG_COLUMN_PREFIX

#: machine columns compared, in the order changes are listed
COMPARED = ("name", "state", "package", "image", "primary_ip", "public_ips", "private_ips",
            "firewall_enabled", "deletion_protection")


def na(value: Any) -> bool:
    """Whether ``value`` is missing (None, NaN, NA); a list or dict never is."""
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def text(value: Any) -> str | None:
    """A value as the change table shows it (lists joined, booleans lower-case)."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if na(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def tag_dicts(machines: pd.DataFrame) -> list[dict] | None:
    """Each row's tags as a dict, from a ``tags`` column or ``tag.<key>`` columns (a missing
    cell: no such tag); None when the frame holds no tag information (``tags_as=None``)."""
    if "tags" in machines:
        return [t if isinstance(t, dict) else {} for t in machines["tags"].tolist()]
    out: list[dict] = [{} for _ in range(len(machines))]
    tag_columns = [c for c in machines.columns if str(c).startswith(TAG_COLUMN_PREFIX)]
    for column in tag_columns:
        key = str(column)[len(TAG_COLUMN_PREFIX):]
        for row, value in zip(out, machines[column].astype(object).tolist()):
            if not na(value):
                row[key] = value
    if tag_columns:
        return out
    # no tag columns: known empty only when the frame says no machine has a tag
    if "tag_count" in machines and bool((machines["tag_count"].fillna(0) == 0).all()):
        return out
    return None


def changes(ma: pd.DataFrame, mb: pd.DataFrame, ka: list, kb: list, tags: tuple | None,
            snapshots: tuple | None, skip_snapshots: set) -> pd.DataFrame:
    """One row per changed value of the machines in both ``ma`` and ``mb`` (keys ``ka``,
    ``kb``): ``tags`` the two sides' :func:`tag_dicts` (None: not compared), ``snapshots`` the
    two snapshots frames (None: not compared), except for the keys in ``skip_snapshots``."""
    rows_a = {k: i for i, k in enumerate(ka)}
    rows: list[tuple] = []
    columns = [c for c in COMPARED if c in ma and c in mb]
    va = {c: ma[c].tolist() for c in columns}
    vb = {c: mb[c].tolist() for c in columns}
    snaps_a, snaps_b = (_snapshot_states(s) for s in snapshots) if snapshots else (None, None)
    names_b = mb["name"].tolist()
    for j, key in enumerate(kb):
        i = rows_a.get(key)
        if i is None:
            continue
        name = names_b[j]
        for column in columns:
            before, after = text(va[column][i]), text(vb[column][j])
            if before != after:
                rows.append((*key, name, column, before, after))
        if tags is not None:
            ta, tb = tags[0][i], tags[1][j]
            for tag in sorted(set(ta) | set(tb), key=str):
                before = text(ta[tag]) if tag in ta else None
                after = text(tb[tag]) if tag in tb else None
                if before != after or (tag in ta) != (tag in tb):
                    rows.append((*key, name, f"{TAG_COLUMN_PREFIX}{tag}", before, after))
        if snaps_a is not None and snaps_b is not None and key not in skip_snapshots:
            na_, nb_ = snaps_a.get(key, {}), snaps_b.get(key, {})
            for snap in sorted(set(na_) | set(nb_), key=str):
                if na_.get(snap) != nb_.get(snap):
                    rows.append((*key, name, f"snapshot.{snap}", na_.get(snap), nb_.get(snap)))
    cols = list(zip(*rows)) if rows else [[]] * 6
    names = ("datacenter", "machine_id", "machine_name", "column", "before", "after")
    frame = pd.DataFrame({n: conv.strings([None if na(v) else v for v in c])
                          for n, c in zip(names, cols)}, columns=list(names))
    frame.attrs["kind"] = "diff"
    return frame


def _snapshot_states(snaps: pd.DataFrame) -> dict:
    out: dict[tuple, dict[str, str | None]] = {}
    for dc, mid, name, state in zip(snaps["datacenter"], snaps["machine_id"], snaps["name"],
                                    snaps["state"]):
        out.setdefault((dc, mid), {})[str(name)] = text(state)
    return out
