"""Bounds on one request: a total deadline and a largest decoded answer.

urllib3's timeouts are per socket operation: a server that trickles its
headers or body one byte at a time never trips them, and a retry budget that
starts at the first failure lets one request run far past what its caller
can wait. So every :class:`~smartdc_nb.transport.Transport` request runs as a
:class:`Call` with an absolute deadline (its ``request_timeout``, or earlier
when a wait passed its own deadline down with :func:`cutoff`):

- the connect and read timeouts of each attempt shrink to the time left;
- retries that would end after the deadline are not attempted;
- a :class:`Watchdog` thread shuts the connection's socket down when the
  deadline passes, which ends a blocked read in any phase (headers, body,
  chunked body) - the one thing no per-read timeout can do;
- the body is streamed and decoded in chunks (urllib3's ``decode_content``,
  which bounds each decompression step) and counted against ``max_answer_bytes``,
  so a huge body or a gzip bomb stops at the limit instead of filling memory.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import logging
import os
import socket
import threading
import time
from typing import Any, Iterator

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import call_groups, call_notices

#: seconds one call may take in all: connecting, every read and every retry
DEFAULT_REQUEST_TIMEOUT = 180.0
#: bytes of one decoded answer (a full page of 1,000 machines is ~2 MB)
DEFAULT_MAX_ANSWER_BYTES = 64 * 2**20
CHUNK = 64 * 1024
log = logging.getLogger("smartdc_nb")

_cutoff: contextvars.ContextVar[tuple[float, str] | None] = contextvars.ContextVar(
    "smartdc_nb_cutoff", default=None)
_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "smartdc_nb_call", default=None)
_each: contextvars.ContextVar[tuple[float, str] | None] = contextvars.ContextVar(
    "smartdc_nb_each", default=None)


def check_limit(name: str, value: Any, kind: type) -> Any:
    """``value`` if it is a positive number (a whole one for ``int``) or None, else a clear error."""
    whole = kind is int
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                         and value > 0 and (not whole or value == int(value))):
        return value if value is None or not whole else int(value)
    from .errors import InvalidInputError

    what = "a whole number of bytes" if whole else "a number of seconds"
    raise InvalidInputError(f"{name} must be {what} > 0, or None for no limit; not {value!r}")


@contextlib.contextmanager
def cutoff(at: float | None, why: str = "the wait's deadline") -> Iterator[None]:
    """Requests made inside end by ``time.monotonic()`` value ``at`` (None: no cutoff).

    A wait passes its deadline down this way, so one slow poll cannot carry it
    past its end. Nested cutoffs keep the earliest.
    """
    outer = _cutoff.get()
    if at is None or (outer is not None and outer[0] <= at):
        yield
        return
    token = _cutoff.set((at, why))
    try:
        yield
    finally:
        _cutoff.reset(token)


@contextlib.contextmanager
def each_within(seconds: float, why: str) -> Iterator[None]:
    """Each request made inside ends within ``seconds`` of its start, when that is sooner
    than its own bound (a wait's polls: one hung poll must not hold back the wait's notice
    that the cloud is silent, smartdc_nb.operations.silence); ``why`` names the bound."""
    token = _each.set((seconds, why))
    try:
        yield
    finally:
        _each.reset(token)


class Call:
    """One request in progress: when it started, when it must end, and why then."""

    def __init__(self, request_timeout: float | None,
                 about: tuple[str, str, str] | None = None):
        self.started = time.monotonic()
        self.deadline = float("inf")
        self.limit = ""
        if request_timeout is not None:
            self.deadline = self.started + request_timeout
            self.limit = f"request_timeout={request_timeout:g}s"
        each = _each.get()
        if each is not None and self.started + each[0] < self.deadline:
            self.deadline, self.limit = self.started + each[0], each[1]
        outer = _cutoff.get()
        if outer is not None and outer[0] < self.deadline:
            self.deadline, self.limit = outer
        self._lock = threading.Lock()
        self._connections: list[HTTPConnection] = []
        self.active = True
        self.cut = False  # the watchdog shut a connection down
        self.abandoned = False  # its caller stopped waiting for it (CallGroup.abandon)
        self.label = call_groups.label()  # what it is for (labelled), for its CallGroup's live()
        # (method, path, url) while unanswered it is to be said (call_notices), and where: not
        # a wait's poll (each_within: the wait says it), and only when asked (the main
        # thread, carried work) or given a sink (a panel's line)
        self.sink = call_notices.sink()
        self.said = False  # a notice went to the sink, which is told when the call ends
        self.about = about if about and each is None and (
            self.sink is not None or call_notices.noticed()) else None
        self.context = contextvars.copy_context() if self.about else None

    def left(self) -> float:
        """Seconds until the deadline (may be negative; inf without one)."""
        return self.deadline - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.cut or self.abandoned or self.left() <= 0

    def attach(self, connection: HTTPConnection) -> None:
        with self._lock:
            if self.active:
                self._connections.append(connection)

    def shut(self) -> None:
        """Shut down the sockets of this call (the watchdog's job at the deadline)."""
        with self._lock:
            if not self.active:
                return
            for connection in self._connections:
                sock = getattr(connection, "sock", None)
                if sock is None:
                    continue
                self.cut = True
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self._lock:
            self.active = False
            self._connections.clear()
        if self.said and self.sink is not None:
            try:
                self.sink(self, None)
            except Exception:  # noqa: BLE001 - a notice's end must never fail the request
                log.debug("ending an unanswered request's notice failed", exc_info=True)


@contextlib.contextmanager
def call(request_timeout: float | None,
         about: tuple[str, str, str] | None = None) -> Iterator[Call]:
    """Run one request as a :class:`Call` watched by the :class:`Watchdog`; ``about``
    (method, path, url) says it while unanswered (smartdc_nb.call_notices)."""
    current = Call(request_timeout, about)
    groups = call_groups.enclosing()
    if about is not None and about[0] in ("GET", "HEAD"):
        groups.append(call_groups.READS)  # cut when the interpreter exits
    for group in groups:
        group.add(current)
    token = _current.set(current)
    try:
        if current.abandoned:
            raise call_groups.Abandoned("its caller stopped waiting (Ctrl-C) before it was sent")
        WATCHDOG.watch(current)
        yield current
    finally:
        current.finish()
        _current.reset(token)
        for group in groups:
            group.discard(current)


def current_call() -> Call | None:
    """The call in progress in this thread (context), if any."""
    return _current.get()


class Watchdog:
    """One daemon thread that shuts down the sockets of calls past their deadline, and has a
    call that is still unanswered say so every notice period (smartdc_nb.call_notices).

    A thread rather than a timeout because a socket timeout bounds one read,
    and a trickling server makes each read short.
    """

    def __init__(self) -> None:
        # (when, order, call, whether it is a notice rather than the deadline)
        self._heap: list[tuple[float, int, Call, bool]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, current: Call) -> None:
        notice = current.started + call_notices.request_notice_period() if current.about else None
        if current.deadline == float("inf") and notice is None:
            return
        with self._wake:
            if current.deadline != float("inf"):
                heapq.heappush(self._heap, (current.deadline, next(self._order), current, False))
            if notice is not None and notice < current.deadline:
                heapq.heappush(self._heap, (notice, next(self._order), current, True))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="smartdc_nb-watchdog",
                                                daemon=True)
                self._thread.start()
            if self._heap[0][2] is current:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and not self._heap[0][2].active:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._wake.wait(30)
                    if not self._heap:
                        self._thread = None
                        return
                    continue
                when, _, due, notice = self._heap[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._heap)
                if notice:
                    again = when + call_notices.request_notice_period()
                    if again < due.deadline:
                        heapq.heappush(self._heap, (again, next(self._order), due, True))
            if not notice:
                due.shut()
            elif due.context is not None:
                try:  # in the context that made the request: a notebook shows it under its cell
                    due.context.run(call_notices.say_unanswered, due)
                except Exception:  # noqa: BLE001 - a notice must never stop the deadlines
                    log.debug("saying an unanswered request failed", exc_info=True)


