"""DataFrame builders: CloudAPI's parsed JSON to typed frames, with no requests.

Each builder takes per-datacenter *parts* (the datacenter's name and the dicts
it answered) and returns a frame with a fixed column order and explicit
dtypes. They read the raw dicts column by column (one list comprehension per
column, then one typed array each): constructing Machine objects or
normalising JSON row by row would cost several times more at 100,000 machines.
CloudAPI's dicts are read, never changed; dict and list cells are copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from ..gcpause import gc_paused
from ..masking import SCRIPT_KEYS, is_secret
from .columns import (AGE_DTYPE, MACHINE_STATES, SNAPSHOT_STATES, bools,
                      categories, fields, ints, objects, split_ips, strings, tag_columns, times,
                      version_key)

#: The machines frame's columns, in order (tag columns, if expanded, follow ``tag_count``).
MACHINE_COLUMNS = (
    "datacenter", "id", "name", "state", "type", "brand",
    "image", "image_name", "image_version",
    "package", "package_vcpus", "package_memory", "package_disk", "package_swap",
    "memory", "disk", "primary_ip", "public_ips", "private_ips",
    "created", "updated", "age",
    "firewall_enabled", "deletion_protection", "compute_node", "docker", "tag_count",
)
TAG_MODES = ("dict", "columns", None)
TAGS_COLUMNS = ("datacenter", "machine_id", "machine_name", "key", "value")
METADATA_COLUMNS = ("datacenter", "machine_id", "machine_name", "key", "value", "size")
SNAPSHOT_COLUMNS = ("datacenter", "machine_id", "machine_name", "name", "state", "size",
                    "created", "updated", "age")
AUDIT_COLUMNS = ("datacenter", "machine_id", "machine_name", "action", "success", "time",
                 "caller_type", "caller_ip", "caller_key_id")


@dataclass
class Part:
    """One datacenter's answer: its name, the records, and (machines only) its catalog.

    ``packages`` maps package names and ``images`` image ids to CloudAPI's
    dicts (:func:`package_index`, :func:`image_index`); a machine whose package
    or image is not there (not fetched, the fetch failed, or it no longer
    exists) has missing join columns.
    """

    datacenter: str
    records: list[dict]
    packages: Mapping[str, dict] = field(default_factory=dict)
    images: Mapping[str, dict] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _frame(columns: dict[str, Any], order: Sequence[str]) -> pd.DataFrame:
    # copy=False: every column is a new array made for this frame; pandas would copy each again
    return pd.DataFrame({name: columns[name] for name in order}, columns=list(order), copy=False)


def _get(records: Sequence[dict], key: str) -> list[Any]:
    return [r.get(key) for r in records]


def _dcs(parts: Sequence[Part], counts: Sequence[int] | None = None) -> Any:
    counts = counts if counts is not None else [len(p.records) for p in parts]
    names = np.array([p.datacenter for p in parts], dtype=object)
    return strings(np.repeat(names, counts))


def package_index(packages: Sequence[dict]) -> dict[str, dict]:
    """Packages by name (a machine names its package); of several versions of a name, the
    highest, as CloudAPI resolves a package name."""
    out: dict[str, dict] = {}
    usable = [p for p in packages if isinstance(p, dict) and p.get("name")]
    for pkg in sorted(usable, key=lambda p: version_key(p.get("version"))):
        out[pkg["name"]] = pkg
    return out


def image_index(images: Sequence[dict]) -> dict[str, dict]:
    """Images by id (a machine names its image by id)."""
    return {i["id"]: i for i in images if isinstance(i, dict) and i.get("id")}


def check_tags_as(tags_as: Any) -> None:
    """Refuse a ``tags_as`` that is not one of :data:`TAG_MODES`."""
    if tags_as not in TAG_MODES:
        raise InvalidInputError(
            f"tags_as= must be 'dict' (a tags column of dicts), 'columns' (a tag.<key> column "
            f"per key) or None (no tags), not {tags_as!r}")


#: What the machines frame reads of each CloudAPI machine dict: scalars, then the two
#: fields whose cells are new lists and dicts (read second, once the scalars' table is gone).
MACHINE_FIELDS = ("id", "name", "state", "type", "brand", "image", "package", "memory", "disk",
                  "primaryIp", "created", "updated", "firewall_enabled",
                  "deletion_protection", "compute_node", "docker")
MACHINE_NESTED_FIELDS = ("ips", "tags")


@gc_paused()
def machines(parts: Sequence[Part], fetched_at: datetime, tags_as: str | None = "dict"
             ) -> pd.DataFrame:
    """One row per machine: see :data:`MACHINE_COLUMNS` (and the package docstring).

    The machine dicts are read a field at a time in C (:func:`fields`, two
    passes); columns are converted whole, the package and image joins are
    looked up once per distinct package and image of each datacenter, and
    addresses are classified once each. Only the ``tags`` and address lists
    are new per-row objects (copies, so editing a cell never edits the payload).
    """
    check_tags_as(tags_as)
    records = [m for p in parts for m in p.records]
    got = fields(records, MACHINE_FIELDS)
    pkg = _joined(parts, got["package"], "packages", ("vcpus", "memory", "disk", "swap"))
    img = _joined(parts, got["image"], "images", ("name", "version"))
    created = times(got["created"])
    cols: dict[str, Any] = {
        "datacenter": _dcs(parts),
        "id": strings(got["id"]),
        "name": strings(got["name"]),
        "state": categories(got["state"], MACHINE_STATES),
        "type": strings(got["type"]),
        "brand": strings(got["brand"]),
        "image": strings(got["image"]),
        "image_name": strings(img.pop("name")),
        "image_version": strings(img.pop("version")),
        # CloudAPI sends "" for a package it does not know: that is a missing value
        "package": strings([v or None for v in got["package"]]),
        "package_vcpus": ints(pkg.pop("vcpus")),
        "package_memory": ints(pkg.pop("memory")),
        "package_disk": ints(pkg.pop("disk")),
        "package_swap": ints(pkg.pop("swap")),
        "memory": ints(got["memory"]),
        "disk": ints(got["disk"]),
        "primary_ip": strings(got["primaryIp"]),
        "created": created.array,
        "updated": times(got["updated"]).array,
        "age": (pd.Timestamp(fetched_at) - created).astype(AGE_DTYPE).array,
        "firewall_enabled": bools(got["firewall_enabled"]),
        "deletion_protection": bools(got["deletion_protection"]),
        "compute_node": strings(got["compute_node"]),
        # CloudAPI sends docker only as true, for Docker containers: absent means not one
        "docker": bools([v is True for v in got["docker"]]),
    }
    del got, created
    got = fields(records, MACHINE_NESTED_FIELDS)
    public_ips, private_ips = split_ips(got["ips"])
    cols["public_ips"], cols["private_ips"] = objects(public_ips), objects(private_ips)
    del public_ips, private_ips
    tag_dicts = [t if t.__class__ is dict else None for t in got["tags"]]
    del got
    cols["tag_count"] = ints([len(t) if t is not None else None for t in tag_dicts])
    frame = _frame(cols, MACHINE_COLUMNS)
    del cols
    if tags_as == "dict":
        frame["tags"] = objects([t.copy() if t is not None else None for t in tag_dicts])
    elif tags_as == "columns":
        frame = pd.concat([frame, tag_columns(tag_dicts)], axis=1)
    return frame


def _joined(parts: Sequence[Part], keys: Any, catalog: str, wanted: Sequence[str]
            ) -> dict[str, Any]:
    """``{field: object array}``: each row's catalog entry's fields (None where it has none),
    looked up once per distinct key of each datacenter (``catalog``: "packages" or "images")."""
    out: dict[str, list] = {name: [] for name in wanted}
    start = 0
    for part in parts:
        index: Mapping[str, dict] = getattr(part, catalog)
        stop = start + len(part.records)
        try:
            codes, distinct = pd.factorize(keys[start:stop])
        except TypeError:  # an unhashable key (not CloudAPI's): no entry for that row
            column = [k if isinstance(k, str) else None for k in keys[start:stop]]
            codes, distinct = pd.factorize(np.array(column, dtype=object))
        entries = [index.get(k) if isinstance(k, str) else None for k in distinct]
        for name in wanted:
            # one slot per distinct key, and a last one (None) for code -1: no key
            table = np.empty(len(entries) + 1, dtype=object)
            table[:] = [e.get(name) if isinstance(e, dict) else None for e in entries] + [None]
            out[name].append(table[codes])
        start = stop
    return {name: np.concatenate(arrays) if arrays else np.empty(0, dtype=object)
            for name, arrays in out.items()}


def _long(parts: Sequence[Part], pick: Callable[[dict], Any]) -> tuple[list, list, list, list]:
    """(datacenters, machines, keys, values) for each key/value of ``pick(machine)``."""
    dcs, owners, keys, values = [], [], [], []
    for part in parts:
        for m in part.records:
            mapping = pick(m)
            if not isinstance(mapping, dict):
                continue
            for key, value in mapping.items():
                dcs.append(part.datacenter)
                owners.append(m)
                keys.append(key)
                values.append(value)
    return dcs, owners, keys, values


@gc_paused()
def tags(parts: Sequence[Part]) -> pd.DataFrame:
    """Long form: one row per (machine, tag); ``value`` keeps CloudAPI's type (str/number/bool)."""
    dcs, owners, keys, values = _long(parts, lambda m: m.get("tags"))
    cols = {"datacenter": strings(dcs), "machine_id": strings(_get(owners, "id")),
            "machine_name": strings(_get(owners, "name")), "key": strings(keys),
            "value": objects(values)}
    return _frame(cols, TAGS_COLUMNS)


