"""The column dictionary: every column of every frame the toolkit makes, documented in one place.

    >>> smartdc_nb.columns()                  # every frame's columns, as a DataFrame
    >>> smartdc_nb.columns("snapshots")       # one frame kind
    >>> df.triton.columns()                   # the columns of this frame, described

Each entry says the column's dtype, the CloudAPI field it comes from, which
endpoint returns that field (ListMachines and GetMachine return the same
machine fields but for ``dns_names``, node-triton#79; ``credentials`` only on
request), its units, and the vocabulary of a categorical column (machine
states, with ``deleted`` vs CloudAPI's ``destroyed`` filter word,
node-triton#178). The card tables' headers carry the descriptions as
tooltips (:func:`tip`). A test builds every frame and fails on a column this
module does not know: a new frame or column is documented here.

It lives at the top of the package and is plain data (pandas is imported only to build
the DataFrames), so the cards can read it without importing pandas.
"""

from __future__ import annotations

from typing import Any, Iterable


from .dictionary_data import (  # noqa: F401 (the entries are part of this module's API)
    AUDIT, BULK, COST, DIFF, DIFF_COUNTS, FRAMES, HISTORY, IMAGES, JOURNAL, LIVE_CHANGES, MACHINES,
    METADATA, NETWORKS, PACKAGES, PLAN, QUERY_DATACENTERS, QUERY_STEPS, RUN, RUNS, SNAPSHOTS, TAGS,
    VERDICTS, WAIT, Column)

#: catalog frames keep any field CloudAPI adds beyond the documented ones (object columns)
OPEN_KINDS = ("packages", "images", "networks")
FIELDS = ("frame", "column", "dtype", "cloudapi_field", "returned_by", "units", "values",
          "description")


def register(kind: str, columns: Iterable[Column]) -> None:
    """Document a new frame kind (a module that makes a frame registers its columns here)."""
    FRAMES[kind] = list(columns)


def lookup(kind: str, column: Any) -> Column | None:
    """The entry of ``column`` in frame ``kind`` (patterns included), or None."""
    entries = FRAMES.get(kind, [])
    name = str(column)
    for entry in entries:
        if entry.name == name:
            return entry
    if kind == "machines" and name.startswith("tag."):
        return next(e for e in entries if e.name == "tag.<key>")._replace(name=name)
    if kind == "cost":
        return next(e for e in entries if e.name == "<group>")._replace(name=name)
    return None


def undocumented(frame: Any, kind: str) -> list[str]:
    """Columns of ``frame`` the dictionary does not know for ``kind`` (catalog frames: beyond
    their documented columns, CloudAPI's extra fields are kept and reported as such)."""
    if kind not in FRAMES:
        return [f"<no frame kind {kind!r}>"]
    if kind == "cost":
        known = {e.name for e in COST}
        return [] if frame.columns[0] not in known and all(
            c in known for c in frame.columns[1:]) else [str(c) for c in frame.columns]
    return [str(c) for c in frame.columns if lookup(kind, c) is None]


def guess_kind(frame: Any) -> str | None:
    """A frame's kind: ``attrs["kind"]``, else the kind whose columns it matches best."""
    kind = getattr(frame, "attrs", {}).get("kind")
    if kind in FRAMES:
        return kind
    names = {str(c) for c in frame.columns}
    best, score = None, 0.0
    for candidate, entries in FRAMES.items():
        known = {e.name for e in entries}
        hit = len(names & known) / max(len(names | known), 1)
        if hit > score:
            best, score = candidate, hit
    return best if score >= 0.5 else None


def columns(kind: str | None = None) -> Any:
    """The column dictionary as a DataFrame: one row per (frame, column).

    ``kind`` picks one frame (machines, tags, metadata, snapshots, packages,
    images, networks, audit, bulk, wait, query_steps, query_datacenters,
    history, diff, diff_counts, cost, plan, verdicts, journal, run, runs,
    live_changes, and any registered later).
    """
    import pandas as pd

    from .errors import InvalidInputError

    if kind is not None and kind not in FRAMES:
        raise InvalidInputError(f"no frame kind {kind!r}; kinds are: {', '.join(FRAMES)}")
    rows = [_row(k, e) for k, entries in FRAMES.items() if kind in (None, k) for e in entries]
    return pd.DataFrame(rows, columns=list(FIELDS)).astype("string")


def describe(frame: Any, kind: str | None = None) -> Any:
    """One row per column of ``frame``: its dtype now, and the dictionary's entry (blank and
    ``documented`` False for a column the dictionary does not know)."""
    import pandas as pd

    kind = kind or guess_kind(frame)
    rows = []
    for name, dtype in frame.dtypes.items():
        entry = lookup(kind, name) if kind else None
        row = _row(kind or "", entry) if entry else dict.fromkeys(FIELDS, None)
        row.update(frame=kind, column=str(name), dtype=str(dtype), documented=entry is not None)
        if entry is None and kind in OPEN_KINDS:
            row.update(cloudapi_field=str(name), returned_by=f"{kind} listing",
                       description="Another field CloudAPI sent (kept as it came)")
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*FIELDS, "documented"])
    return out.astype({f: "string" for f in FIELDS} | {"documented": "boolean"})


def _row(kind: str, entry: Column) -> dict[str, Any]:
    return {"frame": kind, "column": entry.name, "dtype": entry.dtype,
            "cloudapi_field": entry.field, "returned_by": entry.returned_by,
            "units": entry.units, "values": entry.values, "description": entry.description}


#: card table headers (display words) -> dictionary column names
_HEADER_WORDS = {"primary ip": "primary_ip", "ip": "primary_ip", "final state": "final_state",
                 "snapshot": "name", "machine": "machine_name"}


def tip(header: Any, kind: str | None) -> str:
    """The tooltip of a card table header: the column's description, units, source and values."""
    if not kind or kind not in FRAMES:
        return ""
    word = str(header).strip().lower()
    entry = lookup(kind, _HEADER_WORDS.get(word, word.replace(" ", "_")))
    if entry is None:
        return ""
    parts = [entry.description + (f" ({entry.units})" if entry.units else "")]
    if entry.field:
        parts.append(f"CloudAPI: {entry.field} from {entry.returned_by}")
    if entry.values:
        parts.append(f"Values: {entry.values}")
    return ". ".join(parts)


__all__ = ["Column", "FRAMES", "columns", "describe", "lookup", "undocumented", "register",
           "guess_kind", "tip"]