WATCHDOG = Watchdog()


def _forget_calls_after_fork() -> None:
    """In a forked child: the parent's calls in flight are the parent's; the child's watchdog
    shut their sockets, which it shares, down at their deadlines (under the parent's later
    requests on the same connections). A fresh condition too: a parent thread may hold it."""
    WATCHDOG._heap = []
    WATCHDOG._wake = threading.Condition()
    WATCHDOG._thread = None


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_calls_after_fork)


# ------------------------------------------------------------- urllib3 wiring


class _Watched:
    """Mixin of a urllib3 connection: each request on it joins the current Call."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        current = _current.get()
        if current is not None:
            if current.abandoned:  # given up between its attempts: send nothing more
                raise ConnectionAbortedError("the request was given up (Ctrl-C)")
            current.attach(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


class BoundedAdapter(HTTPAdapter):
    """requests' adapter whose connections the watchdog can cut at a call's deadline."""

    _POOLS = {"http": _HTTPPool, "https": _HTTPSPool}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = dict(self._POOLS)
        return manager


__all__ = ["DEFAULT_REQUEST_TIMEOUT", "DEFAULT_MAX_ANSWER_BYTES", "Call", "call", "check_limit",
           "cutoff", "each_within", "current_call", "BoundedAdapter", "Watchdog", "WATCHDOG"]
