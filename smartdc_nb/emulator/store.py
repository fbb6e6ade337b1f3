"""The emulator's state: accounts and catalog shared by all datacenters, one
fleet per datacenter, all behind one re-entrant lock.

Handlers take ``state.lock`` for the whole of a request's read-modify-write, so
concurrent requests see and make consistent changes. Reads settle the jobs
that have ended (see timeline.py), so a machine costs nothing while idle.
When a SQLite file is configured every acknowledged change is written through
(persist.py) before the response leaves.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from .auth import PublicKey, load_public_key
from .clock import Clock
from .timeline import Job, Timing, new_queue, settle, start_head


@dataclass
class Key:
    """A registered public key with its name (defaults to its fingerprint)."""

    name: str
    public: PublicKey

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.public.openssh}


@dataclass
class SubUser:
    """An account's user. ``can`` lists the CloudAPI actions (RBAC route names such
    as ``listmachines``) its roles allow; without roles a sub-user may do nothing."""

    uuid: str
    login: str
    keys: dict[str, Key] = field(default_factory=dict)
    can: frozenset[str] = frozenset()


@dataclass
class Account:
    uuid: str
    login: str
    email: str
    created: float
    updated: float
    profile: dict[str, Any] = field(default_factory=dict)  # firstName, companyName, ...
    keys: dict[str, Key] = field(default_factory=dict)     # md5 fingerprint -> Key
    users: dict[str, SubUser] = field(default_factory=dict)
    triton_cns_enabled: bool = False

    def find_key(self, name_or_fp: str, keys: dict[str, Key] | None = None) -> Key | None:
        """A key by name or MD5 fingerprint, as UFDS matches it."""
        keys = self.keys if keys is None else keys
        if name_or_fp in keys:
            return keys[name_or_fp]
        for key in keys.values():
            if key.name == name_or_fp:
                return key
        return None

    def add_key(self, line: str, name: str | None = None, keys: dict[str, Key] | None = None) -> Key:
        public = load_public_key(line)
        keys = self.keys if keys is None else keys
        key = Key(name or public.md5, public)
        keys[public.md5] = key
        return key

    def to_dict(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid, "login": self.login, "email": self.email, "created": self.created,
            "updated": self.updated, "profile": self.profile, "cns": self.triton_cns_enabled,
            "keys": [k.to_dict() for k in self.keys.values()],
            "users": {u.login: {"uuid": u.uuid, "keys": [k.to_dict() for k in u.keys.values()],
                                "can": sorted(u.can)}
                      for u in self.users.values()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Account":
        account = cls(data["uuid"], data["login"], data["email"], data["created"], data["updated"],
                      dict(data["profile"]), triton_cns_enabled=data["cns"])
        for key in data["keys"]:
            account.add_key(key["key"], key["name"])
        for login, user in data["users"].items():
            sub = account.users[login] = SubUser(user["uuid"], login, can=frozenset(user.get("can", ())))
            for key in user["keys"]:
                account.add_key(key["key"], key["name"], sub.keys)
        return account


class Machine:
    """One instance, in the emulator's own terms (payloads.py renders the wire form).

    ``state`` is the state the last finished job left; ``jobs`` are the queued
    changes. ``extra`` holds fields injected verbatim by tests (``put_machine``)
    and overrides the rendered body. ``version`` changes whenever the rendered
    body may change, which keys the serialisation cache.
    """

    __slots__ = ("id", "name", "brand", "state", "image", "package_id", "memory", "disk",
                 "created", "updated", "firewall_enabled", "deletion_protection", "docker",
                 "tags", "metadata", "credentials", "nics", "compute_node", "disks",
                 "snapshots", "snapshot_jobs", "audit", "jobs", "last_job_end",
                 "extra", "version", "cache", "owner")

    _PLAIN = ("id", "name", "brand", "state", "image", "package_id", "memory", "disk", "created",
              "updated", "firewall_enabled", "deletion_protection", "docker", "tags", "metadata",
              "credentials", "nics", "compute_node", "disks", "snapshots", "audit",
              "last_job_end", "extra", "owner")

    def __init__(self, **fields: Any):
        self.tags: dict[str, Any] = {}
        self.metadata: dict[str, Any] = {}
        self.credentials: dict[str, str] = {}
        self.nics: list[dict[str, Any]] = []
        self.disks: list[dict[str, Any]] | None = None
        self.snapshots: dict[str, dict[str, Any]] = {}
        #: finished snapshot jobs per name: [oldest, newest] execution (snapshotjobs.py)
        self.snapshot_jobs: dict[str, list[str]] = {}
        self.audit: list[dict[str, Any]] = []
        self.jobs = new_queue()
        self.last_job_end = 0.0
        self.extra: dict[str, Any] = {}
        self.compute_node: str | None = None
        self.docker = False
        self.firewall_enabled = False
        self.deletion_protection = False
        self.version = 0
        self.cache: tuple[Any, bytes] | None = None
        for name, value in fields.items():
            setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self._PLAIN}
        data["snapshot_jobs"] = {k: list(v) for k, v in self.snapshot_jobs.items()}
        data["jobs"] = [job.to_dict() for job in self.jobs]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Machine":
        fields = {name: data[name] for name in cls._PLAIN}
        # files written before snapshot_jobs kept the names of deleted snapshots only
        fields["snapshot_jobs"] = {k: list(v) for k, v in data.get("snapshot_jobs", {
            name: ["succeeded", "succeeded"] for name in data.get("deleted_snapshots", ())}).items()}
        fields["jobs"] = new_queue([Job.from_dict(j) for j in data["jobs"]])
        return cls(**fields)


class Datacenter:
    """One datacenter's fleet and networks (the accounts and catalog are shared)."""

    def __init__(self, name: str, index: int):
        self.name = name
        self.index = index
        self.url = ""
        self.machines: dict[str, Machine] = {}
        self.networks: dict[str, dict[str, Any]] = {}
        self.account_config: dict[str, dict[str, Any]] = {}  # login -> {"default_network": id}
        self.busy: set[str] = set()            # machines with queued jobs
        self.fail_next: dict[str, int] = {}    # job kind -> how many of the next ones fail
        self.cancel_next: dict[str, int] = {}  # ... and how many are canceled (a snapshot shows it)
        self.fail_after_snapshot: dict[str, int] = {}  # ... create_snapshot's: once it took it
        self._order: list[Machine] | None = None

    def add(self, machine: Machine) -> None:
        self.machines[machine.id] = machine
        self._order = None
        if machine.jobs:
            self.busy.add(machine.id)

    def ordered(self) -> list[Machine]:
        """All machines in VMAPI's default order (uuid descending)."""
        if self._order is None:
            self._order = sorted(self.machines.values(), key=lambda m: m.id, reverse=True)
        return self._order

    def settle_all(self, now: float, timing: Timing) -> list[Machine]:
        """Settle every machine with pending jobs; the ones that changed."""
        changed = []
        for machine_id in list(self.busy):
            machine = self.machines[machine_id]
            if settle(machine, now, timing):
                changed.append(machine)
            if not machine.jobs:
                self.busy.discard(machine_id)
        return changed


