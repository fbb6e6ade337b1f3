"""What a fleet costs: your price table joined to the machines frame, and rollups.

    >>> priced = fleet.frames.machines().triton.with_prices("prices.csv")
    >>> priced.triton.cost_by("datacenter")          # or "owner", tag="team", any column
    >>> priced[~priced.priced]                       # machines whose package has no price

A price table has a ``package`` column (a package name, or a package id) and
a price: ``price_per_hour``, ``price_per_month``, or ``price`` with
``per="hour"``/``"month"``; an optional ``currency`` column is carried to the
result's ``attrs``. It is a CSV file or a DataFrame. A month is 730 hours
(8,760 / 12). A machine whose package has no price keeps its row with
``priced`` False and missing prices: it is flagged, never dropped, and each
rollup counts it. :data:`DEMO_PRICES` is the example table the demo cloud
ships (some of its packages are left unpriced on purpose).

A rollup of a frame that misses datacenters (``attrs["errors"]``: their
machines could not be listed) keeps those errors in its ``attrs`` and says
which datacenters are missing above its table, so a partial total never
passes for the whole fleet's.
"""

from __future__ import annotations

import html
import os
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from ..datacenter import is_uuid
from ..errors import InvalidInputError

HOURS_PER_MONTH = 730
PRICE_COLUMNS = ("price_per_hour", "price_per_month", "priced")
#: the demo's example price table (a CSV file inside the package)
DEMO_PRICES = Path(str(resources.files("smartdc_nb.frames").joinpath("demo_prices.csv")))
OWNER_TAG = "owner"


def read_prices(prices: Any, per: str = "hour") -> tuple[pd.DataFrame, str | None]:
    """``(table with package and price_per_hour, currency)`` from a CSV path or a DataFrame,
    checked: missing columns, non-numeric, negative or conflicting prices are refused."""
    if per not in ("hour", "month"):
        raise InvalidInputError(f"per= is 'hour' or 'month', not {per!r}")
    if isinstance(prices, (str, os.PathLike)):
        path = Path(prices).expanduser()
        if not path.is_file():
            raise InvalidInputError(f"price table {path}: no such file")
        try:
            table = pd.read_csv(path, dtype=str, skipinitialspace=True)
        except (ValueError, OSError) as exc:  # pandas' parser errors are ValueErrors
            raise InvalidInputError(f"price table {path} is not a readable CSV file ({exc})"
                                    ) from None
        where = f"price table {path}"
    elif isinstance(prices, pd.DataFrame):
        table, where = prices.copy(), "the price table"
    else:
        raise InvalidInputError(f"with_prices() takes a CSV path or a DataFrame, not "
                                f"{type(prices).__name__}")
    table.columns = [str(c).strip() for c in table.columns]
    price_column = next((c for c in ("price_per_hour", "price_per_month", "price")
                         if c in table.columns), None)
    if "package" not in table.columns or price_column is None:
        raise InvalidInputError(
            f"{where} needs a 'package' column (name or id) and a price column "
            f"('price_per_hour', 'price_per_month', or 'price' with per='hour'/'month'); it has: "
            f"{', '.join(map(repr, table.columns)) or 'no columns'}")
    numbers = pd.to_numeric(table[price_column].map(
        lambda v: v.strip() if isinstance(v, str) else v), errors="coerce")
    bad = table[numbers.isna() | (numbers < 0)]
    if len(bad):
        sample = "; ".join(f"row {i + 2 if where != 'the price table' else i}: package "
                           f"{row['package']!r} has {price_column} {row[price_column]!r}"
                           for i, row in bad.head(3).iterrows())
        raise InvalidInputError(f"{where}: {len(bad)} price(s) are not non-negative numbers "
                                f"({sample}); fix them or leave those packages out (their "
                                "machines are then flagged unpriced)")
    hourly = numbers / HOURS_PER_MONTH if (price_column == "price_per_month" or (
        price_column == "price" and per == "month")) else numbers
    packages = table["package"].map(lambda v: v.strip() if isinstance(v, str) else v)
    if packages.isna().any() or (packages == "").any():
        raise InvalidInputError(f"{where}: {int((packages.isna() | (packages == '')).sum())} "
                                "row(s) have no package name")
    out = pd.DataFrame({"package": packages.astype(str), "price_per_hour": hourly.astype(float)})
    clashes = out.groupby("package")["price_per_hour"].nunique()
    if (clashes > 1).any():
        raise InvalidInputError(f"{where} gives different prices for "
                                f"{', '.join(map(repr, clashes[clashes > 1].index))}: one price "
                                "per package")
    currency = None
    if "currency" in table.columns:
        currencies = sorted({c.strip() for c in table["currency"].dropna() if str(c).strip()})
        if len(currencies) > 1:
            raise InvalidInputError(f"{where} mixes currencies ({', '.join(currencies)}); "
                                    "convert to one first")
        currency = currencies[0] if currencies else None
    return out.drop_duplicates("package"), currency