@gc_paused()
def metadata(parts: Sequence[Part]) -> pd.DataFrame:
    """Long form: one row per (machine, metadata key), with ``size`` (UTF-8 bytes of the value).

    A boot script or the injected SSH keys (masking.SCRIPT_KEYS) and a secret (the
    credentials, ``*_pw``, passwords, tokens, ...) appear with their size and no value, as
    on the card and in a saved history point.
    """
    dcs, owners, keys, values = _long(parts, lambda m: m.get("metadata"))
    sizes = [len(_text(v).encode("utf-8", "surrogatepass")) for v in values]
    shown = [None if k in SCRIPT_KEYS or is_secret(k) else v for k, v in zip(keys, values)]
    cols = {"datacenter": strings(dcs), "machine_id": strings(_get(owners, "id")),
            "machine_name": strings(_get(owners, "name")), "key": strings(keys),
            "value": objects(shown), "size": ints(sizes)}
    return _frame(cols, METADATA_COLUMNS)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


@gc_paused()
def snapshots(parts: Sequence[Part], fetched_at: datetime) -> pd.DataFrame:
    """One row per snapshot; ``part.extra["snapshots"]`` maps machine id to its snapshot list."""
    dcs, owners, snaps = [], [], []
    for part in parts:
        lists = part.extra.get("snapshots", {})
        for m in part.records:
            for snap in lists.get(m.get("id")) or []:
                if isinstance(snap, dict):
                    dcs.append(part.datacenter)
                    owners.append(m)
                    snaps.append(snap)
    created = times(_get(snaps, "created"))
    cols = {"datacenter": strings(dcs), "machine_id": strings(_get(owners, "id")),
            "machine_name": strings(_get(owners, "name")), "name": strings(_get(snaps, "name")),
            "state": categories(_get(snaps, "state"), SNAPSHOT_STATES),
            "size": ints(_get(snaps, "size")), "created": created.array,
            "updated": times(_get(snaps, "updated")).array,
            "age": (pd.Timestamp(fetched_at) - created).astype(AGE_DTYPE).array}
    return _frame(cols, SNAPSHOT_COLUMNS)