class State:
    """Everything the emulator knows, shared by the datacenters' servers."""

    def __init__(self, datacenters: Iterable[str], timing: Timing):
        self.lock = threading.RLock()
        self.timing = timing
        self.accounts: dict[str, Account] = {}
        self.packages: dict[str, dict[str, Any]] = {}
        self.images: dict[str, dict[str, Any]] = {}
        self.catalog_version = 0
        self.datacenters: dict[str, Datacenter] = {
            name: Datacenter(name, i) for i, name in enumerate(datacenters)}
        self.persistence = None  # a persist.SQLiteStore when --state is used
        self.changes = None  # the changefeed (changefeed.Feed), told of every touched machine
        #: when transitions happen (smartdc_nb.emulator.clock): the wall clock, or a manual one
        self.clock = Clock()

    # ----------------------------------------------------------- accounts

    def account(self, login_or_uuid: str) -> Account | None:
        account = self.accounts.get(login_or_uuid)
        if account is None:
            for candidate in self.accounts.values():
                if candidate.uuid == login_or_uuid:
                    return candidate
        return account

    def save_account(self, account: Account) -> None:
        if self.persistence is not None:
            self.persistence.save_account(account)

    # ------------------------------------------------------------ catalog

    def package(self, id_or_name: str, *, active_only_for_names: bool = True) -> dict[str, Any] | None:
        """A package by UUID (any state), or by name (the highest active version)."""
        if id_or_name in self.packages:
            return self.packages[id_or_name]
        named = [p for p in self.packages.values()
                 if p["name"] == id_or_name and (p.get("active", True) or not active_only_for_names)]
        if not named:
            return None
        return max(named, key=lambda p: _version_key(p.get("version", "0")))

    def put_catalog(self, kind: str, item: dict[str, Any]) -> None:
        getattr(self, kind)[item["id"]] = item
        self.catalog_version += 1
        if self.persistence is not None:
            self.persistence.save_catalog(kind, item)

    def drop_catalog(self, kind: str, item_id: str) -> None:
        getattr(self, kind).pop(item_id, None)
        self.catalog_version += 1
        if self.persistence is not None:
            self.persistence.delete_catalog(kind, item_id)

    # ----------------------------------------------------------- machines

    def machine(self, dc: Datacenter, machine_id: str, now: float | None = None) -> Machine | None:
        """A machine with its finished jobs applied."""
        machine = dc.machines.get(machine_id)
        if machine is not None and machine.jobs:
            settle(machine, self.clock.now() if now is None else now, self.timing)
            if not machine.jobs:
                dc.busy.discard(machine.id)
        return machine

    def enqueue(self, dc: Datacenter, machine: Machine, kind: str, params: dict[str, Any] | None,
                now: float, caller: dict[str, Any] | None) -> Job:
        """Queue a job on ``machine`` (honouring ``cancel_next``, ``fail_next`` and
        ``fail_after_snapshot``) and persist it."""
        forced = False
        for name in (kind, "delete" if kind == "destroy" else None):
            if name and dc.cancel_next.get(name):
                dc.cancel_next[name] -= 1
                forced, params = True, {**(params or {}), "canceled": True}
                break
            if name and dc.fail_next.get(name):
                dc.fail_next[name] -= 1
                forced = True
                break
        if not forced and dc.fail_after_snapshot.get(kind):
            dc.fail_after_snapshot[kind] -= 1
            params = {**(params or {}), "fails_after_snapshot": True}
        job = Job(kind, params, queued_at=now, caller=caller, forced_fail=forced)
        machine.jobs.append(job)
        dc.busy.add(machine.id)
        start_head(machine, self.timing)
        self.touch(dc, machine)
        return job

    def touch(self, dc: Datacenter, machine: Machine) -> None:
        """Record that ``machine`` changed: new cache key, written through."""
        machine.version += 1
        if self.persistence is not None:
            self.persistence.save_machine(dc.name, machine)
        if self.changes is not None:
            self.changes.touched(dc, machine)

    def next_event(self) -> float | None:
        """When the earliest pending job of any machine ends (None when none is pending)."""
        ends = []
        with self.lock:
            now = self.clock.now()
            for dc in self.datacenters.values():
                dc.settle_all(now, self.timing)  # what has ended by now is not pending
                for machine_id in dc.busy:
                    ends.append(start_head(dc.machines[machine_id], self.timing).end)
        return min(ends) if ends else None

    def iter_machines(self, dc: Datacenter, now: float) -> Iterator[Machine]:
        dc.settle_all(now, self.timing)
        return iter(dc.ordered())

    def save_config(self, dc: Datacenter, login: str) -> None:
        if self.persistence is not None:
            self.persistence.save_config(dc.name, login, dc.account_config.get(login, {}))


