"""A handle on one emulated datacenter, for tests and the admin API: inject machines, force
states, make the next jobs fail (``emu.datacenter(name)`` returns one)."""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING, Any

from .seed import make_nic, stable_uuid
from .store import Datacenter, Machine
from .timeline import FAILABLE, audit_entry

if TYPE_CHECKING:
    from . import Emulator


class DatacenterHandle:
    """The emulator side of one datacenter, for tests: inject and force."""

    def __init__(self, emulator: "Emulator", dc: Datacenter):
        self._emu = emulator
        self._dc = dc

    def __repr__(self) -> str:
        return f"<DatacenterHandle {self._dc.name} {self._dc.url or '(not started)'}>"

    @property
    def name(self) -> str:
        return self._dc.name

    @property
    def url(self) -> str:
        return self._dc.url

    def machine_ids(self) -> list[str]:
        """The ids of every machine in this datacenter (any owner, any state)."""
        with self._emu.state.lock:
            return [m.id for m in self._dc.ordered()]

    def put_machine(self, **fields: Any) -> str:
        """Inject a machine with any fields; returns its id.

        Known fields: ``id, name, state, brand, image, package (name or id),
        memory, disk, tags, metadata, credentials, created, updated (epoch
        seconds), firewall_enabled, deletion_protection, docker, compute_node,
        owner (login), snapshots (names)``. Any other field is put verbatim
        into the machine's JSON (it may override a computed one, e.g. ``ips``).
        The owner is the first account unless given.
        """
        emu = self._emu
        state = emu.state
        with state.lock:
            now = state.clock.now()
            owner_login = fields.pop("owner", None)
            owner = state.account(owner_login) if owner_login else next(iter(state.accounts.values()))
            if owner is None:
                raise ValueError(f"unknown owner account {owner_login!r}")
            pkg_ref = fields.pop("package", "g4-highcpu-1G")
            pkg = state.package(pkg_ref) or {"id": pkg_ref, "memory": 1024, "disk": 25600}
            image = fields.pop("image", stable_uuid("image", "base-64-lts", "23.4.0"))
            machine_id = str(fields.pop("id", None) or uuid.uuid4())
            if machine_id in self._dc.machines:
                raise ValueError(f"machine {machine_id} already exists")
            created = float(fields.pop("created", now))
            snapshots = fields.pop("snapshots", [])
            known = {name: fields.pop(name) for name in (
                "name", "state", "brand", "memory", "disk", "tags", "metadata", "credentials",
                "updated", "firewall_enabled", "deletion_protection", "docker", "compute_node")
                if name in fields}
            machine = Machine(
                id=machine_id, name=known.get("name", machine_id[:8]),
                state=known.get("state", "running"), brand=known.get("brand", "joyent"),
                image=image, package_id=pkg["id"], memory=known.get("memory", pkg["memory"]),
                disk=known.get("disk", pkg["disk"]), created=created,
                updated=float(known.get("updated", created)), owner=owner.uuid,
                tags=dict(known.get("tags") or {}), metadata=dict(known.get("metadata") or {}),
                credentials=dict(known.get("credentials") or {}),
                firewall_enabled=bool(known.get("firewall_enabled", False)),
                deletion_protection=bool(known.get("deletion_protection", False)),
                docker=bool(known.get("docker", False)), compute_node=known.get("compute_node"),
                last_job_end=created, extra=fields,
            )
            network = next((n for n in self._dc.networks.values() if not n.get("public")), None)
            if network is not None:
                machine.nics = [make_nic(network, random.Random(machine_id), True)]
            for name in snapshots:
                machine.snapshots[name] = {"name": name, "state": "created", "created": created,
                                           "size": 100}
            machine.audit.append(audit_entry("provision", machine.state != "failed", created,
                                             {"type": "operator"}))
            self._dc.add(machine)
            state.touch(self._dc, machine)
            return machine_id

    def set_state(self, machine_id: str, state: str) -> None:
        """Force ``state`` on a machine now; its pending jobs are dropped."""
        if not isinstance(state, str) or not state:
            raise ValueError("state must be a non-empty string, e.g. 'failed' or 'offline'")
        emu = self._emu
        with emu.state.lock:
            machine = emu.state.machine(self._dc, machine_id)
            if machine is None:
                raise KeyError(f"no machine {machine_id} in {self._dc.name}")
            machine.jobs.clear()
            self._dc.busy.discard(machine.id)
            machine.state = state
            machine.updated = emu.state.clock.now()
            emu.state.touch(self._dc, machine)

    def fail_next(self, action: str, count: int = 1, canceled: bool = False,
                  after_snapshot: bool = False) -> None:
        """Make the next ``count`` jobs of ``action`` end with ``success: "no"``.

        ``provision`` leaves the machine ``failed``; other jobs change nothing.
        Actions: the job kinds of timeline.py (start, stop, reboot, destroy or
        delete, resize, rename, set_tags, create_snapshot, ...). ``canceled``: the
        jobs are canceled (as by an operator) rather than failed, which only a
        snapshot's state shows. ``after_snapshot`` (create_snapshot only): the jobs fail once
        the compute node took the snapshot, which stays, shown ``failed``.
        """
        if after_snapshot and (action != "create_snapshot" or canceled):
            raise ValueError("after_snapshot is for create_snapshot jobs (they fail once the "
                             f"snapshot is taken), not {action!r}, and not with canceled")
        if action not in FAILABLE:
            raise ValueError(f"unknown action {action!r}; one of {', '.join(sorted(FAILABLE))}")
        if int(count) < 1:
            raise ValueError("count must be >= 1")
        with self._emu.state.lock:
            counts = self._dc.fail_after_snapshot if after_snapshot else \
                self._dc.cancel_next if canceled else self._dc.fail_next
            counts[action] = counts.get(action, 0) + int(count)
