"""The ``df.triton`` pandas accessor: from selected rows back to machines and actions.

    >>> df = fleet.frames.machines()
    >>> idle = df[(df.state == "running") & (df.tags.map(lambda t: t.get("env")) == "dev")]
    >>> idle.triton.machines()               # the Machine objects of exactly those rows
    >>> idle.triton.stop(confirm=True)       # the bulk engine, over exactly those machines

Valid on any frame with a ``datacenter`` column and a machine id column
(``machine_id``, or ``id`` in a machines frame). The machines come from the
payloads the frame was built from (no request); a frame that no longer knows
them (read back from CSV or parquet, or rows added by hand) takes the
connection explicitly, ``df.triton.machines(fleet_or_dc)``, and the missing
payloads are fetched.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from .. import dictionary_data as columns_of
from .. import rules
from ..resources.bulk_methods import BulkActions
from ..datacenter import DataCenter
from ..errors import InvalidInputError, MachineDeletedError, NotFoundError
from ..fleet import Fleet, gather
from ..resources.machine import Machine
from ..machinelist import MachineList
from . import columns as conv
from .source import FrameSource

#: Frames whose ``id`` column is not a machine id.
CATALOG_KINDS = ("packages", "images", "networks")
#: Up to this many missing machines of a datacenter are fetched one by one; more, by one
#: listing of the datacenter (a page holds 1000 machines).
FETCH_ONE_BY_ONE = 10


@pd.api.extensions.register_dataframe_accessor("triton")
class TritonAccessor(BulkActions):
    """``df.triton``: the machines of a frame's rows, and bulk actions over them.

    Accessing ``df.triton`` never fails nor makes a request; its methods check
    the frame's columns and say which are missing.
    """

    def __init__(self, frame: pd.DataFrame):
        self._frame = frame

    def __repr__(self) -> str:
        kind = self._frame.attrs.get("kind") or "pandas"
        names = self._frame.attrs.get("datacenters")
        where = f" from {', '.join(names)}" if names else ""
        return f"<df.triton: {len(self._frame)} rows of a {kind} frame{where}>"

    def columns(self) -> pd.DataFrame:
        """This frame's columns described by the column dictionary (smartdc_nb.dictionary):
        dtype, CloudAPI field and endpoint, units, values; ``documented`` False if unknown."""
        from ..dictionary import describe

        return describe(self._frame)

    def with_prices(self, prices: Any, per: str = "hour") -> pd.DataFrame:
        """This machines frame with ``price_per_hour``, ``price_per_month`` and ``priced``, from
        your price table (CSV path or DataFrame): see smartdc_nb.frames.cost."""
        from .cost import with_prices

        return with_prices(self._frame, prices, per)

    def cost_by(self, by: str | None = None, *, tag: str | None = None) -> pd.DataFrame:
        """Cost per datacenter, owner, tag value or column of a priced frame (with_prices)."""
        from .cost import cost_by

        return cost_by(self._frame, by, tag=tag)

    # ------------------------------------------------------------ selection

    def _id_column(self) -> str:
        columns = self._frame.columns
        kind = self._frame.attrs.get("kind")
        if kind in CATALOG_KINDS:
            raise InvalidInputError(
                f"this is a {kind} frame: its rows are not machines. df.triton works on frames "
                "with 'datacenter' and machine id columns (machines, tags, metadata, "
                "snapshots, audit)")
        id_column = "machine_id" if "machine_id" in columns else "id" if "id" in columns else None
        missing = [c for c, ok in (("datacenter", "datacenter" in columns),
                                   ("machine_id (or id)", id_column is not None)) if not ok]
        if missing:
            raise InvalidInputError(
                f"df.triton needs the columns 'datacenter' and 'machine_id' (or 'id'); this frame "
                f"has no {' and no '.join(repr(m) for m in missing)} column. Build it with "
                "dc.frames / fleet.frames, or keep those columns when selecting")
        return id_column  # type: ignore[return-value]

    def keys(self) -> list[tuple[str, str]]:
        """The distinct ``(datacenter, machine id)`` of the rows, in row order."""
        id_column = self._id_column()
        pairs = self._frame[["datacenter", id_column]]
        blank = pairs.isna().any(axis=1)
        if blank.any():
            raise InvalidInputError(
                f"{int(blank.sum())} row(s) have no datacenter or machine id (index "
                f"{list(pairs.index[blank][:5])}); drop them first, e.g. df.dropna(subset="
                f"['datacenter', '{id_column}'])")
        return list(dict.fromkeys(zip(pairs["datacenter"].astype(str),
                                      pairs[id_column].astype(str))))

    def machines(self, source: Fleet | DataCenter | None = None) -> MachineList:
        """The Machine objects of the selected rows (one per distinct machine, in row order).

        Built from the payloads the frame was made from, without a request.
        ``source`` (a Fleet or a DataCenter) is needed when the frame does not
        know its connections (e.g. read from CSV); then, or for rows the frame
        has no payload for, the machines are fetched.
        """
        keys = self.keys()
        frame_source = self._frame.attrs.get("triton")
        frame_source = frame_source if isinstance(frame_source, FrameSource) else None
        datacenters = self._datacenters(source, frame_source, {name for name, _ in keys})
        payloads: dict[tuple[str, str], dict] = {}
        missing: dict[str, list[str]] = {}
        for name, machine_id in keys:
            payload = frame_source.payload(name, machine_id) if frame_source else None
            if payload is None:
                missing.setdefault(name, []).append(machine_id)
            else:
                payloads[name, machine_id] = payload
        from_frame = set(payloads)
        if missing:
            payloads.update(_fetch(datacenters, missing))
        return MachineList(
            Machine(datacenters[key[0]], data=payloads[key],
                    fetched_at=frame_source.fetched_at if key in from_frame else None)
            for key in keys)

    def _datacenters(self, source: Any, frame_source: FrameSource | None,
                     names: set[str]) -> dict[str, DataCenter]:
        if source is None:
            if frame_source is None:
                raise InvalidInputError(
                    "this frame does not know its DataCenters (was it read back from a file?): "
                    "pass them, e.g. df.triton.machines(fleet) or df.triton.machines(dc), and act "
                    "on that list: df.triton.machines(fleet).<action>(...)")
            known = frame_source.datacenters
        elif isinstance(source, Fleet):
            known = source.datacenters
        elif isinstance(source, DataCenter):
            known = {source.name or source.url: source}
            if len(names) == 1 and (source.name is None or source.name in names):
                known = {next(iter(names)): source}  # a DataCenter whose name is not known yet
        else:
            raise InvalidInputError(
                f"df.triton.machines() takes a Fleet or a DataCenter, not {type(source).__name__}")
        unknown = sorted(names - set(known))
        if unknown:
            raise InvalidInputError(
                f"the frame has machines in {', '.join(map(repr, unknown))}, which "
                f"{'this frame' if source is None else repr(source)} does not reach "
                f"(it has {', '.join(known) or 'none'}); pass a Fleet with those datacenters")
        return {name: known[name] for name in names}

    # ------------------------------------------------------------ rules

    def verdicts(self, action: str, wanted: Any = None,
                 source: Fleet | DataCenter | None = None) -> pd.DataFrame:
        """What the rules table (smartdc_nb.rules) says of ``action`` for each machine.

        One row per distinct machine of the selection (as :meth:`machines`):
        datacenter, id, name, state, verdict (ok, skip, refused, protected) and
        reason. ``wanted`` is the action's argument (a package, a name, tags...).
        Judged on the payloads the frame holds, without a request — a bulk run
        judges again on fresh states before it sends anything.
        """
        rows = []
        for machine in self.machines(source):
            verdict = rules.verdict(action, machine, wanted)
            rows.append({"datacenter": machine.datacenter.name or machine.datacenter.url,
                         "id": machine.id, "name": machine.name, "state": machine.state,
                         "verdict": verdict.kind, "reason": verdict.reason})
        frame = pd.DataFrame(rows, columns=["datacenter", "id", "name", "state", "verdict",
                                            "reason"])
        frame["verdict"] = pd.Categorical(frame["verdict"], categories=list(rules.VERDICTS))
        return conv.typed(frame, columns_of.VERDICTS)

    # ------------------------------------------------------------ bulk

    def _bulk_targets(self) -> MachineList:
        """The bulk actions (start, stop, reboot, create_snapshot, add_tags, ...) act on
        exactly the machines of the selected rows (smartdc_nb.operations.bulk)."""
        return self.machines()


def _fetch(datacenters: Mapping[str, DataCenter], missing: Mapping[str, list[str]]
           ) -> dict[tuple[str, str], dict]:
    """Fetch the payloads of ``missing`` machine ids, per datacenter in parallel."""

    def fetch(name: str) -> dict[str, dict]:
        dc, ids = datacenters[name], missing[name]
        if len(ids) <= FETCH_ONE_BY_ONE:
            found = {}
            for machine_id in ids:
                try:
                    found[machine_id] = dc.raw_machine_data(machine_id)
                except MachineDeletedError as exc:  # a deleted machine is still a row's machine
                    found[machine_id] = exc.body
                except NotFoundError:
                    pass  # reported below with the others that no longer exist
            return found
        wanted = set(ids)
        return {m["id"]: m for m in dc.raw_machines(tombstone=True) if m.get("id") in wanted}

    results, errors = gather({name: (lambda n=name: fetch(n)) for name in missing}, only_reads=True)
    if errors:
        raise next(iter(errors.values()))
    out: dict[tuple[str, str], dict] = {}
    lost = []
    for name, ids in missing.items():
        for machine_id in ids:
            if machine_id in results[name]:
                out[name, machine_id] = results[name][machine_id]
            else:
                lost.append(f"{name}/{machine_id}")
    if lost:
        raise InvalidInputError(
            f"{len(lost)} machine(s) of the frame no longer exist: {', '.join(lost[:5])}"
            f"{' ...' if len(lost) > 5 else ''}; drop those rows first")
    return out
