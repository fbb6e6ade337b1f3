"""ListMachines (cloudapi.md §4.1): the filters, offset paging, and each page's body
made of the machines' cached bytes and kept, with its Content-MD5, while its
machines are unchanged."""

from __future__ import annotations

import base64
import hashlib
import re
import weakref
from collections import OrderedDict
from typing import Any

from ..errors import invalid_argument, invalid_field, not_found, validation_failed
from ..payloads import dumps, machine_bytes, machine_dict, shown_state
from ..store import Datacenter, Machine
from ..versions import omits_networks
from .common import Ctx, Reply
from .tagsearch import tag_matcher, tag_string

MAX_LIMIT = 1000
_STATE_FILTERS = {"provisioning": "active", "stopping": "active", "active": "active",
                  "running": "running", "stopped": "stopped", "unknown": "unknown",
                  "destroyed": "deleted"}
#: shown states a listing leaves out unless asked for tombstones
INACTIVE = ("deleted", "failed")


#: VMAPI's own patterns for the values CloudAPI passes on (sdc-vmapi lib/common/validation.js
#: ALIAS_RE, RAM_RE, UUID_RE, VALID_VM_BRANDS); the messages quote the JS regexps as VMAPI does.
_ALIAS_RE = r"/^[a-zA-Z0-9][a-zA-Z0-9\_\.\-]*$/"
_RAM_RE = r"/^0$|^([1-9][0-9]*$)/"
_BRANDS = ("bhyve", "joyent", "joyent-minimal", "kvm", "lx")
_UUID = r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}"  # both lower-case only


def _int_error(params: dict[str, Any], name: str, low: int, high: int | None) -> dict | None:
    raw = params.get(name)
    if raw is None or raw == "":  # CloudAPI's ``limit || 1000`` / ``offset || 0``
        return None
    text = "" if isinstance(raw, bool) else str(raw).strip()
    value = int(text) if re.fullmatch(r"-?\d{1,12}", text) else None
    if value is None or value < low or (high is not None and value > high):
        bound = f">= {low}" + (f" and <= {high}" if high is not None else "")
        return invalid_field(name, f"Not a valid number: number must be {bound}")
    return None


def _int_param(params: dict[str, Any], name: str, default: int) -> int:
    raw = params.get(name)
    return default if raw is None or raw == "" else int(str(raw).strip())


def _vmapi_errors(p: dict[str, Any], tags: dict[str, Any]) -> list[dict]:
    """What VMAPI's validateListVmsParams says of the values CloudAPI hands it
    (sdc-cloudapi lib/machines.js getListOptions passes ``brand``, ``image`` as image_uuid,
    ``memory`` as ram and ``name`` as alias only when truthy, every ``tag.*`` as is, and
    ``limit || 1000``, ``offset || 0``). The errors come in the order of VMAPI's validator
    table, under VMAPI's field names."""
    errors = []
    name, brand, memory = p.get("name"), p.get("brand"), p.get("memory")
    image = p.get("image")
    if name and not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]*", str(name)):
        errors.append(invalid_field("alias", f"String does not match regexp: {_ALIAS_RE}"))
    if brand and brand not in _BRANDS:
        errors.append(invalid_field("brand", "Must be one of: " + ", ".join(_BRANDS)))
    if image and not re.fullmatch(_UUID, str(image)):
        errors.append(invalid_field("image_uuid", "Invalid UUID"))
    errors += [e for e in (_int_error(p, "limit", 1, MAX_LIMIT), _int_error(p, "offset", 0, None))
               if e]
    if memory and not re.fullmatch(r"0|[1-9][0-9]*", str(memory)):
        errors.append(invalid_field("ram", f"String does not match regexp: {_RAM_RE}"))
    for key, value in tags.items():  # VMAPI validatePolymorphicParamStringKeyValue
        if value == "":
            errors.append(invalid_field("tag", 'Invalid tag value: ""'))
    return errors


def _load_image(ctx: Ctx) -> None:
    """CloudAPI's loadDatasets, which runs before ListMachines: a UUID in ``image`` (else
    ``dataset``) is fetched from IMGAPI, whatever its owner; an unknown one is IMGAPI's 404."""
    wanted = ctx.params.get("image") or ctx.params.get("dataset")
    if not isinstance(wanted, str) or not re.fullmatch(_UUID, wanted):
        return
    image = ctx.state.images.get(wanted)
    if image is None:
        raise not_found(f"image {wanted} not found")
    if image.get("state") == "destroyed":
        raise not_found(f"{wanted} not found")


