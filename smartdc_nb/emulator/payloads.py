"""The wire form of every resource, in CloudAPI's field order.

Machine bodies are cached as bytes per (machine version, shown state, catalog
version, networks shown): a page of 1000 machines is a join of cached bytes,
so listing a large fleet does not re-serialise what has not changed.
"""

from __future__ import annotations

from typing import Any

from . import strictjson
from .store import Account, Datacenter, Key, Machine, State
from .timeline import iso


def dumps(obj: Any) -> bytes:
    """Compact strict JSON like JSON.stringify; lone surrogates fall back to \\u escapes."""
    text = strictjson.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return strictjson.dumps(obj, separators=(",", ":")).encode("ascii")


def shown_state(machine: Machine, now: float) -> str:
    """The state a client sees now: a running job's phase, else the settled state."""
    if machine.jobs:
        phase = machine.jobs[0].state_at(now)
        if phase:
            return phase
    return machine.state


def _nic_state(state: str) -> str:
    if state in ("running", "stopping", "ready"):
        return "running"
    return "provisioning" if state == "provisioning" else "stopped"


def format_nic(nic: dict[str, Any], state: str) -> dict[str, Any]:
    return {"mac": nic["mac"], "ip": nic["ip"], "primary": bool(nic.get("primary")),
            "gateway": nic.get("gateway"), "netmask": nic.get("netmask"),
            "state": _nic_state(state), "network": nic.get("network")}


def machine_dict(machine: Machine, state: State, now: float, *, credentials: Any = None,
                 networks: bool = True) -> dict[str, Any]:
    """The machine object of GetMachine/ListMachines (cloudapi.md §4.1)."""
    current = shown_state(machine, now)
    hvm = machine.brand in ("kvm", "bhyve")
    metadata = dict(machine.metadata)
    if credentials and machine.credentials:
        metadata["credentials"] = dict(machine.credentials)
    body: dict[str, Any] = {
        "id": machine.id,
        "name": machine.name,
        "type": "virtualmachine" if hvm else "smartmachine",
        "brand": machine.brand,
        "state": current,
        "image": machine.image,
        "ips": [nic["ip"] for nic in machine.nics],
        "memory": machine.memory,
        "disk": machine.disk,
        "deletion_protection": bool(machine.deletion_protection),
        "metadata": metadata,
        "tags": dict(machine.tags),
    }
    if credentials is not None:
        body["credentials"] = credentials  # CloudAPI echoes the raw parameter
    body["created"] = iso(machine.created)
    body["updated"] = iso(machine.updated)
    if machine.docker:
        body["docker"] = True
    if networks:
        body["networks"] = [nic.get("network") for nic in machine.nics]
    if machine.nics:
        body["nics"] = [format_nic(nic, current) for nic in machine.nics]
        primary = next((n for n in machine.nics if n.get("primary")), machine.nics[0])
        body["primaryIp"] = primary["ip"]
    body["firewall_enabled"] = bool(machine.firewall_enabled)
    body["compute_node"] = machine.compute_node
    package = state.packages.get(machine.package_id or "")
    body["package"] = package["name"] if package else ""
    if machine.brand == "bhyve":
        if package:
            body["flexible"] = bool(package.get("flexible_disk"))
        body["disks"] = [dict(d) for d in machine.disks or []]
    body.update(machine.extra)
    return body


def machine_bytes(machine: Machine, state: State, now: float, *, networks: bool = True) -> bytes:
    """The cached JSON bytes of a machine (no credentials)."""
    key = (machine.version, shown_state(machine, now), state.catalog_version, networks)
    cached = machine.cache
    if cached is not None and cached[0] == key:
        return cached[1]
    data = dumps(machine_dict(machine, state, now, networks=networks))
    machine.cache = (key, data)
    return data


def snapshot_dict(snap: dict[str, Any], shown: str | None) -> dict[str, Any]:
    """A snapshot the machine has, in ``shown`` state (None: CloudAPI's undefined, dropped),
    keys in the order of CloudAPI's translate()."""
    body: dict[str, Any] = {"name": snap["name"]}
    if shown is not None:
        body["state"] = shown
    if snap.get("size") is not None:
        body["size"] = snap["size"]
    body["created"] = iso(snap["created"])
    body["updated"] = iso(snap["created"])
    return body


def package_dict(pkg: dict[str, Any]) -> dict[str, Any]:
    """PAPI package as CloudAPI translates it (alphabetical keys, absent fields dropped)."""
    body = {
        "brand": pkg.get("brand"),
        "default": bool(pkg.get("default", False)),
        "description": pkg.get("description"),
        "disk": pkg["disk"],
        "group": pkg.get("group"),
        "id": pkg["id"],
        "lwps": pkg.get("lwps", 4000),
        "memory": pkg["memory"],
        "name": pkg["name"],
        "swap": pkg.get("swap", pkg["memory"] * 2),
        "vcpus": pkg.get("vcpus") or 0,
        "version": pkg.get("version", "1.0.0"),
    }
    if pkg.get("brand") == "bhyve":
        for name in ("flexible_disk", "disks"):
            if name in pkg:
                body[name] = pkg[name]
    return {k: v for k, v in body.items() if v is not None}


_IMAGE_FIELDS = ("id", "name", "version", "os", "requirements", "type", "image_size",
                 "description", "files", "tags", "homepage", "published_at", "owner", "public",
                 "state", "eula", "acl", "origin", "error")


def image_dict(image: dict[str, Any]) -> dict[str, Any]:
    body = {name: image[name] for name in _IMAGE_FIELDS if image.get(name) is not None}
    body.setdefault("requirements", {})
    return body


def network_dict(network: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in network.items() if not k.startswith("_")}


def account_dict(account: Account) -> dict[str, Any]:
    body: dict[str, Any] = {"id": account.uuid, "login": account.login, "email": account.email}
    body.update(account.profile)
    body["triton_cns_enabled"] = account.triton_cns_enabled
    body["created"] = iso(account.created)
    body["updated"] = iso(account.updated)
    return body


def key_dict(key: Key) -> dict[str, Any]:
    return {"name": key.name, "fingerprint": key.public.md5, "key": key.public.openssh}


def datacenters_dict(state: State) -> dict[str, str]:
    return {dc.name: dc.url for dc in state.datacenters.values()}


def networks_of(dc: Datacenter) -> list[dict[str, Any]]:
    return [network_dict(n) for n in dc.networks.values()]
