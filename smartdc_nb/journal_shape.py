"""What a journal record must look like to be read: :func:`check` (Journal.rows() calls it).

The journal is a text file people may edit, and a file other versions write: a line can
be valid JSON and still not be a record (a list where text belongs, a run's machine
without an id). Checking every record's shape here, where it is read, lets the views and
resume use the fields as the writers make them, and lets one bad line be skipped with a
warning instead of failing every listing it would reach.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

KINDS = ("run", "resume", "intent", "outcome", "batch", "run-end")
#: Fields that are text when present (``None`` or absent: not known).
TEXT = ("ref", "intent", "plan_id", "profile", "account", "user", "datacenter", "machine_id",
        "machine_name", "action", "method", "path", "request_id", "state_before", "outcome",
        "error")
#: Fields that are JSON objects when present.
OBJECTS = ("arguments", "detail")
#: A run's machines (``detail.machines``): their fields, and which must be there.
MACHINE_TEXT = ("datacenter", "name", "state")
#: A run's connections (``detail.connections``, what resume reconnects with).
CONNECTION_TEXT = ("url", "account", "name", "user", "act_as", "profile", "key_id", "key_path")
CONNECTION_NEEDS = ("url", "account")


def check(record: dict[str, Any]) -> None:
    """ValueError saying what is wrong when ``record`` (a decoded JSON object) is not a
    journal record as the writers make it; nothing when it is."""
    _text(record, "run_id", required=True)
    time = _text(record, "time", required=True)
    try:
        datetime.fromisoformat(time)
    except ValueError:
        raise ValueError(f"time is not an ISO 8601 time: {time!r}") from None
    if record.get("kind") not in KINDS:
        raise ValueError(f"unknown kind {record.get('kind')!r}")
    for name in TEXT:
        _text(record, name)
    _number(record, "http_status", int)
    _number(record, "seconds", (int, float))
    for name in OBJECTS:
        _object(record, name)
    if record.get("detail"):
        _detail(record["detail"])


def _detail(detail: dict[str, Any]) -> None:
    """A run's detail: what Run and resume read from it."""
    _text(detail, "kind", "detail.kind")
    for name in ("options", "names"):
        _object(detail, name, f"detail.{name}")
    arguments = _object(detail, "arguments", "detail.arguments") or {}
    _list(arguments, "args", "detail.arguments.args")
    _object(arguments, "kwargs", "detail.arguments.kwargs")
    for i, machine in enumerate(_list(detail, "machines", "detail.machines") or ()):
        where = f"detail.machines[{i}]"
        if not isinstance(machine, dict):
            raise ValueError(f"{where} is not a JSON object")
        _text(machine, "id", f"{where}.id", required=True)
        for name in MACHINE_TEXT:
            _text(machine, name, f"{where}.{name}")
    for name, connection in (_object(detail, "connections", "detail.connections") or {}).items():
        where = f"detail.connections[{name!r}]"
        if not isinstance(connection, dict):
            raise ValueError(f"{where} is not a JSON object")
        for field in CONNECTION_TEXT:
            _text(connection, field, f"{where}.{field}", required=field in CONNECTION_NEEDS)
        _list(connection, "roles", f"{where}.roles")


def _text(record: dict, name: str, where: str | None = None, required: bool = False) -> Any:
    value = record.get(name)
    if value is None:
        if required:
            raise ValueError(f"{where or name} is missing")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where or name} is not text: {value!r}")
    return value


def _number(record: dict, name: str, kind: Any) -> None:
    value = record.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
        raise ValueError(f"{name} is not a number: {value!r}")


def _object(record: dict, name: str, where: str | None = None) -> dict | None:
    value = record.get(name)
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{where or name} is not a JSON object")
    return value


def _list(record: dict, name: str, where: str) -> list | None:
    value = record.get(name)
    if value is not None and not isinstance(value, list):
        raise ValueError(f"{where} is not a list")
    return value


__all__ = ["check", "KINDS"]
