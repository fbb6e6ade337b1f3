"""The bulk actions: how each is checked, sent, described and awaited (:data:`ACTIONS`).

Whether an action applies to a machine is the rules table's (smartdc_nb.rules): an
:class:`Action` only says what argument the rules judge (``wanted``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .. import rules
from ..errors import (
    InvalidInputError,
    SmartDCError,
)
from ..resources.machine import Machine
from ..resources.snapshot import Snapshot
from ..resources.validate import check_metadata, check_snapshot_name, check_tags, validate_machine_name
from .outcomes import FAILED, NOT_REACHED, Outcome
from .targets import Target

if TYPE_CHECKING:
    pass

# ------------------------------------------------------------------ actions


def _tags_of(machine: Machine) -> dict:
    return machine.raw.get("tags") or {}


@dataclass(frozen=True)
class Action:
    """How one bulk action is checked, sent, described and awaited.

    ``prepare(*args, **kwargs)`` validates the arguments once and returns the
    params; ``wanted(machine, params)`` is the argument the rules table
    (smartdc_nb.rules) judges the machine against (see :meth:`why_not`); ``send``
    makes the request(s) and returns the resource to wait on;
    ``describe`` is the request as the plan shows it; ``target`` is what
    ``wait=True`` waits for; ``done`` names that end in summaries.
    """

    name: str
    prepare: Callable[..., dict]
    wanted: Callable[[Machine, dict], Any]
    send: Callable[[Machine, dict], Any]
    describe: Callable[[Machine, dict], str]
    target: Callable[[Machine, dict], Target]
    done: str
    snapshot_wait: bool = False

    @property
    def destructive(self) -> bool:
        """Whether a run needs ``confirm=True`` (the rules table says)."""
        return self.name in rules.DESTRUCTIVE

    def verdict(self, machine: Machine, params: dict) -> rules.Verdict:
        """The rules' verdict on this action for ``machine`` with the run's ``params``."""
        return rules.verdict(self.name, machine, self.wanted(machine, params))

    def why_not(self, machine: Machine, params: dict) -> str | None:
        """Why the action does not apply to ``machine`` (it is then skipped), or None."""
        return self.verdict(machine, params).reason


def _no_args(name: str) -> Callable[..., dict]:
    def prepare(*args: Any, **kwargs: Any) -> dict:
        if args or kwargs:
            raise InvalidInputError(f"{name} takes no arguments (got {args or ''}{kwargs or ''})")
        return {}
    return prepare


def _one_arg(name: str, what: str, check: Callable[[Any], Any] = lambda v: v):
    def prepare(*args: Any, **kwargs: Any) -> dict:
        value = kwargs.pop(what, None) if what in kwargs else (args[0] if args else None)
        if value is None or len(args) > 1 or kwargs:
            raise InvalidInputError(f"{name} needs exactly one argument: {what}")
        return {what: check(value)}
    return prepare


def _mapping(name: str, check: Callable[[Mapping], dict], allow_empty: bool = False):
    def prepare(*args: Any, **kwargs: Any) -> dict:
        values: dict = {}
        for arg in args:
            if not isinstance(arg, Mapping):
                raise InvalidInputError(f"{name} takes a dict and/or key=value arguments, "
                                        f"not {arg!r}")
            values.update(arg)
        values.update(kwargs)
        if not values and not allow_empty:
            raise InvalidInputError(f"{name} needs at least one key=value")
        return {"items": check(values)}
    return prepare


def _names(*args: Any, **kwargs: Any) -> dict:
    names = [a for arg in args for a in ([arg] if isinstance(arg, str) else arg)]
    if kwargs or not names or not all(isinstance(n, str) and n for n in names):
        raise InvalidInputError("delete_tags needs tag names: delete_tags('role', 'env')")
    return {"names": names}


TEMPLATE_FIELDS = ("name", "id", "short_id", "datacenter", "date", "time", "datetime")


def _template_fields(machine: Machine, params: dict) -> dict[str, Any]:
    now: datetime = params["now"]
    return {"name": machine.name, "id": machine.id, "short_id": (machine.id or "")[:8],
            "datacenter": machine.datacenter.name or "", "date": now.strftime("%Y%m%d"),
            "time": now.strftime("%H%M%S"), "datetime": now.strftime("%Y%m%dT%H%M%SZ")}


def _expand(template: Any, machine: Machine, params: dict) -> str:
    if callable(template):
        return template(machine)
    return template.format(**_template_fields(machine, params))


def _template(what: str, default: str | None = None):
    """``prepare`` of an action named by a template; ``default`` when none is given (the bulk
    method's default, so plan() and run_bulk() name things as the method does)."""
    def prepare(*args: Any, **kwargs: Any) -> dict:
        value = kwargs.pop(what, None) if what in kwargs else (args[0] if args else default)
        if value is None or len(args) > 1 or kwargs:
            raise InvalidInputError(f"give one {what}: a template like '{{name}}-old' or a "
                                    "callable(machine) -> str")
        if not (callable(value) or isinstance(value, str)):
            raise InvalidInputError(
                f"{what} must be a template string or a callable, not {value!r}")
        if isinstance(value, str):
            try:
                value.format(**dict.fromkeys(TEMPLATE_FIELDS, ""))
            except (KeyError, IndexError, ValueError) as exc:
                raise InvalidInputError(
                    f"bad {what} template {value!r} ({type(exc).__name__}: {exc}); its fields "
                    f"are {', '.join('{' + k + '}' for k in TEMPLATE_FIELDS)}") from None
        return {"template": value, "now": datetime.now(timezone.utc)}
    return prepare


def _states_target(*states: str) -> Callable[[Machine, dict], Target]:
    def target(machine: Machine, params: dict) -> Target:
        return Target.of(states)
    return target


def _check_target(description: Callable[[Machine, dict], str],
                  predicate: Callable[[dict, Machine, dict], bool]):
    def target(machine: Machine, params: dict) -> Target:
        return Target.check(lambda raw: predicate(raw, machine, params),
                            description(machine, params))
    return target


def _rollback_target(machine: Machine, params: dict) -> Target:
    return Target.of((rules.after_rollback(params["before"].get(machine)),))


def _package(machine: Machine, params: dict) -> dict:
    return params["packages"][machine.datacenter]


def _new_name(machine: Machine, params: dict) -> str:
    return params["names"][machine]


def _rollback_send(machine: Machine, params: dict) -> Machine:
    params["before"][machine] = machine.state
    return machine.start_from_snapshot(params["name"])


def _add_tags_send(machine: Machine, params: dict) -> Machine:
    machine.add_tags(**params["items"])  # returns the tags (the seed's API); wait on the machine
    return machine


def _replace_tags_send(machine: Machine, params: dict) -> Machine:
    machine.replace_tags(**params["items"])
    return machine


def _delete_tags_send(machine: Machine, params: dict) -> Machine:
    for name in params["names"]:
        if name in _tags_of(machine):
            machine.delete_tag(name)
    return machine


def _items_landed(key: str):
    def landed(raw: dict, machine: Machine, params: dict) -> bool:
        have = raw.get(key) or {}
        return all(k in have and have[k] == v for k, v in params["items"].items())
    return landed


def _path(machine: Machine, *rest: str) -> str:
    return "/".join([machine.path, *rest])


def _named(machine: Machine, params: dict) -> str | None:
    """The expanded name, once planned (a panel asks before the run expands them)."""
    return params.get("names", {}).get(machine)


def _nothing(machine: Machine, params: dict) -> None:
    return None


def _simple(name: str, send: Callable, request: str, target: str) -> Action:
    return Action(name, _no_args(name), _nothing, send,
                  lambda m, p: request.format(path=m.path), _states_target(target), target)


ACTIONS: dict[str, Action] = {a.name: a for a in [
    _simple("start", lambda m, p: m.start(), "POST {path}?action=start", "running"),
    _simple("stop", lambda m, p: m.stop(), "POST {path}?action=stop", "stopped"),
    _simple("reboot", lambda m, p: m.reboot(), "POST {path}?action=reboot", "running"),
    _simple("delete", lambda m, p: m.delete(), "DELETE {path}", "deleted"),
    Action("resize", _one_arg("resize", "package"), lambda m, p: _package(m, p)["name"],
           lambda m, p: m.resize(_package(m, p)),
           lambda m, p: f"POST {m.path}?action=resize&package={_package(m, p)['id']}",
           _check_target(lambda m, p: f"package {_package(m, p)['name']}",
                         lambda raw, m, p: raw.get("package") == _package(m, p)["name"]),
           "the new package"),
    Action("rename", _template("pattern"), _named,
           lambda m, p: m.rename(_new_name(m, p)),
           lambda m, p: f"POST {m.path}?action=rename&name={_new_name(m, p)}",
           _check_target(lambda m, p: f"name {_new_name(m, p)}",
                         lambda raw, m, p: raw.get("name") == _new_name(m, p)),
           "the new names"),
    Action("create_snapshot", _template("name", "{datetime}"), _named,
           lambda m, p: m.create_snapshot(_new_name(m, p)),
           lambda m, p: f'POST {_path(m, "snapshots")} {{"name": "{_new_name(m, p)}"}}',
           _states_target("created"), "snapshots created", snapshot_wait=True),
    Action("start_from_snapshot", _one_arg("start_from_snapshot", "name", check_snapshot_name),
           lambda m, p: p["name"], _rollback_send,
           lambda m, p: f"POST {_path(m, 'snapshots', p['name'])}", _rollback_target,
           "the rollback done"),
    Action("delete_snapshot", _one_arg("delete_snapshot", "name", check_snapshot_name),
           lambda m, p: p["name"],
           lambda m, p: Snapshot(m, data={"name": p["name"], "state": "created"}).delete(),
           lambda m, p: f"DELETE {_path(m, 'snapshots', p['name'])}",
           _states_target("deleted"), "snapshots deleted", snapshot_wait=True),
    Action("add_tags", _mapping("add_tags", check_tags), lambda m, p: p["items"],
           _add_tags_send,
           lambda m, p: f"POST {_path(m, 'tags')} {p['items']}",
           _check_target(lambda m, p: "the tags set", _items_landed("tags")), "tags set"),
    Action("replace_tags", _mapping("replace_tags", check_tags, allow_empty=True),
           lambda m, p: p["items"], _replace_tags_send,
           lambda m, p: f"PUT {_path(m, 'tags')} {p['items']}" if p["items"]
           else f"DELETE {_path(m, 'tags')}",
           _check_target(lambda m, p: "the tags replaced",
                         lambda raw, m, p: (raw.get("tags") or {}) == p["items"]),
           "tags replaced"),
    Action("delete_tags", _names, lambda m, p: p["names"], _delete_tags_send,
           lambda m, p: "; ".join(f"DELETE {_path(m, 'tags', n)}" for n in p["names"]
                                  if n in _tags_of(m)),
           _check_target(lambda m, p: "the tags deleted",
                         lambda raw, m, p: not any(n in (raw.get("tags") or {})
                                                   for n in p["names"])),
           "tags deleted"),
    Action("update_metadata", _mapping("update_metadata", check_metadata),
           lambda m, p: p["items"], lambda m, p: m.update_metadata(**p["items"]),
           lambda m, p: f"POST {_path(m, 'metadata')} keys {sorted(p['items'])}",
           _check_target(lambda m, p: "the metadata set", _items_landed("metadata")),
           "metadata set"),
]}


def _plan_params(action: Action, machines: Sequence[Machine], params: dict,
                 outcomes: dict[Machine, Outcome]) -> None:
    """Per-machine parameters: resolved packages, expanded names (failures mark the row)."""
    if action.name == "resize":
        params["packages"] = {}
        for machine in machines:
            dc = machine.datacenter
            if dc in params["packages"] or outcomes[machine].outcome:
                continue
            try:
                params["packages"][dc] = machine.resolve_package(params["package"])
            except SmartDCError as exc:
                params["packages"][dc] = None
                for other in machines:
                    if other.datacenter == dc and isinstance(exc, InvalidInputError):
                        outcomes[other].end(FAILED, error=exc)
                    elif other.datacenter == dc:
                        outcomes[other].end(NOT_REACHED, error=exc,
                                            reason="could not look the package up; nothing was "
                                                   "sent")
    if action.name in ("rename", "create_snapshot"):
        check = validate_machine_name if action.name == "rename" else check_snapshot_name
        params["names"] = names = {}
        taken: dict[tuple, Machine] = {}
        for machine in machines:
            try:
                names[machine] = check(_expand(params["template"], machine, params))
            except InvalidInputError as exc:
                outcomes[machine].end(FAILED, error=exc)
                continue
            key = (machine.datacenter, names[machine])
            if action.name == "rename" and key in taken and names[machine] != machine.name:
                outcomes[machine].end(FAILED, error=InvalidInputError(
                    f"the new name {names[machine]!r} would also be given to "
                    f"{taken[key].label}; names must be unique in a datacenter"))
            taken[key] = machine
    if action.name == "start_from_snapshot":
        params["before"] = {}


class PlannedNames:
    """``callable(machine) -> name`` giving the name expanded for each machine when the plan
    (or the run) began, so a template with a time in it names the machines as planned."""

    def __init__(self, names: dict[str, str]):
        self.names = names

    def __call__(self, machine: Machine) -> str:
        return self.names[machine.id]


__all__ = ["Action", "ACTIONS", "TEMPLATE_FIELDS", "PlannedNames"]