@gc_paused()
def audit(parts: Sequence[Part]) -> pd.DataFrame:
    """One row per audit entry (CloudAPI's order: newest first); ``part.extra["machine"]``
    is the machine the entries belong to."""
    dcs, owners, entries = [], [], []
    for part in parts:
        for entry in part.records:
            if isinstance(entry, dict):
                dcs.append(part.datacenter)
                owners.append(part.extra["machine"])
                entries.append(entry)
    callers = [e.get("caller") if isinstance(e.get("caller"), dict) else {} for e in entries]
    success = [{"yes": True, "no": False}.get(e.get("success")) for e in entries]
    cols = {"datacenter": strings(dcs), "machine_id": strings(_get(owners, "id")),
            "machine_name": strings(_get(owners, "name")),
            "action": strings(_get(entries, "action")), "success": bools(success),
            "time": times(_get(entries, "time")).array,
            "caller_type": strings(_get(callers, "type")), "caller_ip": strings(_get(callers, "ip")),
            "caller_key_id": strings(_get(callers, "keyId"))}
    return _frame(cols, AUDIT_COLUMNS)


# --------------------------------------------------------------------- catalog

Converter = Callable[[list[Any]], Any]


def copies(values: list[Any]) -> Any:
    """An object column of shallow copies of dict/list values (CloudAPI's stay untouched)."""
    return objects(dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v
                   for v in values)


