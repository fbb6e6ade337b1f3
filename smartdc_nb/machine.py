"""Machine and Snapshot: local proxies of remote CloudAPI machines (the seed's API).

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
machine known to be deleted. Those refusals raise the same error classes the
server's answers map to (with ``request_id`` None, since nothing was sent).
"""

from __future__ import annotations

import copy
import html
import ipaddress
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from . import rules, writes
from .datacenter import is_uuid, read_script, validate_machine_name, validate_values
from .errors import (BrandNotSupportedError, DeletionProtectedError, InvalidArgumentError,
                     InvalidInputError, MachineDeletedError, NotFoundError)
from .rules import MACHINE_STATES, SNAPSHOT_STATES
from .writes import PendingWrites, Write

if TYPE_CHECKING:
    from .datacenter import DataCenter
    from .transport import Reply

#: The ``triton.*`` tags CloudAPI knows, with the type each value must have
#: (cloudapi.md §5.2); any other ``triton.`` key is refused by VMAPI.
TRITON_TAGS: dict[str, type] = {
    "triton.cmon.groups": str,
    "triton.cns.services": str,
    "triton.cns.disable": bool,
    "triton.cns.reverse_ptr": str,
    "triton.network.public": str,
}
#: Actions that set a flag; when it is already set CloudAPI runs no job (no audit entry).
_TOGGLES = {"enable_deletion_protection": ("deletion_protection", True),
            "disable_deletion_protection": ("deletion_protection", False)}
#: Snapshot names a compute node accepts (a ZFS snapshot name component).
SNAPSHOT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


# ---------------------------------------------------------------- helpers


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from CloudAPI's ISO-8601 text (``...T12:55:50.539Z``), else None.

    Fractional seconds and the offset are kept; a time without an offset is UTC.
    """
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def split_ips(ips: Iterable[Any]) -> tuple[list[str], list[str]]:
    """``(public, private)`` lists from a machine's ``ips``, classified with :mod:`ipaddress`.

    Public means globally routable (``is_global``), IPv4 or IPv6. Everything
    else that is an address is private: RFC 1918, IPv6 unique-local
    (fc00::/7), link-local (169.254/16, fe80::/10), loopback, and carrier-grade
    NAT 100.64/10 (shared address space, not reachable from the internet).
    Entries that are not addresses (VMAPI may list ``"dhcp"``) are in neither.
    """
    public: list[str] = []
    private: list[str] = []
    for text in ips or ():
        try:
            address = ipaddress.ip_address(str(text).split("/")[0])
        except ValueError:
            continue
        (public if address.is_global else private).append(str(text))
    return public, private


def html_repr(obj: Any) -> str:
    """``smartdc_nb.display.render_html(obj)``, imported when first displayed."""
    from .display import render_html

    return render_html(obj)


def credentials_of(value: Any) -> Credentials:
    """The ``{login: password}`` pairs of a ``metadata.credentials`` value.

    CloudAPI sends an object; a JSON text (as given at create time) is read;
    anything else holds no usable pairs.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    return Credentials(value if isinstance(value, Mapping) else {})


class Credentials(dict):
    """A machine's ``{login: password}`` pairs; every display of it is masked.

    It is a dict (``creds["root"]`` gives the password); ``repr``, ``str``
    and the notebook reprs show the logins only.
    """

    def __repr__(self) -> str:
        shown = ", ".join(f"{k!r}: '********'" for k in self)
        return f"Credentials({{{shown}}})"

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>********</td></tr>" for k in self)
        return f"<table class='smartdc-nb-credentials'>{rows}</table>"


