"""One datacenter's changefeed socket, on its own thread: sign and open the WebSocket, read
its messages, reconnect with backoff, and reconcile with a listing after each (re)connect
(see :mod:`.changes`, whose :class:`~smartdc_nb.changes.ChangeStream` runs one per datacenter).
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any


from .errors import APIError, TransportError

from .change import (_REMEMBERED, ABSENT, CLOSE_TIMEOUT, CLOSED, CONNECTING, DOWN, GET_EACH, LIVE,
                     OFF, SUB_RESOURCES, Change, _diff, _ms)

if TYPE_CHECKING:
    from .changes import ChangeStream
    from .datacenter import DataCenter

log = logging.getLogger("smartdc_nb")


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
        # the last listing's failure (None once one succeeds) and when the last one succeeded:
        # what a live frame says of a datacenter whose feed is down (ChangeStream.gaps)
        self.list_error: BaseException | None = None
        self.known_at: datetime | None = None
        # when the feed last stopped being live: rows known before it and not listed since
        # are unconfirmed (a frozen cloud drops the feed, then its poll hangs)
        self.down_at: datetime | None = None
        self.listed_at: float | None = None      # monotonic start of the last reconcile
        # seconds the slowest answered reconcile request took: a wait on the feed counts the
        # cloud as answering in that time, as it counts its own polls' answers
        self.slowest_answer = 0.0
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
                       ping_interval=self.stream.keepalive, ping_timeout=self.stream.keepalive,
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
            if stream.closed:
                # close() ran while the upgrade hung: it saw no socket to close, so this
                # thread closes it; registering would list the datacenter and live on
                with contextlib.suppress(Exception), self.ws:
                    pass                    # leaving the block closes the socket
                break
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
        """Wait before reconnecting; list the datacenter meanwhile when polling is asked for.

        Polls follow their own schedule, ``poll_interval`` after the last listing (a
        reconcile's included), not the reconnect backoff: a feed that stays down is
        retried often, but its datacenter is not listed more than once an interval.
        """
        end = time.monotonic() + seconds
        interval = self.stream.poll_interval
        while not self.stream.closed and (left := end - time.monotonic()) > 0:
            if interval is None:
                self.stream._stopped.wait(left)
                continue
            # never listed: know the fleet from the start
            due = 0.0 if self.listed_at is None else self.listed_at + interval - time.monotonic()
            if due > 0:
                self.stream._stopped.wait(min(left, due))
            elif not self.stream.closed:
                with contextlib.suppress(APIError, TransportError):
                    self._reconcile()

    def _set(self, status: str, error: BaseException | None) -> None:
        if self.status == LIVE and status != LIVE:
            self.down_at = datetime.now(timezone.utc)
        if status != self.status:
            log.info("changefeed %s: %s%s", self.name, status, f" ({error})" if error else "")
        self.status, self.error = status, error
        self.stream._notify()

    # ------------------------------------------------------------ changes

    def _reconcile(self) -> None:
        self.listed_at = time.monotonic()
        try:
            listing = self._listing()
        except BaseException as exc:
            self.list_error = exc
            self.stream._notify()  # views re-render: their rows are now named stale
            raise
        changes = []
        listed: set[str] = set()
        with self.stream._lock:
            for raw in listing:
                machine_id = raw.get("id")
                if not machine_id or (self.stream.machine_ids
                                      and machine_id not in self.stream.machine_ids):
                    continue
                listed.add(machine_id)
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
            # What a listing says is current. The stamps of a socket that ended order nothing
            # from the next one: a cloud back with its clock behind stamps its changes earlier,
            # and they would all be dropped as late until its clock passed the old stamps.
            self.newest.clear()
            if self.baseline and not self._each(self.stream.machine_ids):
                changes += self._forget(set(self.known) - listed)
            self.baseline = True
            self.list_error, self.known_at = None, datetime.now(timezone.utc)
        for change in changes:
            self.stream._emit(change)
        if not changes:
            self.stream._notify()  # nothing changed, but the rows are confirmed as of now

    def _forget(self, gone: set[str]) -> list[Change]:
        """Machines a whole listing (tombstones included) no longer has: gone from the cloud
        while the socket was down (purged after their tombstone time, or a cloud restarted
        without them). No message will ever say so; kept, they would stay as last seen."""
        changes = []
        for machine_id in sorted(gone):
            before = self.known.pop(machine_id)
            self.stamps[machine_id] = self.stamps.get(machine_id, 0) + 1
            changes.append(Change(self.name, machine_id, ("state",), {**before, "state": "deleted"},
                                  "deleted", None, datetime.now(timezone.utc), "reconcile"))
        return changes

    @staticmethod
    def _each(ids: set[str]) -> bool:
        """Whether the machines are GOT one by one (_fetch_each), not listed."""
        return bool(ids) and len(ids) <= GET_EACH

    def _listing(self) -> list[dict]:
        ids = self.stream.machine_ids
        if self._each(ids):
            return self._fetch_each(ids)
        listing, asked = [], time.monotonic()
        for page in self.dc.iter_machine_pages(tombstone=True):
            listing += page
            self._answered(asked)
            asked = time.monotonic()
        self.stream.listings += 1
        return listing

    def _answered(self, asked: float) -> None:
        self.slowest_answer = max(self.slowest_answer, time.monotonic() - asked)

    def _fetch_each(self, ids: set[str]) -> list[dict]:
        """GET each awaited machine (cheaper than a listing of a large fleet for a few)."""
        from .errors import MachineDeletedError, NotFoundError

        found = []
        for machine_id in sorted(ids):
            asked = time.monotonic()
            try:
                found.append(self.dc.raw_machine_data(machine_id))
            except MachineDeletedError as exc:
                if isinstance(exc.body, dict):
                    found.append(exc.body)
            except NotFoundError:
                with self.stream._lock:
                    self.known.pop(machine_id, None)
            self._answered(asked)  # a 404 or 410 is an answer too
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


__all__ = ["_Datacenter"]
