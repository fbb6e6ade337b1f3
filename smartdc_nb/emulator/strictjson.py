"""Strict JSON in and out: what a request may carry, and what the emulator writes.

In: ``NaN``/``Infinity`` (and numbers that overflow to infinity) are not JSON
and are refused, as is nesting deeper than MAX_DEPTH, also in a body that is not
JSON at all (5,000 ``[``: Python up to 3.12 raises RecursionError on it, 3.13 parses
that deep and says "Expecting value" at the end). Out: a non-finite
float written by the Python API or an old state file becomes ``null``, as
JavaScript's ``JSON.stringify`` writes it, so a strict reader never fails on a
listing.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64  # CloudAPI's bodies nest 3 or 4 levels


class StrictJSONError(ValueError):
    """The text is not strict JSON (the message says why)."""


def _refuse_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise StrictJSONError(f"the number {text[:30]} is too large")
    return value


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise StrictJSONError(f"nesting deeper than {MAX_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children
                         if isinstance(child, (dict, list)))


# a string (an unterminated one runs to the end) or a bracket, for _too_deep
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\Z)|[\[\]{}]', re.S)


def _too_deep(text: str | bytes) -> bool:
    """Whether ``text``, read as far as it goes, opens more than MAX_DEPTH brackets."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    depth = 0
    for token in _TOKENS.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif bracket in "]}":
            depth -= 1
    return False


def loads(text: str | bytes) -> Any:
    """Parse strict JSON; StrictJSONError (a ValueError) says what is wrong."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise StrictJSONError(f"nesting deeper than {MAX_DEPTH} levels") from None
    except StrictJSONError:
        raise
    except ValueError as exc:  # the same answer on every Python, however deep its parser goes
        if _too_deep(text):
            raise StrictJSONError(f"nesting deeper than {MAX_DEPTH} levels") from None
        raise StrictJSONError(str(exc)) from None
    _check_depth(value)
    return value


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(obj: Any, **options: Any) -> str:
    """``json.dumps`` that never writes NaN or Infinity (they become null)."""
    try:
        return json.dumps(obj, allow_nan=False, **options)
    except ValueError:
        return json.dumps(_finite(obj), allow_nan=False, **options)
