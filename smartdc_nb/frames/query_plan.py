"""Planning a query (see :mod:`smartdc_nb.frames.query`): which filters CloudAPI gets, which
run in pandas, and the re-check of every server filter. No request is made here."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..datacenter import is_uuid
from ..errors import InvalidInputError
from ..transport import query_value
from .columns import MACHINE_STATES

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
            self.server, self.text = query_value(value), repr(value)
        else:
            raise InvalidInputError(
                f"{what}= takes text (exact, a glob like 'web-*', or '/regex/'), a compiled "
                f"re.Pattern, or a number or boolean; not {type(value).__name__} {value!r}")
        self.kind = "exact" if self.regex is None else (
            "glob" if isinstance(value, str) and value[:1] != "/" else "regex")

    def test(self, value: Any) -> bool:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return False
        text = query_value(value)
        if self.regex is None:
            return text == self.server
        return bool(self.regex.match(text) if self.kind == "glob" else self.regex.search(text))

    def describe(self, column: str) -> str:
        if self.regex is None:
            return f"{column} == {self.text}"
        return f"{column} matches {self.kind} {self.text}"

    def mask(self, series: pd.Series) -> pd.Series:
        return pd.Series([self.test(v) for v in series], index=series.index, dtype=bool)


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
    test = lambda df, m=matcher: m.mask(df[column])
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
    test = lambda df, s=tuple(states): df["state"].astype(object).isin(s).astype(bool)
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
        test = lambda df, k=key, m=matcher: pd.Series(
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
        test = lambda df, n=name, v=version: (
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
