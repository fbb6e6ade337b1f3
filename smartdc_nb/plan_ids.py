"""What a plan's id is made of (smartdc_nb.plans): a hash of canonical, process-independent data.

A dry run in one process prints the id and a headless run in another is told
``-p approve <id>``, so nothing in the hash may depend on the process: no memory
address, no set order. Callables count by their qualified name.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

#: run options given to plan() that the id covers: how many machines act at once, and what is
#: waited for (apply() may still say how to show progress)
SHAPING = ("batch_size", "concurrency", "wait", "timeout", "health_check")
#: per-machine expansions of the arguments: each machine's planned request holds them
EXPANDED = ("now", "names", "packages", "before")


def canonical(value: Any) -> Any:
    """``value`` as stable JSON-able data (a callable by its qualified name, never its address)."""
    if callable(value):
        return f"<callable {getattr(value, '__module__', '?')}."\
               f"{getattr(value, '__qualname__', type(value).__name__)}>"
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def checked_covers(covers: Any) -> dict[str, Any]:
    """``covers=`` as a dict, or InvalidInputError: a mapping of names to plain data (text,
    numbers, booleans, None, lists and dicts of them), which hash alike in every process."""
    from .errors import InvalidInputError

    if covers is None:
        return {}
    if not isinstance(covers, Mapping):
        raise InvalidInputError(f"covers= takes a mapping of names to the values the plan's "
                                f"approval also covers (e.g. a runbook's parameters), not "
                                f"{type(covers).__name__}")
    for name, value in covers.items():
        odd = _not_plain(value)
        if odd is not None:
            raise InvalidInputError(
                f"covers={{{name!r}: ...}} holds a {type(odd).__name__}; give plain data (text, "
                "numbers, booleans, None, lists, dicts), such as the parameter or id it stands "
                "for: another process must compute the same plan id from it")
    return dict(covers)


def _not_plain(value: Any) -> Any:
    """The first value inside ``value`` that is not plain JSON data, or None."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return None
    if isinstance(value, (list, tuple)):
        return next((odd for odd in map(_not_plain, value) if odd is not None), None)
    if isinstance(value, dict):
        return next((odd for odd in map(_not_plain, value.values()) if odd is not None), None)
    return value


def plan_id(plan: Any) -> str:
    """A short hash of what ``plan`` is about (see smartdc_nb.plans)."""
    content = {
        "action": plan.action,
        # the arguments as the action read them (a dict or key=value give the same plan);
        # per-machine expansions (names, packages) are in each machine's request
        "arguments": canonical({k: v for k, v in plan._params.items() if k not in EXPANDED}),
        "machines": sorted([r.machine.datacenter.name or r.machine.datacenter.url,
                            r.machine.id, r.state, r.verdict, r.request or "", r.batch or 0]
                           for r in plan.rows),
        # how many act at once and what is waited for are part of what was reviewed
        "options": canonical({k: v for k, v in plan.options.items() if k in SHAPING}),
        "covers": canonical(plan.covers),
        "account": plan.account, "datacenters": plan.datacenters,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


__all__ = ["SHAPING", "EXPANDED", "canonical", "checked_covers", "plan_id"]
