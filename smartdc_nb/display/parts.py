"""The pieces display cards are made of: safe reads of an object, and values, rows and counts.

Every read goes through :func:`attr` (a missing or failing attribute shows as
"unknown", never as a crash) and touches only local state; nothing here makes a
request. The cards themselves are in :mod:`.cards`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from .layout import Table
from .values import (STATE_ORDER, Badge, Ident, Masked, Note, Series, When, badge, byte_size,
                     duration, mebibytes, snapshot_badge, text, when)

from ..masking import SCRIPT_KEYS, SECRET_KEY, is_secret  # noqa: F401 (the one rule)
#: sections with at most this many entries start open
OPEN_UP_TO = 8
#: the longest text in one cell of a compact list (a card shows more)
CELL = 48
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def attr(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name``, or ``default`` when it is missing or fails (a repr must never raise)."""
    try:
        value = getattr(obj, name)
    except Exception:  # a property that fails must not break the display
        return default
    return default if value is None else value


def raw_of(obj: Any) -> Mapping:
    """The payload an object holds (read, never changed: no copy, lists can be 100,000 long)."""
    raw = attr(obj, "raw")
    if isinstance(raw, Mapping):
        return raw
    return obj if isinstance(obj, Mapping) else {}


def ident(value: Any) -> Ident | str | Note:
    if isinstance(value, str) and UUID.match(value):
        return Ident(value)
    return text(value) if value else Note("unknown")


def dc_name(dc: Any) -> str | Note:
    name = attr(dc, "name") or attr(dc, "url")
    return text(name) if name else Note("unknown datacenter")


def stamped(what: str, at: Any, how: str) -> list[Any]:
    """A footer saying when the data shown was read (``fetched 2026-03-01 18:42:10 UTC``) and
    ``how`` to read it again; no age: a card stays on screen, "just now" would not stay true."""
    moment = when(at) if at is not None else None
    return [f"{what} {moment.exact}", Note(how)] if isinstance(moment, When) else []


def fetched(obj: Any, how: str) -> list[Any]:
    return stamped("fetched", attr(obj, "fetched_at"), how)


# ------------------------------------------------------------------ machines

def image_value(dc: Any, image_id: Any, *, short: bool = False) -> Any:
    known = _call(dc, "known_image", image_id) if image_id else None
    if isinstance(known, Mapping) and known.get("name"):
        name = f"{known['name']}@{known['version']}" if known.get("version") else known["name"]
        return text(name, CELL) if short else Series((text(name), ident(image_id)), " ")
    if not image_id:
        return Note("none")
    return ident(image_id) if short else Series(
        (ident(image_id), Note("name not known: dc.images() loads the catalog")), " ")


def package_value(dc: Any, raw: Mapping, *, short: bool = False) -> Any:
    name = raw.get("package")
    if short:
        return text(name, CELL) if name else Note("unknown")
    known = _call(dc, "known_package", name) if name else None
    if isinstance(known, Mapping):
        sizes = (f"{known.get('vcpus', '?')} vCPU · {mebibytes(known.get('memory'))} RAM · "
                 f"{mebibytes(known.get('disk'))} disk")
        return Series((text(name), sizes), " — ")
    sizes = f"{mebibytes(raw.get('memory'))} RAM · {mebibytes(raw.get('disk'))} disk"
    hint = Note("vCPUs not known: dc.packages() loads the catalog")
    return Series((text(name) if name else Note("no package"), sizes, hint), " — ")


def ip_facts(machine: Any, raw: Mapping) -> list[tuple[str, Any]]:
    ips = raw.get("ips") or []
    if not ips:  # public_ips would re-fetch the machine (the seed's behaviour): stay local
        return [("IPs", Note("none known yet"))]
    public, private = attr(machine, "public_ips"), attr(machine, "private_ips")
    if public is None and private is None:
        return [("IPs", Series(tuple(text(ip) for ip in ips)))]
    rows = [("Public IPs", Series(tuple(text(ip) for ip in public or ()))),
            ("Private IPs", Series(tuple(text(ip) for ip in private or ())))]
    if raw.get("primaryIp"):
        rows.append(("Primary IP", text(raw["primaryIp"])))
    return rows


def tag_value(_key: str, value: Any) -> Any:
    return text(value)


def metadata_value(key: str, value: Any) -> Any:
    """A metadata value as shown: credentials masked, scripts and keys by size, the rest clipped."""
    if key == "credentials" and isinstance(value, Mapping):
        return Series(tuple(Series((text(user), Masked("password masked")), ": ")
                            for user in value), "; ")
    if is_secret(key):
        return Masked()
    if key in SCRIPT_KEYS and isinstance(value, str):
        size = byte_size(len(value.encode()))
        if key == "root_authorized_keys":
            count = len([line for line in value.splitlines() if line.strip()])
            return Note(f"{count} public key{'s' * (count != 1)}, {size}")
        lines = len(value.splitlines())
        return Note(f"script, {size}, {lines} line{'s' * (lines != 1)}")
    return text(value)


