"""Fleet history: points in time saved as Parquet, listed and read back with live dtypes.

    >>> point = fleet.snapshot()              # machines, tags, metadata keys, snapshots
    >>> smartdc_nb.history()                  # the saved points, newest last
    >>> old = smartdc_nb.load(-2)             # a point by name, path or position
    >>> old.machines.groupby("state", observed=True).size()

A point is a directory of four Parquet files (``machines``, ``tags``,
``metadata``, ``snapshots``) written with pyarrow; each file's schema
metadata (key ``smartdc_nb``) holds the point's time, account,
datacenters and counts, so listing points reads no rows. Points go under
``platformdirs.user_data_dir("smartdc_nb")/history`` unless
``$SMARTDC_NB_HISTORY_DIR`` or ``directory=`` says otherwise. A point is
written to a temporary directory and renamed, so a crash never leaves half
a point. Metadata keys are kept with their sizes; the value of a masked key
(passwords, tokens, keys: the rule of the cards) or of a script is never
written. ``smartdc-nb snapshot`` saves a point from cron.

A point says what it could not read: ``errors`` (``{datacenter: message}``,
datacenters whose machines could not be listed) and ``snapshot_errors``
(``{"datacenter/machine_id": message}``, machines whose snapshots could not be
listed); :func:`history` shows both in its ``errors`` column and
:func:`~smartdc_nb.frames.diff.diff` compares nothing it could not read.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..dictionary import lookup
from ..errors import InvalidInputError, SmartDCError
from . import columns as conv

FORMAT = 1
META_KEY = b"smartdc_nb"
TABLES = ("machines", "tags", "metadata", "snapshots")
#: object columns stored as JSON text (their values mix types, which Parquet cannot)
JSON_COLUMNS = {"machines": ("tags",), "tags": ("value",), "metadata": ("value",)}
ENV_DIR = "SMARTDC_NB_HISTORY_DIR"


def history_dir(directory: str | os.PathLike | None = None) -> Path:
    """Where points are kept: ``directory``, ``$SMARTDC_NB_HISTORY_DIR``, or the user data dir."""
    if directory is not None:
        return Path(directory).expanduser()
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("smartdc_nb", appauthor=False)) / "history"


class HistoryWriteError(SmartDCError, OSError):
    """A point could not be written (a full disk, a directory that cannot be made): nothing of
    it was kept. An OSError too, as it was before it said where and what to do."""


@dataclass
class Point:
    """A fleet at one moment: ``machines``, ``tags``, ``metadata``, ``snapshots`` frames."""

    name: str
    time: datetime
    account: str
    datacenters: list[str]
    machines: pd.DataFrame
    tags: pd.DataFrame
    metadata: pd.DataFrame
    snapshots: pd.DataFrame | None
    path: Path | None = None
    errors: dict | None = None
    snapshot_errors: dict | None = None

    def unread(self) -> dict[str, str]:
        """What this point could not read (see :func:`unread`); empty: it is complete."""
        return unread(self.errors, self.snapshot_errors)

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path else " (not saved)"
        snaps = "" if self.snapshots is None else f", {len(self.snapshots)} snapshots"
        missing = self.unread()
        partial = f", PARTIAL: {', '.join(missing)} not read" if missing else ""
        return (f"<Point {self.name}: {self.account}, {len(self.machines)} machines{snaps} in "
                f"{', '.join(self.datacenters) or 'no datacenters'}, {self.time.isoformat()}"
                f"{where}{partial}>")


def unread(errors: dict | None, snapshot_errors: dict | None) -> dict[str, str]:
    """``{where: what could not be read and why}`` of a point: a datacenter whose machines
    could not be listed, a ``datacenter/machine_id`` whose snapshots could not be."""
    return {**{str(k): f"machines could not be listed: {v}" for k, v in (errors or {}).items()},
            **{str(k): f"snapshots could not be listed: {v}"
               for k, v in (snapshot_errors or {}).items()}}


def capture(fleet: Any, *, snapshots: bool = True, progress: Any = None) -> Point:
    """The fleet now, in memory (nothing written): what :func:`save` writes."""
    from ..masking import SCRIPT_KEYS, is_secret

    frames = fleet.frames
    machines, metadata = frames.machines_and_metadata()
    masked = metadata["key"].map(lambda k: is_secret(k) or k in SCRIPT_KEYS)
    metadata["value"] = metadata["value"].where(~masked.astype(bool), None)
    snaps = frames.snapshots(machines=machines, progress=progress) if snapshots else None
    when = datetime.fromisoformat(machines.attrs["fetched_at"])
    login = _login(fleet)
    return Point(_point_name(when, login), when, login, list(machines.attrs["datacenters"]),
                 _plain(machines), _tags_long(machines), _plain(metadata),
                 _plain(snaps) if snaps is not None else None,
                 errors=dict(machines.attrs.get("errors") or {}),
                 snapshot_errors=None if snaps is None else dict(
                     snaps.attrs.get("snapshot_errors") or {}))


def save(fleet: Any, path: str | os.PathLike | None = None, *, directory: Any = None,
         snapshots: bool = True, progress: Any = None) -> Point:
    """Capture the fleet and write it as a point (``path``: the point's directory; default a new
    directory under :func:`history_dir`). Returns the saved :class:`Point`."""
    point = capture(fleet, snapshots=snapshots, progress=progress)
    target = Path(path).expanduser() if path is not None else history_dir(directory) / point.name
    if target.exists():
        raise InvalidInputError(f"{target} exists already; give another path (a point is never "
                                "overwritten)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    except OSError as exc:
        raise _unsaved(target, exc) from exc
    try:
        info = {"format": FORMAT, "time": point.time.isoformat(), "account": point.account,
                "datacenters": point.datacenters, "errors": point.errors or {},
                "snapshot_errors": point.snapshot_errors,
                "machines": len(point.machines),
                "snapshots": None if point.snapshots is None else len(point.snapshots)}
        for table in TABLES:
            frame = getattr(point, table)
            if frame is not None:
                _write(frame, table, info, staging / f"{table}.parquet")
        staging.rename(target)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _unsaved(target, exc) from exc
        raise
    _clear_stale_staging(target.parent)
    point.path = target
    point.name = target.name
    return point


#: Seconds after which a ``.partial-*`` folder is a save that died (kill -9, a power cut: the
#: cleanup above never ran), not one under way in another process.
STALE_STAGING = 3600


def _clear_stale_staging(parent: Path) -> None:
    """Remove the half-written points that dead saves left in ``parent`` (history() skips
    them; nothing else would ever remove them)."""
    for folder in parent.glob(".partial-*"):
        try:
            if time.time() - folder.stat().st_mtime > STALE_STAGING:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # removed meanwhile by another save
            pass


def _unsaved(target: Path, exc: OSError) -> HistoryWriteError:
    """The error of a point not saved: pyarrow's own ("Error writing bytes to file") names no
    file, and a cron job's traceback says nothing of what to do."""
    return HistoryWriteError(
        f"cannot save the point in {target.parent} ({exc}); nothing was saved. Free some space "
        f"there, or give a writable directory: directory=DIR (smartdc-nb snapshot --dir DIR) "
        f"or ${ENV_DIR}")


