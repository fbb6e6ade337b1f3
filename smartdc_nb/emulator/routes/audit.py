"""Machine audit log and NICs (cloudapi.md §5.4, §5.5).

The audit log lists finished jobs newest first; the ``provision`` entry is
written when the machine is accepted, so the log is never empty. NICs are
read-only here (AddNic/RemoveNic are not emulated).
"""

from __future__ import annotations

import re

from ..errors import invalid_argument, not_found
from ..payloads import format_nic, shown_state
from .common import Ctx, Reply, json_reply, machine_or_404

_MAC_RE = re.compile(r"^[0-9a-fA-F]{12}$")


def machine_audit(ctx: Ctx) -> Reply:
    machine = machine_or_404(ctx)
    return json_reply(list(reversed(machine.audit)))


def list_nics(ctx: Ctx) -> Reply:
    machine = machine_or_404(ctx)
    state = shown_state(machine, ctx.now)
    nics = [format_nic(nic, state) for nic in machine.nics]
    return json_reply(nics, headers={"x-resource-count": str(len(nics))})


def get_nic(ctx: Ctx) -> Reply:
    machine = machine_or_404(ctx)
    mac = ctx.url["mac"]
    if not _MAC_RE.match(mac):
        raise invalid_argument("mac has invalid format")
    for nic in machine.nics:
        if nic["mac"].replace(":", "").lower() == mac.lower():
            return json_reply(format_nic(nic, shown_state(machine, ctx.now)))
    raise not_found("nic not found")


ROUTES = [
    ("/<login>/machines/<machine>/audit", "machines", {"GET": machine_audit}),
    ("/<login>/machines/<machine>/nics", "nics", {"GET": list_nics}),
    ("/<login>/machines/<machine>/nics/<mac>", "nics", {"GET": get_nic}),
]
