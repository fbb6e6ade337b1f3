"""Strict JSON in and out: what a request may carry, and what the emulator writes.

In: ``NaN``/``Infinity`` (and numbers that overflow to infinity) are not JSON
and are refused, as is nesting deeper than MAX_DEPTH (Python's parser would
otherwise raise RecursionError on a body of 5,000 ``[``). Out: a non-finite
float written by the Python API or an old state file becomes ``null``, as
JavaScript's ``JSON.stringify`` writes it, so a strict reader never fails on a
listing.
"""

from __future__ import annotations

import json
import math
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


def loads(text: str | bytes) -> Any:
    """Parse strict JSON; StrictJSONError (a ValueError) says what is wrong."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise StrictJSONError(f"nesting deeper than {MAX_DEPTH} levels") from None
    except StrictJSONError:
        raise
    except ValueError as exc:
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
