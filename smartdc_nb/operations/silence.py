"""A wait that hears nothing from the cloud says so while it goes on, not only at its end.

A wait keeps polling through a cloud that stopped answering, in case it comes back, until
its deadline (15 minutes for a bulk run's batch by default). Without a word in between, a
headless run looks hung, and a notebook's bar only shows the last state it saw. Every
:func:`notice_period` seconds of silence the wait says since when nothing was answered,
what it still waits for and until when: on its bar when it shows one, else on stderr (a
headless run, ``smartdc-nb run``, relays those lines to the terminal as they come).
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple, Sequence

from ..call_notices import NOTICE_PERIOD, PERIOD_ENV, notice_period
from ..call_notices import clock as _clock
from ..call_notices import length as _length
from ..errors import TransportError
from ..progress import NOTICE_PREFIX, CountBar, StateBar
from .targets import Tracker

log = logging.getLogger("smartdc_nb")

#: Seconds a wait's poll may take at least, whatever the period: a short period must not cut
#: a slow answer (a page of 1,000 machines from a busy CloudAPI can take seconds).
POLL_BOUND = 5.0


class Notice(NamedTuple):
    """What a wait says of a silent cloud: in full (stderr, the log) and short (a bar)."""

    text: str
    short: str


class Silence:
    """Counts a wait's polls that got no answer, and words a notice when one is due."""

    def __init__(self, started: float):
        self.since = started  # the last round in which something was answered (or the start)
        self.said = 0  # notices given in this silence

    def check(self, pending: Sequence[Tracker], deadline: float | None) -> Notice | None:
        """After a round of polls: the notice to give now, if any. A round is silent when
        every awaited resource's last poll failed (none answered, or each with an error)."""
        now = time.monotonic()
        errors = [t.last_error for t in pending]
        if not errors or any(e is None for e in errors):
            self.since, self.said = now, 0
            return None
        if deadline is not None and now >= deadline:
            return None  # the wait ends now, and its ending says the cloud stopped answering
        period = notice_period()
        if now - self.since < period * (self.said + 1):
            return None
        self.said = int((now - self.since) // period)
        places = sorted({t.machine.datacenter.name or t.machine.datacenter.url for t in pending})
        where = ", ".join(places)
        if all(isinstance(e, TransportError) for e in errors):
            what = short = "no answer from CloudAPI"
            what += f" ({where})"
        else:
            short = "every poll failed"
            what = f"every poll of CloudAPI ({where}) failed (the last: {errors[-1]})"
        names = ", ".join(t.label for t in pending[:3]) + (", …" if len(pending) > 3 else "")
        noun = "snapshot" if all(t.kind == "snapshot" for t in pending) else "machine"
        count = f"{len(pending)} {noun}{'' if len(pending) == 1 else 's'}"
        until = f"until {_clock(deadline)}" if deadline is not None else "with no deadline"
        since = f"since {_clock(self.since)} ({_length(now - self.since)})"
        return Notice(f"{what} {since}; still waiting for {count} ({names}), {until}. "
                      "The requests already sent may still be carried out.",
                      f"{short} {since}; waiting {until}")


def say(notice: Notice, bar: StateBar | CountBar, progress: object) -> None:
    """Log a notice and show it: on the wait's bar when it has one, else on stderr. A caller
    that gives its own bar factory owns the display (a panel: see progress.print_summary),
    so nothing is printed for it."""
    import sys

    log.warning("%s", notice.text)
    if not bar.notice(notice.short) and not (callable(progress) and
                                             not isinstance(progress, bool)):
        print(NOTICE_PREFIX + notice.text, file=sys.stderr, flush=True)


__all__ = ["Notice", "Silence", "say", "notice_period", "NOTICE_PERIOD", "PERIOD_ENV", "POLL_BOUND"]