def _absent_false(values: list[Any]) -> Any:
    return bools([v is True for v in values])


def _time_array(values: list[Any]) -> Any:
    return times(values).array


#: (column, converter) of each catalog frame, in order; fields CloudAPI adds that are
#: not listed follow as object columns (sorted), so nothing it sends is dropped.
PACKAGE_SCHEMA: tuple[tuple[str, Converter], ...] = (
    ("id", strings), ("name", strings), ("version", strings), ("memory", ints), ("disk", ints),
    ("swap", ints), ("vcpus", ints), ("lwps", ints), ("group", strings), ("brand", strings),
    ("default", bools), ("flexible_disk", bools), ("description", strings),
)
IMAGE_SCHEMA: tuple[tuple[str, Converter], ...] = (
    ("id", strings), ("name", strings), ("version", strings), ("os", strings), ("type", strings),
    ("state", strings), ("public", bools), ("owner", strings), ("published_at", _time_array),
    ("image_size", ints), ("origin", strings), ("description", strings),
    ("homepage", strings), ("requirements", copies), ("tags", copies), ("files", copies),
)
NETWORK_SCHEMA: tuple[tuple[str, Converter], ...] = (
    ("id", strings), ("name", strings), ("public", bools), ("fabric", _absent_false),
    ("description", strings), ("subnet", strings), ("gateway", strings),
    ("provision_start_ip", strings), ("provision_end_ip", strings), ("vlan_id", ints),
    ("internet_nat", bools), ("resolvers", copies), ("routes", copies),
)


@gc_paused()
def catalog(parts: Sequence[Part], schema: Sequence[tuple[str, Converter]]) -> pd.DataFrame:
    """One row per record with a ``datacenter`` column, the schema's columns, then any others."""
    records = [r for p in parts for r in p.records]
    known = {name for name, _ in schema}
    extra = sorted({k for r in records for k in r if k not in known and isinstance(k, str)})
    cols = {"datacenter": _dcs(parts)}
    for name, convert in schema:
        cols[name] = convert(_get(records, name))
    for name in extra:
        cols[name] = copies(_get(records, name))
    return _frame(cols, ["datacenter", *(n for n, _ in schema), *extra])

