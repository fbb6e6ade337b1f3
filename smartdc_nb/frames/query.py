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

import fnmatch
import html
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import pandas as pd

from ..datacenter import is_uuid
from ..errors import InvalidInputError
from .columns import MACHINE_STATES

if TYPE_CHECKING:
    from ..datacenter import DataCenter
    from ..fleet import Fleet

#: The filters :func:`query` takes.
QUERY_FILTERS = ("name", "state", "tags", "image", "package", "brand", "memory",
                 "include_destroyed", "where")
#: States CloudAPI filters exactly (anything else it rejects or widens to "active").
SERVER_STATES = {"running": "running", "stopped": "stopped", "deleted": "destroyed"}
#: States only listed with ``tombstone`` (CloudAPI's default hides them).
TOMBSTONE_STATES = ("deleted", "failed")


class Matcher:
    """One value test: exact, glob or regex; ``server`` is the exact text CloudAPI can match."""

    def __init__(self, what: str, value: Any):
        self.what = what
        self.regex: re.Pattern | None = None
        self.server: str | None = None
        if isinstance(value, re.Pattern):
            self.regex, self.text = value, f"/{value.pattern}/"
        elif isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "/":
            try:
                self.regex = re.compile(value[1:-1])
            except re.error as exc:
                raise InvalidInputError(
                    f"{what}={value!r} is not a valid regular expression ({exc}); write a Python "
                    "regex between slashes, e.g. '/^web-\\d+$/', or give an exact value") from None
            self.text = value
        elif isinstance(value, str) and any(c in value for c in "*?["):
            self.regex = re.compile(fnmatch.translate(value))
            self.text = value
        elif isinstance(value, (str, int, float, bool)) and value is not None:
            self.server, self.text = _text(value), repr(value)
        else:
            raise InvalidInputError(
                f"{what}= takes text (exact, a glob like 'web-*', or '/regex/'), a compiled "
                f"re.Pattern, or a number or boolean; not {type(value).__name__} {value!r}")
        self.kind = "exact" if self.regex is None else (
            "glob" if isinstance(value, str) and value[:1] != "/" else "regex")

    def test(self, value: Any) -> bool:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return False
        text = _text(value)
        if self.regex is None:
            return text == self.server
        return bool(self.regex.match(text) if self.kind == "glob" else self.regex.search(text))

    def describe(self, column: str) -> str:
        if self.regex is None:
            return f"{column} == {self.text}"
        return f"{column} matches {self.kind} {self.text}"

    def mask(self, series: pd.Series) -> pd.Series:
        return pd.Series([self.test(v) for v in series], index=series.index, dtype=bool)