@dataclass(frozen=True)
class PendingAction:
    """What a Machine method last asked of the cloud, for the waits.

    ``action`` is the name the machine's audit log uses (``stop``,
    ``destroy``, ``set_tags``, ...; None when the audit has no usable name),
    ``date`` the server's ``Date`` header of the accepted request (the local
    clock when the answer had none), ``from_state`` the machine's state (as
    known) when it was sent, ``subject`` the snapshot a snapshot action concerns,
    ``known`` the audit entries this Machine had already seen then (the server
    ``Date`` has whole seconds, so an entry of an earlier job finished in the
    same second would otherwise pass for this action's) and ``nth`` how many
    entries of the same name are expected before this one's (earlier actions
    of this Machine whose entries have not been seen yet: jobs of a machine
    run in order). See :func:`action_entry`.
    """

    action: str | None
    date: datetime | None
    from_state: str | None
    sent_at: float  # time.monotonic()
    subject: str | None = None  # the snapshot name, for snapshot actions
    known: frozenset = frozenset()  # audit entries already seen when it was sent
    nth: int = 1  # 1 + earlier actions of the same name still without an audit entry


def audit_key(entry: Mapping[str, Any]) -> tuple:
    """What identifies one audit entry (CloudAPI gives them no id)."""
    return (entry.get("action"), entry.get("time"), entry.get("success"))


def action_entry(action: PendingAction, entries: Iterable[Mapping[str, Any]]) -> dict | None:
    """The audit entry recording ``action``, if the log (newest first) has it yet.

    Candidates are the entries of the action's name that are newer than its
    request's ``Date`` and were not seen before it was sent, oldest first;
    the action's is the ``nth``.
    """
    candidates = []
    for entry in entries:
        if entry.get("action") != action.action or audit_key(entry) in action.known:
            continue
        when = parse_time(entry.get("time"))
        if when is not None and action.date is not None and when > action.date:
            candidates.append(entry)
    candidates.reverse()
    return dict(candidates[action.nth - 1]) if len(candidates) >= action.nth else None


#: A certain refusal of the rules as the typed error the server would answer with.
_REFUSALS: dict[str | None, tuple[type, int, str | None]] = {
    "Gone": (MachineDeletedError, 410, None),
    "BrandNotSupported": (BrandNotSupportedError, 409, "BrandNotSupported"),
    "InvalidArgument": (InvalidArgumentError, 409, "InvalidArgument"),
    "CannotDestroyMachineError": (DeletionProtectedError, 409, "CannotDestroyMachineError"),
}


def _refused(verdict: rules.Verdict, machine: Machine, method: str) -> Exception:
    """A certain refusal of the rules as the typed error the server's answer would have been."""
    error_class, status, code = _REFUSALS.get(verdict.code, (InvalidInputError, 409, None))
    as_of = f"as of {machine.fetched_at:%H:%M:%S} UTC"
    if verdict.code == "Gone":  # also delete's "already deleted": nothing can change it
        message = f"machine {machine.label} is deleted ({as_of}); it cannot be changed"
    elif verdict.kind == rules.PROTECTED:
        message = (f"machine {machine.label}: {verdict.reason} ({as_of}; refresh() if it was "
                   "turned off elsewhere)")
    else:
        message = f"machine {machine.label}: {verdict.reason}"
    message += " (refused by smartdc_nb; nothing was sent)"
    if error_class is InvalidInputError:
        return InvalidInputError(message)
    return error_class(message, status=status, code=code, method=method, path=machine.path,
                       body=None)


def check_tags(tags: Mapping[str, Any]) -> dict[str, Any]:
    values = validate_values("tag", tags)
    for key, value in values.items():
        if key.startswith("triton."):
            wanted = TRITON_TAGS.get(key)
            if wanted is None:
                raise InvalidInputError(
                    f"unknown special tag {key!r}: CloudAPI only knows {', '.join(TRITON_TAGS)}")
            if type(value) is not wanted:
                raise InvalidInputError(
                    f"tag {key!r} must be a {wanted.__name__}, not "
                    f"{type(value).__name__} {value!r}")
    return values


def check_metadata(values: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"metadata keys must be non-empty strings, not {key!r}")
        if not isinstance(value, str):
            raise InvalidInputError(
                f"metadata {key!r} has a {type(value).__name__} value; metadata values are text: "
                f"pass a string (str(value), or json.dumps(value) for structured data)")
        if key == "credentials" or key.endswith("_pw"):
            raise InvalidInputError(
                f"metadata key {key!r} is reserved for passwords; CloudAPI silently drops it")
        out[key] = value
    return out


