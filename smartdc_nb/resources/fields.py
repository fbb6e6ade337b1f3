"""A Machine's read-only attributes, all read from its last payload (no request).

:class:`MachineFields` is the part of :class:`~smartdc_nb.resources.machine.Machine`
that turns ``raw`` (the payload CloudAPI sent) into attributes; the one request
among them is the seed's documented IP re-fetch, at most once per object.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .values import Metadata, parse_time, split_ips

if TYPE_CHECKING:
    from .machine import Machine


def _field(key: str, doc: str) -> property:
    return property(lambda self: self.raw.get(key), doc=doc)


def _time(key: str, doc: str) -> property:
    return property(lambda self: parse_time(self.raw.get(key)), doc=doc)


def _copied(key: str, doc: str) -> property:
    def get(self: Machine) -> Any:
        value = self.raw.get(key)
        return copy.deepcopy(value) if value is not None else None
    return property(get, doc=doc)


class MachineFields:
    """Attributes of a Machine read from ``self.raw`` (see Machine)."""

    raw: dict[str, Any]
    datacenter: Any
    _ips_refetched: bool

    id = _field("id", "The machine's UUID.")
    name = _field("name", "The machine's name (alias).")
    type = _field("type", "``smartmachine`` or ``virtualmachine`` (deprecated by CloudAPI).")
    brand = _field("brand", "joyent, joyent-minimal, lx, kvm or bhyve.")
    state = _field("state", "The state in the last payload (see MACHINE_STATES).")
    image = _field("image", "The image UUID.")
    package = _field("package", "The package name ('' when CloudAPI does not know it).")
    memory = _field("memory", "Memory in MiB.")
    disk = _field("disk", "Disk in MiB.")
    primary_ip = _field("primaryIp", "The primary NIC's IP.")
    firewall_enabled = _field("firewall_enabled", "Whether the cloud firewall is on.")
    deletion_protection = _field("deletion_protection", "Whether deletion protection is on.")
    compute_node = _field("compute_node", "The server UUID (None right after create).")
    docker = _field("docker", "True for Docker containers, else None.")
    free_space = _field("free_space", "Free disk space in MiB (bhyve).")
    flexible = _field("flexible", "Whether the package has a flexible disk (bhyve).")
    delegate_dataset = _field("delegate_dataset", "Whether the machine has a delegated dataset.")
    encrypted = _field("encrypted", "True when placed on an encrypted compute node.")
    dataset = _field("dataset", "py-smartdc's dataset field (None for CloudAPI 7+ machines).")
    ips = _copied("ips", "Every IP of the machine, in NIC order (a copy).")
    networks = _copied("networks", "The network UUID of each NIC (a copy).")
    nics = _copied("nics", "The NICs: mac, ip, primary, gateway, netmask, network, state.")
    tags = _copied("tags", "Tags as of the last payload or tag call (a copy).")
    dns_names = _copied("dns_names", "CNS names (GetMachine only, when CNS is on).")
    disks = _copied("disks", "Disks (bhyve).")

    @property
    def metadata(self) -> dict[str, Any] | None:
        """Metadata as of the last payload or metadata call (a copy).

        Passwords are not here: see :meth:`credentials`. Shown in a cell, the value of a
        secret key (``db_password``, ``api_token``: smartdc_nb.masking) is masked.
        """
        value = self.raw.get("metadata")
        return Metadata(value) if isinstance(value, dict) else None

    @property
    def boot_script(self) -> str | None:
        """The ``user-script`` metadata (run at every boot), if any."""
        return (self.raw.get("metadata") or {}).get("user-script")

    created = _time("created", "When the machine was created (aware, milliseconds kept).")
    updated = _time("updated", "When the machine last changed (aware, milliseconds kept).")

    @property
    def age(self) -> timedelta | None:
        """Time since ``created`` (computed locally)."""
        created = self.created
        return datetime.now(timezone.utc) - created if created else None

    @property
    def path(self) -> str:
        """The machine's request path, ``/<login>/machines/<id>``."""
        return self.datacenter.path("machines", self.id)

    @property
    def public_ips(self) -> list[str]:
        """The globally routable IPs (see :func:`split_ips`).

        When the payload has no IP yet (e.g. fetched while provisioning) the
        machine is re-fetched once per object, as py-smartdc documented.
        """
        return split_ips(self._ips_once())[0]

    @property
    def private_ips(self) -> list[str]:
        """The IPs that are not globally routable: RFC 1918, ULA, link-local, CGNAT, loopback.

        Like :attr:`public_ips`, re-fetches the machine once per object when it has no IP yet.
        """
        return split_ips(self._ips_once())[1]

    def _ips_once(self) -> list[str]:
        if not self.raw.get("ips") and not self._ips_refetched and self.state != "deleted":
            self._ips_refetched = True
            self.refresh()
        return list(self.raw.get("ips") or [])


__all__ = ["MachineFields"]