def machine_row(machine: Any) -> list[Any]:
    raw = raw_of(machine)
    dc = attr(machine, "datacenter")
    return [text(raw.get("name"), CELL) if raw.get("name") else Note("no name"),
            badge(raw.get("state")),
            ident(raw.get("id")), dc_name(dc), text(raw.get("brand")),
            image_value(dc, raw.get("image"), short=True), package_value(dc, raw, short=True),
            text(raw.get("primaryIp")) if raw.get("primaryIp") else "",
            _age(raw.get("created"))]


MACHINE_COLUMNS = ["Name", "State", "ID", "Datacenter", "Brand", "Image", "Package", "Primary IP",
                   "Age"]


def state_counts(machines: Iterable[Any]) -> Table:
    """Machines per datacenter and state: a cross table with a badge per state."""
    per_dc: dict[str, Counter] = {}
    for machine in machines:
        raw = raw_of(machine)
        name = str(dc_name(attr(machine, "datacenter")))
        per_dc.setdefault(name, Counter())[str(raw.get("state") or "unknown")] += 1
    total: Counter = sum(per_dc.values(), Counter())
    states = sorted(total, key=lambda s: (STATE_ORDER.index(s) if s in STATE_ORDER
                                          else len(STATE_ORDER), s))
    rows = [[text(name), *[counts[s] or "" for s in states], sum(counts.values())]
            for name, counts in sorted(per_dc.items())]
    if len(rows) > 1:
        rows.append(["All", *[total[s] for s in states], sum(total.values())])
    return Table(["Datacenter", *[badge(s) for s in states], "Total"], rows)


def snapshot_row(snapshot: Any, with_machine: bool = True) -> list[Any]:
    raw = raw_of(snapshot)
    row = [text(raw.get("name")), snapshot_badge(raw.get("state")),
           when(attr(snapshot, "created") or raw.get("created")), mebibytes(raw.get("size"))]
    if with_machine:
        machine = attr(snapshot, "machine")
        row.insert(0, text(attr(machine, "name")) if attr(machine, "name")
                   else ident(attr(machine, "id")))
    return row


def count_badges(counts: Counter, tone_of: Any = badge) -> list[Badge]:
    """``3 running``, ``1 failed``, ...: one badge per word, most frequent first (``tone_of``:
    :func:`~.values.snapshot_badge` for snapshots' states)."""
    return [Badge(f"{n:,} {word}", tone_of(word).tone) for word, n in counts.most_common()]


# ------------------------------------------------------------------ results

BADGE_COLUMNS = {"state", "outcome", "final_state", "final state", "status", "last_state"}


def cell(column: str, value: Any) -> Any:
    """One outcome-table cell as a display value."""
    if _missing(value):
        return ""
    if column == "reached":
        return Badge("reached", "ok") if _truthy(value) else Badge("not reached", "warn")
    if column in BADGE_COLUMNS:
        return badge(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, timedelta):
        return duration(value)
    if isinstance(value, float):
        return duration(value) if column == "seconds" else f"{value:g}"
    if isinstance(value, (list, tuple)):  # a state history reads in order; an audit list not
        sep = ", " if value and isinstance(value[0], Mapping) else " → "
        return text(sep.join(_step(v) for v in value))
    if isinstance(value, BaseException) or column == "error":
        return text(_error_text(value), 400)
    if column == "id" or column.endswith("_id"):
        return ident(value)
    return text(value)


def _step(item: Any) -> str:
    """One entry of a history (``(time, state)``) or an audit list (``{action, success}``)."""
    if isinstance(item, Mapping):
        success = {"yes": "ok", "no": "FAILED"}.get(str(item.get("success")), "")
        return f"{item.get('action', '?')} {success}".strip()
    if isinstance(item, (list, tuple)) and item:
        return str(item[-1])
    return str(item)


# ------------------------------------------------------------------ helpers

def _call(obj: Any, method: str, *args: Any) -> Any:
    function = attr(obj, method)
    if not callable(function):
        return None
    try:
        return function(*args)
    except Exception:  # catalog memory lookups only; a failure means "not known"
        return None


def _age(created: Any) -> Any:
    moment = when(created)
    return moment.relative.removesuffix(" ago") if hasattr(moment, "relative") else moment


def _count_known(dc: Any, method: str, how: str) -> Any:
    known = attr(dc, method)
    if not callable(known):
        return Note("unknown")
    count = len(known())
    return str(count) if count else Note(f"none yet: {how} fetches them")


def _error_text(error: Any) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return str(error)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NaTType", "NAType")


def _blank(value: Any) -> bool:
    return _missing(value) or (isinstance(value, (str, list, tuple)) and not value)


def _truthy(value: Any) -> bool:
    return not _missing(value) and bool(value)
