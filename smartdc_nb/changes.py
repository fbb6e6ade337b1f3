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
import logging
import queue
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from .change import (_FIELDS, _REMEMBERED, ABSENT, CLOSE_TIMEOUT, CLOSED,  # noqa: F401
                     CONNECTING, DOWN, GET_EACH, LIVE, OFF, SUB_RESOURCES, Change, _diff, _ms,
                     _nics)
from .errors import InvalidInputError
from .feed_socket import _Datacenter

if TYPE_CHECKING:
    from .datacenter import DataCenter

log = logging.getLogger("smartdc_nb")


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _machine_ids(ids: Iterable[str] | str | None) -> set[str]:
    """The registration's ``vms``, lower-cased. CloudAPI (sdc-cloudapi lib/changefeed.js)
    silently ignores a whole registration with one non-UUID entry, so the stream would look
    live and hear nothing, and it matches entries case-sensitively against VMAPI's lower-case
    ids. None: no filter. Empty is refused: it is what a list built from a selection that
    found nothing gives, and hearing every machine instead would surprise that code."""
    if ids is None:
        return set()
    chosen = set()
    for one in [ids] if isinstance(ids, str) else ids:
        text = one.strip().lower() if isinstance(one, str) else ""
        if not _UUID.fullmatch(text):
            raise InvalidInputError(f"machine_ids takes machine UUIDs (CloudAPI's changefeed "
                                    f"ignores a registration naming anything else), not {one!r}")
        chosen.add(text)
    if not chosen:
        raise InvalidInputError("machine_ids is empty, so the stream would hear no machine; "
                                "pass machine_ids=None (the default) to hear every machine, "
                                "or check the selection the ids came from")
    return chosen


#: Seconds between a feed's pings, and for its pong: a CloudAPI that hangs with the socket
#: open is found within twice this. websockets' own (20 s and 20 s) called a hung cloud's
#: machines current for up to 40 s; a ping frame each 10 s costs nothing.
KEEPALIVE = 10.0


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class ChangeStream:
    """Changes of the machines of one or more datacenters (see the module docstring).

    Iterate it (blocks until the next change) or call :meth:`get`; close it
    (or use ``with``) to close its sockets. ``machine_ids`` limits the feed to
    those machines (CloudAPI's ``vms`` filter). At most ``queue_size`` changes wait
    unread (each holds a whole machine); past that the oldest are dropped and counted
    in ``lost``, while :meth:`known` stays current.
    """

    def __init__(self, datacenters: dict[str, DataCenter], *,
                 machine_ids: Iterable[str] | str | None = None, backoff: tuple[float, float] = (0.5, 30.0),
                 poll_interval: float | None = None, open_timeout: float = 10.0,
                 keepalive: float = KEEPALIVE, queue_size: int = 10_000,
                 notify: threading.Event | None = None):
        if not datacenters:
            raise InvalidInputError("a change stream needs at least one datacenter")
        low, high = backoff
        if not 0 < low <= high:
            raise InvalidInputError(f"backoff must be (first, longest) seconds, 0 < first <= "
                                    f"longest, not {backoff!r}")
        if poll_interval is not None and not poll_interval > 0:
            raise InvalidInputError(f"poll_interval must be positive seconds or None, not {poll_interval!r}")
        if isinstance(keepalive, bool) or not isinstance(keepalive, (int, float)) \
                or not keepalive > 0:
            raise InvalidInputError(f"keepalive must be positive seconds (how long a feed may "
                                    f"go unanswered before it counts as down), not {keepalive!r}")
        self.machine_ids = _machine_ids(machine_ids)
        self.backoff = (float(low), float(high))
        self.poll_interval = poll_interval
        self.open_timeout = open_timeout
        self.keepalive = float(keepalive)
        self.closed = False
        self.listings = 0       # reconcile listings made
        self.gets = 0           # reconcile GETs made (see GET_EACH)
        self._notify_event = notify  # also set on every change (one event for many streams)
        self.duplicates = 0     # messages dropped as already seen
        self.stale = 0          # messages dropped as older than what was known
        self.lost = 0           # changes dropped unread, the oldest first (queue_size)
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

    def gaps(self) -> dict[str, str]:
        """``{datacenter: why}`` for each datacenter whose known machines may be missing or out
        of date; empty when every one is current (its feed live, or its last poll listed it).

        Not listed yet: nothing of it is known. Stale: its feed is not live and either listing
        it failed, no listing has answered since the feed dropped (a poll under way, or a cloud
        that stopped answering), or it is not polled (``poll_interval=None``); what is known
        stays.
        """
        out = {}
        for name, feed in self._feeds.items():
            status, error, listed, failed = feed.status, feed.error, feed.known_at, feed.list_error
            if status == LIVE:
                continue
            if listed is None:
                why = failed or error
                out[name] = f"not listed yet (feed {status}" + (f"; {_describe(why)})" if why
                                                                else ")")
            elif failed is not None:
                out[name] = (f"stale: known as of {listed:%Y-%m-%dT%H:%M:%SZ}; the feed is "
                             f"{status} and listing failed ({_describe(failed)})")
            elif feed.down_at is not None and listed < feed.down_at and self.poll_interval:
                out[name] = (f"stale: known as of {feed.down_at:%Y-%m-%dT%H:%M:%SZ}, when the "
                             f"feed dropped; it is {status} and no listing has answered since"
                             + (f" ({_describe(error)})" if error else ""))
            elif self.poll_interval is None:
                out[name] = (f"stale: known as of {listed:%Y-%m-%dT%H:%M:%SZ}; the feed is "
                             f"{status} and it is not polled")
        return out

    def known(self, datacenter: str, machine_id: str) -> dict | None:
        """The latest payload of a machine (from the feed or a listing), or None."""
        return self._feeds[datacenter].known.get(machine_id)

    def known_stamped(self, datacenter: str, machine_id: str) -> tuple[dict | None, int]:
        """The latest payload of a machine and how many times it was updated (0: never)."""
        feed = self._feeds[datacenter]
        with self._lock:
            return feed.known.get(machine_id), feed.stamps.get(machine_id, 0)

    def slowest_answer(self, datacenter: str) -> float:
        """Seconds the slowest answered reconcile request (listing page or GET) of
        ``datacenter`` took (0.0: none answered yet)."""
        return self._feeds[datacenter].slowest_answer

    def listed(self, datacenter: str) -> bool:
        """True once ``datacenter`` was listed (its known machines are a whole fleet's)."""
        return self._feeds[datacenter].baseline

    def known_machines(self, datacenter: str) -> dict[str, dict]:
        """``{machine id: latest payload}`` of ``datacenter`` as known now (a copy; no request)."""
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
        # Nobody reads: the oldest change goes, not this one, so a reader that comes back
        # gets the latest (the known payloads stay current all the same), and is told.
        while True:
            try:
                self._queue.put_nowait(change)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()
                    self.lost += 1
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
        lost = f"; {self.lost} unread changes lost (queue_size)" if self.lost else ""
        return f"<ChangeStream {status}{lost}>"
