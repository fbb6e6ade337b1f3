"""Machine jobs whose effects are computed from timestamps, not threads.

Every change CloudAPI makes asynchronously (provision, start, stop, reboot,
delete, resize, rename, firewall, deletion protection, tags, metadata,
snapshots) is a :class:`Job` queued on its machine. Jobs of one machine run one
after another, as VMAPI runs them. Nothing runs in the background: whenever a
machine is read, :func:`settle` applies the jobs whose end time has passed, in
order, and stamps their audit entries with that end time. A job's precondition
(e.g. stop needs ``running``) is checked against the state the machine has when
the job starts; a job that fails it ends with ``success: "no"`` in the audit
log, as VMAPI's ``ensure_vm_state`` does, and changes nothing.

Durations (seconds, at ``speed`` 1) have names users can override:

=====================  =======  ===============================================
name                   default  what
=====================  =======  ===============================================
provision              8        provisioning -> running (or failed)
start                  5        stopped -> ready -> running
stop                   4        running -> stopping -> stopped
reboot                 8        running -> stopping -> ready -> running
destroy                3        any -> (stopping) -> deleted
resize                 3        package, memory and disk change
rename                 1        name changes
firewall               1        enable/disable_firewall
deletion_protection    1        enable/disable_deletion_protection
tags                   1        set/replace/remove tags
metadata               1        set/replace/remove metadata
create_snapshot        3        queued -> running (taken 2/3 in) -> created (snapshotjobs.py)
rollback_snapshot      5        boot from a snapshot: stop (if running), roll back, start
delete_snapshot        3        snapshot disappears
failed_job             1        how long a job that fails its precondition takes
=====================  =======  ===============================================

``speed`` divides the defaults; an explicit override is taken as given.
"""

from __future__ import annotations

import uuid
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from . import snapshotjobs as snapjobs

if TYPE_CHECKING:  # pragma: no cover
    from .store import Machine

DEFAULT_DURATIONS: dict[str, float] = {
    "provision": 8.0,
    "start": 5.0,
    "stop": 4.0,
    "reboot": 8.0,
    "destroy": 3.0,
    "resize": 3.0,
    "rename": 1.0,
    "firewall": 1.0,
    "deletion_protection": 1.0,
    "tags": 1.0,
    "metadata": 1.0,
    "create_snapshot": 3.0,
    "rollback_snapshot": 5.0,
    "delete_snapshot": 3.0,
    "failed_job": 1.0,
}


class Timing:
    """Durations of the transitions: defaults / speed, or explicit overrides."""

    def __init__(self, speed: float = 1.0, durations: dict[str, float] | None = None):
        self.speed = 1.0
        self.overrides: dict[str, float] = {}
        self.set_speed(speed)
        self.set_durations(**(durations or {}))

    def set_speed(self, speed: float) -> None:
        speed = float(speed)
        if not speed > 0:
            raise ValueError(f"speed must be a positive number, not {speed!r}")
        self.speed = speed

    def set_durations(self, **seconds: float) -> None:
        for name, value in seconds.items():
            if name not in DEFAULT_DURATIONS:
                raise ValueError(f"unknown duration {name!r}; known: {', '.join(DEFAULT_DURATIONS)}")
            if value is None:
                self.overrides.pop(name, None)
                continue
            value = float(value)
            if not value >= 0:
                raise ValueError(f"duration {name} must be >= 0 seconds, not {value!r}")
            self.overrides[name] = value

    def seconds(self, name: str) -> float:
        if name in self.overrides:
            return self.overrides[name]
        return DEFAULT_DURATIONS[name] / self.speed

    def as_dict(self) -> dict[str, Any]:
        return {"speed": self.speed, "overrides": dict(self.overrides),
                "effective": {name: self.seconds(name) for name in DEFAULT_DURATIONS}}


class Job:
    """One queued change of one machine.

    ``kind`` names the change (and its duration); ``action`` is what the audit
    log shows; ``params`` carries the change's arguments. ``start``, ``ok`` and
    ``end`` are fixed when the job reaches the head of its machine's queue.
    """

    __slots__ = ("kind", "action", "params", "queued_at", "caller", "forced_fail",
                 "uuid", "start", "end", "ok", "phases")

    def __init__(self, kind: str, params: dict[str, Any] | None = None, *, queued_at: float,
                 caller: dict[str, Any] | None = None, forced_fail: bool = False,
                 job_uuid: str | None = None):
        self.kind = kind
        self.action = KINDS[kind].action(params or {})
        self.params = params or {}
        self.queued_at = queued_at
        self.caller = caller or {"type": "operator"}
        self.forced_fail = forced_fail
        self.uuid = job_uuid or str(uuid.uuid4())
        self.start: float | None = None
        self.end: float | None = None
        self.ok: bool | None = None
        self.phases: list[tuple[float, str]] = []

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Job":
        job = cls(data["kind"], data["params"], queued_at=data["queued_at"], caller=data["caller"],
                  forced_fail=data["forced_fail"], job_uuid=data["uuid"])
        job.start, job.end, job.ok = data["start"], data["end"], data["ok"]
        job.phases = [tuple(p) for p in data["phases"]]
        return job

    def state_at(self, now: float) -> str | None:
        """The machine state this running job shows at ``now`` (None: unchanged)."""
        if not self.ok or self.start is None or now < self.start:
            return None
        span = (self.end or self.start) - self.start
        fraction = (now - self.start) / span if span > 0 else 1.0
        for until, state in self.phases:
            if fraction < until:
                return state
        return None


