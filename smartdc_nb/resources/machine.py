"""Machine: the local proxy of one remote CloudAPI machine (the seed's API).

A :class:`Machine` holds the last payload fetched for one machine (``raw``,
fetched at ``fetched_at``) and the :class:`~smartdc_nb.datacenter.DataCenter`
it lives in. Attribute access, ``repr`` and the HTML repr never make a request;
methods do, and say which in their docstrings. The one exception, kept from
py-smartdc, is :attr:`Machine.public_ips` / :attr:`Machine.private_ips`: when
no IP is known yet they re-fetch the machine, at most once per object.

Method names and return values are py-smartdc's: where the seed returned a
value (``add_tags`` all tags, ``update_metadata`` all metadata, ``status`` the
state, ``credentials`` the passwords) it is returned; where it returned None,
the Machine is (``m.stop().wait_for("stopped")``). Actions remember
what was asked (:attr:`Machine.pending_action`: the audit action name, the
server's ``Date`` and the state before), so a wait can tell a refused action
(CloudAPI answers 202 and records ``success: "no"`` in the machine's audit
log) or a reboot that has not happened yet from the target state.

What the client can know is refused before sending: a bad name, tag or
metadata value, a package the datacenter does not have, a snapshot of a kvm
machine, deleting a machine with deletion protection on, any change to a
machine known to be deleted, a snapshot name the machine already has, booting
from a snapshot it does not have, a reboot of a stopped machine. Those
refusals raise the same error classes the server's answers map to (with
``request_id`` None, since nothing was sent). An action the machine is already
as (stop of a stopped machine, start of a running one) is not sent and an
:class:`~smartdc_nb.errors.ActionSkippedWarning` says so. Verdicts that rest on
the state are checked on a fresh payload first (see resources.prechecks).
"""

from __future__ import annotations

import copy
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping

from .. import rules, seam
from ..errors import InvalidArgumentError, InvalidInputError, MachineDeletedError, NotFoundError
from ..rules import MACHINE_STATES
from ..writes import PendingWrites
from .audit import PendingAction, action_entry, audit_key
from .fields import MachineFields
from . import prechecks
from .machine_data import MachineData
from .machine_waits import MachineWaits
from .refusal import refused
from .snapshot import MachineSnapshots, Snapshot
from .validate import is_uuid, validate_machine_name
from .values import Credentials, credentials_of

if TYPE_CHECKING:
    from ..datacenter import DataCenter
    from ..transport import Reply

