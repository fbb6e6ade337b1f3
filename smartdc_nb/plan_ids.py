"""What a plan's id is made of (smartdc_nb.plans): a hash of canonical, process-independent data.

A dry run in one process prints the id and a headless run in another is told
``-p approve <id>``, so nothing in the hash may depend on the process: no memory
address, no set order. A callable counts by its qualified name and its body
(:func:`callable_identity`), so a health check redefined between the dry run and
the apply is another plan.
"""

from __future__ import annotations

import dis
import functools
import hashlib
import inspect
import json
import string
from types import CodeType
from typing import Any, Mapping

#: run options given to plan() that the id covers: how many machines act at once, and what is
#: waited for (apply() may still say how to show progress)
SHAPING = ("batch_size", "concurrency", "wait", "timeout", "health_check")
#: what apply() may not change, and why: who acts and how many at once. (How long to wait,
#: and for a plan without batches whether to, only change how long the run watches.)
FIXED = {"batch_size": "its batches are", "concurrency": "how many act at once is",
         "health_check": "its health check is",
         "wait": "in a rolling plan, what is waited for before the next batch goes is"}
#: per-machine expansions of the arguments: each machine's planned request holds them
EXPANDED = ("now", "names", "packages", "before")


def canonical(value: Any) -> Any:
    """``value`` as stable JSON-able data (a callable by :func:`callable_identity`)."""
    if callable(value):
        return callable_identity(value)
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):  # iteration order varies with the hash seed
        return sorted((canonical(v) for v in value), key=_json)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def callable_identity(value: Any) -> Any:
    """A callable as its qualified name and a digest of its body, alike in every process.

    The body is the source text where Python can find it (a module, a notebook cell),
    else (and for a lambda, also) the compiled code, which the same Python version
    compiles alike; with the default arguments, the values it closes over and the
    globals it reads (plain data as it is, anything else by its type: a helper function
    it calls counts by its type, not its body). A callable without code (a builtin, an
    object with ``__call__``) counts by its name alone.
    """
    if isinstance(value, functools.partial):
        return {"partial": canonical(value.func), "args": canonical(value.args),
                "keywords": canonical(value.keywords)}
    function = getattr(value, "__func__", value)  # a bound method: its function
    name = (f"{getattr(function, '__module__', '?')}."
            f"{getattr(function, '__qualname__', type(function).__name__)}")
    code = getattr(function, "__code__", None)
    if not isinstance(code, CodeType):
        return f"<callable {name}>"
    try:
        # "<string>" is every exec()'s file, and from Python 3.13 on linecache holds
        # `python -c`'s command under it (pytest-xdist's workers): not this function's text
        if code.co_filename == "<string>":
            raise OSError("made by exec()")
        body: Any = inspect.getsource(function)
        if code.co_name == "<lambda>":  # its source is its whole line, which may hold others
            body = [body, _code(code)]
    except (OSError, TypeError):  # made by exec(), or its file is gone
        body = _code(code)
    body = [body, [_plain(v) for v in function.__defaults__ or ()],
            {k: _plain(v) for k, v in (function.__kwdefaults__ or {}).items()},
            [_plain(_cell(cell)) for cell in function.__closure__ or ()],
            _globals_read(code, getattr(function, "__globals__", {}))]
    return f"<callable {name} {hashlib.sha256(_json(body).encode()).hexdigest()[:16]}>"


def identity_name(identity: Any) -> str:
    """The callable's name in a :func:`callable_identity` (of a partial: its function's)."""
    if isinstance(identity, dict):
        return f"a partial of {identity_name(identity.get('partial'))}"
    # one ">" closes the identity; a lambda's own name ends in another ("<lambda>")
    return str(identity).removeprefix("<callable ").removesuffix(">").split(" ")[0]


def changed_at_apply(planned: Mapping[str, Any], asked: Mapping[str, Any]) -> str | None:
    """Why apply()'s run options ``asked`` do not run the plan made with ``planned`` (its
    options, with run_bulk's defaults), or None when they change nothing :data:`FIXED`."""
    rolling = bool(planned.get("batch_size") or planned.get("health_check"))
    for name, what in FIXED.items():
        if name not in asked or (name == "wait" and not rolling):
            continue
        was = planned.get(name, True if name == "wait" else None)
        if canonical(asked[name]) != canonical(was):
            return (f"{name}={shown(asked[name])} is not the plan's ({shown(was)}): {what} "
                    f"part of what was approved. Plan again with {name}={shown(asked[name])} "
                    "to review that")
    return None


def shown(value: Any) -> str:
    """A run option in words: a callable by its name, anything else by its repr."""
    return getattr(value, "__qualname__", None) or repr(value)


def _code(code: CodeType) -> Any:
    """What a code object does, without its file, line numbers or address."""
    consts = [_code(c) if isinstance(c, CodeType) else canonical(c) for c in code.co_consts]
    return [code.co_code.hex(), consts, list(code.co_names)]


def _globals_read(code: CodeType, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The globals ``code`` (and the code nested in it) loads, by name: a notebook's
    ``PORT = 22`` read by a health check is part of what it checks. Only LOAD_GLOBAL
    names: an attribute of the same name (``m.state``) is not a global."""
    names: set[str] = set()
    codes = [code]
    while codes:
        current = codes.pop()
        names.update(i.argval for i in dis.get_instructions(current) if i.opname == "LOAD_GLOBAL")
        codes.extend(c for c in current.co_consts if isinstance(c, CodeType))
    return {name: _plain(namespace[name]) for name in sorted(names) if name in namespace}


def _plain(value: Any) -> Any:
    """Plain data as it is; any other value by its type (its repr may hold an address)."""
    if _not_plain(value) is None:
        return canonical(value)
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _cell(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # a cell not filled yet
        return None


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


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
    return hashlib.sha256(_json(content).encode()).hexdigest()[:12]


def time_bound(params: Mapping[str, Any]) -> str | None:
    """Why no later planning can have this plan's id, or None: its names come from a template
    with the time of planning to the second in it ({time}, {datetime}), and the names are
    part of the id (a dry run's id approves those names, not others)."""
    template = params.get("template")
    if not isinstance(template, str):
        return None
    fields = {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(template)
              if f}
    clock = next((f for f in ("datetime", "time") if f in fields), None)
    if clock is None:
        return None
    return (f"its names come from {template!r}, whose {{{clock}}} is the time the plan was "
            "made, to the second, so each planning has other names and another id: only this "
            "plan object can be approved (apply it in this session). To approve it from "
            "another run, name with {date} (one id per day) or a fixed name")


def spent(plan_id: str, earlier: dict | None) -> str:
    """Why a plan already applied since it was made is not applied again, and what to do."""
    run = f" (run {earlier['run_id']}, begun {str(earlier.get('time'))[:19]} UTC)" \
        if earlier else " (in this session)"
    resume = f"smartdc_nb.resume({earlier['run_id']!r})" if earlier else \
        "smartdc_nb.resume(run_id) (smartdc_nb.journal_runs() lists the runs)"
    return (f"plan {plan_id} was already applied since it was made{run}, so nothing was sent: "
            "its approval was for the machines as it read them, and its apply changed them. "
            "Plan again to review them as they are now (the same selection in the same states "
            f"gets the same id, so the same approve= works); to finish that run if it was "
            f"interrupted, {resume}")


__all__ = ["SHAPING", "EXPANDED", "FIXED", "callable_identity", "canonical", "changed_at_apply",
           "checked_covers", "identity_name", "plan_id", "shown", "spent", "time_bound"]
