"""smartdc_nb.emulator: a local Triton CloudAPI that the official ``triton`` CLI accepts.

    >>> from smartdc_nb.emulator import Emulator
    >>> with Emulator(accounts={"demo": [open("id_ed25519.pub").read()]}, machines=50) as emu:
    ...     print(emu.url)            # http://127.0.0.1:PORT, signed requests only

One process serves several datacenters, each on its own port with its own
fleet, sharing accounts, keys, packages and images. State changes take time
(see timeline.py for the durations and their names), computed from
timestamps on the emulator's clock (clock.py: the wall clock, or a manual one
that ``emu.step()`` / ``emu.clock.advance(s)`` move, for tests that walk a
transition without sleeping); the state is in memory, optionally written
through to SQLite.
The same controls as the Python API exist over HTTP under ``/__emulator/``
(see admin.py). This package never imports the client side of smartdc_nb.

Where it knowingly differs from CloudAPI 9.20 (cloudapi.md), and why:

* The ``provision`` audit entry is listed from the moment the machine is
  accepted (CloudAPI lists finished jobs only): the triton CLI's metadata
  waiter reads ``audit[0]`` and crashes on an empty list.
* ``start`` shows the transient state ``ready`` (as a boot does); ``reboot``
  shows ``stopping`` then ``ready``.
* A create job's snapshot is on the machine two thirds into the job (VMAPI's has it
  from the compute node's snapshot step on); a failing job fails before that step unless
  ``fail_next(..., after_snapshot=True)``; a job is canceled only when
  ``fail_next(..., canceled=True)`` says so.
* Changing tags, metadata or snapshots of a deleted machine answers 410 with
  the machine, as the machine actions do.
* Metadata values that are not strings are returned as JSON values (CloudAPI
  answers 404 "is not metadata").
* Sub-users have no rights unless the account's configuration grants them
  actions (``{"users": {"ops": {"keys": [...], "can": ["listmachines"]}}}``,
  CloudAPI's RBAC route names, standing in for roles and policies); anything
  else is 403 ``NotAuthorized``, as CloudAPI answers a sub-user without roles.
  Not emulated: the users, roles and policies endpoints, firewall rules,
  volumes, disks, NIC add/remove, image creation and updates, migrations, VNC,
  pre-signed URLs and ``dns_names``. ``affinity``, ``locality``,
  ``volumes``, ``disks``, ``delegate_dataset``, ``encrypted`` and
  ``allow_shared_images`` are accepted at create and ignored.
* The throttle is checked before the machine is looked up (CloudAPI: after),
  per datacenter, login and endpoint group.
* ``Server`` says ``cloudapi/9.20.0 (smartdc_nb emulator)``; an unknown
  account in the path is 404 ``<login> does not exist`` (UFDS's wording assumed).
"""

from __future__ import annotations

import random
import re
import math
import threading
import time
import uuid
from typing import Any, Iterable

from .changefeed import Feed
from .clock import Clock
from .faults import Faults
from .handle import DatacenterHandle
from .requestlog import RequestLog
from .seed import (ADMIN_UUID, anchor_time, build_catalog, build_fleet, build_networks, make_nic,
                   stable_uuid)
from .store import Account, Datacenter, Machine, State, SubUser, account_config
from .throttle import Throttle
from .timeline import FAILABLE, DEFAULT_DURATIONS, Timing, audit_entry

__all__ = ["Emulator", "DatacenterHandle", "DEFAULT_DURATIONS"]

_KEY_NAME_RE = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")
_STATES = ("provisioning", "running", "stopping", "stopped", "ready", "offline", "failed",
           "deleted", "unknown")


