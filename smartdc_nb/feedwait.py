"""Waits that listen instead of poll: the changefeed as the waits' source of states.

A wait (smartdc_nb.operations.waits.run) opens a :class:`FeedWatch` over the
datacenters of the machines it awaits (those connected with
``changefeed=True``, the default): one :class:`~smartdc_nb.changes.ChangeStream`
per datacenter, limited to the awaited machines (CloudAPI's ``vms`` filter).
While a datacenter's feed is live, its machines are observed from the pushed
payloads — no request — and the wait wakes when a change arrives instead of
at the next poll. Where the feed is absent (the upgrade is refused), not yet
up, or dropped, those machines are polled exactly as without a feed; when it
comes back (reconnect, one reconciling listing) the wait listens again.

Rounds woken by a change observe only the machines whose payload changed, so
a stalled machine's "no progress" count (and its audit reads) still advances
at the poll interval, not at the rate other machines change. A machine that
stayed quiet on a live feed for :data:`FIRST_QUIET_CHECK` seconds is polled
once, in case its change fell between the reconciling listing and the server
taking the socket's registration (CloudAPI never acknowledges one, so that
change is never sent), then again every :data:`QUIET_CHECK` seconds.
A DataCenter whose upgrade was refused (a CloudAPI without the feed) is not
asked again by its next waits for :data:`ABSENT_MEMORY` seconds.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .changes import ChangeStream
    from .operations.targets import Tracker

#: seconds a wait gives the feeds to come up before its first poll
READY_TIMEOUT = 3.0
#: seconds a machine may stay silent on a live feed before it is polled the first time
FIRST_QUIET_CHECK = 5.0
#: and then between two such polls
QUIET_CHECK = 60.0
#: reconnect backoff of a wait's feeds (first, longest), seconds
BACKOFF = (0.5, 10.0)
#: seconds a datacenter that refused the upgrade (no feed) is polled without asking again
ABSENT_MEMORY = 300.0
#: the attribute where a DataCenter object keeps when its upgrade was last refused
_REFUSED_AT = "_changefeed_refused_at"


class FeedWatch:
    """The feeds of one wait (see the module docstring)."""

    def __init__(self, trackers: Iterable[Tracker], ready_timeout: float = READY_TIMEOUT):
        from .changes import ChangeStream

        self.event = threading.Event()
        self.streams: dict[Any, ChangeStream] = {}
        groups: dict[Any, set[str]] = defaultdict(set)
        for tracker in trackers:
            dc = tracker.machine.datacenter
            if tracker.kind == "machine" and _may_have_feed(dc):
                groups[dc].add(tracker.machine.id)
        for dc, ids in groups.items():
            self.streams[dc] = ChangeStream({dc.name or dc.url: dc}, machine_ids=ids,
                                            backoff=BACKOFF, notify=self.event)
        self._last: dict[int, tuple[int, float]] = {}  # tracker -> (id of payload seen, when)
        self._checked: set[int] = set()  # trackers polled once for being quiet
        deadline = time.monotonic() + ready_timeout
        try:
            while any(s.status[next(iter(s.status))] == "connecting"
                      for s in self.streams.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.event.wait(min(left, 0.1))
                self.event.clear()
        except BaseException:  # Ctrl-C while the upgrade hangs: the caller never gets us
            self.close(wait=0.0)
            raise

    @classmethod
    def open(cls, trackers: Sequence[Tracker],
             ready_timeout: float = READY_TIMEOUT) -> FeedWatch | None:
        """A FeedWatch when some awaited machine's datacenter may have a feed, else None."""
        if not any(t.kind == "machine" and _may_have_feed(t.machine.datacenter)
                   for t in trackers):
            return None
        return cls(trackers, ready_timeout)

    def live(self, dc: Any) -> bool:
        stream = self.streams.get(dc)
        return stream is not None and stream.live()

    @property
    def requests(self) -> int:
        """Listings and GETs the feeds made to reconcile."""
        return sum(s.listings + s.gets for s in self.streams.values())

    def observe(self, trackers: Sequence[Tracker], timed: bool) -> tuple[list, set]:
        """Observe the trackers whose feed is live; returns ``(to poll, observed)``.

        On a round woken by a change (``timed`` False) only machines whose payload
        changed are observed.
        """
        poll, observed = [], set()
        now = time.monotonic()
        for tracker in trackers:
            stream = self.streams.get(tracker.machine.datacenter)
            if stream is None or tracker.kind != "machine" or not stream.live():
                poll.append(tracker)
                continue
            name = next(iter(stream.status))
            payload, stamp = stream.known_stamped(name, tracker.machine.id)
            answered = stream.slowest_answer(name)  # how long the cloud took to answer the feed
            seen, since = self._last.get(id(tracker), (-1, now))
            if stamp == seen:
                if not timed:
                    continue
                quiet = QUIET_CHECK if id(tracker) in self._checked else FIRST_QUIET_CHECK
                if now - since >= quiet:
                    self._last[id(tracker)] = (seen, now)
                    self._checked.add(id(tracker))
                    poll.append(tracker)  # silent too long: make sure nothing was missed
                    continue
            else:
                self._last[id(tracker)] = (stamp, now)
            if payload is None:
                tracker.observe(None, missing=True, seconds=answered)
            else:
                if stamp != seen:
                    tracker.machine.update_from(payload)
                tracker.observe(payload.get("state"), tracker.machine.raw_as_served,
                                seconds=answered)
            observed.add(tracker)
        return poll, observed

    def sleep(self, until: float, tick: Callable[[], None]) -> bool:
        """Sleep until ``until`` (monotonic) or a change; True when a change woke it."""
        while (left := until - time.monotonic()) > 0:
            if self.event.wait(min(left, 0.5)):
                self.event.clear()
                return True
            tick()
        return False

    def close(self, wait: float = 0.25) -> None:
        """Close the feeds, waiting at most ``wait`` seconds: a hung server's closing
        handshake finishes in the background instead of holding up the wait's end."""
        for dc, stream in self.streams.items():
            if "absent" in stream.status.values():
                with contextlib.suppress(AttributeError):  # an object that takes no attributes
                    setattr(dc, _REFUSED_AT, time.monotonic())

        def close_all() -> None:
            for stream in self.streams.values():
                with contextlib.suppress(Exception):
                    stream.close()

        closer = threading.Thread(target=close_all, name="smartdc_nb-feed-close", daemon=True)
        closer.start()
        closer.join(wait)


def _may_have_feed(dc: Any) -> bool:
    """The DataCenter allows the feed and did not refuse it in the last ABSENT_MEMORY seconds."""
    if not getattr(dc, "changefeed", False):
        return False
    refused = getattr(dc, _REFUSED_AT, None)
    return refused is None or time.monotonic() - refused > ABSENT_MEMORY