def _text(value: Any) -> str:
    """A value as CloudAPI compares it in a query string (booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Step:
    """One filter: where it runs (``server``/``pandas``), what it does, rows it removed."""

    name: str
    where: str
    text: str
    test: Callable[[pd.DataFrame], pd.Series] | None = None
    removed: int | None = None
    check: bool = False  # a re-check in pandas of a filter the server was asked to apply

    def row(self) -> dict[str, Any]:
        return {"filter": self.name, "where": self.where, "what": self.text,
                "rows_removed": self.removed, "recheck": self.check}


@dataclass
class Plan:
    """What a query will do: ListMachines parameters and the pandas steps."""

    filters: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    tags_as: str | None = "dict"


def plan(filters: Mapping[str, Any], tags_as: str | None = "dict") -> Plan:
    """Split ``filters`` into ListMachines parameters and pandas steps (no request)."""
    unknown = sorted(set(filters) - set(QUERY_FILTERS))
    if unknown:
        raise InvalidInputError(
            f"unknown query filter{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))}; "
            f"query() takes {', '.join(QUERY_FILTERS)} (anything else: where='<pandas "
            "expression>', e.g. where='package_vcpus >= 2')")
    out = Plan({k: v for k, v in filters.items() if v is not None}, tags_as=tags_as)
    given = out.filters
    for key in ("name", "brand"):
        if key in given:
            _column_filter(out, key, Matcher(key, given[key]), key)
    if "state" in given:
        _state(out, given["state"])
    if given.get("include_destroyed"):
        if not isinstance(given["include_destroyed"], bool):
            raise InvalidInputError("include_destroyed= takes True or False")
        out.params["tombstone"] = True
        out.steps.insert(0, Step("include_destroyed", "server", "tombstone=true (deleted and "
                                 "failed machines too)"))
    if "tags" in given:
        _tags(out, given["tags"])
    if "image" in given:
        _image(out, given["image"])
    if "package" in given:
        _package(out, given["package"])
    if "memory" in given:
        _memory(out, given["memory"])
    if "where" in given:
        _where(out, given["where"])
    return out


def _column_filter(out: Plan, key: str, matcher: Matcher, column: str,
                   param: str | None = None) -> None:
    test = lambda df, m=matcher: m.mask(df[column])  # noqa: E731
    if matcher.server is not None:
        out.params[param or key] = matcher.server
        out.steps.append(Step(key, "server", f"{param or key}={matcher.server}"))
        out.steps.append(Step(key, "pandas", matcher.describe(column), test, check=True))
    else:
        out.steps.append(Step(key, "pandas", f"{matcher.describe(column)} (CloudAPI matches "
                              "exact values only)", test))


def _state(out: Plan, value: Any) -> None:
    states = [value] if isinstance(value, str) else value
    if not isinstance(states, (list, tuple, set, frozenset)) or not states or \
            not all(isinstance(s, str) for s in states):
        raise InvalidInputError(f"state= takes a machine state or a list of them, not {value!r}")
    bad = [s for s in states if s not in MACHINE_STATES]
    if bad:
        hint = " ('destroyed' is CloudAPI's filter word; machines show as 'deleted')" \
            if "destroyed" in bad else ""
        raise InvalidInputError(f"unknown machine state {', '.join(map(repr, bad))}{hint}; "
                                f"states are: {', '.join(MACHINE_STATES)}")
    states = list(dict.fromkeys(states))
    test = lambda df, s=tuple(states): df["state"].astype(object).isin(s).astype(bool)  # noqa: E731
    if len(states) == 1 and states[0] in SERVER_STATES:
        sent = SERVER_STATES[states[0]]
        out.params["state"] = sent
        out.steps.append(Step("state", "server", f"state={sent}"))
        out.steps.append(Step("state", "pandas", f"state == {states[0]!r}", test, check=True))
    else:
        why = ("CloudAPI filters one state at a time" if len(states) > 1 else
               "CloudAPI reads state=provisioning/stopping as any active machine" if states[0] in
               ("provisioning", "stopping") else "CloudAPI cannot filter on it")
        out.steps.append(Step("state", "pandas", f"state in {states} ({why})", test))
    if any(s in TOMBSTONE_STATES for s in states) and not out.params.get("tombstone"):
        out.params["tombstone"] = True
        out.steps.append(Step("state", "server", "tombstone=true (CloudAPI lists deleted and "
                              "failed machines only with it)"))


def _tags(out: Plan, value: Any) -> None:
    if isinstance(value, str) and value == "*":
        # CloudAPI's tags=* would drop every other filter (cloudapi.md §4.3): never sent
        out.steps.append(Step("tags", "pandas", "tag_count > 0 (tags=* is not sent: CloudAPI "
                              "would ignore every other filter)",
                              lambda df: (df["tag_count"].fillna(0) > 0).astype(bool)))
        return
    if not isinstance(value, Mapping) or not value:
        raise InvalidInputError("tags= takes a dict {key: value}, where a value is exact text, "
                                "a glob or a '/regex/'; or '*' for any tagged machine")
    for key, wanted in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"tag names are non-empty text, not {key!r}")
        matcher = Matcher(f"tags[{key!r}]", wanted)
        test = lambda df, k=key, m=matcher: pd.Series(  # noqa: E731
            [isinstance(t, dict) and k in t and m.test(t[k]) for t in df["tags"]],
            index=df.index, dtype=bool)
        if matcher.server is not None:
            out.params[f"tag.{key}"] = matcher.server
            out.steps.append(Step("tags", "server", f"tag.{key}={matcher.server}"))
            out.steps.append(Step("tags", "pandas", matcher.describe(f"tags[{key!r}]"), test,
                                  check=True))
        else:
            out.steps.append(Step("tags", "pandas", matcher.describe(f"tags[{key!r}]"), test))


def _image(out: Plan, value: Any) -> None:
    if isinstance(value, str) and is_uuid(value):
        _column_filter(out, "image", Matcher("image", value), "image")
        return
    if isinstance(value, str) and "@" in value and value[:1] != "/":
        name, version = value.rsplit("@", 1)
        test = lambda df, n=name, v=version: (  # noqa: E731
            (df["image_name"] == n) & (df["image_version"] == v)).fillna(False).astype(bool)
        out.steps.append(Step("image", "pandas", f"image_name == {name!r} and image_version == "
                              f"{version!r} (CloudAPI filters by image id only)", test))
        return
    matcher = Matcher("image", value)
    out.steps.append(Step("image", "pandas", f"{matcher.describe('image_name')} "
                          "(CloudAPI filters by image id only)",
                          lambda df, m=matcher: m.mask(df["image_name"])))


def _package(out: Plan, value: Any) -> None:
    # CloudAPI ignores package= (cloudapi.md §4.3): sending it would return every machine
    if isinstance(value, str) and is_uuid(value):
        out.steps.append(Step("package", "pandas", f"package id == {value!r} (CloudAPI ignores "
                              "package=)", None))
        out.steps[-1].test = lambda df, v=value: _package_id_mask(df, v)
        return
    matcher = Matcher("package", value)
    out.steps.append(Step("package", "pandas", f"{matcher.describe('package')} "
                          "(CloudAPI ignores package=)", lambda df, m=matcher: m.mask(df["package"])))


def _package_id_mask(df: pd.DataFrame, package_id: str) -> pd.Series:
    source = df.attrs.get("triton")
    names = set()
    for dc in getattr(source, "datacenters", {}).values():
        known = dc.known_package(package_id)
        if known and known.get("name"):
            names.add(known["name"])
    return df["package"].astype(object).isin(names).astype(bool)


def _memory(out: Plan, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, tuple, list, range)):
        raise InvalidInputError(f"memory= takes MiB as a whole number (exact) or (low, high) "
                                f"(inclusive), not {value!r}")
    if isinstance(value, int):
        out.params["memory"] = value
        out.steps.append(Step("memory", "server", f"memory={value}"))
        out.steps.append(Step("memory", "pandas", f"memory == {value}",
                              lambda df, v=value: (df["memory"] == v).fillna(False).astype(bool),
                              check=True))
        return
    bounds = (value.start, value.stop - 1) if isinstance(value, range) else tuple(value)
    if len(bounds) != 2 or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
        raise InvalidInputError(f"memory= range must be (low, high) in MiB, not {value!r}")
    low, high = bounds
    out.steps.append(Step("memory", "pandas", f"{low} <= memory <= {high} (CloudAPI matches "
                          "memory exactly)", lambda df: df["memory"].between(low, high)
                          .fillna(False).astype(bool)))


def _where(out: Plan, value: Any) -> None:
    if isinstance(value, str) and value.strip():
        def test(df: pd.DataFrame, expr: str = value) -> pd.Series:
            try:
                kept = df.query(expr)
            except Exception as exc:  # noqa: BLE001 - pandas raises many types for a bad expression
                raise InvalidInputError(
                    f"where={expr!r} failed on the machines frame ({type(exc).__name__}: {exc}); "
                    f"it is a DataFrame.query expression over the columns "
                    f"{', '.join(map(str, df.columns))}") from None
            return df.index.isin(kept.index)
        out.steps.append(Step("where", "pandas", value, lambda df: pd.Series(
            test(df), index=df.index, dtype=bool)))
    elif callable(value):
        def call(df: pd.DataFrame, fn: Callable = value) -> pd.Series:
            mask = fn(df)
            if not isinstance(mask, pd.Series) or len(mask) != len(df):
                raise InvalidInputError("where= as a function must return a boolean Series with "
                                        "one value per row of the frame it is given")
            return mask.fillna(False).astype(bool)
        out.steps.append(Step("where", "pandas", getattr(value, "__name__", "function"), call))
    else:
        raise InvalidInputError(f"where= takes a pandas query expression (text) or a function "
                                f"frame -> boolean Series, not {value!r}")


# ------------------------------------------------------------------ running


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
        return pd.DataFrame(self.record.get("steps", []),
                            columns=["filter", "where", "what", "rows_removed", "recheck"])

    @property
    def datacenters(self) -> pd.DataFrame:
        """One row per datacenter: requests, seconds (in requests), rows CloudAPI sent, error."""
        rows = [{"datacenter": n, **v} for n, v in self.record.get("datacenters", {}).items()]
        return pd.DataFrame(rows, columns=["datacenter", "requests", "seconds", "rows", "error"])

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
        lines = self.lines()
        items = "".join(f"<li>{html.escape(line.strip())}</li>" for line in lines[1:])
        return (f"<div class='sdcnb-explain'><strong>{html.escape(lines[0])}</strong>"
                f"<ul>{items}</ul></div>")


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
    expanded = pd.DataFrame([t or {} for t in tags], index=frame.index)
    expanded = expanded.reindex(columns=sorted(expanded.columns, key=str))
    expanded.columns = [f"tag.{k}" for k in expanded.columns]
    out = pd.concat([frame, expanded.convert_dtypes()], axis=1)
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


__all__ = ["query", "Query", "QueryFrame", "Explanation", "QUERY_FILTERS"]