class Emulator:
    """A local CloudAPI with one server per datacenter. See the module docstring.

    ``accounts``: ``{login: [public key lines]}`` or ``{login: {"keys": [...], "users":
    {sub: {"keys": [...], "can": ["listmachines", ...]}}}}`` (default: ``demo``, no keys);
    ``machines`` seeded per datacenter (by ``seed``); ``speed`` divides every transition's
    duration and ``durations`` sets some (seconds by name, see timeline.py); ``throttle``
    as ``set_throttle``; ``state`` an SQLite file written through; ``ports`` one per
    datacenter (0: free); ``verify_signatures=False`` accepts unsigned requests.
    """

    def __init__(self, datacenters: Iterable[str] = ("us-east-1",), accounts: Any = None,
                 machines: int = 0, seed: int = 0, speed: float = 1.0,
                 durations: dict[str, float] | None = None, throttle: Any = None,
                 state: str | None = None, host: str = "127.0.0.1", ports: list[int] | None = None,
                 verify_signatures: bool = True, changefeed: bool = True):
        names = [datacenters] if isinstance(datacenters, str) else list(datacenters)
        if not names or len(set(names)) != len(names):
            raise ValueError("datacenters must be one or more distinct names")
        for name in names:
            if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
                raise ValueError(f"datacenter name {name!r} is not valid (letters, digits, . _ -)")
        if not isinstance(machines, int) or machines < 0:
            raise ValueError(f"machines must be a whole number >= 0, not {machines!r}")
        if ports is not None and len(ports) != len(names):
            raise ValueError(f"give one port per datacenter ({len(names)}), not {len(ports)}")
        self._accounts_config = account_config(accounts)
        self._machines = machines
        self._seed = int(seed)
        self.host = host
        self._ports = list(ports) if ports is not None else [0] * len(names)
        self.verify_signatures = bool(verify_signatures)
        self.clock_skew = 0.0  # see set_clock_skew
        self.state = State(names, Timing(speed, durations))
        self.faults = Faults(self._seed)
        self.throttle = Throttle(throttle)
        self._requests = RequestLog()
        #: bumped by reset(): a request a fault delayed across it is dropped, never applied
        self.epoch = 0
        self.changefeed = Feed(self.state, enabled=changefeed)
        self.state.changes = self.changefeed
        self.state.clock.on_change(self.changefeed.wake)  # a jump may finish transitions
        self._servers: list[Any] = []
        self._start_lock = threading.Lock()
        self.state_path = state
        if state:
            self._open_state(state)
        else:
            self._seed_all()

    def __repr__(self) -> str:
        running = "running" if self._servers else "stopped"
        return (f"<Emulator {running} datacenters={list(self.state.datacenters)} "
                f"machines={self._machines} seed={self._seed}>")

    # ------------------------------------------------------------ seeding

    def _build_accounts(self) -> dict[str, Account]:
        created = anchor_time() - 3 * 365 * 86400
        accounts = {}
        for login, spec in self._accounts_config.items():
            account = Account(stable_uuid("account", login), login, f"{login}@example.com",
                              created, created, {"firstName": login.capitalize(), "lastName": "User",
                                                 "companyName": "Example Corp"})
            self._add_keys(account, spec["keys"], account.keys, login)
            for sub, user_spec in spec["users"].items():
                user = account.users[sub] = SubUser(stable_uuid("user", login, sub), sub,
                                                    can=user_spec["can"])
                self._add_keys(account, user_spec["keys"], user.keys, f"{login}/{sub}")
            accounts[login] = account
        return accounts

    @staticmethod
    def _add_keys(account: Account, lines: list[str], into: dict, who: str) -> None:
        for line in lines:
            try:
                parts = str(line).split(None, 2)
                comment = parts[2].strip() if len(parts) > 2 else ""
                taken = {k.name for k in into.values()}
                name = comment if _KEY_NAME_RE.match(comment) and comment not in taken else None
                account.add_key(line, name, into)
            except ValueError as exc:
                raise ValueError(f"account {who}: bad public key {str(line)[:40]!r}...: {exc}") from None

    def _seed_all(self) -> None:
        state = self.state
        with state.lock:
            state.accounts = self._build_accounts()
            owner = next(iter(state.accounts.values()), None)
            state.packages, state.images = {}, {}
            build_catalog(state, owner.uuid if owner else None)
            state.catalog_version += 1
            for dc in state.datacenters.values():
                self._seed_datacenter(dc, owner)

    def _seed_datacenter(self, dc: Datacenter, owner: Account | None) -> None:
        dc.machines.clear()
        dc.busy.clear()
        dc._order = None
        dc.fail_next.clear()
        dc.cancel_next.clear()
        dc.fail_after_snapshot.clear()
        dc.account_config.clear()
        build_networks(dc)
        build_fleet(self.state, dc, owner, self._machines, self._seed)

    def _meta(self) -> dict[str, Any]:
        return {"datacenters": list(self.state.datacenters), "machines": self._machines,
                "seed": self._seed}

    def _open_state(self, path: str) -> None:
        from .persist import SQLiteStore

        store = SQLiteStore(path)  # StateFileError (a ValueError) when the file is unusable
        meta = store.meta()
        if not meta:
            self._seed_all()
            store.replace_all(self.state, self._meta())
            self.state.persistence = store
            return
        state = self.state
        with state.lock:
            try:
                store.load_into(state)
            except ValueError:
                store.close()
                raise
            for dc in state.datacenters.values():
                build_networks(dc)
            state.persistence = store
            for login, account in self._build_accounts().items():
                stored = state.accounts.setdefault(login, account)
                for fp, key in account.keys.items():
                    stored.keys.setdefault(fp, key)
                for sub, user in account.users.items():
                    stored.users.setdefault(sub, user).can = user.can  # rights as configured now
                state.save_account(stored)
            missing = [dc for name, dc in state.datacenters.items() if name not in meta["datacenters"]]
            owner = next(iter(state.accounts.values()), None)
            for dc in missing:
                self._seed_datacenter(dc, owner)
                for machine in dc.machines.values():
                    store.save_machine(dc.name, machine)

    def reset(self) -> None:
        """Back to the freshly seeded state (accounts, catalog, fleets, fail-next).

        Faults, the request log, speed, durations and the throttle setting are
        kept (the ``emu`` test fixture clears those itself); throttle buckets
        are refilled. A request a fault holds or delays across the reset is
        dropped without acting: the machine it named is a new one now.
        """
        self.changefeed.reset()
        with self.state.lock:
            self.epoch += 1
            self._seed_all()
            if self.state.persistence is not None:
                self.state.persistence.replace_all(self.state, self._meta())
        self.throttle.reset()

    # ------------------------------------------------------------ serving

    def start(self) -> "Emulator":
        """Start one server per datacenter; returns once all accept connections."""
        from .app import CloudAPIApp
        from .server import DatacenterServer

        with self._start_lock:
            if self._servers:
                return self
            started = []
            try:
                for dc, port in zip(self.state.datacenters.values(), self._ports):
                    server = DatacenterServer(CloudAPIApp(self, dc), self.host, port)
                    started.append(server)
                    host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
                    host = f"[{host}]" if ":" in host else host
                    dc.url = f"http://{host}:{server.port}"
            except OSError as exc:
                for server in started:
                    server.server.server_close()
                raise OSError(f"cannot listen on {self.host}:{port} for datacenter {dc.name}: "
                              f"{exc.strerror or exc}") from exc
            for server in started:
                server.start()
            self._servers = started
        return self

    def stop(self) -> None:
        """Stop every server (idempotent); the state stays and can be served again."""
        with self._start_lock:
            servers, self._servers = self._servers, []
        self.faults.release_all()
        self.changefeed.stop()
        for server in servers:
            server.stop()

    def close(self) -> None:
        """Stop and release the SQLite file."""
        self.stop()
        if self.state.persistence is not None:
            self.state.persistence.close()
            self.state.persistence = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def urls(self) -> dict[str, str]:
        """``{datacenter: URL}`` in datacenter order (empty strings before start())."""
        return {name: dc.url for name, dc in self.state.datacenters.items()}

    @property
    def url(self) -> str:
        """The first datacenter's URL."""
        return next(iter(self.state.datacenters.values())).url

    def datacenter(self, name: str) -> DatacenterHandle:
        """Control of one datacenter's fleet (``put_machine``, ...); KeyError if unknown."""
        dc = self.state.datacenters.get(name)
        if dc is None:
            raise KeyError(f"no datacenter {name!r}; known: {', '.join(self.state.datacenters)}")
        return DatacenterHandle(self, dc)

    # ----------------------------------------------------------- controls

    @property
    def clock(self) -> Clock:
        """When transitions happen: the wall clock, or a manual one (smartdc_nb.emulator.clock)."""
        return self.state.clock

    def step(self) -> float | None:
        """Move the clock to the end of the earliest pending job, which then settles.

        Returns the new reading, or None when no job is pending (the clock stays).
        Meant for a manual clock (``emu.clock.set_manual(True)``): each step is one
        finished transition, with no sleeping.
        """
        moment = self.state.next_event()
        if moment is None:
            return None
        return self.clock.advance_to(moment)

    def set_speed(self, speed: float) -> None:
        """Make every default transition ``speed`` times faster."""
        with self.state.lock:
            self.state.timing.set_speed(speed)

    def set_durations(self, **seconds: float) -> None:
        """Set transition durations by name (``stop=0.2``; None restores the default)."""
        with self.state.lock:
            self.state.timing.set_durations(**seconds)

    def set_clock_skew(self, seconds: float) -> None:
        """Make the cloud's clock read ``seconds`` ahead of this computer's (negative: behind)
        where a client sees it: the signature's Date check and the answers' Date header."""
        if not math.isfinite(seconds):
            raise ValueError(f"clock skew must be finite seconds, not {seconds!r}")
        self.clock_skew = float(seconds)

    def set_throttle(self, setting: Any) -> None:
        """None/False off, True CloudAPI's (burst 30, 10/s), or ``{"burst", "rate"}``."""
        self.throttle.configure(setting)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The request log, oldest first (passwords and credentials masked)."""
        return self._requests.entries()

    def clear_requests(self) -> None:
        """Empty the request log and the counters.

        A request being served at the time is left out of both when it ends.
        """
        self._requests.clear()

    def counters(self) -> dict[str, Any]:
        """Request totals by status, route and datacenter."""
        return self._requests.counters()

    # ------------------------------------------------------------ catalog

    def add_package(self, **fields: Any) -> dict[str, Any]:
        """Add a package (``name``, ``memory`` MiB and ``disk`` MiB required)."""
        for name in ("name", "memory", "disk"):
            if name not in fields:
                raise ValueError(f"a package needs {name!r}")
        pkg = {"id": fields.pop("id", None) or str(uuid.uuid4()), "version": "1.0.0",
               "active": True, "default": False, "vcpus": 1, "lwps": 4000}
        pkg.update(fields)
        pkg.setdefault("swap", pkg["memory"] * 2)
        with self.state.lock:
            self.state.put_catalog("packages", pkg)
        return dict(pkg)

    def delete_package(self, id_or_name: str) -> None:
        """Remove a package (machines keep their reference); KeyError if unknown."""
        with self.state.lock:
            pkg = self.state.package(id_or_name, active_only_for_names=False)
            if pkg is None:
                raise KeyError(f"no package {id_or_name!r}")
            self.state.drop_catalog("packages", pkg["id"])

    def add_image(self, **fields: Any) -> dict[str, Any]:
        """Add an image (``name`` and ``version`` required)."""
        for name in ("name", "version"):
            if name not in fields:
                raise ValueError(f"an image needs {name!r}")
        image = {"id": fields.pop("id", None) or str(uuid.uuid4()), "os": "smartos",
                 "type": "zone-dataset", "requirements": {}, "owner": ADMIN_UUID, "public": True,
                 "state": "active", "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        image.update(fields)
        with self.state.lock:
            self.state.put_catalog("images", image)
        return dict(image)

    def delete_image(self, image_id: str) -> None:
        """Remove an image by id; KeyError if unknown."""
        with self.state.lock:
            if image_id not in self.state.images:
                raise KeyError(f"no image {image_id!r}")
            self.state.drop_catalog("images", image_id)