# ------------------------------------------------------------------ job kinds


class Kind:
    """How one kind of job behaves: its audit action, duration name, phases,
    precondition and effect."""

    def __init__(self, action: str | Callable[[dict], str], duration: str, *,
                 phases: Callable[["Machine"], list[tuple[float, str]]] | None = None,
                 check: Callable[["Machine", dict], str | None] | None = None,
                 effect: Callable[["Machine", dict, float], None] | None = None,
                 failure: Callable[["Machine", dict, float], None] | None = None):
        self.action = action if callable(action) else (lambda _params, a=action: a)
        self.duration = duration
        self.phases = phases or (lambda _m: [])
        self.check = check or (lambda _m, _p: None)
        self.effect = effect or (lambda _m, _p, _t: None)
        self.failure = failure or (lambda _m, _p, _t: None)


def _needs(*states: str) -> Callable[["Machine", dict], str | None]:
    def check(machine: "Machine", _params: dict) -> str | None:
        if machine.state in states:
            return None
        return f"the VM is {machine.state}, not {' or '.join(states)}"
    return check


def _not_gone(machine: "Machine", _params: dict) -> str | None:
    return "VM is destroyed" if machine.state == "deleted" else None


def _set_state(state: str) -> Callable[["Machine", dict, float], None]:
    def effect(machine: "Machine", _params: dict, _t: float) -> None:
        machine.state = state
    return effect


def _provisioned(machine: "Machine", params: dict, _t: float) -> None:
    machine.state = "running"
    machine.nics = [dict(nic) for nic in params.get("nics", [])]
    machine.compute_node = params.get("server", machine.compute_node)


def _provision_failed(machine: "Machine", _params: dict, _t: float) -> None:
    machine.state = "failed"


def _destroy_phases(machine: "Machine") -> list[tuple[float, str]]:
    return [(1.0, "stopping")] if machine.state in ("running", "ready") else []


def _resized(machine: "Machine", params: dict, _t: float) -> None:
    machine.package_id = params["package_id"]
    machine.memory = params["memory"]
    machine.disk = params["disk"]


def _set_attr(name: str, value_key: str | None = None, constant: Any = None):
    def effect(machine: "Machine", params: dict, _t: float) -> None:
        setattr(machine, name, params[value_key] if value_key else constant)
    return effect


def _set_items(attr: str):
    def effect(machine: "Machine", params: dict, _t: float) -> None:
        getattr(machine, attr).update(params["items"])
    return effect


def _replace_items(attr: str, keep: tuple[str, ...] = ()):
    def effect(machine: "Machine", params: dict, _t: float) -> None:
        current = getattr(machine, attr)
        kept = {k: current[k] for k in keep if k in current}
        current.clear()
        current.update(params["items"])
        current.update(kept)
    return effect


def _remove_items(attr: str):
    def effect(machine: "Machine", params: dict, _t: float) -> None:
        current = getattr(machine, attr)
        if params.get("key") is None:
            current.clear()
        else:
            current.pop(params["key"], None)
    return effect


def _rollback_phases(machine: "Machine") -> list[tuple[float, str]]:
    # VMAPI's rollback job stops a running machine (a stopped one skips that), rolls the
    # dataset back, and starts it: the job expects "running" either way.
    if machine.state == "running":
        return [(0.5, "stopping"), (1.0, "ready")]
    return [(0.5, "stopped"), (1.0, "ready")]


