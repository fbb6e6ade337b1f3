"""``fleet.query(...)`` / ``dc.query(...)``: machines by filters, split between CloudAPI and pandas.

    >>> web = fleet.query(name="web-*", state="running", tags={"env": "/prod|staging/"})
    >>> web.explain()          # which filters ran where, requests and seconds per datacenter

Filters CloudAPI applies (ListMachines, cloudapi.md §4.3) are sent to every
datacenter at once; the rest run in pandas on what came back. The traps of
§4.3 decide what may go to the server:

- ``tags=*`` makes CloudAPI ignore every other filter: it is never sent
  (``tags="*"`` runs in pandas, as ``tag_count > 0``);
- ``package=`` is ignored by CloudAPI: it always runs in pandas;
- ``state=provisioning``/``stopping`` mean "any active machine" to CloudAPI,
  and it rejects ``deleted``/``failed``: only ``running``, ``stopped`` and
  ``deleted`` (sent as ``destroyed``) are sent; other states run in pandas
  (``failed`` and ``deleted`` also ask for ``tombstone``).

Every filter the server was asked to apply is checked again in pandas on its
answer, so a server that ignores one (triton-go#115) cannot widen the result;
:meth:`QueryFrame.explain` says how many rows that check removed. A value is
matched exactly, as a glob (``*``, ``?``, ``[...]``), or as a regular
expression: a compiled ``re.Pattern`` or text between slashes (``"/^web-\\d+$/"``,
as in CloudAPI's affinity rules), which must match somewhere in the value.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import dictionary_data as columns_of
from ..errors import InvalidInputError
from . import columns as conv
from .query_plan import QUERY_FILTERS, plan

if TYPE_CHECKING:
    from ..datacenter import DataCenter
    from ..fleet import Fleet

class QueryFrame(pd.DataFrame):
    """The machines frame a query returned: a DataFrame that can :meth:`explain` itself.

    ``attrs["query"]`` holds the record (plain data); frames derived from this
    one keep it, and :meth:`explain` reads only it (no request).
    """

    @property
    def _constructor(self):
        return QueryFrame

    def explain(self) -> Explanation:
        """Which filters ran on the server and which in pandas; requests, rows and seconds."""
        return Explanation(self.attrs.get("query") or {})


class Explanation:
    """What a query did (or will do): text via ``str()``/``repr()``, a table in notebooks."""

    def __init__(self, record: Mapping[str, Any]):
        if not record:
            raise InvalidInputError("this frame was not made by a query: nothing to explain "
                                    "(use fleet.query(...) or dc.query(...))")
        self.record = dict(record)

    @property
    def steps(self) -> pd.DataFrame:
        """One row per filter step: filter, where (server/pandas), what, rows_removed, recheck."""
        frame = pd.DataFrame(self.record.get("steps", []),
                             columns=["filter", "where", "what", "rows_removed", "recheck"])
        return conv.typed(frame, columns_of.QUERY_STEPS)

    @property
    def datacenters(self) -> pd.DataFrame:
        """One row per datacenter: requests, seconds (in requests), rows CloudAPI sent, error."""
        rows = [{"datacenter": n, **v} for n, v in self.record.get("datacenters", {}).items()]
        frame = pd.DataFrame(rows, columns=["datacenter", "requests", "seconds", "rows", "error"])
        return conv.typed(frame, columns_of.QUERY_DATACENTERS)

    def lines(self) -> list[str]:
        r = self.record
        ran = "ran" in r
        out = [f"query {r.get('call', '')}".rstrip()]
        params = r.get("params") or {}
        server = " ".join(f"{k}={v}" for k, v in params.items()) or "(none: every machine)"
        out.append(f"  on the server, {'sent' if ran else 'to send'} to each datacenter in "
                   f"parallel: ListMachines {server}")
        for step in r.get("steps", []):
            if step["where"] != "pandas":
                continue
            removed = "" if step["rows_removed"] is None else f" — removed {step['rows_removed']}"
            label = "re-check" if step["recheck"] else "in pandas"
            out.append(f"  {label}: {step['what']}{removed}")
        if not ran:
            out.append("  (not run yet)")
            return out
        for name, dc in r.get("datacenters", {}).items():
            if dc.get("error"):
                out.append(f"  {name}: FAILED ({dc['error']})")
            else:
                out.append(f"  {name}: {dc['requests']} request(s), {dc['seconds']:.3f}s in "
                           f"requests, {dc['rows']} row(s) from CloudAPI")
        out.append(f"  {r['rows_from_server']} row(s) from CloudAPI, {r['rows']} after pandas; "
                   f"{r['seconds']:.3f}s in all")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        try:
            from .query_view import render
        except ImportError:  # the display package is optional here: fall back to escaped text
            return f"<pre>{html.escape(str(self))}</pre>"
        return render(self)


class Query:
    """A query not yet run: ``Query(fleet, name="web-*").explain()``, then ``.run()``."""

    def __init__(self, source: Fleet | DataCenter, *, tags_as: str | None = "dict",
                 **filters: Any):
        from . import build

        build.check_tags_as(tags_as)
        self.source = source
        self.plan = plan(filters, tags_as)

    def record(self) -> dict[str, Any]:
        filters = {k: _plain(v) for k, v in self.plan.filters.items()}
        return {"call": ", ".join(f"{k}={v!r}" for k, v in filters.items()),
                "filters": filters, "params": dict(self.plan.params),
                "steps": [s.row() for s in self.plan.steps]}

    def explain(self) -> Explanation:
        """What :meth:`run` will send to CloudAPI and what it will do in pandas."""
        return Explanation(self.record())

    def run(self) -> QueryFrame:
        """List the machines (every datacenter at once), filter in pandas, record what ran."""
        from . import Frames

        frames = Frames(self.source)
        before = [(dc, dc.transport.stats.snapshot()) for dc in frames.datacenters.values()]
        started = time.perf_counter()
        frame = frames.machines(tags_as="dict", **self.plan.params)
        listing = time.perf_counter() - started
        counts = frame["datacenter"].value_counts().to_dict() if len(frame) else {}
        errors = frame.attrs.get("errors") or {}
        names = {id(dc): name for name, dc in frames.datacenters.items()}
        per_dc: dict[str, dict[str, Any]] = {}
        for dc, (requests, spent) in before:
            name = names.get(id(dc), dc.name or dc.url)
            now_requests, now_spent = dc.transport.stats.snapshot()
            per_dc[name] = {"requests": now_requests - requests,
                            "seconds": round(now_spent - spent, 4),
                            "rows": int(counts.get(name, 0)), "error": errors.get(name)}
        rows_from_server = len(frame)
        for step in self.plan.steps:
            if step.test is None or not len(frame):
                step.removed = 0 if step.where == "pandas" else None
                continue
            mask = step.test(frame)
            step.removed = int((~mask).sum())
            frame = frame[mask.to_numpy()]
        frame = frame.reset_index(drop=True)
        frame = _tags_as(frame, self.plan.tags_as)
        result = QueryFrame(frame)
        result.attrs = dict(frame.attrs)
        record = self.record()
        record.update(ran=True, datacenters=per_dc, rows_from_server=rows_from_server,
                      rows=len(result), seconds=round(time.perf_counter() - started, 4),
                      listing_seconds=round(listing, 4))
        result.attrs["query"] = record
        result.attrs["kind"] = "machines"
        return result


def _tags_as(frame: pd.DataFrame, tags_as: str | None) -> pd.DataFrame:
    if tags_as == "dict":
        return frame
    tags = frame.pop("tags")
    if tags_as is None:
        return frame
    out = pd.concat([frame, conv.tag_columns(list(tags), frame.index)], axis=1)
    out.attrs = frame.attrs
    return out


def _plain(value: Any) -> Any:
    """A filter value as JSON-safe data (attrs are written by to_parquet)."""
    if isinstance(value, re.Pattern):
        return f"/{value.pattern}/"
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, range):
        return [value.start, value.stop - 1]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return getattr(value, "__name__", None) or repr(value)


def query(source: Fleet | DataCenter, *, tags_as: str | None = "dict", **filters: Any
          ) -> QueryFrame:
    """Run a query (see the module docstring): the machines frame, with ``.explain()``."""
    return Query(source, tags_as=tags_as, **filters).run()


__all__ = ["QUERY_FILTERS", "Explanation", "Query", "QueryFrame", "query"]