def check_states(states: str | Iterable[str], known: tuple[str, ...], what: str) -> tuple[str, ...]:
    """Awaited states as a tuple, refusing names CloudAPI never shows (a typo waits forever)."""
    values = (states,) if isinstance(states, str) else tuple(states)
    if not values:
        raise InvalidInputError(f"give at least one {what} state to wait for")
    for value in values:
        if value not in known:
            raise InvalidInputError(f"{value!r} is not a {what} state; {what} states are: "
                                    f"{', '.join(known)}")
    return values


def _field(key: str, doc: str) -> property:
    return property(lambda self: self.raw.get(key), doc=doc)


def _time(key: str, doc: str) -> property:
    return property(lambda self: parse_time(self.raw.get(key)), doc=doc)


def _copied(key: str, doc: str) -> property:
    def get(self: Machine) -> Any:
        value = self.raw.get(key)
        return copy.deepcopy(value) if value is not None else None
    return property(get, doc=doc)


# ---------------------------------------------------------------- Machine


class Machine:
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
        self._outstanding: list[PendingAction] = []  # sent, audit entry not seen yet
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

    def _save(self, data: Mapping[str, Any], fetched_at: datetime | None = None) -> None:
        raw = copy.deepcopy(dict(data))
        metadata = raw.get("metadata")
        if isinstance(metadata, dict) and "credentials" in metadata:
            # Passwords live in credentials() (masked), not in a dict anyone may print.
            self._credentials = credentials_of(metadata.pop("credentials"))
        if "dns_names" not in raw and getattr(self, "raw", None) and "dns_names" in self.raw:
            raw["dns_names"] = self.raw["dns_names"]  # ListMachines omits them; keep GET's
        for kind in ("tags", "metadata"):  # a write of this Machine the payload predates
            if isinstance(raw.get(kind), dict) and self._writes.of(kind):
                raw[kind] = self._writes.merged(kind, raw[kind])
        self.raw: dict[str, Any] = raw
        self.fetched_at: datetime = fetched_at or datetime.now(timezone.utc)

    # ------------------------------------------------------------ attributes

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

        Passwords are not here: see :meth:`credentials`.
        """
        value = self.raw.get("metadata")
        return dict(value) if isinstance(value, dict) else None

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
        """The IPs that are not globally routable: RFC 1918, ULA, link-local, CGNAT, loopback."""
        return split_ips(self._ips_once())[1]

    def _ips_once(self) -> list[str]:
        if not self.raw.get("ips") and not self._ips_refetched and self.state != "deleted":
            self._ips_refetched = True
            self.refresh()
        return list(self.raw.get("ips") or [])

    # ------------------------------------------------------------ identity

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Machine):
            return NotImplemented
        return (self.datacenter, self.id) == (other.datacenter, other.id)

    def __hash__(self) -> int:
        return hash((self.datacenter, self.id))

    def __repr__(self) -> str:
        where = self.datacenter.name or self.datacenter.url
        return f"<Machine {self.name} ({self.id}) {self.state} in {where}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        return html_repr(self)

    def panel(self, **options: Any) -> Any:
        """An ipywidgets control panel for this machine (options: see smartdc_nb.widgets)."""
        from .widgets import machine_panel

        return machine_panel(self, **options)

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
            raise _refused(verdict, self, method)
        from_state = self.state
        from .journaling import about_machine

        with about_machine(self, audit_action, from_state):  # names the journal's record
            reply = self._request(method, *segments, params=params, json=json)
        nth = 1 + sum(1 for a in self._outstanding if a.action == audit_action)
        self.pending_action = PendingAction(audit_action, reply.date or datetime.now(timezone.utc),
                                            from_state, time.monotonic(), subject,
                                            frozenset(self._audit_seen), nth)
        if audit_action:
            self._outstanding.append(self.pending_action)
        return reply

    def _action(self, action: str, **params: Any) -> Machine:
        audit_action: str | None = action
        if action.endswith("_firewall"):
            audit_action = None  # CloudAPI's audit log names firewall changes "unknown"
        elif action in _TOGGLES:
            field, value = _TOGGLES[action]
            if self.raw.get(field) is value:
                audit_action = None  # already so: CloudAPI answers 202 and runs no job
        self._change(audit_action, "POST", params={"action": action, **params}, rule=action)
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
            raise _refused(verdict, self, "POST")
        pkg = self._package(package)
        self._action("resize", package=pkg["id"])
        return self

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
        """POST /:login/machines/:id?action=rename&name=<name>."""
        return self._action("rename", name=validate_machine_name(name))

    def delete(self) -> Machine:
        """DELETE /:login/machines/:id — begin deleting the machine.

        Refused before sending when deletion protection is known to be on.
        """
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
        """GET /:login/machines/:id/audit — finished actions, newest first.

        Each entry: ``action``, ``success`` ("yes"/"no"), ``time`` (ISO text)
        and ``caller``.
        """
        entries = list(self._request("GET", "audit").data or [])
        self._outstanding = [a for a in self._outstanding if action_entry(a, entries) is None]
        self._audit_seen.update(audit_key(e) for e in entries)
        return entries

    # read-your-writes (smartdc_nb.writes) -------------------------------

    @property
    def pending_writes(self) -> list[Write]:
        """Tag and metadata writes of this Machine that no read has shown yet (see writes)."""
        return list(self._writes.writes)

    def _wrote(self, write: Write) -> None:
        self._writes.add(write)

    def _read(self, kind: str) -> dict[str, Any]:
        """GET tags or metadata, waiting (bounded) until this Machine's writes show."""
        return self._writes.settle(kind, lambda: self._request("GET", kind).data or {},
                                   f"machine {self.label}")

    # metadata --------------------------------------------------------

    def _keep_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in metadata.items() if k != "credentials"}
        self.raw["metadata"] = kept
        return dict(kept)

    def get_metadata(self) -> dict[str, Any]:
        """GET /:login/machines/:id/metadata — all metadata (also kept as ``metadata``).

        Writes of this Machine are visible: the read waits for them (see smartdc_nb.writes).
        """
        return self._keep_metadata(self._read("metadata"))

    def update_metadata(self, **kwargs: str) -> dict[str, Any]:
        """POST /:login/machines/:id/metadata — add or overwrite keys; returns all metadata.

        Values must be strings. CloudAPI applies the change through a job (its
        answer already shows the merged result); later reads of this Machine show it.
        """
        body = check_metadata(kwargs)
        if not body:
            raise InvalidInputError("update_metadata needs at least one key=value")
        reply = self._change("set_metadata", "POST", "metadata", json=body,
                             rule="update_metadata")
        self._wrote(writes.set_items("metadata", body))
        return self._keep_metadata(reply.data or {})

    def delete_metadata_at_key(self, key: str) -> dict[str, Any]:
        """DELETE /:login/machines/:id/metadata/:key, then GET the metadata; returns it.

        The delete is applied through a job: the GET waits (bounded) until it shows.
        """
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"a metadata key must be a non-empty string, not {key!r}")
        self._delete_metadata(key)
        return self.get_metadata()

    def _delete_metadata(self, key: str) -> None:
        if self._writes.of("metadata"):
            self._read("metadata")  # a key this Machine just set must exist before its delete
        self._change("remove_metadata", "DELETE", "metadata", key, rule="delete_metadata")
        self._wrote(writes.removed("metadata", key))

    def set_boot_script(self, filename: str | Path) -> Machine:
        """POST /:login/machines/:id/metadata with ``{"user-script": <the file's text>}``.

        The script runs at every boot; the SMF service that runs it kills it
        after 60 seconds, so it is not the place for long installations.
        """
        script = read_script(filename)
        reply = self._change("set_metadata", "POST", "metadata", json={"user-script": script},
                             rule="update_metadata")
        self._wrote(writes.set_items("metadata", {"user-script": script}))
        self._keep_metadata(reply.data or {})
        return self

    def delete_boot_script(self) -> Machine:
        """DELETE /:login/machines/:id/metadata/user-script."""
        self._delete_metadata("user-script")
        self._keep_metadata(self._writes.merged("metadata", self.raw.get("metadata") or {}))
        return self

    def delete_all_metadata(self) -> dict[str, Any]:
        """DELETE /:login/machines/:id/metadata, then GET the metadata; returns it.

        CloudAPI keeps ``root_authorized_keys`` and ``administrator_pw``; the GET
        waits (bounded) until the job has run, so only those are left.
        """
        self._change("replace_metadata", "DELETE", "metadata", rule="delete_metadata")
        self._wrote(writes.replaced("metadata", {}, keep=("root_authorized_keys",
                                                          "administrator_pw")))
        return self.get_metadata()

    # tags ------------------------------------------------------------

    def _keep_tags(self, tags: Mapping[str, Any]) -> dict[str, Any]:
        self.raw["tags"] = dict(tags)
        return dict(tags)

    def get_tags(self) -> dict[str, Any]:
        """GET /:login/machines/:id/tags — all tags (also kept as ``tags``).

        Writes of this Machine are visible: the read waits for them (see smartdc_nb.writes).
        """
        return self._keep_tags(self._read("tags"))

    def add_tags(self, **kwargs: Any) -> dict[str, Any]:
        """POST /:login/machines/:id/tags — add or overwrite tags (string, number or boolean).

        Returns every tag of the machine as the cloud answered (the seed's return value).
        """
        body = check_tags(kwargs)
        if not body:
            raise InvalidInputError("add_tags needs at least one tag=value")
        reply = self._change("set_tags", "POST", "tags", json=body, rule="add_tags")
        self._wrote(writes.set_items("tags", body))
        return self._keep_tags(reply.data or {})

    def replace_tags(self, **kwargs: Any) -> dict[str, Any]:
        """PUT /:login/machines/:id/tags — replace every tag with these; returns the tags."""
        body = check_tags(kwargs)
        reply = self._change("replace_tags", "PUT", "tags", json=body, rule="replace_tags")
        self._wrote(writes.replaced("tags", body))
        return self._keep_tags(reply.data or {})

    def get_tag(self, tag: str) -> Any:
        """GET /:login/machines/:id/tags/:tag — one tag's value (NotFoundError if absent).

        After a tag write of this Machine, the tags are read first until it shows.
        """
        name = self._tag_name(tag)
        if self._writes.of("tags"):
            self.get_tags()
        return self._request("GET", "tags", name).data

    @staticmethod
    def _tag_name(tag: Any) -> str:
        if not isinstance(tag, str) or not tag:
            raise InvalidInputError(f"a tag name must be a non-empty string, not {tag!r}")
        return tag

    def delete_tag(self, tag: str) -> Machine:
        """DELETE /:login/machines/:id/tags/:tag (after a tag this Machine just set shows)."""
        name = self._tag_name(tag)
        if self._writes.of("tags"):
            self._read("tags")  # a tag this Machine just set must exist before its delete
        self._change("remove_tags", "DELETE", "tags", name, rule="delete_tags")
        self._wrote(writes.removed("tags", name))
        self._keep_tags(self._writes.merged("tags", self.raw.get("tags") or {}))
        return self

    def delete_all_tags(self) -> Machine:
        """DELETE /:login/machines/:id/tags."""
        self._change("remove_tags", "DELETE", "tags", rule="delete_tags")
        self._wrote(writes.replaced("tags", {}))
        self._keep_tags({})
        return self

    # snapshots ---------------------------------------------------------

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
        machines cannot be snapshotted: refused before sending.
        """
        body = {} if name is None else {"name": check_snapshot_name(name)}
        reply = self._change("create_snapshot", "POST", "snapshots", json=body, subject=name,
                             rule="create_snapshot")
        snap = Snapshot(self, data=reply.data or {"name": name, "state": "queued"})
        if self.known_snapshots is not None:
            self.known_snapshots = [s for s in self.known_snapshots if s.name != snap.name] + [snap]
        return snap

    def start_from_snapshot(self, name: str) -> Machine:
        """POST /:login/machines/:id/snapshots/:name — boot from the snapshot (rollback)."""
        name = check_snapshot_name(name)
        self._change("rollback_snapshot", "POST", "snapshots", name, subject=name,
                     rule="start_from_snapshot")
        return self

    def snapshot(self, name: str) -> Snapshot:
        """GET /:login/machines/:id/snapshots/:name — one snapshot as a Snapshot."""
        return Snapshot(self, data=self.raw_snapshot_data(name))

    # waits -------------------------------------------------------------

    def wait_for(self, states: str | Iterable[str], timeout: float | None = 600.0, *,
                 interval: float = 2.0, max_interval: float = 10.0,
                 fail_on: Iterable[str] = ("failed",), progress: Any = None) -> Machine:
        """Poll (GET) until the machine is in one of ``states``; returns the Machine.

        Ends with :class:`~smartdc_nb.errors.WaitFailed` when the machine
        reaches a state in ``fail_on`` (unless awaited), disappears (unless
        ``"deleted"`` is awaited) or the cloud refused the last action (audit
        ``success: "no"``); :class:`~smartdc_nb.errors.WaitTimeout` after
        ``timeout`` seconds (None: no deadline); WaitInterrupted on Ctrl-C.
        The interval starts at ``interval`` and grows to ``max_interval``
        while nothing changes. See smartdc_nb.waiters.
        """
        from .waiters import Target, wait_one

        target = Target.of(check_states(states, MACHINE_STATES, "machine"))
        return wait_one(self, target, timeout=timeout, interval=interval,
                        max_interval=max_interval, fail_on=tuple(fail_on), progress=progress)

    def poll_until(self, state: str, interval: float = 2.0, timeout: float | None = 600.0,
                   **options: Any) -> Machine:
        """The seed's name for :meth:`wait_for` with one state (it now always ends)."""
        return self.wait_for(state, timeout=timeout, interval=interval, **options)

    def poll_while(self, state: str, interval: float = 2.0, timeout: float | None = 600.0,
                   **options: Any) -> Machine:
        """Poll while the machine is in ``state``; return once it is in another one."""
        from .waiters import Target, wait_one

        (state,) = check_states(state, MACHINE_STATES, "machine")
        target = Target.leaving(state)
        return wait_one(self, target, timeout=timeout, interval=interval, **options)

    def wait_until(self, predicate: Callable[[Machine], bool], description: str,
                   timeout: float | None = 600.0, **options: Any) -> Machine:
        """Poll until ``predicate(machine)`` is true (e.g. a tag change has landed)."""
        from .waiters import Target, wait_one

        target = Target.check(lambda raw: bool(predicate(self)), description)
        return wait_one(self, target, timeout=timeout, **options)