class Machine(MachineFields, MachineData, MachineSnapshots, MachineWaits):
    """A local proxy of one CloudAPI machine, tied to a :class:`~smartdc_nb.datacenter.DataCenter`.

    ``Machine(dc, machine_id)`` fetches the machine (GET /:login/machines/:id);
    ``Machine(dc, data=payload)`` wraps a payload without a request (the
    caller's dict is copied, never changed). Usually made by
    ``dc.machines()`` / ``dc.machine()``.

    Read-only attributes come from the last payload (``raw``: the payload as
    CloudAPI sent it, except ``metadata.credentials``, which only
    :meth:`credentials` returns); a field the payload lacks is None.
    ``created``/``updated`` are aware datetimes.
    """

    def __init__(self, datacenter: DataCenter, machine_id: str | None = None,
                 data: Mapping[str, Any] | None = None, credentials: bool = False,
                 fetched_at: datetime | None = None):
        self.datacenter = datacenter
        self._credentials: Credentials | None = None
        self._ips_refetched = False
        self.known_snapshots: list[Snapshot] | None = None
        self.pending_action: PendingAction | None = None
        self._audit_seen: set[tuple] = set()
        # sent, audit entry not seen yet, by action (a loop of tag writes makes thousands: the
        # count of one action's is needed per request, and summing them was O(n))
        self._outstanding: dict[str | None, list[PendingAction]] = {}
        #: flag -> the value this Machine's last toggle of it asked for, until it shows
        self.toggled: dict[str, bool] = {}
        self._writes = PendingWrites()  # tag/metadata writes no read has shown yet
        if data is None:
            if machine_id is None:
                raise InvalidInputError("Machine needs a machine id or a payload (data=...)")
            if not is_uuid(machine_id):
                raise InvalidInputError(
                    f"{machine_id!r} is not a machine id (a UUID); to find a machine by name "
                    "use dc.machine(name)")
            self.raw = {"id": machine_id}
            self.refresh(credentials=credentials)
        else:
            if not isinstance(data, Mapping) or not data.get("id"):
                raise InvalidInputError("a machine payload must be a dict with an 'id'")
            if machine_id is not None and machine_id != data["id"]:
                raise InvalidInputError(
                    f"machine_id {machine_id!r} does not match the payload's id {data['id']!r}")
            self._save(data, fetched_at)

    def update_from(self, data: Mapping[str, Any], fetched_at: datetime | None = None) -> None:
        """Keep ``data`` (a payload fetched elsewhere: a listing, the changefeed) as this
        machine's last known state (no request; the caller's dict is copied)."""
        self._save(data, fetched_at)

    @property
    def raw_as_served(self) -> dict[str, Any]:
        """The last payload as the cloud sent it: :attr:`raw` without this Machine's writes
        that no read has shown yet. Waits judge this, so a write counts only once the
        cloud shows it (no request)."""
        return {**self.raw, **self._served} if getattr(self, "_served", None) else self.raw

    def finish_action(self, action: PendingAction) -> None:
        """A wait saw ``action`` end (reached or refused): it is no longer pending."""
        if self.pending_action is action:
            self.pending_action = None

    def _save(self, data: Mapping[str, Any], fetched_at: datetime | None = None) -> None:
        raw = copy.deepcopy(dict(data))
        metadata = raw.get("metadata")
        if isinstance(metadata, dict) and "credentials" in metadata:
            # Passwords live in credentials() (masked), not in a dict anyone may print.
            self._credentials = credentials_of(metadata.pop("credentials"))
        if "dns_names" not in raw and getattr(self, "raw", None) and "dns_names" in self.raw:
            raw["dns_names"] = self.raw["dns_names"]  # ListMachines omits them; keep GET's
        served = {}
        for kind in ("tags", "metadata"):  # a write of this Machine the payload predates
            if isinstance(raw.get(kind), dict) and self._writes.of(kind):
                served[kind] = raw[kind]
                raw[kind] = self._writes.merged(kind, raw[kind])
        self.raw: dict[str, Any] = raw
        self._served = served
        self.fetched_at: datetime = fetched_at or datetime.now(timezone.utc)

    # ------------------------------------------------------------ identity

    def __eq__(self, other: object) -> bool:
        """Equal to a Machine of the same datacenter and id, or (as in the seed) to a
        payload dict with the same id."""
        if isinstance(other, Mapping):
            return other.get("id") == self.id
        if not isinstance(other, Machine):
            return NotImplemented
        return (self.datacenter, self.id) == (other.datacenter, other.id)

    def __hash__(self) -> int:
        return hash((self.datacenter, self.id))

    def __str__(self) -> str:
        """The machine's id, as the seed's ``str()`` gives (``repr()`` describes it)."""
        return str(self.id)

    def __repr__(self) -> str:
        where = self.datacenter.name or self.datacenter.url
        return f"<Machine {self.name} ({self.id}) {self.state} in {where}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        return seam.render_html(self)

    def panel(self, **options: Any) -> Any:
        """An ipywidgets control panel for this machine (options: see smartdc_nb.widgets)."""
        return seam.panel("machine", self, **options)

    @property
    def label(self) -> str:
        """``name (short id)``: how waits and bulk results name this machine."""
        return f"{self.name} ({(self.id or '')[:8]})"

    # ------------------------------------------------------------ requests

    def _request(self, method: str, *segments: Any, params: Mapping[str, Any] | None = None,
                 json: Any = None) -> Reply:
        """A request under this machine's path; a 410 records the tombstone and re-raises."""
        try:
            return self.datacenter.request(method, "machines", self.id, *segments,
                                           params=params, json=json)
        except MachineDeletedError as exc:
            if isinstance(exc.body, dict) and exc.body.get("id") == self.id:
                self._save(exc.body)
            raise
        except NotFoundError as exc:
            if not segments:
                raise self._not_found(exc) from exc
            raise

    def _not_found(self, exc: NotFoundError) -> NotFoundError:
        where = self.datacenter.name or self.datacenter.url
        return NotFoundError(f"no machine {self.id} in {where} for account {self.datacenter.login}",
                             status=exc.status, code=exc.code, request_id=exc.request_id,
                             method=exc.method, path=exc.path, body=exc.body)

    def verdict(self, action: str, wanted: Any = None) -> rules.Verdict:
        """The rules' verdict on ``action`` for this machine as last fetched (no request).

        ``kind`` is ok, skip (already so), refused or protected; see smartdc_nb.rules.
        """
        return rules.verdict(action, self, wanted)

    def why_not(self, action: str, wanted: Any = None) -> str | None:
        """Why ``action`` (with its argument ``wanted``) does not apply now, or None.

        Decided by the rules table (smartdc_nb.rules) on the last payload; no request.
        """
        return rules.why_not(action, self, wanted)

    def _change(self, audit_action: str | None, method: str, *segments: Any,
                params: Mapping[str, Any] | None = None, json: Any = None,
                rule: str, subject: str | None = None) -> Reply:
        """Send a change the rules do not refuse for certain (``rule``); remember it.

        Only certain refusals (brand, a deleted machine, deletion protection) stop
        the request: a verdict on the last known state may be old, and the cloud
        decides (a wait reports its refusal).
        """
        verdict = rules.verdict(rule, self)
        if verdict.certain and not verdict.ok:
            raise refused(verdict, self, method)
        from_state = self.state
        with seam.journal_change(self, audit_action, from_state):  # names the journal's record
            reply = self._request(method, *segments, params=params, json=json)
        nth = 1 + len(self._outstanding.get(audit_action, ()))
        self.pending_action = PendingAction(audit_action, reply.date or datetime.now(timezone.utc),
                                            from_state, time.monotonic(), subject,
                                            frozenset(self._audit_seen), nth)
        if audit_action:
            self._outstanding.setdefault(audit_action, []).append(self.pending_action)
        return reply

    def _action(self, action: str, wanted: Any = None, **params: Any) -> Machine:
        """Send ``?action=...`` unless it is already done or sure to be refused (prechecks)."""
        prechecks.settle_flag(self, action)
        stop = prechecks.judge(self, action, wanted)
        if stop is not None:
            if stop.kind == rules.SKIP:
                prechecks.say_skipped(self, action, stop)
                return self
            raise refused(stop, self, "POST")
        audit_action: str | None = action
        if action in prechecks.TOGGLES:
            field, value = prechecks.TOGGLES[action]
            if self.raw.get(field) is value:  # CloudAPI answers 202 and runs no job
                audit_action = None
            elif action.endswith("_firewall"):  # the audit log's name of a firewall change
                audit_action = "unknown"
        self._change(audit_action, "POST", params={"action": action, **params}, rule=action)
        if action in prechecks.TOGGLES:
            self.toggled[field] = value  # the next toggle or delete waits until it shows
        return self

    # ------------------------------------------------------------ the seed's API

    @classmethod
    def create_in_datacenter(cls, datacenter: DataCenter, **kwargs: Any) -> Machine:
        """POST /:login/machines — provision a machine (arguments of ``dc.create_machine``)."""
        return datacenter.create_machine(**kwargs)

    def refresh(self, credentials: bool = False) -> Machine:
        """GET /:login/machines/:id — fetch the machine and keep the new payload.

        A deleted machine answers 410 with its tombstone: that becomes the
        payload (``state`` "deleted") instead of an error. An unknown one
        raises NotFoundError naming it.
        """
        try:
            data = self._request("GET", params={"credentials": True} if credentials else None).data
        except MachineDeletedError:
            return self  # _request kept the tombstone
        self._save(data)
        return self

    def credentials(self, refresh: bool = False) -> Credentials:
        """The machine's ``{login: password}`` pairs (the seed's name and behaviour).

        GET /:login/machines/:id?credentials=true only when none are cached (or
        ``refresh=True``). Returned as :class:`Credentials`, a dict whose every
        display is masked.
        """
        if refresh or not self._credentials:
            self.refresh(credentials=True)
        return Credentials(self._credentials or {})

    get_credentials = credentials  # the name earlier smartdc_nb releases used

    def status(self) -> str | None:
        """GET /:login/machines/:id — refresh, then return the state."""
        return self.refresh().state

    def stop(self) -> Machine:
        """POST /:login/machines/:id?action=stop — begin shutting the machine down."""
        return self._action("stop")

    def start(self) -> Machine:
        """POST /:login/machines/:id?action=start — begin booting the machine."""
        return self._action("start")

    def reboot(self) -> Machine:
        """POST /:login/machines/:id?action=reboot — begin a reboot.

        The state may never visibly leave ``running``; :meth:`wait_for`
        ("running") therefore waits for evidence (a state on the way, or the
        audit log's ``reboot`` entry newer than this request).
        """
        return self._action("reboot")

    def resize(self, package: Any) -> Machine:
        """POST /:login/machines/:id?action=resize&package=<id> — move to another package.

        ``package`` is a name, UUID or package dict. It is looked up first (no
        request if this DataCenter already fetched it), so an unknown package
        is refused before anything changes.
        """
        verdict = self.verdict("resize")
        if verdict.certain and not verdict.ok:  # before the package lookup
            raise refused(verdict, self, "POST")
        pkg = self._package(package)
        self._action("resize", pkg, package=pkg["id"])
        return self

    def resolve_package(self, package: Any) -> dict[str, Any]:
        """The package dict ``package`` (name, UUID or dict) names in this machine's
        datacenter: no request if known; InvalidInputError if the datacenter has none."""
        return self._package(package)

    def _package(self, package: Any) -> dict[str, Any]:
        ref = package.get("id") or package.get("name") if isinstance(package, Mapping) else package
        if not isinstance(ref, str) or not ref:
            raise InvalidInputError(
                f"package must be a name, a UUID or a package dict, not {package!r}")
        known = self.datacenter.known_package(ref)
        if known is not None:
            return known
        try:
            return self.datacenter.package(ref)
        except NotFoundError:
            where = self.datacenter.name or self.datacenter.url
            raise InvalidInputError(f"no package {ref!r} in {where}; dc.packages() lists the "
                                    "ones this account can use") from None

    def rename(self, name: str) -> Machine:
        """POST /:login/machines/:id?action=rename&name=<name>.

        A name another machine of the account has is refused by CloudAPI at
        once; the error then says so.
        """
        name = validate_machine_name(name)
        try:
            return self._action("rename", name, name=name)
        except InvalidArgumentError as exc:
            if not any(e.get("field") == "alias" and e.get("code") == "Duplicate"
                       for e in exc.errors):
                raise
            raise InvalidArgumentError(
                f"machine {self.label} cannot be renamed to {name!r}: another machine of "
                f"account {self.datacenter.login} is already named {name!r} ({exc.message})",
                status=exc.status, code=exc.code, errors=exc.errors, request_id=exc.request_id,
                method=exc.method, path=exc.path, body=exc.body) from exc

    def delete(self) -> Machine:
        """DELETE /:login/machines/:id — begin deleting the machine.

        Refused before sending when deletion protection is known to be on.
        """
        prechecks.settle_flag(self, "delete")
        self._change("destroy", "DELETE", rule="delete")
        return self

    def enable_firewall(self) -> Machine:
        """POST /:login/machines/:id?action=enable_firewall."""
        return self._action("enable_firewall")

    def disable_firewall(self) -> Machine:
        """POST /:login/machines/:id?action=disable_firewall."""
        return self._action("disable_firewall")

    def enable_deletion_protection(self) -> Machine:
        """POST /:login/machines/:id?action=enable_deletion_protection."""
        return self._action("enable_deletion_protection")

    def disable_deletion_protection(self) -> Machine:
        """POST /:login/machines/:id?action=disable_deletion_protection."""
        return self._action("disable_deletion_protection")

    def audit(self) -> list[dict[str, Any]]:
        """GET /:login/machines/:id/audit — finished actions, newest first: each has
        ``action``, ``success`` ("yes"/"no"), ``time`` (ISO text) and ``caller``."""
        entries = list(self._request("GET", "audit").data or [])
        self._outstanding = {name: kept for name, actions in self._outstanding.items()
                             if (kept := [a for a in actions if action_entry(a, entries) is None])}
        self._audit_seen.update(audit_key(e) for e in entries)
        self._forget_refused(entries)
        return entries


__all__ = ["Machine", "MACHINE_STATES"]
