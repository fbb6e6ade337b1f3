"""Snapshots: a Machine's snapshot methods, and the Snapshot proxy itself.

A :class:`Snapshot` holds the last payload fetched for one snapshot of a
machine; :class:`MachineSnapshots` gives a Machine ``snapshots()``,
``create_snapshot()``, ``start_from_snapshot()`` and ``snapshot(name)``.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .. import seam
from ..errors import InvalidInputError, NotFoundError
from ..rules import BOOTABLE, SNAPSHOT_STATES, has_snapshots
from . import prechecks
from .fields import _field, _time
from .refusal import refused
from .validate import check_snapshot_name, check_states

if TYPE_CHECKING:
    from .machine import Machine


class MachineSnapshots:
    """Snapshot methods of a Machine (see Machine)."""

    def raw_snapshot_data(self, name: str) -> dict[str, Any]:
        """GET /:login/machines/:id/snapshots/:name — one snapshot as CloudAPI's dict."""
        name = check_snapshot_name(name)
        try:
            return self._request("GET", "snapshots", name).data
        except NotFoundError as exc:
            raise NotFoundError(f"machine {self.label} has no snapshot {name!r}",
                                status=exc.status, code=exc.code, request_id=exc.request_id,
                                method=exc.method, path=exc.path, body=exc.body) from exc

    def snapshots(self) -> SnapshotList:
        """GET /:login/machines/:id/snapshots — every snapshot (kept as ``known_snapshots``)."""
        found = SnapshotList(Snapshot(self, data=s)
                             for s in self._request("GET", "snapshots").data or [])
        self.known_snapshots = found
        return SnapshotList(found)

    def create_snapshot(self, name: str | None = None) -> Snapshot:
        """POST /:login/machines/:id/snapshots ``{"name": name}`` — the new Snapshot (queued).

        Without a name CloudAPI names it after the current UTC time. kvm
        machines cannot be snapshotted, and a name the machine already has (as
        last listed by :meth:`snapshots`, else asked with one GET) would be
        refused by CloudAPI's job: both are refused before sending.
        """
        body = {} if name is None else {"name": check_snapshot_name(name)}
        verdict = self.verdict("create_snapshot")
        if verdict.certain and not verdict.ok:
            raise refused(verdict, self, "POST")
        taken = prechecks.snapshot_taken(self, name) if name is not None else None
        if taken is not None:
            raise taken
        sent = datetime.now(timezone.utc)
        reply = self._change("create_snapshot", "POST", "snapshots", json=body, subject=name,
                             rule="create_snapshot")
        snap = Snapshot(self, data=reply.data or {"name": name, "state": "queued"})
        snap.create_sent_at = sent
        if self.known_snapshots is not None:
            self.known_snapshots = [s for s in self.known_snapshots if s.name != snap.name] + [snap]
        return snap

    def start_from_snapshot(self, name: str) -> Machine:
        """POST /:login/machines/:id/snapshots/:name — boot from the snapshot (rollback).

        The machine is stopped if running, rolled back, and started. A snapshot
        the machine does not have is refused before sending (its snapshots are listed
        first if they never were: CloudAPI accepts any name and fails the job later).
        """
        name = check_snapshot_name(name)
        if self.known_snapshots is None and has_snapshots(self):
            self.snapshots()
        return self._boot_from(name)

    def _boot_from(self, name: str, snapshot: Snapshot | None = None) -> Machine:
        """start_from_snapshot once the snapshot is known to exist, or its snapshots listed
        (``snapshot``: as read from the cloud, judged by its state)."""
        stop = prechecks.judge(self, "start_from_snapshot", snapshot or name)
        if stop is not None:
            raise refused(stop, self, "POST")
        try:
            self._change("rollback_snapshot", "POST", "snapshots", name, subject=name,
                         rule="start_from_snapshot")
        except NotFoundError as exc:
            raise NotFoundError(f"machine {self.label} has no snapshot {name!r}",
                                status=exc.status, code=exc.code, request_id=exc.request_id,
                                method=exc.method, path=exc.path, body=exc.body) from exc
        return self

    def snapshot(self, name: str) -> Snapshot:
        """GET /:login/machines/:id/snapshots/:name — one snapshot as a Snapshot."""
        return Snapshot(self, data=self.raw_snapshot_data(name))


