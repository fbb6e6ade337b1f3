"""What every handler shares: the request context, replies and lookups."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..errors import CloudAPIError, Gone, invalid_field, not_found, validation_failed
from ..store import Account, Datacenter, Machine, State, SubUser
from ..payloads import dumps, machine_bytes, shown_state

if TYPE_CHECKING:  # pragma: no cover
    from ..app import CloudAPIApp

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class Reply:
    """A handler's answer: status, body (object -> JSON, bytes -> as is, None) and headers;
    ``digest``: the body's Content-MD5, when the handler already knows it (a cached page)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    digest: str | None = None


@dataclass
class Ctx:
    """One request as the handlers see it (after routing, auth and body parsing)."""

    app: "CloudAPIApp"
    state: State
    dc: Datacenter
    method: str
    target: str                 # raw path and query, as signed
    path: str                   # raw path
    url: dict[str, str]         # decoded route parameters
    query: dict[str, Any]
    body: Any                   # the parsed body (any JSON value) or None
    params: dict[str, Any]      # query and body merged, body winning (restify mapParams)
    headers: dict[str, str]     # lower-case names
    version: str                # the negotiated API version
    accept_version: str | None
    text_plain: bool            # the client prefers text/plain
    now: float
    request_id: str
    remote: str
    account: Account | None = None
    key_id: str | None = None
    subuser: SubUser | None = None

    @property
    def login(self) -> str:
        return self.account.login if self.account else ""

    def caller(self) -> dict[str, Any]:
        """The audit ``caller`` of a change made by this request."""
        if self.key_id:
            return {"type": "signature", "ip": self.remote, "keyId": self.key_id}
        return {"type": "operator"}


Handler = Callable[[Ctx], Reply]


def param_true(value: Any) -> bool:
    """Truthy as restify params are: booleans, or the strings "true"/"1"."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return value is True or (isinstance(value, (int, float)) and bool(value))


def machine_or_404(ctx: Ctx, *, allow_deleted: bool = True) -> Machine:
    """The machine named in the URL: 409 for a bad UUID, 404 when unknown.

    With ``allow_deleted=False`` a deleted machine raises a 410 whose body is
    the machine, as CloudAPI's update handlers answer.
    """
    machine_id = ctx.url["machine"]
    if not UUID_RE.match(machine_id):
        raise validation_failed("Invalid Parameters", [invalid_field("uuid", "Invalid UUID")])
    machine = ctx.state.machine(ctx.dc, machine_id.lower(), ctx.now)
    if machine is None or machine.owner != ctx.account.uuid:
        raise not_found("VM not found")
    if not allow_deleted and machine.state == "deleted":
        gone(ctx, machine)
    return machine


def gone(ctx: Ctx, machine: Machine) -> None:
    from ..versions import omits_networks

    raise Gone(machine_bytes(machine, ctx.state, ctx.now,
                             networks=not omits_networks(ctx.accept_version)))


def conflict(code: str, message: str) -> CloudAPIError:
    return CloudAPIError(409, code, message)


def json_reply(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, dumps(obj), headers or {})


def changing_machine(ctx: Ctx) -> Machine:
    """The machine a sub-resource change targets; 410 with its body once deleted."""
    machine = machine_or_404(ctx)
    if machine.state == "deleted":
        gone(ctx, machine)
    return machine


def provisioned(ctx: Ctx, machine: Machine, vmapi_action: str) -> None:
    """VMAPI refuses any action on a VM still provisioning (sdc-vmapi lib/endpoints/vms.js
    updateVm: 409 UnallocatedVM); CloudAPI passes that through."""
    if shown_state(machine, ctx.now) == "provisioning":
        raise CloudAPIError(409, "UnallocatedVM", f"Cannot call {vmapi_action} for a VM that "
                                                  "has not been provisioned yet")


def scalar_reply(ctx: Ctx, value: Any) -> Reply:
    """A bare value: JSON-encoded, or raw text when the client prefers text/plain."""
    if ctx.text_plain and isinstance(value, str):
        return Reply(200, value.encode("utf-8", "surrogatepass"), {"Content-Type": "text/plain"})
    return json_reply(value)