def _version_key(version: str) -> tuple:
    parts = []
    for piece in str(version).split("."):
        parts.append((0, int(piece)) if piece.isdigit() else (1, piece))
    return tuple(parts)


def account_config(accounts: Any) -> dict[str, dict[str, Any]]:
    """Normalise ``accounts`` to ``{login: {"keys": [...], "users": {login: {"keys", "can"}}}}``."""
    if accounts is None:
        return {"demo": {"keys": [], "users": {}}}
    if not isinstance(accounts, dict) or not accounts:
        raise ValueError("accounts must be a non-empty dict: {login: [public key lines]} or "
                         "{login: {'keys': [...], 'users': {sublogin: [...]}}}")
    out = {}
    for login, spec in accounts.items():
        if not isinstance(login, str) or not re.match(r"^[A-Za-z][A-Za-z0-9._-]*$", login) or login == "my":
            raise ValueError(f"account login {login!r} is not valid (letters, digits, . _ -; not 'my')")
        if isinstance(spec, (list, tuple)):
            spec = {"keys": list(spec), "users": {}}
        if not isinstance(spec, dict) or set(spec) - {"keys", "users"}:
            raise ValueError(f"account {login!r}: give a list of public keys or "
                             "{'keys': [...], 'users': {...}}")
        users = {}
        for name, user in (spec.get("users") or {}).items():
            if isinstance(user, (list, tuple)):
                user = {"keys": user}
            if not isinstance(user, dict) or set(user) - {"keys", "can"} or \
                    isinstance(user.get("can"), str):
                raise ValueError(f"sub-user {login}/{name}: give a list of public keys or "
                                 "{'keys': [...], 'can': ['listmachines', ...]}")
            users[name] = {"keys": list(user.get("keys") or []),
                           "can": frozenset(str(a).lower() for a in user.get("can") or ())}
        out[login] = {"keys": list(spec.get("keys") or []), "users": users}
    return out