class Snapshot:
    """A local proxy of one machine snapshot.

    ``Snapshot(machine, name)`` fetches it; ``Snapshot(machine, data=payload)``
    wraps a payload (the caller's dict is copied, never changed).
    """

    def __init__(self, machine: Machine, name: str | None = None,
                 data: Mapping[str, Any] | None = None):
        self.machine = machine
        if data is None:
            if name is None:
                raise InvalidInputError("Snapshot needs a name or a payload (data=...)")
            data = machine.raw_snapshot_data(name)
        elif not isinstance(data, Mapping) or not (name or data.get("name")):
            raise InvalidInputError("a snapshot payload must be a dict with a 'name'")
        self._save({"name": name, **data} if name and not data.get("name") else data)
        #: When this object's Machine.create_snapshot sent its create (aware UTC), else None.
        self.create_sent_at: datetime | None = None
        #: When the audit log recorded that create as not succeeded (its ``time``), as a wait
        #: found it; else None.
        self.create_failed_at: str | None = None

    def _save(self, data: Mapping[str, Any]) -> None:
        self.raw: dict[str, Any] = copy.deepcopy(dict(data))
        self.fetched_at = datetime.now(timezone.utc)

    name = _field("name", "The snapshot's name.")
    state = _field("state", "queued, running, created, failed, canceled or deleted.")
    size = _field("size", "Size in MiB (once created).")

    created = _time("created", "When the snapshot was made (aware).")
    updated = _time("updated", "When it last changed (None when CloudAPI did not say, e.g. "
                               "right after create).")

    @property
    def path(self) -> str:
        """``/<login>/machines/<id>/snapshots/<name>``."""
        return self.machine.datacenter.path("machines", self.machine.id, "snapshots", self.name)

    @property
    def label(self) -> str:
        """``snapshot NAME of MACHINE (short id)``: how waits and bulk results name it."""
        return f"snapshot {self.name} of {self.machine.label}"

    def refresh(self) -> Snapshot:
        """GET /:login/machines/:id/snapshots/:name."""
        self._save(self.machine.raw_snapshot_data(self.name))
        return self

    def status(self) -> str | None:
        """GET /:login/machines/:id/snapshots/:name — refresh, then return the state."""
        return self.refresh().state

    def delete(self) -> Snapshot:
        """DELETE /:login/machines/:id/snapshots/:name."""
        self.machine._change("delete_snapshot", "DELETE", "snapshots", self.name,
                             subject=self.name, rule="delete_snapshot")
        if self.machine.known_snapshots is not None:
            self.machine.known_snapshots = [s for s in self.machine.known_snapshots
                                            if s.name != self.name]
        return self

    def start(self) -> Snapshot:
        """POST /:login/machines/:id/snapshots/:name — boot the machine from it; returns self."""
        if self.state is None:  # never fetched: the machine checks that it has it
            self.machine.start_from_snapshot(self.name)
        else:  # read from the cloud: the rules judge its state ('deleted': not on the machine)
            if self.state not in BOOTABLE:
                self.refresh()  # its create job may have made it since
            self.machine._boot_from(check_snapshot_name(self.name), self)
        return self

    def wait_for(self, states: str | Iterable[str] = "created", timeout: float | None = 600.0,
                 **options: Any) -> Snapshot:
        """Poll until the snapshot is in one of ``states`` (default ``created``).

        ``failed`` or ``canceled`` (the outcome of its newest job) ends the wait with
        WaitFailed; awaiting ``deleted`` also accepts the snapshot being gone (404). After
        :meth:`Machine.create_snapshot`, ``deleted`` (how CloudAPI shows a snapshot not
        made yet) is waited through, and a create job that failed is named from the audit.
        """
        return seam.wait_for(self, check_states(states, SNAPSHOT_STATES, "snapshot"),
                             timeout=timeout, **options)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Snapshot):
            return NotImplemented
        return (self.machine, self.name) == (other.machine, other.name)

    def __hash__(self) -> int:
        return hash((self.machine, self.name))

    def __repr__(self) -> str:
        return f"<Snapshot {self.name} {self.state} of {self.machine.name} ({self.machine.id})>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        return seam.render_html(self)


class SnapshotList(list):
    """A list of :class:`Snapshot` that displays as a table in a notebook."""

    def _repr_html_(self) -> str:
        return seam.render_html(self)


__all__ = ["Snapshot", "SnapshotList", "MachineSnapshots"]
