"""GetMachine, CreateMachine, DeleteMachine and the update actions (cloudapi.md §4);
ListMachines is listing.py."""

from __future__ import annotations

import random
import re
import uuid
from typing import Any

from .. import strictjson
from ..errors import (CloudAPIError, invalid_argument, invalid_field, missing_parameter,
                      validation_failed)
from ..seed import make_nic, servers_of
from ..store import Machine
from ..timeline import audit_entry
from ..versions import admits_network_objects, omits_networks
from ..payloads import dumps, machine_bytes, machine_dict, shown_state
from .common import (Ctx, Reply, conflict, gone, json_reply, machine_or_404, param_true,
                     provisioned)
from .listing import INACTIVE as _INACTIVE
from .listing import list_machines
from .validate import alias_errors, metadata_errors, network_object_ip, tag_errors

def get_machine(ctx: Ctx) -> Reply:
    machine = machine_or_404(ctx)
    credentials = ctx.params.get("credentials")
    networks = not omits_networks(ctx.accept_version)
    if credentials:
        body = dumps(machine_dict(machine, ctx.state, ctx.now, credentials=credentials,
                                  networks=networks))
    else:
        body = machine_bytes(machine, ctx.state, ctx.now, networks=networks)
    return Reply(410 if machine.state == "deleted" else 200, body)


# --------------------------------------------------------------- creating


def _flattened(params: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix) and len(k) > len(prefix)}


