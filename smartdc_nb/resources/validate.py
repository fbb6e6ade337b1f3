"""Checks of what a user gives a Machine or a Snapshot, before anything is sent.

Each returns the value to send or raises :class:`~smartdc_nb.errors.InvalidInputError`
saying what was wrong and what to do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from collections.abc import Iterable
from typing import Any, Mapping

from ..errors import InvalidInputError

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
MACHINE_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
MACHINE_NAME_MAX = 189


def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and bool(UUID_RE.match(value))


def validate_machine_name(name: Any) -> str:
    """Refuse a machine name CloudAPI would refuse, before sending it."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"a machine name must be a non-empty string, not {name!r}")
    if len(name) > MACHINE_NAME_MAX:
        raise InvalidInputError(
            f"machine name is {len(name)} characters long; CloudAPI allows at most {MACHINE_NAME_MAX}")
    if not MACHINE_NAME_RE.match(name):
        raise InvalidInputError(
            f"invalid machine name {name!r}: use letters, digits, '_', '.' and '-', "
            "starting with a letter or digit")
    return name


def validate_values(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Check tag or metadata values are what CloudAPI stores (string, number, boolean)."""
    out = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"{kind} keys must be non-empty strings, not {key!r}")
        if not isinstance(value, (str, int, float, bool)) or value is None:
            raise InvalidInputError(
                f"{kind} {key!r} has a {type(value).__name__} value; CloudAPI only stores strings, "
                f"numbers and booleans (use json.dumps() to store structured data as a string)")
        out[key] = value
    return out


def read_script(filename: str | Path) -> str:
    """The text of a boot script file, with a clear error when it cannot be read."""
    if not isinstance(filename, (str, os.PathLike)):
        raise InvalidInputError(f"set_boot_script takes a file name, not {filename!r}; to send "
                                "a script's text, use update_metadata(**{'user-script': text})")
    path = Path(filename).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read boot script {str(path)!r}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"boot script {str(path)!r} is not UTF-8 text (byte "
                                f"{exc.start}): a boot script is a text file, such as a shell "
                                "script") from exc


#: The ``triton.*`` tags CloudAPI knows, with the type each value must have
#: (cloudapi.md §5.2); any other ``triton.`` key is refused by VMAPI.
TRITON_TAGS: dict[str, type] = {
    "triton.cmon.groups": str,
    "triton.cns.services": str,
    "triton.cns.disable": bool,
    "triton.cns.reverse_ptr": str,
    "triton.network.public": str,
}
#: Snapshot names a compute node accepts (a ZFS snapshot name component).
SNAPSHOT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


#: Body keys CloudAPI reads as its own request parameters: sent as tags, they are dropped
#: without an error (cloudapi.md §5.2).
RESERVED_TAGS = ("account", "machine", "uuid", "owner_uuid", "context", "image")


def check_tags(tags: Mapping[str, Any]) -> dict[str, Any]:
    values = validate_values("tag", tags)
    for key, value in values.items():
        if key in RESERVED_TAGS:
            raise InvalidInputError(
                f"tag {key!r} is a name CloudAPI keeps for its request parameters "
                f"({', '.join(RESERVED_TAGS)}): it would drop the tag without an error. Use "
                f"another name, such as {key + '_name'!r}")
        if key.startswith("triton."):
            wanted = TRITON_TAGS.get(key)
            if wanted is None:
                raise InvalidInputError(
                    f"unknown special tag {key!r}: CloudAPI only knows {', '.join(TRITON_TAGS)}")
            if type(value) is not wanted:
                raise InvalidInputError(
                    f"tag {key!r} must be a {wanted.__name__}, not "
                    f"{type(value).__name__} {value!r}")
    return values


def check_metadata(values: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"metadata keys must be non-empty strings, not {key!r}")
        if not isinstance(value, str):
            raise InvalidInputError(
                f"metadata {key!r} has a {type(value).__name__} value; metadata values are text: "
                f"pass a string (str(value), or json.dumps(value) for structured data)")
        if key == "credentials" or key.endswith("_pw"):
            raise InvalidInputError(
                f"metadata key {key!r} is reserved for passwords; CloudAPI silently drops it")
        out[key] = value
    return out


def check_states(states: str | Iterable[str], known: tuple[str, ...], what: str, *,
                 empty_ok: bool = False) -> tuple[str, ...]:
    """States as a tuple (one may be given as a string), refusing names CloudAPI never shows
    (a typo waits forever); ``empty_ok`` for a list that may be empty (``fail_on``)."""
    if isinstance(states, str):
        values: tuple = (states,)
    elif isinstance(states, Iterable):
        values = tuple(states)
    else:
        raise InvalidInputError(f"give {what} states as a string or a list of strings, not "
                                f"{states!r}; {what} states are: {', '.join(known)}")
    if not values and not empty_ok:
        raise InvalidInputError(f"give at least one {what} state to wait for")
    for value in values:
        if value not in known:
            raise InvalidInputError(f"{value!r} is not a {what} state; {what} states are: "
                                    f"{', '.join(known)}")
    return values


def check_snapshot_name(name: Any) -> str:
    if not isinstance(name, str) or not SNAPSHOT_NAME_RE.match(name):
        raise InvalidInputError(
            f"invalid snapshot name {name!r}: 1-64 characters, letters, digits, '_', '.', ':' "
            "and '-', starting with a letter or digit")
    return name


def resource_ref(value: Any, what: str) -> str:
    """The id (or name) of a package/image/network given as a dict, object or string."""
    if isinstance(value, Mapping):
        ref = value.get("id") or value.get("name")
    else:
        ref = getattr(value, "id", value)
    if not isinstance(ref, str) or not ref:
        raise InvalidInputError(f"{what} must be an id, a name or a {what} dict, not {value!r}")
    return ref


__all__ = ["resource_ref", "UUID_RE", "MACHINE_NAME_RE", "MACHINE_NAME_MAX", "is_uuid", "validate_machine_name",
           "validate_values", "read_script", "TRITON_TAGS", "SNAPSHOT_NAME_RE", "check_tags",
           "check_metadata", "check_states", "check_snapshot_name"]
