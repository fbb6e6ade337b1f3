"""Machine metadata, credentials and user-script (cloudapi.md §5.1).

Changes are asynchronous jobs like tag changes (see tags.py). ``credentials``
is not a metadata key but the machine's passwords; keys ending ``_pw`` are
dropped; ``credentials``, ``administrator_pw`` and ``root_authorized_keys``
cannot be deleted.
"""

from __future__ import annotations

from ..errors import invalid_argument, invalid_field, not_found, validation_failed
from .common import Ctx, Reply, changing_machine, json_reply, machine_or_404, scalar_reply
from .validate import metadata_errors

_RESERVED = ("account", "machine", "uuid", "owner_uuid", "credentials", "image")
_UNDELETABLE = ("credentials", "administrator_pw", "root_authorized_keys")


def list_metadata(ctx: Ctx) -> Reply:
    machine = machine_or_404(ctx)
    body = {k: v for k, v in machine.metadata.items() if k != "credentials"}
    if ctx.params.get("credentials"):
        body["credentials"] = dict(machine.credentials)
    return json_reply(body)


def get_metadata(ctx: Ctx) -> Reply:
    machine = machine_or_404(ctx)
    key = ctx.url["key"]
    if key == "credentials":
        return json_reply(dict(machine.credentials))
    if key not in machine.metadata:
        raise not_found(f'metadatum "{key}" not found')
    return scalar_reply(ctx, machine.metadata[key])


def add_metadata(ctx: Ctx) -> Reply:
    machine = changing_machine(ctx)
    items = {k: v for k, v in ctx.params.items()
             if k not in _RESERVED and not k.endswith("_pw")}
    # VMAPI's addMetadata wants at least one key
    errors = metadata_errors(items) if items else [invalid_field("customer_metadata",
                                                                 "Invalid parameter")]
    if errors:
        raise validation_failed("Invalid metadatum parameters", errors)
    job = ctx.state.enqueue(ctx.dc, machine, "set_metadata", {"items": items}, ctx.now, ctx.caller())
    merged = {k: v for k, v in machine.metadata.items() if k != "credentials"}
    merged.update(items)
    return json_reply(merged, headers={"x-job-uuid": job.uuid})


def delete_metadatum(ctx: Ctx) -> Reply:
    machine = changing_machine(ctx)
    key = ctx.url["key"]
    if key in _UNDELETABLE:
        raise invalid_argument(f"Metadata key {key} can not be deleted")
    if key not in machine.metadata:
        raise not_found(f'metadatum "{key}" not found')
    ctx.state.enqueue(ctx.dc, machine, "remove_metadata", {"key": key}, ctx.now, ctx.caller())
    return Reply(204)


def delete_metadata(ctx: Ctx) -> Reply:
    machine = changing_machine(ctx)
    ctx.state.enqueue(ctx.dc, machine, "replace_metadata", {"items": {}}, ctx.now, ctx.caller())
    return Reply(204)


ROUTES = [
    ("/<login>/machines/<machine>/metadata", "machines",
     {"GET": list_metadata, "POST": add_metadata, "DELETE": delete_metadata}),
    ("/<login>/machines/<machine>/metadata/<key>", "machines",
     {"GET": get_metadata, "DELETE": delete_metadatum}),
]
