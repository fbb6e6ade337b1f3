"""Machine tags (cloudapi.md §5.2).

Tags are changed by asynchronous jobs: a POST answers at once with the merged
result (and an ``x-job-uuid`` header) while GET shows the change only once the
job has finished, as CloudAPI does. ``triton.*`` tags are validated as VMAPI
does (node-triton-tags).
"""

from __future__ import annotations

from typing import Any

from ..errors import CloudAPIError, invalid_field, not_found, validation_failed
from ..store import Machine
from .common import Ctx, Reply, changing_machine, json_reply, machine_or_404, scalar_reply
from .validate import protected_tag_errors, tag_errors

_RESERVED = ("account", "machine", "uuid", "owner_uuid", "context", "image")


def _wrap(error: CloudAPIError, what: str) -> CloudAPIError:
    error.message = f"{what}: {error.message}"
    return error


def _tags_from_params(ctx: Ctx, machine: Machine, what: str) -> dict[str, Any]:
    tags = {k: v for k, v in ctx.params.items() if k not in _RESERVED}
    # VMAPI's addMetadata (also behind SetMetadata) wants at least one key
    if not tags:
        errors = [invalid_field("tags", "Invalid parameter")]
    else:
        errors = tag_errors(tags, docker=machine.docker)
    if errors:
        raise _wrap(validation_failed("Invalid tag parameters", errors), what)
    return tags


def list_tags(ctx: Ctx) -> Reply:
    return json_reply(machine_or_404(ctx).tags)


def get_tag(ctx: Ctx) -> Reply:
    machine = machine_or_404(ctx)
    key = ctx.url["tag"]
    if key not in machine.tags:
        raise not_found(f'tag "{key}" not found')
    value = machine.tags[key]
    # CloudAPI answers "" for tag values that are not strings.
    return scalar_reply(ctx, value if isinstance(value, str) else "")


def add_tags(ctx: Ctx) -> Reply:
    machine = changing_machine(ctx)
    tags = _tags_from_params(ctx, machine, "error adding tags")
    job = ctx.state.enqueue(ctx.dc, machine, "set_tags", {"items": tags}, ctx.now, ctx.caller())
    return json_reply({**machine.tags, **tags}, headers={"x-job-uuid": job.uuid})


def replace_tags(ctx: Ctx) -> Reply:
    machine = changing_machine(ctx)
    tags = _tags_from_params(ctx, machine, "error replacing tags")
    errors = protected_tag_errors([k for k in machine.tags if k not in tags], machine.docker)
    if errors:
        raise _wrap(validation_failed("Invalid tag parameters", errors), "error replacing tags")
    job = ctx.state.enqueue(ctx.dc, machine, "replace_tags", {"items": tags}, ctx.now, ctx.caller())
    return json_reply(tags, headers={"x-job-uuid": job.uuid})


def delete_tag(ctx: Ctx) -> Reply:
    machine = changing_machine(ctx)
    key = ctx.url["tag"]
    if key not in machine.tags:
        raise not_found(f'tag "{key}" not found')
    errors = protected_tag_errors([key], machine.docker)
    if errors:
        raise _wrap(validation_failed("Invalid tag parameters", errors), "error deleting tag")
    ctx.state.enqueue(ctx.dc, machine, "remove_tags", {"key": key}, ctx.now, ctx.caller())
    return Reply(204)


def delete_tags(ctx: Ctx) -> Reply:
    machine = changing_machine(ctx)
    errors = protected_tag_errors(list(machine.tags), machine.docker)
    if errors:
        raise _wrap(validation_failed("Invalid tag parameters", errors), "error deleting all tags")
    ctx.state.enqueue(ctx.dc, machine, "remove_tags", {"key": None}, ctx.now, ctx.caller())
    return Reply(204)


ROUTES = [
    ("/<login>/machines/<machine>/tags", "machines",
     {"GET": list_tags, "POST": add_tags, "PUT": replace_tags, "DELETE": delete_tags}),
    ("/<login>/machines/<machine>/tags/<tag>", "machines", {"GET": get_tag, "DELETE": delete_tag}),
]