def check_snapshot_name(name: Any) -> str:
    if not isinstance(name, str) or not SNAPSHOT_NAME_RE.match(name):
        raise InvalidInputError(
            f"invalid snapshot name {name!r}: 1-64 characters, letters, digits, '_', '.', ':' "
            "and '-', starting with a letter or digit")
    return name


# ---------------------------------------------------------------- Snapshot


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
        self.machine.start_from_snapshot(self.name)
        return self

    def wait_for(self, states: str | Iterable[str] = "created", timeout: float | None = 600.0,
                 **options: Any) -> Snapshot:
        """Poll until the snapshot is in one of ``states`` (default ``created``).

        ``failed`` ends the wait with WaitFailed; awaiting ``deleted`` also
        accepts the snapshot being gone (404).
        """
        from .waiters import Target, wait_one

        target = Target.of(check_states(states, SNAPSHOT_STATES, "snapshot"))
        return wait_one(self, target, timeout=timeout, **options)

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
        return html_repr(self)


class SnapshotList(list):
    """A list of :class:`Snapshot` that displays as a table in a notebook."""

    def _repr_html_(self) -> str:
        return html_repr(self)


__all__ = ["Machine", "Snapshot", "SnapshotList", "Credentials", "PendingAction",
           "MACHINE_STATES", "SNAPSHOT_STATES", "parse_time", "split_ips", "html_repr"]