def _write(frame: pd.DataFrame, table: str, info: dict, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = frame.copy()
    frame.attrs = {}
    for column in JSON_COLUMNS.get(table, ()):
        frame[column] = pd.array([None if v is None else json.dumps(v) for v in frame[column]],
                                 dtype="string")
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[META_KEY] = json.dumps({**info, "table": table}).encode()
    pq.write_table(arrow.replace_schema_metadata(meta), path)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame without the live connection in its attrs (a point is data only)."""
    out = frame.copy()
    out.attrs = {k: v for k, v in frame.attrs.items() if k != "triton"}
    return out


def _tags_long(machines: pd.DataFrame) -> pd.DataFrame:
    rows = [(dc, mid, name, key, value)
            for dc, mid, name, tags in zip(machines["datacenter"], machines["id"],
                                           machines["name"], machines["tags"])
            if isinstance(tags, dict) for key, value in tags.items()]
    cols = list(zip(*rows)) if rows else [[], [], [], [], []]
    return pd.DataFrame({"datacenter": conv.strings(list(cols[0])),
                         "machine_id": conv.strings(list(cols[1])),
                         "machine_name": conv.strings(list(cols[2])),
                         "key": conv.strings(list(cols[3])), "value": conv.objects(cols[4])})


def _login(fleet: Any) -> str:
    datacenters = getattr(fleet, "datacenters", None)
    dc = next(iter(datacenters.values())) if isinstance(datacenters, dict) and datacenters \
        else fleet
    return str(getattr(dc, "login", "") or "")


def _point_name(when: datetime, login: str) -> str:
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in login) or "account"
    return f"{stamp}-{safe}"


# ------------------------------------------------------------------ reading


def _info(path: Path) -> dict:
    import pyarrow.parquet as pq

    file = path / "machines.parquet"
    try:
        meta = pq.read_schema(file).metadata or {}
        info = json.loads(meta[META_KEY])
    except FileNotFoundError:
        raise InvalidInputError(f"{path} is not a history point: it has no machines.parquet "
                                "(points are made by fleet.snapshot() or smartdc-nb snapshot)"
                                ) from None
    except (KeyError, ValueError, OSError) as exc:  # ArrowInvalid is a ValueError
        raise InvalidInputError(f"{file} is not a readable history point ({type(exc).__name__}: "
                                f"{exc}); it may be damaged: remove it, or load another point"
                                ) from None
    if info.get("format") != FORMAT:
        raise InvalidInputError(f"{path} was written in point format {info.get('format')!r}; "
                                f"this version reads format {FORMAT}")
    return info


def history(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """The saved points, oldest first: point, time, account, datacenters, machines, snapshots,
    errors (what the point could not read: see :func:`unread`), path (see the column
    dictionary, kind ``history``). Damaged points are left out with a warning."""
    import warnings

    base = history_dir(directory)
    rows = []
    for path in sorted(base.iterdir()) if base.is_dir() else []:
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            info = _info(path)
        except InvalidInputError as exc:
            warnings.warn(str(exc), stacklevel=2)
            continue
        rows.append((path.name, info["time"], info["account"], info["datacenters"],
                     info["machines"], info["snapshots"],
                     unread(info.get("errors"), info.get("snapshot_errors")), str(path)))
    cols = list(zip(*rows)) if rows else [[]] * 8
    frame = pd.DataFrame({"point": conv.strings(list(cols[0])),
                          "time": conv.times(list(cols[1])).array,
                          "account": conv.strings(list(cols[2])),
                          "datacenters": conv.objects(cols[3]),
                          "machines": conv.ints(list(cols[4])),
                          "snapshots": conv.ints(list(cols[5])),
                          "errors": conv.objects(cols[6]),
                          "path": conv.strings(list(cols[7]))})
    frame = frame.sort_values("time", kind="stable").reset_index(drop=True)
    frame.attrs["kind"] = "history"
    return frame


def resolve(point: Any, directory: Any = None) -> Path:
    """The directory of ``point``: a path, a point name, or a position in :func:`history`."""
    if isinstance(point, Point):
        if point.path is None:
            raise InvalidInputError("this point was never saved; use it as it is")
        return point.path
    if isinstance(point, os.PathLike) or (isinstance(point, str) and os.sep in point):
        return Path(point).expanduser()
    points = history(directory)
    if isinstance(point, int) and not isinstance(point, bool):
        if not -len(points) <= point < len(points):
            raise InvalidInputError(f"there are {len(points)} saved points in "
                                    f"{history_dir(directory)}; no point #{point}")
        return Path(points["path"].iloc[point])
    if isinstance(point, str):
        match = points[points["point"] == point]
        if len(match):
            return Path(match["path"].iloc[0])
        # a point history() left out as damaged: load() then says what is wrong with it
        for candidate in (history_dir(directory) / point, Path(point).expanduser()):
            if candidate.is_dir():
                return candidate
        raise InvalidInputError(f"no saved point {point!r} in {history_dir(directory)}; "
                                "smartdc_nb.history() lists them")
    raise InvalidInputError(f"load() takes a point name, a path or a position (-1: the latest), "
                            f"not {point!r}")


def load(point: Any = -1, directory: Any = None) -> Point:
    """Read a saved point back; its frames have the same columns and dtypes as live ones."""
    import pyarrow.parquet as pq

    path = resolve(point, directory)
    info = _info(path)
    frames: dict[str, pd.DataFrame | None] = {}
    for table in TABLES:
        file = path / f"{table}.parquet"
        if not file.exists():
            if table == "snapshots":
                frames[table] = None
                continue
            raise InvalidInputError(f"{path} is an incomplete history point: {file.name} is "
                                    "missing")
        try:
            raw = pq.read_table(file)
        except (ValueError, OSError) as exc:
            raise InvalidInputError(f"{file} is not a readable history point "
                                    f"({type(exc).__name__}: {exc}); it may be damaged: remove "
                                    "it, or load another point") from None
        frames[table] = _typed(raw, table)
    when = datetime.fromisoformat(info["time"])
    machines = frames["machines"]
    machines.attrs.update(kind="machines", fetched_at=info["time"],
                          datacenters=info["datacenters"], errors=info.get("errors") or {},
                          point=path.name)
    return Point(path.name, when, info["account"], info["datacenters"], machines,
                 frames["tags"], frames["metadata"], frames["snapshots"], path,
                 info.get("errors") or {}, info.get("snapshot_errors"))


_STATES = {"machines": conv.MACHINE_STATES, "snapshots": conv.SNAPSHOT_STATES}


def _typed(table: Any, name: str) -> pd.DataFrame:
    """Each Parquet column converted to its live dtype (from the column dictionary), with the
    converters live frames are built with (``to_pylist`` gives None for a missing value)."""
    out: dict[str, Any] = {}
    for column in table.column_names:
        data = table.column(column)
        entry = lookup(name, column)
        dtype = entry.dtype if entry is not None else "object"
        if dtype.startswith("datetime64"):
            out[column] = data.to_pandas().astype(conv.TIME_DTYPE).array
            continue
        if dtype.startswith("timedelta64"):
            out[column] = data.to_pandas().astype(conv.AGE_DTYPE).array
            continue
        values = data.to_pylist()
        if column in JSON_COLUMNS.get(name, ()):
            values = [json.loads(v) if isinstance(v, str) else None for v in values]
        if dtype == "string":
            out[column] = conv.strings(values)
        elif dtype == "Int64":
            out[column] = conv.ints(values)
        elif dtype == "boolean":
            out[column] = conv.bools(values)
        elif dtype == "category":
            out[column] = conv.categories(values, _STATES.get(name, ()))
        else:
            out[column] = conv.objects(values)
    return pd.DataFrame(out, columns=list(table.column_names))


__all__ = ["HistoryWriteError", "Point", "capture", "history", "history_dir", "load", "resolve", "save", "unread"]
