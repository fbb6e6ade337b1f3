"""Machine changes as they happen: CloudAPI's changefeed, from every datacenter at once.

    >>> with fleet.changes() as stream:
    ...     for change in stream:              # blocks; Change objects, any datacenter
    ...         print(change.datacenter, change.name, change.kinds, change.state)

One thread per datacenter holds a WebSocket to ``GET /:login/changefeed``
(``websockets``' sync client), signed like every other request (the
DataCenter's signer and key, its TLS rules and ``insecure``). After every
(re)connect it lists the datacenter's machines once (``tombstone=true``):
messages sent while it was away are lost, so the listing is compared with
what was known and the differences are emitted as changes (``source
"reconcile"``; the first listing only sets the baseline). Messages already
seen (same machine, ``published`` and sub-resources) and messages older than
what is known of their machine are dropped: CloudAPI repeats and may delay
messages. A dropped socket is reopened with exponential backoff; a datacenter
without a feed (the upgrade refused) is tried again at the longest backoff.
With ``poll_interval``, a datacenter whose feed is not live is listed that
often instead, so its changes keep coming (late) while the feed is away.

:attr:`ChangeStream.known` holds the latest payload of every machine, and
:meth:`ChangeStream.live` says whether a datacenter's feed is up and
reconciled: waits and live views read them instead of polling. A stream
limited to one or two machines (``machine_ids``) reconciles by GETting them
instead of listing the whole datacenter.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any


from .errors import APIError, InvalidInputError, TransportError

if TYPE_CHECKING:
    from .datacenter import DataCenter

log = logging.getLogger("smartdc_nb")
#: seconds close() waits for the server's side of the closing handshake
CLOSE_TIMEOUT = 1.0

SUB_RESOURCES = ("alias", "customer_metadata", "destroyed", "nics", "owner_uuid", "server_uuid",
                 "state", "tags")
#: machine field -> the changefeed sub-resource it belongs to (for reconcile diffs)
_FIELDS = {"name": "alias", "metadata": "customer_metadata", "nics": "nics", "ips": "nics",
           "compute_node": "server_uuid", "state": "state", "tags": "tags"}
CONNECTING, LIVE, DOWN, ABSENT, OFF, CLOSED = ("connecting", "live", "down", "absent", "off",
                                               "closed")
_REMEMBERED = 4096  # message keys kept to drop duplicates
#: a stream limited to at most this many machines reconciles by GETting each, not listing
GET_EACH = 2


@dataclass(frozen=True)
class Change:
    """One change of one machine: what changed (``kinds``, changefeed sub-resources) and
    the machine as it is now (``machine``, CloudAPI's dict)."""

    datacenter: str
    machine_id: str
    kinds: tuple[str, ...]
    machine: dict = field(repr=False, compare=False)
    state: str | None = None
    resource_state: str | None = None  # VMAPI's state (``destroyed``, ``down``, ...)
    published: datetime | None = None
    source: str = "feed"              # "feed" or "reconcile" (seen by a listing after a gap)

    @property
    def name(self) -> str | None:
        return self.machine.get("name")

    def row(self) -> dict[str, Any]:
        return {"time": self.published, "datacenter": self.datacenter, "id": self.machine_id,
                "name": self.name, "kinds": ",".join(self.kinds), "state": self.state,
                "source": self.source}


def _ms(published: Any) -> int | None:
    try:
        return int(published)
    except (TypeError, ValueError):
        return None


def _nics(machine: dict) -> list:
    """The NICs without their ``state``, which only follows the machine's state."""
    return [{k: v for k, v in nic.items() if k != "state"} if isinstance(nic, dict) else nic
            for nic in machine.get("nics") or []]


def _diff(before: dict, after: dict) -> tuple[str, ...]:
    kinds = {kind for name, kind in _FIELDS.items() if name != "nics"
             and before.get(name) != after.get(name)}
    if _nics(before) != _nics(after):
        kinds.add("nics")
    if after.get("state") == "deleted" and before.get("state") != "deleted":
        kinds.add("destroyed")
    return tuple(s for s in SUB_RESOURCES if s in kinds)


def _ssl_context(dc: DataCenter) -> ssl.SSLContext | None:
    """TLS as the DataCenter's requests use it: its CA bundle, or nothing checked if insecure."""
    if not dc.url.startswith("https://"):
        return None
    if dc.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    session = dc.transport.session
    verify = session.merge_environment_settings(dc.url, {}, None, session.verify, None)["verify"]
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    import certifi  # what requests verifies with by default

    return ssl.create_default_context(cafile=certifi.where())


class _Datacenter:
    """The feed thread of one datacenter."""

    def __init__(self, stream: ChangeStream, name: str, dc: DataCenter):
        self.stream = stream
        self.name = name
        self.dc = dc
        self.status = CONNECTING
        self.error: BaseException | None = None
        self.known: dict[str, dict] = {}
        self.stamps: dict[str, int] = {}         # machine id -> update counter of ``known``
        # machine id -> newest ``published`` applied (only the server's clock is compared)
        self.newest: dict[str, int] = {}
        self.seen: deque = deque(maxlen=_REMEMBERED)
        self.seen_set: set = set()
        self.baseline = False
        self.connects = 0
        self.ws: Any = None
        self.thread = threading.Thread(target=self._run, name=f"smartdc_nb-changes:{name}",
                                       daemon=True)

    # ------------------------------------------------------------ connection

    def _open(self) -> Any:
        from websockets.sync.client import connect

        dc = self.dc
        path = dc.path("changefeed")
        if dc.roles:
            path += "?as-role=" + ",".join(dc.roles)
        if dc.transport.limiter is not None:  # the upgrade counts against the login's rate
            dc.transport.limiter.acquire()
        auth = dc.transport.session.auth
        date = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
        headers = {"Date": date, "Authorization": auth.authorization("GET", path, date),
                   "Accept-Version": dc.transport.session.headers.get("Accept-Version", "~9||~8")}
        url = ("wss://" if dc.url.startswith("https://") else "ws://") + dc.url.split("://", 1)[1]
        return connect(url + path, additional_headers=headers, ssl=_ssl_context(dc),
                       open_timeout=self.stream.open_timeout,
                       # a hung server must not hold close() - and so the end of a wait -
                       # for websockets' default 10 s closing handshake
                       close_timeout=CLOSE_TIMEOUT,
                       user_agent_header=dc.transport.session.headers.get("User-Agent"),
                       max_size=2 ** 24)

    def _run(self) -> None:
        from websockets.exceptions import InvalidStatus

        stream = self.stream
        delay = stream.backoff[0]
        if not getattr(self.dc, "changefeed", True):  # connect(changefeed=False): never a socket
            self._set(OFF, None)
            while not stream.closed:
                self._pause(3600.0)
        while not stream.closed:
            try:
                self.ws = self._open()
            except InvalidStatus as exc:
                code = exc.response.status_code
                self._set(ABSENT if code in (404, 405, 501) else DOWN, exc)
                wait = stream.backoff[1] if code in (404, 405, 501) else delay
                self._pause(wait)
                delay = min(delay * 2, stream.backoff[1])
                continue
            except Exception as exc:  # noqa: BLE001 - refused, reset, TLS, timeout: retry later
                self._set(DOWN, exc)
                self._pause(delay)
                delay = min(delay * 2, stream.backoff[1])
                continue
            self.connects += 1
            try:
                with self.ws as ws:
                    registration: dict[str, Any] = {"resource": "vm",
                                                    "subResources": list(SUB_RESOURCES)}
                    if stream.machine_ids:
                        registration["vms"] = sorted(stream.machine_ids)
                    ws.send(json.dumps(registration))
                    self._reconcile()
                    self._set(LIVE, None)
                    delay = stream.backoff[0]
                    for text in ws:
                        self._message(text)
                # the server closed the socket cleanly (CloudAPI does when its own feed ends)
                if not stream.closed:
                    self._set(DOWN, ConnectionError(f"the server closed the changefeed ("
                                                    f"{ws.close_code} {ws.close_reason})"))
            except Exception as exc:  # noqa: BLE001 - the socket ended or the listing failed
                if not stream.closed:
                    self._set(DOWN, exc)
            if not stream.closed:
                self._pause(delay)
                delay = min(delay * 2, stream.backoff[1])
        self._set(CLOSED, None)

    def _pause(self, seconds: float) -> None:
        """Wait before reconnecting; list the datacenter meanwhile when polling is asked for."""
        end = time.monotonic() + seconds
        interval = self.stream.poll_interval
        if interval is not None and not self.baseline and not self.stream.closed:
            with contextlib.suppress(APIError, TransportError):  # know the fleet from the start
                self._reconcile()
        while not self.stream.closed and (left := end - time.monotonic()) > 0:
            if interval is None:
                self.stream._stopped.wait(left)
                continue
            self.stream._stopped.wait(min(left, interval))
            if not self.stream.closed:
                with contextlib.suppress(APIError, TransportError):
                    self._reconcile()

    def _set(self, status: str, error: BaseException | None) -> None:
        if status != self.status:
            log.info("changefeed %s: %s%s", self.name, status, f" ({error})" if error else "")
        self.status, self.error = status, error
        self.stream._notify()

    # ------------------------------------------------------------ changes

    def _reconcile(self) -> None:
        ids = self.stream.machine_ids
        if ids and len(ids) <= GET_EACH:
            listing = self._fetch_each(ids)
        else:
            listing = [m for page in self.dc.iter_machine_pages(tombstone=True) for m in page]
            self.stream.listings += 1
        changes = []
        with self.stream._lock:
            for raw in listing:
                machine_id = raw.get("id")
                if not machine_id or (self.stream.machine_ids
                                      and machine_id not in self.stream.machine_ids):
                    continue
                before = self.known.get(machine_id)
                self.known[machine_id] = raw
                if before != raw:
                    self.stamps[machine_id] = self.stamps.get(machine_id, 0) + 1
                if not self.baseline:
                    continue
                kinds = SUB_RESOURCES if before is None else _diff(before, raw)
                if kinds:
                    changes.append(Change(self.name, machine_id, tuple(kinds), raw,
                                          raw.get("state"), None, datetime.now(timezone.utc),
                                          "reconcile"))
            self.baseline = True
        for change in changes:
            self.stream._emit(change)

    def _fetch_each(self, ids: set[str]) -> list[dict]:
        """GET each awaited machine (cheaper than a listing of a large fleet for a few)."""
        from .errors import MachineDeletedError, NotFoundError

        found = []
        for machine_id in sorted(ids):
            try:
                found.append(self.dc.raw_machine_data(machine_id))
            except MachineDeletedError as exc:
                if isinstance(exc.body, dict):
                    found.append(exc.body)
            except NotFoundError:
                with self.stream._lock:
                    self.known.pop(machine_id, None)
            self.stream.gets += 1
        return found

    def _message(self, text: Any) -> None:
        try:
            message = json.loads(text)
            machine_id = message["changedResourceId"]
            machine = message["resourceObject"]
            kinds = tuple(message["changeKind"]["subResources"])
        except (ValueError, KeyError, TypeError):
            log.info("changefeed %s: a message that is not a change was ignored", self.name)
            return
        published = _ms(message.get("published"))
        key = (machine_id, published, kinds)
        with self.stream._lock:
            if key in self.seen_set:
                self.stream.duplicates += 1
                return
            if len(self.seen) == self.seen.maxlen:
                self.seen_set.discard(self.seen[0])
            self.seen.append(key)
            self.seen_set.add(key)
            if published is not None and published < self.newest.get(machine_id, 0):
                self.stream.stale += 1  # late: the machine is known newer than this
                return
            if self.stream.machine_ids and machine_id not in self.stream.machine_ids:
                return
            self.newest[machine_id] = max(self.newest.get(machine_id, 0), published or 0)
            self.known[machine_id] = machine
            self.stamps[machine_id] = self.stamps.get(machine_id, 0) + 1
        when = datetime.fromtimestamp(published / 1000, timezone.utc) if published else None
        self.stream._emit(Change(self.name, machine_id, kinds, machine, machine.get("state"),
                                 message.get("resourceState"), when, "feed"))


class ChangeStream:
    """Changes of the machines of one or more datacenters (see the module docstring).

    Iterate it (blocks until the next change) or call :meth:`get`; close it
    (or use ``with``) to close its sockets. ``machine_ids`` limits the feed to
    those machines (CloudAPI's ``vms`` filter).
    """

    def __init__(self, datacenters: dict[str, DataCenter], *,
                 machine_ids: Iterable[str] | None = None, backoff: tuple[float, float] = (0.5, 30.0),
                 poll_interval: float | None = None, open_timeout: float = 10.0,
                 queue_size: int = 100_000, notify: threading.Event | None = None):
        if not datacenters:
            raise InvalidInputError("a change stream needs at least one datacenter")
        low, high = backoff
        if not 0 < low <= high:
            raise InvalidInputError(f"backoff must be (first, longest) seconds, 0 < first <= "
                                    f"longest, not {backoff!r}")
        if poll_interval is not None and not poll_interval > 0:
            raise InvalidInputError(f"poll_interval must be positive seconds or None, not {poll_interval!r}")
        self.machine_ids = {m.lower() for m in machine_ids} if machine_ids else set()
        self.backoff = (float(low), float(high))
        self.poll_interval = poll_interval
        self.open_timeout = open_timeout
        self.closed = False
        self.listings = 0       # reconcile listings made
        self.gets = 0           # reconcile GETs made (see GET_EACH)
        self._notify_event = notify  # also set on every change (one event for many streams)
        self.duplicates = 0     # messages dropped as already seen
        self.stale = 0          # messages dropped as older than what was known
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._changed = threading.Condition()
        self._version = 0
        self._stopped = threading.Event()
        self._feeds = {name: _Datacenter(self, name, dc) for name, dc in datacenters.items()}
        for feed in self._feeds.values():
            feed.thread.start()

    # ------------------------------------------------------------ state

    def live(self, datacenter: str | None = None) -> bool:
        """True when the feed of ``datacenter`` (default: every one) is up and reconciled."""
        feeds = [self._feeds[datacenter]] if datacenter else list(self._feeds.values())
        return all(f.status == LIVE for f in feeds)

    @property
    def status(self) -> dict[str, str]:
        """``{datacenter: connecting | live | down | absent | off | closed}`` (``off``: the
        DataCenter was connected with ``changefeed=False``; only polling, if asked for)."""
        return {name: f.status for name, f in self._feeds.items()}

    @property
    def errors(self) -> dict[str, BaseException]:
        """Why each datacenter that is not live is not (its last error)."""
        return {name: f.error for name, f in self._feeds.items() if f.error is not None
                and f.status != LIVE}

    def known(self, datacenter: str, machine_id: str) -> dict | None:
        """The latest payload of a machine (from the feed or a listing), or None."""
        return self._feeds[datacenter].known.get(machine_id)

    def known_stamped(self, datacenter: str, machine_id: str) -> tuple[dict | None, int]:
        """The latest payload of a machine and how many times it was updated (0: never)."""
        feed = self._feeds[datacenter]
        with self._lock:
            return feed.known.get(machine_id), feed.stamps.get(machine_id, 0)

    def known_machines(self, datacenter: str) -> dict[str, dict]:
        with self._lock:
            return dict(self._feeds[datacenter].known)

    @property
    def version(self) -> int:
        """Grows with every change and status change (for :meth:`wait_change`)."""
        return self._version

    def wait_change(self, since: int, timeout: float) -> int:
        """Block until :attr:`version` passes ``since`` or ``timeout``; the version then."""
        with self._changed:
            self._changed.wait_for(lambda: self._version != since or self.closed, timeout)
            return self._version

    def _notify(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()
        if self._notify_event is not None:
            self._notify_event.set()

    def _emit(self, change: Change) -> None:
        try:
            self._queue.put_nowait(change)
        except queue.Full:  # nobody reads: the known payloads stay current all the same
            pass
        self._notify()

    # ------------------------------------------------------------ reading

    def get(self, timeout: float | None = None) -> Change | None:
        """The next change, or None after ``timeout`` seconds (or once closed and drained)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.closed and self._queue.empty():
                return None
            left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if left <= 0:
                return None
            try:
                return self._queue.get(timeout=left)
            except queue.Empty:
                continue

    def drain(self) -> list[Change]:
        """Every change waiting now, without blocking."""
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def __iter__(self) -> Iterator[Change]:
        while True:
            change = self.get()
            if change is None:
                return
            yield change

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        """Close every socket and stop the threads (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._stopped.set()
        for feed in self._feeds.values():
            if feed.ws is not None:
                with contextlib.suppress(Exception):
                    feed.ws.close()
        for feed in self._feeds.values():
            feed.thread.join(timeout=5)
        self._notify()

    def __enter__(self) -> "ChangeStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        status = ", ".join(f"{n}: {s}" for n, s in self.status.items())
        return f"<ChangeStream {status}>"
