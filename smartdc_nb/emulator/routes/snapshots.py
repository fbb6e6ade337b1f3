"""Machine snapshots (cloudapi.md §5.3): the routes; the states and jobs are in
snapshotjobs.py.

A create job made under a name the compute node refuses (not
``[A-Za-z0-9][A-Za-z0-9_.:-]*`` of at most 64 characters), or one the machine already
has, fails. Booting from a snapshot the machine lacks is accepted (202) and its job
fails, as in CloudAPI, which does not load the snapshots for it; deleting one is a 404.
kvm machines cannot be snapshotted (BrandNotSupported), nor bhyve ones (CloudAPI's
experimental bhyve snapshots are off).
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..errors import CloudAPIError, invalid_argument, not_found
from ..payloads import snapshot_dict
from ..snapshotjobs import got_state, listed_state, on_machine
from .common import Ctx, Reply, changing_machine, json_reply, machine_or_404, provisioned


def list_snapshots(ctx: Ctx) -> Reply:
    machine = machine_or_404(ctx)
    return json_reply([snapshot_dict(s, listed_state(machine, s["name"], ctx.now))
                       for s in on_machine(machine, ctx.now).values()])


def get_snapshot(ctx: Ctx) -> Reply:
    machine = machine_or_404(ctx)
    name = ctx.url["name"]
    shown = got_state(machine, name, ctx.now)
    if shown is None:
        raise not_found("Snapshot does not exist")
    snap = on_machine(machine, ctx.now).get(name)
    return json_reply(snapshot_dict(snap, shown) if snap is not None else
                      {"name": name, "state": shown})


def create_snapshot(ctx: Ctx) -> Reply:
    machine = changing_machine(ctx)
    if machine.brand == "bhyve":  # CloudAPI's own check; then VMAPI's
        raise invalid_argument("Snapshots of bhyve VMs are not allowed")
    provisioned(ctx, machine, "create_snapshot")
    if machine.brand == "kvm":
        raise CloudAPIError(409, "BrandNotSupported", 'snapshots are not supported for VMs of brand "kvm"')
    name = ctx.params.get("name") or \
        datetime.fromtimestamp(ctx.now, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = str(name)
    ctx.state.enqueue(ctx.dc, machine, "create_snapshot", {"name": name}, ctx.now, ctx.caller())
    return json_reply({"name": name, "state": "queued"}, 201)


def _snapshot_job(kind: str, status: int, loads_snapshots: bool):
    """A handler queueing ``kind`` on snapshot ``name``. CloudAPI loads the machine's snapshots
    first for a delete (404 when unknown), not to boot from one: VMAPI queues that job, which
    fails on a name the machine lacks (timeline._rollback_check)."""
    def handler(ctx: Ctx) -> Reply:
        machine = changing_machine(ctx)
        name = ctx.url["name"]
        if loads_snapshots and name not in on_machine(machine, ctx.now):
            raise not_found(f"{name} not found")
        provisioned(ctx, machine, kind)
        ctx.state.enqueue(ctx.dc, machine, kind, {"name": name}, ctx.now, ctx.caller())
        return Reply(status)
    handler.__name__ = kind.replace("_", "")
    return handler


boot_snapshot = _snapshot_job("rollback_snapshot", 202, loads_snapshots=False)
delete_snapshot = _snapshot_job("delete_snapshot", 204, loads_snapshots=True)


ROUTES = [
    ("/<login>/machines/<machine>/snapshots", "machines",
     {"GET": list_snapshots, "POST": create_snapshot}),
    ("/<login>/machines/<machine>/snapshots/<name>", "machines",
     {"GET": get_snapshot, "POST": boot_snapshot, "DELETE": delete_snapshot}),
]
