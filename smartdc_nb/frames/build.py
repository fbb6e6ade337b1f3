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

import pandas as pd

from ..errors import InvalidInputError
from .columns import (AGE_DTYPE, MACHINE_STATES, SNAPSHOT_STATES, bools, categories, gc_paused, ints,
                      objects, split_ips, strings, times, version_key)

#: The machines frame's columns, in order (tag columns, if expanded, follow ``tag_count``).
MACHINE_COLUMNS = (
    "datacenter", "id", "name", "state", "type", "brand",
    "image", "image_name", "image_version",
    "package", "package_vcpus", "package_memory", "package_disk", "package_swap",
    "memory", "disk", "primary_ip", "public_ips", "private_ips",
    "created", "updated", "age",
    "firewall_enabled", "deletion_protection", "compute_node", "docker", "tag_count",
)
TAG_COLUMN_PREFIX = "tag."
TAG_MODES = ("dict", "columns", None)
TAGS_COLUMNS = ("datacenter", "machine_id", "machine_name", "key", "value")
METADATA_COLUMNS = ("datacenter", "machine_id", "machine_name", "key", "value", "size")
SNAPSHOT_COLUMNS = ("datacenter", "machine_id", "machine_name", "name", "state", "size",
                    "created", "updated", "age")
AUDIT_COLUMNS = ("datacenter", "machine_id", "machine_name", "action", "success", "time",
                 "caller_type", "caller_ip", "caller_key_id")
#: Metadata never put in a frame: the credentials CloudAPI adds on request, and
#: password keys (``*_pw``), which CloudAPI keeps out of customer metadata.
SECRET_METADATA_KEYS = ("credentials",)
USER_SCRIPT = "user-script"


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
    return pd.DataFrame({name: columns[name] for name in order}, columns=list(order))


def _get(records: Sequence[dict], key: str) -> list[Any]:
    return [r.get(key) for r in records]


def _dcs(parts: Sequence[Part], counts: Sequence[int] | None = None) -> Any:
    counts = counts if counts is not None else [len(p.records) for p in parts]
    return strings([p.datacenter for p, n in zip(parts, counts) for _ in range(n)])


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


@gc_paused()
def check_tags_as(tags_as: Any) -> None:
    """Refuse a ``tags_as`` that is not one of :data:`TAG_MODES`."""
    if tags_as not in TAG_MODES:
        raise InvalidInputError(
            f"tags_as= must be 'dict' (a tags column of dicts), 'columns' (a tag.<key> column "
            f"per key) or None (no tags), not {tags_as!r}")


def machines(parts: Sequence[Part], fetched_at: datetime, tags_as: str | None = "dict"
             ) -> pd.DataFrame:
    """One row per machine: see :data:`MACHINE_COLUMNS` (and the package docstring)."""
    check_tags_as(tags_as)
    records = [m for p in parts for m in p.records]
    pkgs: list[dict | None] = []
    imgs: list[dict | None] = []
    for part in parts:
        pkgs += [part.packages.get(m.get("package")) for m in part.records]
        imgs += [part.images.get(m.get("image")) for m in part.records]
    tag_dicts = [t if isinstance(t, dict) else None for t in _get(records, "tags")]
    created = times(_get(records, "created"))
    public_ips, private_ips = split_ips(_get(records, "ips"))
    cols: dict[str, Any] = {
        "datacenter": _dcs(parts),
        "id": strings(_get(records, "id")),
        "name": strings(_get(records, "name")),
        "state": categories(_get(records, "state"), MACHINE_STATES),
        "type": strings(_get(records, "type")),
        "brand": strings(_get(records, "brand")),
        "image": strings(_get(records, "image")),
        "image_name": strings([i and i.get("name") for i in imgs]),
        "image_version": strings([i and i.get("version") for i in imgs]),
        # CloudAPI sends "" for a package it does not know: that is a missing value
        "package": strings([m.get("package") or None for m in records]),
        "package_vcpus": ints([p and p.get("vcpus") for p in pkgs]),
        "package_memory": ints([p and p.get("memory") for p in pkgs]),
        "package_disk": ints([p and p.get("disk") for p in pkgs]),
        "package_swap": ints([p and p.get("swap") for p in pkgs]),
        "memory": ints(_get(records, "memory")),
        "disk": ints(_get(records, "disk")),
        "primary_ip": strings(_get(records, "primaryIp")),
        "public_ips": objects(public_ips),
        "private_ips": objects(private_ips),
        "created": created.array,
        "updated": times(_get(records, "updated")).array,
        "age": (pd.Timestamp(fetched_at) - created).astype(AGE_DTYPE).array,
        "firewall_enabled": bools(_get(records, "firewall_enabled")),
        "deletion_protection": bools(_get(records, "deletion_protection")),
        "compute_node": strings(_get(records, "compute_node")),
        # CloudAPI sends docker only as true, for Docker containers: absent means not one
        "docker": bools([m.get("docker") is True for m in records]),
        "tag_count": ints([len(t) if t is not None else None for t in tag_dicts]),
    }
    frame = _frame(cols, MACHINE_COLUMNS)
    if tags_as == "dict":
        frame["tags"] = objects([dict(t) if t is not None else None for t in tag_dicts])
    elif tags_as == "columns":
        frame = pd.concat([frame, _tag_columns(tag_dicts)], axis=1)
    return frame


def _tag_columns(tag_dicts: list[dict | None]) -> pd.DataFrame:
    """One ``tag.<key>`` column per tag key (sorted), typed from its values."""
    expanded = pd.DataFrame([t or {} for t in tag_dicts], index=range(len(tag_dicts)))
    expanded = expanded.reindex(columns=sorted(expanded.columns, key=str))
    expanded.columns = [f"{TAG_COLUMN_PREFIX}{key}" for key in expanded.columns]
    # convert_dtypes: all-text keys become string, all-boolean boolean, all-integer Int64;
    # a key with mixed value types stays object, holding the values as CloudAPI sent them
    return expanded.convert_dtypes()


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


def _is_secret(key: Any) -> bool:
    return key in SECRET_METADATA_KEYS or (isinstance(key, str) and key.endswith("_pw"))


@gc_paused()
def metadata(parts: Sequence[Part]) -> pd.DataFrame:
    """Long form: one row per (machine, metadata key), with ``size`` (UTF-8 bytes of the value).

    ``user-script`` appears with its size and no value; credentials never appear.
    """
    dcs, owners, keys, values = _long(
        parts, lambda m: {k: v for k, v in (m.get("metadata") or {}).items() if not _is_secret(k)}
        if isinstance(m.get("metadata"), dict) else None)
    sizes = [len(_text(v).encode("utf-8", "surrogatepass")) for v in values]
    shown = [None if k == USER_SCRIPT else v for k, v in zip(keys, values)]
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