KINDS: dict[str, Kind] = {
    "provision": Kind("provision", "provision", phases=lambda m: [(1.0, "provisioning")],
                      check=_needs("provisioning"), effect=_provisioned, failure=_provision_failed),
    "start": Kind("start", "start", phases=lambda m: [(1.0, "ready")], check=_needs("stopped"),
                  effect=_set_state("running")),
    "stop": Kind("stop", "stop", phases=lambda m: [(1.0, "stopping")], check=_needs("running"),
                 effect=_set_state("stopped")),
    "reboot": Kind("reboot", "reboot", phases=lambda m: [(0.5, "stopping"), (1.0, "ready")],
                   check=_needs("running"), effect=_set_state("running")),
    "destroy": Kind("destroy", "destroy", phases=_destroy_phases, check=_not_gone,
                    effect=_set_state("deleted")),
    "resize": Kind("resize", "resize", check=_not_gone, effect=_resized),
    "rename": Kind("rename", "rename", check=_not_gone, effect=_set_attr("name", "name")),
    # CloudAPI's audit has no name for firewall updates: they read "unknown".
    "enable_firewall": Kind("unknown", "firewall", check=_not_gone,
                            effect=_set_attr("firewall_enabled", constant=True)),
    "disable_firewall": Kind("unknown", "firewall", check=_not_gone,
                             effect=_set_attr("firewall_enabled", constant=False)),
    "enable_deletion_protection": Kind("enable_deletion_protection", "deletion_protection",
                                       effect=_set_attr("deletion_protection", constant=True)),
    "disable_deletion_protection": Kind("disable_deletion_protection", "deletion_protection",
                                        effect=_set_attr("deletion_protection", constant=False)),
    "set_tags": Kind("set_tags", "tags", check=_not_gone, effect=_set_items("tags")),
    "replace_tags": Kind("replace_tags", "tags", check=_not_gone, effect=_replace_items("tags")),
    "remove_tags": Kind("remove_tags", "tags", check=_not_gone, effect=_remove_items("tags")),
    "set_metadata": Kind("set_metadata", "metadata", check=_not_gone, effect=_set_items("metadata")),
    "remove_metadata": Kind("remove_metadata", "metadata", check=_not_gone,
                            effect=_remove_items("metadata")),
    "replace_metadata": Kind("replace_metadata", "metadata", check=_not_gone,
                             effect=_replace_items("metadata", ("administrator_pw", "root_authorized_keys"))),
    "create_snapshot": Kind("create_snapshot", "create_snapshot", check=snapjobs.create_check,
                            effect=snapjobs.created, failure=snapjobs.failed),
    "rollback_snapshot": Kind("rollback_snapshot", "rollback_snapshot", phases=_rollback_phases,
                              check=snapjobs.rollback_check, effect=snapjobs.rolled_back,
                              failure=snapjobs.failed),
    "delete_snapshot": Kind("delete_snapshot", "delete_snapshot", check=snapjobs.delete_check,
                            effect=snapjobs.deleted, failure=snapjobs.failed),
}

#: the job kinds ``fail_next`` accepts (the CloudAPI actions and audit names)
FAILABLE = frozenset(KINDS) | {"delete"}


def iso(t: float) -> str:
    """JavaScript ``toISOString()``: UTC with milliseconds and ``Z``."""
    import datetime as _dt

    moment = _dt.datetime.fromtimestamp(round(t, 3), _dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def start_head(machine: "Machine", timing: Timing) -> Job:
    """Fix start, outcome and end of the job at the head of the queue."""
    job = machine.jobs[0]
    if job.start is None:
        kind = KINDS[job.kind]
        job.start = max(job.queued_at, machine.last_job_end)
        reason = kind.check(machine, job.params)
        job.ok = reason is None and not job.forced_fail
        job.phases = kind.phases(machine) if job.ok else []
        job.end = job.start + timing.seconds(kind.duration if job.ok or job.kind == "provision"
                                             else "failed_job")
    return job


def settle(machine: "Machine", now: float, timing: Timing) -> bool:
    """Apply every job of ``machine`` that has ended by ``now``; True if any did."""
    changed = False
    while machine.jobs:
        job = start_head(machine, timing)
        if job.end > now:
            break
        kind = KINDS[job.kind]
        # a create_snapshot job can run its course and fail at the end (snapshotjobs.py)
        ok = bool(job.ok) and not job.params.get("fails_after_snapshot")
        # effects see their job at the head still (a create job's snapshot was taken mid-job)
        if ok:
            kind.effect(machine, job.params, job.end)
        else:
            kind.failure(machine, job.params, job.end)
        machine.jobs.popleft()
        machine.last_job_end = job.end
        if ok:
            machine.updated = max(machine.updated, job.end)
        if job.kind != "provision":  # provision's entry is written when it is accepted
            machine.audit.append(audit_entry(job.action, ok, job.end, job.caller))
        machine.version += 1
        changed = True
    return changed


def audit_entry(action: str, ok: bool, t: float, caller: dict[str, Any]) -> dict[str, Any]:
    """One MachineAudit record, keys in CloudAPI's order."""
    return {"success": "yes" if ok else "no", "time": iso(t), "action": action, "caller": caller}


def new_queue(jobs: list[Job] | None = None) -> deque:
    return deque(jobs or ())
