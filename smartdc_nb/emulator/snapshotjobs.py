"""Snapshot jobs (create, rollback, delete) and the states CloudAPI shows for them.

CloudAPI (sdc-cloudapi lib/snapshots.js) reads two things: the snapshots VMAPI has on
the machine (:func:`on_machine`: ``machine.snapshots`` here, plus the one a running
create job has taken) and VMAPI's snapshot-task jobs for the name, newest first. A job's
execution is ``queued``, ``running``, ``succeeded`` (shown ``created``) or ``failed`` or
``canceled``. So:

* GetMachineSnapshot (:func:`got_state`): no job ever named it -> 404; the machine
  lacks it -> ``deleted`` (its create job has not taken it yet, failed, or it was
  deleted); else the newest job's execution (a create job that took it and still runs,
  or a rollback or delete of it in progress, shows ``queued``/``running``, a failed one
  ``failed``).
* ListMachineSnapshots (:func:`listed_state`): only the snapshots the machine has, each
  with its oldest job's execution (CloudAPI's ``forEach`` over newest-first jobs keeps
  the last, i.e. oldest, one).

A create job (sdc-vmapi lib/workflows/snapshot.js) first waits for the machine's ticket
(its first third here, ``queued``), then has the compute node take the zfs snapshot,
which the machine has from then on (:data:`TAKEN`: two thirds in), while the job polls
the task, refreshes the VM and releases the ticket. A job that fails after that step
leaves the snapshot (its ``onerror`` only releases the ticket), shown ``failed``: so does
one ``fail_next(..., after_snapshot=True)`` made. The emulator's other failing jobs (name
taken or refused, ``fail_next``) fail before it and leave none.

Finished jobs are kept per name as ``[oldest, newest]`` executions in
``machine.snapshot_jobs``; pending ones are read from the machine's queue, so a running
job's snapshot follows from the persisted job alone. Snapshots put in place without a job
(seed, ``put_machine``) count as made by a create job that succeeded. A job
``fail_next(..., canceled=True)`` made is ``canceled``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .store import Machine
    from .timeline import Job

KINDS = ("create_snapshot", "rollback_snapshot", "delete_snapshot")
#: the names the compute node accepts (``zfs snapshot`` and vmadm's own check)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
_MADE = ["succeeded", "succeeded"]
#: the share of a create job after which the machine has its snapshot
TAKEN = 2 / 3


def _execution(machine: "Machine", index: int, now: float) -> str:
    job = machine.jobs[index]
    if index or job.start is None or now < job.start:
        return "queued"
    span = (job.end or job.start) - job.start
    # the first third stands for the wait for the machine's ticket
    return "running" if span <= 0 or (now - job.start) / span >= 1 / 3 else "queued"


def _pending(machine: "Machine", name: str, now: float) -> list[str]:
    """Executions of the jobs still queued or running for ``name``, oldest first."""
    return [_execution(machine, i, now) for i, job in enumerate(machine.jobs)
            if job.kind in KINDS and job.params.get("name") == name]


def _finished(machine: "Machine", name: str) -> list[str] | None:
    history = machine.snapshot_jobs.get(name)
    if history is None and name in machine.snapshots:
        return _MADE
    return history


def _taken_at(job: "Job") -> float | None:
    """When a create job has the compute node take its snapshot (None: it never does)."""
    if job.kind != "create_snapshot" or not job.ok or job.start is None:
        return None
    return job.start + TAKEN * ((job.end or job.start) - job.start)


def _snapshot(machine: "Machine", name: str, t: float) -> dict:
    return {"name": name, "state": "created", "created": t,
            "size": max(1, (machine.disk or 1024) // 20)}


def on_machine(machine: "Machine", now: float) -> dict[str, dict]:
    """The snapshots VMAPI's machine has at ``now``: the made ones, and the one the running
    create job has taken."""
    job = machine.jobs[0] if machine.jobs else None
    taken = None if job is None else _taken_at(job)
    if taken is None or now < taken:
        return machine.snapshots
    name = job.params["name"]  # type: ignore[union-attr]
    return {**machine.snapshots, name: _snapshot(machine, name, taken)}


def _shown(execution: str) -> str:
    return "created" if execution == "succeeded" else execution


def got_state(machine: "Machine", name: str, now: float) -> str | None:
    """GetMachineSnapshot's state of ``name``; None when no job ever named it (404)."""
    pending, finished = _pending(machine, name, now), _finished(machine, name)
    if not pending and finished is None:
        return None
    if name not in on_machine(machine, now):
        return "deleted"
    return _shown(pending[-1] if pending else finished[1])  # type: ignore[index]


def listed_state(machine: "Machine", name: str, now: float) -> str | None:
    """ListMachineSnapshots' state of a snapshot the machine has (None: no job named it)."""
    finished = _finished(machine, name)
    if finished is not None:
        return _shown(finished[0])
    pending = _pending(machine, name, now)
    return _shown(pending[0]) if pending else None


def _record(machine: "Machine", name: str, done: str) -> None:
    history = machine.snapshot_jobs.get(name)
    machine.snapshot_jobs[name] = [history[0] if history else done, done]


# ------------------------------------------------------------ the job kinds' parts


def create_check(machine: "Machine", params: dict) -> str | None:
    if machine.state in ("deleted", "failed", "provisioning"):
        return f"the VM is {machine.state}"
    name = params["name"]
    if name in machine.snapshots:
        return f"snapshot {name!r} already exists"
    return None if NAME_RE.match(name) else f"invalid snapshot name {name!r}"


def created(machine: "Machine", params: dict, t: float) -> None:
    """The job ends (still at the head of the queue): its snapshot, as taken, stays."""
    name = params["name"]
    machine.snapshots[name] = on_machine(machine, t)[name]
    _record(machine, name, "succeeded")


def rollback_check(machine: "Machine", params: dict) -> str | None:
    if params["name"] not in machine.snapshots:
        return f"snapshot {params['name']!r} does not exist"
    return "VM is destroyed" if machine.state == "deleted" else None


def rolled_back(machine: "Machine", params: dict, _t: float) -> None:
    machine.state = "running"
    _record(machine, params["name"], "succeeded")


def delete_check(machine: "Machine", params: dict) -> str | None:
    return None if params["name"] in machine.snapshots else \
        f"snapshot {params['name']!r} does not exist"


def deleted(machine: "Machine", params: dict, _t: float) -> None:
    machine.snapshots.pop(params["name"], None)
    _record(machine, params["name"], "succeeded")


def failed(machine: "Machine", params: dict, t: float) -> None:
    name = params["name"]
    taken = on_machine(machine, t).get(name) if params.get("fails_after_snapshot") else None
    if taken is not None:  # VMAPI undoes nothing: the snapshot the compute node took stays
        machine.snapshots[name] = taken
    _record(machine, name, "canceled" if params.get("canceled") else "failed")