def with_prices(frame: pd.DataFrame, prices: Any, per: str = "hour") -> pd.DataFrame:
    """The machines frame with ``price_per_hour``, ``price_per_month`` and ``priced``."""
    if "package" not in frame.columns:
        raise InvalidInputError("with_prices() works on a machines frame (it needs the 'package' "
                                "column): fleet.frames.machines() or fleet.query(...)")
    table, currency = read_prices(prices, per)
    by_name = dict(zip(table["package"], table["price_per_hour"]))
    ids = [p for p in by_name if is_uuid(p)]
    if ids:
        resolved = _names_of_ids(frame, ids)
        for package_id, name in resolved.items():
            by_name.setdefault(name, by_name[package_id])
        unresolved = sorted(set(ids) - set(resolved))
        if unresolved:
            warnings.warn(f"{len(unresolved)} package id(s) of the price table are not packages "
                          f"this frame's datacenters know ({', '.join(unresolved[:3])}); their "
                          "machines, if any, show as unpriced", stacklevel=3)
    hourly = pd.array([by_name.get(p) if isinstance(p, str) else None
                       for p in frame["package"].astype(object)], dtype="Float64")
    out = frame.copy()
    out["price_per_hour"] = hourly
    out["price_per_month"] = hourly * HOURS_PER_MONTH
    out["priced"] = pd.array(~pd.isna(hourly), dtype="boolean")
    out.attrs = dict(frame.attrs)
    out.attrs["prices"] = {"source": str(prices) if not isinstance(prices, pd.DataFrame)
                           else "DataFrame", "currency": currency,
                           "hours_per_month": HOURS_PER_MONTH,
                           "unpriced": int((~out["priced"]).sum())}
    return out


def _names_of_ids(frame: pd.DataFrame, ids: list[str]) -> dict[str, str]:
    """Package id -> name, from what the frame's DataCenters already fetched (no request)."""
    source = frame.attrs.get("triton")
    out = {}
    for dc in getattr(source, "datacenters", {}).values():
        for package_id in ids:
            known = dc.known_package(package_id)
            if known and known.get("name"):
                out[package_id] = known["name"]
    return out


class CostFrame(pd.DataFrame):
    """A cost rollup: a DataFrame whose text and HTML forms start with the datacenters it
    misses (``attrs["errors"]``), when any."""

    @property
    def _constructor(self) -> type[CostFrame]:  # filtering and sorting keep the class
        return CostFrame

    def missing(self) -> str | None:
        """The sentence saying which datacenters are not in the rollup, or None."""
        errors = self.attrs.get("errors") or {}
        if not errors:
            return None
        where = "; ".join(f"{name} ({why})" for name, why in errors.items())
        return (f"partial: the machines of {where} could not be listed; they are not in this "
                "rollup")

    def __repr__(self) -> str:
        note = self.missing()
        return super().__repr__() if note is None else f"{note}\n{super().__repr__()}"

    def _repr_html_(self) -> str | None:
        table = super()._repr_html_()
        note = self.missing()
        if note is None or table is None:
            return table
        return f"<p><strong>{html.escape(note)}</strong></p>\n{table}"


def cost_by(frame: pd.DataFrame, by: str | None = None, *, tag: str | None = None
            ) -> pd.DataFrame:
    """Cost per group: machines, unpriced machines, price per hour and per month, most costly
    first. ``by``: a column (``"datacenter"``, ``"package"``...) or ``"owner"`` (the owner
    tag); ``tag=KEY``: a tag's value. Machines without the tag/value form a ``<NA>`` group."""
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInputError("this frame has no prices: add them first with "
                                "df.triton.with_prices(price_table)")
    if (by is None) == (tag is None):
        raise InvalidInputError("say what to roll up by: cost_by('datacenter'), cost_by('owner'), "
                                "cost_by(tag='team') or cost_by(<column>)")
    if by == OWNER_TAG and OWNER_TAG not in frame.columns:
        tag, by = OWNER_TAG, None
    if tag is not None:
        if "tags" in frame.columns:
            keys = frame["tags"].map(lambda t: t.get(tag) if isinstance(t, dict) else None)
        elif f"tag.{tag}" in frame.columns:
            keys = frame[f"tag.{tag}"]
        else:
            raise InvalidInputError(f"this frame has no tags (build it with tags_as='dict' or "
                                    f"'columns') to roll up by tag {tag!r}")
        name = OWNER_TAG if tag == OWNER_TAG else f"tag.{tag}"
    else:
        if by not in frame.columns:
            raise InvalidInputError(f"no column {by!r} to roll up by; use a column of the frame, "
                                    "'owner', or tag='KEY'")
        keys, name = frame[by], str(by)
    keys = pd.array([None if pd.isna(k) else str(k) for k in keys.astype(object)],
                    dtype="string")
    work = pd.DataFrame({name: keys, "priced": frame["priced"].to_numpy(),
                         "price_per_hour": frame["price_per_hour"].to_numpy()})
    grouped = work.groupby(name, dropna=False, sort=False)
    out = pd.DataFrame({
        "machines": grouped.size().astype("Int64"),
        "unpriced": grouped["priced"].agg(lambda s: int((~s.astype(bool)).sum())).astype("Int64"),
        "price_per_hour": grouped["price_per_hour"].sum(min_count=0).astype("Float64")})
    out["price_per_month"] = out["price_per_hour"] * HOURS_PER_MONTH
    out = out.reset_index().sort_values(["price_per_hour", name], ascending=[False, True],
                                        na_position="last").reset_index(drop=True)
    out[name] = out[name].astype("string")
    rollup = CostFrame(out)
    rollup.attrs = {"kind": "cost", "by": name, **{k: v for k, v in frame.attrs.items()
                                                   if k in ("prices", "datacenters")},
                    "errors": dict(frame.attrs.get("errors") or {})}
    return rollup


__all__ = ["CostFrame", "with_prices", "cost_by", "read_prices", "DEMO_PRICES", "HOURS_PER_MONTH"]
