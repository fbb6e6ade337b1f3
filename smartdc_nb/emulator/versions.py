"""``Accept-Version`` negotiation against CloudAPI's route versions.

Node's semver ranges (``~9||~8``, ``*``, ``~7.2``, ``^8``, ``8.x``, ``>=7.2 <9``,
``7.0.0 - 8.0.0``) have no well-kept Python implementation (``packaging`` speaks
PEP 440, not npm ranges), so the small subset restify needs is written here.
"""

from __future__ import annotations

import re

#: the route versions CloudAPI 9.20 serves, oldest first [cloudapi.md §2]
API_VERSIONS = ("7.0.0", "7.1.0", "7.2.0", "7.3.0", "8.0.0", "9.0.0")
#: what ``Api-Version`` always says: the highest route version
CURRENT = API_VERSIONS[-1]

_PARTIAL = re.compile(r"^v?(\d+|[xX*])?(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-+].*)?$")
_COMPARATOR = re.compile(r"^(<=|>=|<|>|=|~>|~|\^)?\s*(.*)$")
_INF = (10**9, 0, 0)


def _parse(text: str) -> tuple[int | None, ...] | None:
    m = _PARTIAL.match(text.strip())
    if not m:
        return None
    parts: list[int | None] = []
    for piece in m.groups():
        if piece is None or piece in "xX*":
            break
        parts.append(int(piece))
    return tuple(parts)


def _bounds(op: str, parts: tuple[int | None, ...]) -> tuple[tuple, bool, tuple, bool]:
    """(low, low inclusive, high, high inclusive) for one comparator."""
    full = tuple(parts) + (0,) * (3 - len(parts))
    n = len(parts)
    if n == 0:
        return (0, 0, 0), True, _INF, True
    if op in ("~", "~>"):
        high = (parts[0] + 1, 0, 0) if n == 1 else (parts[0], parts[1] + 1, 0)
        return full, True, high, False
    if op == "^":
        if parts[0] != 0 or n == 1:
            return full, True, (parts[0] + 1, 0, 0), False
        if n == 2 or parts[1] != 0:
            return full, True, (0, parts[1] + 1, 0), False
        return full, True, (0, 0, parts[2] + 1), False
    upper = (parts[0] + 1, 0, 0) if n == 1 else (parts[0], parts[1] + 1, 0) if n == 2 else full
    if op in ("", "="):
        return full, True, upper, n == 3
    if op == ">=":
        return full, True, _INF, True
    if op == ">":
        return upper, n != 3, _INF, True
    if op == "<":
        return (0, 0, 0), True, full, False
    # "<="
    return (0, 0, 0), True, upper, n == 3


def _comparators(text: str) -> list[tuple[str, tuple]] | None:
    text = re.sub(r"(<=|>=|<|>|=|~>|~|\^)\s+", r"\1", text.strip())
    hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", text)
    if hyphen:
        low, high = _parse(hyphen.group(1)), _parse(hyphen.group(2))
        if low is None or high is None:
            return None
        return [(">=", low), ("<=", high)]
    out = []
    for token in text.split() or ["*"]:
        op, rest = _COMPARATOR.match(token).groups()
        parts = _parse(rest)
        if parts is None:
            return None
        out.append((op or "", parts))
    return out


def _satisfies(version: tuple[int, int, int], comparators: list[tuple[str, tuple]]) -> bool:
    for op, parts in comparators:
        low, low_inc, high, high_inc = _bounds(op, parts)
        if version < low or (version == low and not low_inc):
            return False
        if version > high or (version == high and not high_inc):
            return False
    return True


def negotiate(accept_version: str | None) -> str | None:
    """The highest API version the range admits, or None when it admits none.

    An absent or empty header means ``*``; an unparseable range admits nothing.
    """
    text = (accept_version or "*").strip() or "*"
    matched = None
    for alternative in text.split("||"):
        comparators = _comparators(alternative)
        if comparators is None:
            continue
        for candidate in API_VERSIONS:
            if _satisfies(tuple(int(p) for p in candidate.split(".")), comparators):
                if matched is None or _key(candidate) > _key(matched):
                    matched = candidate
    return matched


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def omits_networks(accept_version: str | None) -> bool:
    """CloudAPI leaves ``networks`` out of machines only for ``~7.0``-style ranges."""
    return bool(accept_version and re.match(r"^~?7\.0(\.\d+)?$", accept_version.strip()))


def admits_subusers(version: str) -> bool:
    """Sub-user keyIds need a negotiated version of at least 7.2.0."""
    return _key(version) >= (7, 2, 0)


def admits_network_objects(accept_version: str | None) -> bool:
    """CreateMachine takes ``networks`` objects when the range admits 7.3.0 or lies wholly
    above it (``semver.satisfies('7.3.0', v) || semver.ltr('7.3.0', v)``, over the route
    versions); older ranges get "Invalid Networks" for an object."""
    admitted = [v for v in API_VERSIONS if _in_range(v, accept_version)]
    return "7.3.0" in admitted or bool(admitted) and min(map(_key, admitted)) > (7, 3, 0)


def _in_range(version: str, accept_version: str | None) -> bool:
    text = (accept_version or "*").strip() or "*"
    point = tuple(int(p) for p in version.split("."))
    return any((c := _comparators(alt)) is not None and _satisfies(point, c)  # type: ignore[arg-type]
               for alt in text.split("||"))
