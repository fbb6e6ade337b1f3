"""CloudAPI's changefeed: machine changes pushed over a WebSocket (changefeed.md).

``GET /:login/changefeed`` upgrades to RFC 6455 (routes/changefeed.py answers
the handshake); the socket then belongs to a :class:`~.feed_subscriber.FeedSocket`,
which reads the client's registration and control frames in the server's
handler thread.

Nothing in the emulator runs in the background, so the feed has its own thread
(:class:`Feed`), alive while sockets are open. It keeps, per machine, the
sub-resources it last published (``alias``, ``customer_metadata``,
``destroyed``, ``nics``, ``owner_uuid``, ``server_uuid``, ``state``, ``tags``)
and compares the machines that may have changed: those the store touched
(every API and admin change goes through ``State.touch``) and those with queued
jobs, woken at each step of their timeline (job start, each phase, job end).
A message goes to every registered socket of the machine's owner in the
socket's datacenter whose registration names one of the changed sub-resources
(and the machine, when ``vms`` was given).

Assumptions where VMAPI's exact behaviour is not documented: a machine that
appears (provision, injection) is published once with every sub-resource it
has; ``resourceState`` is VMAPI's name for the state (``destroyed`` for
``deleted``).

Faults for clients to survive (admin API ``/__emulator/changefeed``): drop
every socket (as CloudAPI does when its upstream feed ends), delay messages,
send each message more than once, or refuse new upgrades (no feed).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .feed_subscriber import SUB_RESOURCES, FeedSocket
from .payloads import dumps, machine_dict, shown_state

if TYPE_CHECKING:  # pragma: no cover
    from .store import Datacenter, Machine, State

log = logging.getLogger("smartdc_nb.emulator")


def _fingerprint(machine: Machine, now: float) -> dict[str, Any]:
    state = shown_state(machine, now)
    return {"alias": machine.name,
            "customer_metadata": json.dumps(machine.metadata, sort_keys=True, default=str),
            "destroyed": state == "deleted",
            "nics": json.dumps(machine.nics, sort_keys=True, default=str),
            "owner_uuid": machine.owner,
            "server_uuid": machine.compute_node,
            "state": state,
            "tags": json.dumps(machine.tags, sort_keys=True, default=str)}


def _vmapi_state(state: str) -> str:
    return "destroyed" if state == "deleted" else state


class Feed:
    """The emulator's changefeed: its sockets, options, and the publishing thread."""

    def __init__(self, state: State, enabled: bool = True):
        self.state = state
        self.enabled = bool(enabled)
        self.delay = 0.0
        self.duplicate = 0
        self.register_delay = 0.0  # seconds before a socket's registration is taken
        self.frozen = False  # a hung CloudAPI: sockets stay open, nothing is sent nor read
        self.published = 0
        self._sockets: list[FeedSocket] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._watch: dict[str, set[str]] = {}   # datacenter -> machine ids that may have changed
        self._seen: dict[str, dict[str, dict[str, Any]]] = {}  # datacenter -> id -> fingerprint
        self._outbox: list[tuple[float, int, FeedSocket, str]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False

    # ------------------------------------------------------------ options

    def configure(self, enabled: Any = None, delay: Any = None, duplicate: Any = None,
                  register_delay: Any = None, frozen: Any = None) -> dict:
        """Change the options; returns :meth:`status`. ``enabled=False`` refuses new upgrades;
        ``register_delay`` seconds pass before a new socket's registration is taken (CloudAPI
        never acknowledges one, so a client cannot tell when it was); ``frozen=True`` is a
        hung CloudAPI: the open sockets stay open, but nothing is sent on them (changes wait)
        and nothing read (a ping gets no pong) until ``frozen=False``."""
        if enabled is not None:
            if not isinstance(enabled, bool):
                raise ValueError(f"enabled must be true or false, not {enabled!r}")
            self.enabled = enabled
        if delay is not None:
            if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 60:
                raise ValueError(f"delay must be 0 to 60 seconds, not {delay!r}")
            self.delay = float(delay)
        if duplicate is not None:
            if isinstance(duplicate, bool) or not isinstance(duplicate, int) or not 0 <= duplicate <= 10:
                raise ValueError(f"duplicate must be a whole number of extra copies 0 to 10, "
                                 f"not {duplicate!r}")
            self.duplicate = duplicate
        if frozen is not None:
            if not isinstance(frozen, bool):
                raise ValueError(f"frozen must be true or false, not {frozen!r}")
            self.frozen = frozen
            self._wake.set()  # the changes held while frozen go out now
        if register_delay is not None:
            if isinstance(register_delay, bool) or not isinstance(register_delay, (int, float)) \
                    or not 0 <= register_delay <= 60:
                raise ValueError(f"register_delay must be 0 to 60 seconds, not {register_delay!r}")
            self.register_delay = float(register_delay)
        return self.status()

    def status(self) -> dict[str, Any]:
        with self._lock:
            sockets = [{"datacenter": s.dc_name, "account": s.account_uuid,
                        "registered": s.registration is not None,
                        "vms": (s.registration or {}).get("vms"), "sent": s.sent}
                       for s in self._sockets]
        return {"enabled": self.enabled, "delay": self.delay, "duplicate": self.duplicate,
                "register_delay": self.register_delay, "frozen": self.frozen,
                "published": self.published,
                "sockets": sockets}

    # ------------------------------------------------------------ sockets

    def session(self, dc_name: str, account_uuid: str, request_id: str) -> Callable:
        """The callable the server runs with the upgraded socket. The socket counts as open
        from now on, before the 101 leaves, so a drop right after the handshake reaches it."""
        feed_socket = FeedSocket(self, dc_name, account_uuid, request_id)
        self.add(feed_socket)
        return feed_socket.serve

    def add(self, feed_socket: FeedSocket) -> None:
        with self.state.lock, self._lock:
            if not self._sockets:
                self._baseline()
            self._sockets.append(feed_socket)
            self._stopping = False
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="smartdc_nb-changefeed",
                                                daemon=True)
                self._thread.start()

    def remove(self, feed_socket: FeedSocket) -> None:
        with self._lock:
            if feed_socket in self._sockets:
                self._sockets.remove(feed_socket)

    def drop(self, abrupt: bool = False) -> int:
        """Close every socket (a close frame first unless ``abrupt``); how many were open."""
        with self._lock:
            sockets = list(self._sockets)
            self._outbox.clear()
        for feed_socket in sockets:
            feed_socket.close(send_frame=not abrupt, code=1001, reason="changefeed ended")
        return len(sockets)

    def stop(self) -> None:
        self._stopping = True
        self.drop()
        self._wake.set()

    # ------------------------------------------------------------ changes

    def touched(self, dc: Datacenter, machine: Machine) -> None:
        """The store's hook: ``machine`` may have changed (called under the state lock)."""
        if self._sockets:
            self._watch.setdefault(dc.name, set()).add(machine.id)
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def reset(self) -> None:
        """After the emulator's reset: every socket ends (its machines are gone)."""
        self.drop()

    def _baseline(self) -> None:
        now = self.state.clock.now()
        self._watch = {}
        self._seen = {}
        for dc in self.state.datacenters.values():
            dc.settle_all(now, self.state.timing)
            self._seen[dc.name] = {m.id: _fingerprint(m, now) for m in dc.machines.values()}

    def _run(self) -> None:
        while not self._stopping:
            wait = self._next_wake() - self.state.clock.now()
            if wait > 0:
                self._wake.wait(min(wait, 1.0))
            self._wake.clear()
            with self._lock:
                if not self._sockets and not self._outbox:
                    self._thread = None
                    return
            try:
                self._scan()
                self._flush()
            except Exception:  # the feed must outlive a bad machine; the log keeps it
                log.exception("changefeed: publishing failed")

    def _next_wake(self) -> float:
        """The next moment (on the emulator's clock) something may be due."""
        now = self.state.clock.now()
        soon = now + 1.0
        with self._lock:
            if self._outbox:  # delivery times are on the wall clock
                soon = min(soon, now + self._outbox[0][0] - time.time())
        with self.state.lock:
            for dc in self.state.datacenters.values():
                for machine_id in dc.busy:
                    machine = dc.machines.get(machine_id)
                    if machine is None or not machine.jobs:
                        continue
                    job = machine.jobs[0]
                    if job.start is None or job.end is None:
                        continue
                    span = job.end - job.start
                    for moment in [job.start, job.end] + [job.start + until * span
                                                          for until, _ in job.phases]:
                        if moment > now:
                            soon = min(soon, moment)
        return soon

    def _scan(self) -> None:
        messages: list[tuple[str, str, str, str]] = []  # (dc, owner, machine id, json)
        with self.state.lock:
            now = self.state.clock.now()
            for dc in self.state.datacenters.values():
                seen = self._seen.setdefault(dc.name, {})
                candidates = self._watch.pop(dc.name, set()) | set(dc.busy)
                for machine_id in candidates:
                    machine = self.state.machine(dc, machine_id, now)
                    if machine is None:
                        continue
                    current = _fingerprint(machine, now)
                    before = seen.get(machine_id)
                    if before is None:
                        subs = [s for s in SUB_RESOURCES if current[s] not in (None, False, "{}", "[]")]
                    else:
                        subs = [s for s in SUB_RESOURCES if current[s] != before[s]]
                    seen[machine_id] = current
                    if not subs:
                        continue
                    body = {"published": str(int(now * 1000)),
                            "changeKind": {"resource": "vm", "subResources": subs},
                            "changedResourceId": machine.id,
                            "resourceObject": machine_dict(machine, self.state, now),
                            "resourceState": _vmapi_state(current["state"])}
                    messages.append((dc.name, machine.owner, machine.id,
                                     dumps(body).decode("utf-8")))
        if not messages:
            return
        due = time.time() + self.delay
        with self._lock:
            for dc_name, owner, machine_id, text in messages:
                self.published += 1
                subs = json.loads(text)["changeKind"]["subResources"]
                for feed_socket in self._sockets:
                    if feed_socket.dc_name == dc_name and feed_socket.account_uuid == owner \
                            and feed_socket.wants(machine_id, subs):
                        for _ in range(1 + self.duplicate):
                            heapq.heappush(self._outbox, (due, next(self._order), feed_socket, text))

    def _flush(self) -> None:
        now = time.time()
        ready = []
        if self.frozen:
            return
        with self._lock:
            while self._outbox and self._outbox[0][0] <= now:
                ready.append(heapq.heappop(self._outbox))
        for _, _, feed_socket, text in ready:
            if not feed_socket.closed:
                feed_socket.send_text(text)