def _filters(ctx: Ctx):
    """Turn ListMachines parameters into a predicate (409s for bad values).

    Only ``image`` filters: CloudAPI folds ``image`` into ``dataset`` for CreateMachine's
    sake, but getListOptions reads ``image``, so a ``dataset`` alone filters nothing."""
    _load_image(ctx)
    p = ctx.params
    state = p.get("state")
    if state is not None and state not in _STATE_FILTERS:
        raise invalid_argument(f"{state} is not a valid state")
    wanted_state = _STATE_FILTERS.get(state)
    kind = p.get("type")
    if kind is not None and kind not in ("smartmachine", "virtualmachine"):
        raise invalid_argument(f"{kind} is not a valid type")
    docker = p.get("docker")
    if isinstance(docker, str):
        if docker not in ("true", "false"):
            raise invalid_argument(f"{docker} is not a valid boolean")
        docker = docker == "true"
    elif not isinstance(docker, bool):
        docker = None
    if p.get("image") and p.get("dataset"):
        raise invalid_argument("image and dataset are mutually exclusive parameters.")
    image = p.get("image")
    tags = {k[4:]: v for k, v in p.items() if k.startswith("tag.") and len(k) > 4}  # /^tag\..+/
    tombstone = bool(p.get("tombstone"))
    if all_tagged(p):  # one query replaces every other option, even the state

        def any_tags(m: Machine, shown: str) -> bool:
            return bool(m.tags)
        return any_tags
    _raise_invalid(_vmapi_errors(p, tags))
    # CloudAPI tests ``if (req.params.name)``: an empty value is no filter at all
    name, brand, memory = p.get("name") or None, p.get("brand"), p.get("memory")
    tag_tests = [tag_matcher(key, value) for key, value in tags.items()]

    def keep(m: Machine, shown: str) -> bool:
        if wanted_state is None:
            if not tombstone and shown in INACTIVE:
                return False
        elif wanted_state == "active":
            if shown in INACTIVE:
                return False
        elif shown != wanted_state:
            return False
        if name is not None and not m.name.startswith(name):  # VMAPI: (alias=<name>*)
            return False
        if brand and m.brand != brand:
            return False
        if image and m.image != image:
            return False
        if memory and str(m.memory) != str(memory):
            return False
        if kind and (m.brand in ("kvm", "bhyve")) != (kind == "virtualmachine"):
            return False
        if docker is not None and bool(m.docker) != docker:
            return False
        if tag_tests:
            stored = tag_string(m.tags)
            if not all(test(stored) for test in tag_tests):
                return False
        return True
    return keep


def _raise_invalid(errors: list[dict]) -> None:
    if errors:
        raise validation_failed("Invalid Parameters", errors)


def all_tagged(params: dict[str, Any]) -> bool:
    """``tags=*``: CloudAPI lists every tagged machine with one query of its own."""
    return params.get("tags") == "*"


def list_machines(ctx: Ctx) -> Reply:
    keep = _filters(ctx)
    if all_tagged(ctx.params):  # VMAPI gets no limit nor offset: its default page
        limit, offset = MAX_LIMIT, 0
    else:
        limit = _int_param(ctx.params, "limit", MAX_LIMIT)  # validated by _filters
        offset = _int_param(ctx.params, "offset", 0)
    credentials = ctx.params.get("credentials")
    networks = not omits_networks(ctx.accept_version)
    state, now, owner = ctx.state, ctx.now, ctx.account.uuid
    page: list[Machine] = []
    skipped = 0
    for m in state.iter_machines(ctx.dc, now):
        if m.owner != owner or not keep(m, shown_state(m, now)):
            continue
        if skipped < offset:
            skipped += 1
            continue
        page.append(m)
        if len(page) >= limit:
            break
    headers = {"x-resource-count": str(len(page))}
    if not all_tagged(ctx.params):  # else CloudAPI's res.header('x-query-limit', undefined)
        headers["x-query-limit"] = str(limit)  # is a getter, and sets nothing
    if credentials:
        parts = [dumps(machine_dict(m, state, now, credentials=credentials, networks=networks))
                 for m in page]
        return Reply(200, _joined(parts), headers)
    parts = [machine_bytes(m, state, now, networks=networks) for m in page]
    body, digest = _page(ctx.dc, networks, parts)
    return Reply(200, body, headers, digest=digest)


# ------------------------------------------------------------- page cache


class _Pages:
    """A datacenter's recent ListMachines pages: the machines' cached bytes, the
    page's body and its Content-MD5, newest last (bounded in bytes)."""

    def __init__(self) -> None:
        self.entries: OrderedDict[tuple, tuple[list[bytes], bytes, str]] = OrderedDict()
        self.size = 0


#: bytes of page bodies kept per datacenter (2 x 5,000 machines, paged two ways, fit)
PAGE_CACHE_BYTES = 48 * 2**20
_pages: weakref.WeakKeyDictionary[Datacenter, _Pages] = weakref.WeakKeyDictionary()


def _page(dc: Datacenter, networks: bool, parts: list[bytes]) -> tuple[bytes, str | None]:
    """The body of a page of machine bytes, and its Content-MD5, reused while the page
    holds the same bytes.

    Joining a page and hashing it cost most of serving it. A page is reused only if
    its every machine's bytes equal the ones it was made of (the same objects, as
    a rule: payloads.machine_bytes keeps a machine's bytes until the machine changes,
    which is every mutation's ``State.touch`` or a job's settling), so a changed,
    added or removed machine is a new page. Callers hold ``state.lock``.
    """
    if not parts:
        return b"[]", None
    cache = _pages.get(dc)
    if cache is None:
        cache = _pages[dc] = _Pages()
    key = (networks, len(parts), parts[0], parts[-1])
    hit = cache.entries.get(key)
    if hit is not None and hit[0] == parts:  # identity first, then content: never stale
        cache.entries.move_to_end(key)
        return hit[1], hit[2]
    body = _joined(parts)
    digest = base64.b64encode(hashlib.md5(body).digest()).decode()
    if hit is not None:
        cache.size -= len(hit[1])
    cache.entries[key] = (parts, body, digest)
    cache.entries.move_to_end(key)
    cache.size += len(body)
    while cache.size > PAGE_CACHE_BYTES and len(cache.entries) > 1:
        _, (_, old, _) = cache.entries.popitem(last=False)
        cache.size -= len(old)
    return body, digest


def _joined(parts: list[bytes]) -> bytes:
    """``[part,part,...]`` with one copy of the page (the brackets go on the end parts)."""
    if not parts:
        return b"[]"
    if len(parts) == 1:
        return b"[" + parts[0] + b"]"
    return b",".join([b"[" + parts[0], *parts[1:-1], parts[-1] + b"]"])