def _image(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    if p.get("image") and p.get("dataset"):
        raise invalid_argument("image and dataset are mutually exclusive parameters.")
    wanted = p.get("image") or p.get("dataset")
    if not wanted:
        raise missing_parameter("image must be specified")
    image = ctx.state.images.get(wanted) if isinstance(wanted, str) else None
    if image is None or not (image.get("public") or image.get("owner") == ctx.account.uuid
                             or ctx.account.uuid in (image.get("acl") or [])):
        raise invalid_argument(f"{_js(wanted)} is not a valid image")
    if image.get("state") != "active":
        raise invalid_argument(f"image {wanted} is not active")
    return image


def _js(value: Any) -> str:
    """How JavaScript's %s would print a parameter value."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return "[object Object]" if isinstance(value, dict) else ",".join(map(_js, value))
    return str(value)


def _package(ctx: Ctx) -> dict[str, Any]:
    wanted = ctx.params.get("package")
    if not wanted:
        raise missing_parameter("package must be specified")
    pkg = ctx.state.package(wanted) if isinstance(wanted, str) else None
    if pkg is None:
        raise invalid_argument(f"{_js(wanted)} is not a valid package")
    if not pkg.get("active", True):
        raise invalid_argument(f"{wanted} is inactive. Must use an active package")
    return pkg


_BRANDS = ("bhyve", "joyent", "joyent-minimal", "kvm", "lx")
_HVM_BRANDS = ("bhyve", "kvm")


def _safe_brand(name: Any) -> str:
    """lib/machines.js safeBrandName (its regexp has no g flag: one character goes)."""
    return re.sub(r"[^a-zA-Z0-9-]", "", _js(name), count=1)[:64]


def _brand(ctx: Ctx, image: dict[str, Any], pkg: dict[str, Any]) -> str:
    """lib/machines.js getBrand: the brand asked for, the image's and the package's agree."""
    wanted = ctx.params.get("brand")
    img_brand = (image.get("requirements") or {}).get("brand") or \
        ("lx" if image.get("type") in ("lx-dataset", "docker") else None)
    pkg_brand = pkg.get("brand")
    if wanted and wanted not in _HVM_BRANDS:
        raise invalid_argument(f'Unknown brand "{_safe_brand(wanted)}". Brand is restricted to '
                               'one of ["bhyve","kvm"]')
    if img_brand and img_brand not in _BRANDS:
        raise invalid_argument(f'Image requires unknown brand "{_safe_brand(img_brand)}"')
    if pkg_brand and pkg_brand not in _BRANDS:
        raise invalid_argument(f'Package requires unknown brand "{_safe_brand(pkg_brand)}"')
    # the defaults are CloudAPI's config (default_hvm_brand, default_container_brand)
    brand = wanted or img_brand or pkg_brand or ("bhyve" if image.get("type") == "zvol"
                                                 else "joyent")
    if pkg_brand and pkg_brand != brand:
        raise invalid_argument(f'Package requires brand "{_safe_brand(pkg_brand)}", but brand '
                               f'"{_safe_brand(brand)}" was selected')
    if img_brand and pkg_brand and img_brand != pkg_brand:
        raise invalid_argument(f'Image requires brand "{_safe_brand(img_brand)}", but pkq '
                               f'requires brand "{_safe_brand(pkg_brand)}"')  # sic
    if img_brand and img_brand != brand:
        raise invalid_argument(f'Image requires brand "{_safe_brand(img_brand)}", but brand '
                               f'"{_safe_brand(brand)}" was selected')
    if brand in _HVM_BRANDS and image.get("type") != "zvol":
        raise invalid_argument(f'Brand "{_safe_brand(brand)}" requires the image type to be "zvol"')
    if brand not in _HVM_BRANDS and image.get("type") == "zvol":
        raise invalid_argument(f'Brand "{_safe_brand(brand)}" cannot use an image of type "zvol"')
    return brand


def _networks(ctx: Ctx) -> list[tuple[dict[str, Any], str | None]]:
    """The networks of the new machine's NICs, each with the IP asked for (or None)."""
    raw = ctx.params.get("networks")
    nets = ctx.dc.networks
    if raw in (None, "", []):
        chosen = [n for n in nets.values() if n.get("public")][:1] + \
                 [n for n in nets.values() if not n.get("public") and not n.get("fabric")][:1]
        return [(n, None) for n in chosen]
    if isinstance(raw, str):
        raw = [s for s in raw.split(",") if s]
    if not isinstance(raw, list):
        raise invalid_argument("Invalid Networks")
    chosen: list[tuple[dict[str, Any], str | None]] = []
    objects = admits_network_objects(ctx.accept_version)
    for item in raw:
        if isinstance(item, dict) and not objects:
            raise invalid_argument("Invalid Networks")
        ip = network_object_ip(item, nets) if isinstance(item, dict) else None
        net_id = item.get("ipv4_uuid") if isinstance(item, dict) else item
        network = nets.get(net_id) if isinstance(net_id, str) else None
        if network is None:
            raise invalid_argument("Invalid Networks")
        if all(network is not n for n, _ in chosen):
            chosen.append((network, ip))
    if sum(1 for n, _ in chosen if n.get("public")) > 1:
        raise invalid_argument("Can specify a maximum of 1 public networks")
    return chosen


def _managed_ips(networks: list[tuple[dict[str, Any], str | None]]) -> None:
    """lib/machines.js validateIps: NAPI says the gateway belongs to the operator."""
    for network, ip in networks:
        if ip is not None and ip == network.get("gateway"):
            raise invalid_argument(f"cannot use {ip} because it is a managed IP")


def _ips_in_use(ctx: Ctx, networks: list[tuple[dict[str, Any], str | None]]) -> None:
    """NAPI refuses an address a NIC holds; CloudAPI hides who holds it."""
    wanted = {(network["id"], ip) for network, ip in networks if ip is not None}
    if not wanted:
        return
    for m in ctx.dc.machines.values():
        pending = [n for job in m.jobs if job.kind == "provision" for n in job.params["nics"]]
        if m.state not in _INACTIVE and any((n.get("network"), n.get("ip")) in wanted
                                            for n in [*m.nics, *pending]):
            raise CloudAPIError(409, "InvalidParameters", "Invalid parameters", errors=[
                invalid_field("ip", "IP in use", "UsedBy")])


def _credentials(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = strictjson.loads(value)
        except ValueError:
            raise validation_failed("Invalid Parameters", [
                invalid_field("internal_metadata", "Malformed JSON")]) from None
    if not isinstance(value, dict):
        raise validation_failed("Invalid Parameters", [
            invalid_field("internal_metadata", "Invalid data type")])
    return {str(k): str(v) for k, v in value.items()}


def _cns_name_fits(ctx: Ctx, name: Any) -> None:
    """With CNS on, a name must fit a DNS label (lib/machines.js create and rename)."""
    if ctx.account.triton_cns_enabled and isinstance(name, str) and len(name) > 63:
        raise invalid_argument("Name cannot be longer than 63 characters, because you have "
                               "triton_cns_enabled set on your Account.")


def _name_taken(ctx: Ctx, name: str, exclude: str | None = None) -> bool:
    for m in ctx.dc.machines.values():
        if m.name == name and m.owner == ctx.account.uuid and m.id != exclude and \
                shown_state(m, ctx.now) not in _INACTIVE:
            return True
    return False


def create_machine(ctx: Ctx) -> Reply:
    p, account = ctx.params, ctx.account
    image = _image(ctx)
    pkg = _package(ctx)
    if not account.keys:
        raise conflict("KeyRequired", "At least one SSH key is required to provision")
    min_ram = image["requirements"].get("min_ram")
    if min_ram and pkg["memory"] < min_ram:
        raise invalid_argument(f"You must use a package with at least {min_ram} MiB of RAM in "
                               "order to provision the selected image")
    brand = _brand(ctx, image, pkg)
    if p.get("bootrom") and brand != "bhyve":  # lib/machines.js getCreateOptions
        raise invalid_argument('Only bhyve VMs support "bootrom" option')
    networks = _networks(ctx)
    if p.get("affinity") and p.get("locality"):
        raise invalid_argument('cannot specify both "locality" (deprecated) and "affinity"')
    _managed_ips(networks)
    machine_id = str(uuid.uuid4())
    name = p.get("name")
    if name in (None, ""):
        name = machine_id[:8]
    elif isinstance(name, str):
        name = name.replace("{{shortId}}", machine_id[:8])
    _cns_name_fits(ctx, name)
    errors = alias_errors(name)
    if not errors and _name_taken(ctx, name):
        errors = [invalid_field("alias", "Already exists for this owner_uuid", "Duplicate")]
    if errors:
        raise validation_failed("Invalid VM parameters: Invalid machine name", errors)
    tags = _flattened(p, "tag.")
    errors = tag_errors(tags, docker=False)
    if errors:
        suffix = ": Invalid tags" if errors[0]["field"] == "tags" else ""
        raise validation_failed("Invalid VM parameters" + suffix, errors)
    metadata = {k: v for k, v in _flattened(p, "metadata.").items()
                if not k.endswith("_pw") and k != "credentials"}
    errors = metadata_errors(metadata)
    if errors:
        raise validation_failed("Invalid VM parameters", errors)
    _ips_in_use(ctx, networks)
    credentials = _credentials(p["metadata.credentials"]) if "metadata.credentials" in p else {}
    for secret in ("password", "administrator_pw"):
        if isinstance(p.get(secret), str):
            credentials["administrator"] = p[secret]
    metadata["root_authorized_keys"] = "".join(k.public.openssh + "\n" for k in account.keys.values())
    rng = random.Random(machine_id)
    nics = [make_nic(net, rng, i == 0) for i, (net, _) in enumerate(networks)]
    for nic, (_, ip) in zip(nics, networks):
        nic["ip"] = ip or nic["ip"]
    machine = Machine(
        id=machine_id, name=name, brand=brand, state="provisioning", image=image["id"],
        package_id=pkg["id"], memory=pkg["memory"], disk=pkg["disk"], created=ctx.now,
        updated=ctx.now, owner=account.uuid, tags=tags, metadata=metadata, credentials=credentials,
        firewall_enabled=param_true(p.get("firewall_enabled")),
        deletion_protection=p.get("deletion_protection") is True, last_job_end=ctx.now,
    )
    if brand == "bhyve":
        machine.disks = [{"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "size": 10240,
                          "block_size": 8192, "boot": True, "image": image["id"]},
                         {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                          "size": max(pkg["disk"] - 10240, 1024), "block_size": 8192}]
    ctx.dc.add(machine)
    # VMAPI's server_uuid (compute_node) is set by the provision job, as the NICs are
    server = rng.choice(servers_of(ctx.dc.name))
    job = ctx.state.enqueue(ctx.dc, machine, "provision", {"nics": nics, "server": server},
                            ctx.now, ctx.caller())
    machine.audit.append(audit_entry("provision", not job.forced_fail, ctx.now, ctx.caller()))
    ctx.state.touch(ctx.dc, machine)
    body = machine_dict(machine, ctx.state, ctx.now, networks=not omits_networks(ctx.accept_version))
    return json_reply(body, 201, {"Location": f"/{account.login}/machines/{machine_id}"})


# ---------------------------------------------------------------- deleting


def delete_machine(ctx: Ctx) -> Reply:
    machine = machine_or_404(ctx, allow_deleted=False)
    if any(job.kind == "destroy" for job in machine.jobs):
        return Reply(204)
    if machine.deletion_protection:
        raise conflict("CannotDestroyMachineError",
                       'Instance has "deletion_protection" enabled, preventing deletion')
    ctx.state.enqueue(ctx.dc, machine, "destroy", None, ctx.now, ctx.caller())
    return Reply(204)


# ----------------------------------------------------------------- actions


def _simple(kind: str):
    def action(ctx: Ctx, machine: Machine) -> None:
        provisioned(ctx, machine, kind)
        ctx.state.enqueue(ctx.dc, machine, kind, None, ctx.now, ctx.caller())
    return action


def _toggle(kind: str, attr: str, value: bool):
    def action(ctx: Ctx, machine: Machine) -> None:
        if bool(getattr(machine, attr)) != value:
            provisioned(ctx, machine, "update")
            ctx.state.enqueue(ctx.dc, machine, kind, None, ctx.now, ctx.caller())
    return action


def _resize(ctx: Ctx, machine: Machine) -> None:
    if machine.brand == "kvm":
        raise invalid_argument("resize is not supported for KVM virtualmachines")
    pkg = _package(ctx)
    image = ctx.state.images.get(machine.image) or {"requirements": {}}
    req = image.get("requirements") or {}
    if req.get("min_ram") and req["min_ram"] > pkg["memory"]:
        raise invalid_argument(f"Package RAM ({pkg['memory']}) is less than allowed by the image "
                               f"({req['min_ram']})")
    if req.get("max_ram") and req["max_ram"] < pkg["memory"]:
        raise invalid_argument(f"Package RAM ({pkg['memory']}) is more than allowed by the image "
                               f"({req['max_ram']})")
    if machine.brand == "bhyve":
        if not pkg.get("flexible_disk"):
            raise invalid_argument("Resizing to a package without flexible disk space is not supported")
        if machine.state != "stopped":
            raise conflict("VmNotStopped", "VM not stopped")
    provisioned(ctx, machine, "update")
    ctx.state.enqueue(ctx.dc, machine, "resize",
                      {"package_id": pkg["id"], "memory": pkg["memory"], "disk": pkg["disk"]},
                      ctx.now, ctx.caller())


def _rename(ctx: Ctx, machine: Machine) -> None:
    name = ctx.params.get("name")
    if not name:
        raise missing_parameter("New name must be specified")
    if isinstance(name, str) and len(name) > 189:
        raise invalid_argument("Name cannot be longer than 189 characters.")
    _cns_name_fits(ctx, name)
    errors = alias_errors(name)
    if not errors and _name_taken(ctx, name, exclude=machine.id):
        errors = [invalid_field("alias", "Already exists for this owner_uuid", "Duplicate")]
    if errors:
        raise validation_failed("Invalid VM update parameters", errors)
    provisioned(ctx, machine, "update")
    ctx.state.enqueue(ctx.dc, machine, "rename", {"name": name}, ctx.now, ctx.caller())


_ACTIONS = {
    "start": _simple("start"),
    "stop": _simple("stop"),
    "reboot": _simple("reboot"),
    "resize": _resize,
    "rename": _rename,
    "enable_firewall": _toggle("enable_firewall", "firewall_enabled", True),
    "disable_firewall": _toggle("disable_firewall", "firewall_enabled", False),
    "enable_deletion_protection": _toggle("enable_deletion_protection", "deletion_protection", True),
    "disable_deletion_protection": _toggle("disable_deletion_protection", "deletion_protection", False),
}


def update_machine(ctx: Ctx) -> Reply:
    machine = machine_or_404(ctx)
    action = ctx.params.get("action")
    if action in (None, ""):
        raise missing_parameter("action is required")
    handler = _ACTIONS.get(action) if isinstance(action, str) else None
    if handler is None:
        raise invalid_argument(f"{_js(action)} is not a valid action")
    if machine.state == "deleted" and "deletion_protection" not in action:
        gone(ctx, machine)
    handler(ctx, machine)
    return Reply(202)


ROUTES = [
    ("/<login>/machines", "machines", {"GET": list_machines, "POST": create_machine}),
    ("/<login>/machines/<machine>", "machines",
     {"GET": get_machine, "POST": update_machine, "DELETE": delete_machine}),
]
