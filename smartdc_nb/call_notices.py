"""A request the cloud has not answered says so while it waits, not only when it ends.

A listing on a cloud that took the connection and never answered said nothing until its
``request_timeout`` (180 s by default) ended it, so a notebook cell or a headless run looked
hung. Every :func:`request_notice_period` seconds the watchdog that ends a request at its deadline
(smartdc_nb.limits) has it say what it waits for, since when and until when, on stderr;
``smartdc-nb run`` relays such lines (:data:`NOTICE_PREFIX`) to the terminal as they come.

Said for requests made in the main thread, or in threads given its context
(:func:`carry`: a Fleet's per-datacenter listings, pages fetched in parallel, a bulk run's
sends), and printed in that context, so a notebook shows the line under the cell that made the
request. A panel's requests (on its own threads, where a line on stderr would land in
whatever cell happens to be running) give theirs to the panel instead (:func:`notices_to`:
its progress line), in the same words. Not for a wait's polls (the wait says it, once for all
its machines: smartdc_nb.operations.silence).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, TypeVar

log = logging.getLogger("smartdc_nb")
T = TypeVar("T")

#: What a notice printed on stderr starts with; ``smartdc-nb run`` relays such lines.
NOTICE_PREFIX = "smartdc_nb: "
#: Seconds of silence between two notices; ``$SMARTDC_NB_SILENCE_NOTICE`` changes it.
NOTICE_PERIOD = 60.0
PERIOD_ENV = "SMARTDC_NB_SILENCE_NOTICE"
#: Seconds a single request goes unanswered before it says so (and between two notices) at
#: most: a third of the default read timeout (60 s), which with the default retry budget ends a
#: silent request, so a minute's period would speak as the request ended, or not at all.
REQUEST_NOTICE = 20.0

_said_bad: set[str] = set()  # values of $SMARTDC_NB_SILENCE_NOTICE already said to be bad
#: Whether requests made here give notices; None: only in the main thread.
_noticed: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "smartdc_nb_noticed", default=None)
#: ``sink(call, text)``: a request's notice; ``sink(call, None)``: its end (see notices_to)
Sink = Callable[[Any, "str | None"], None]
_sink: contextvars.ContextVar[Sink | None] = contextvars.ContextVar(
    "smartdc_nb_notice_sink", default=None)


def notice_period() -> float:
    """:data:`NOTICE_PERIOD`, or ``$SMARTDC_NB_SILENCE_NOTICE`` seconds (read each time).
    A value that is no number > 0 is said once and the default used, not raised: the wait
    or request it is read for may follow requests already sent."""
    raw = os.environ.get(PERIOD_ENV, "").strip()
    try:
        value = float(raw or NOTICE_PERIOD)
    except ValueError:
        value = math.nan
    if value > 0:
        return value
    if raw not in _said_bad:
        _said_bad.add(raw)
        log.warning("%s=%r is not a number of seconds > 0 (such as 30): the defaults are "
                    "used: a wait that hears nothing from the cloud says so every %g s, a "
                    "request the cloud does not answer every %g s", PERIOD_ENV, raw,
                    NOTICE_PERIOD, REQUEST_NOTICE)
    return NOTICE_PERIOD


def request_notice_period() -> float:
    """Seconds between a request's notices: :func:`notice_period`, :data:`REQUEST_NOTICE` at
    most."""
    return min(notice_period(), REQUEST_NOTICE)


def noticed() -> bool:
    """Whether a request made here now says so when it goes unanswered (see the module)."""
    flag = _noticed.get()
    return threading.current_thread() is threading.main_thread() if flag is None else flag


def sink() -> Sink | None:
    """Where the notices of requests made here go instead of stderr (None: stderr)."""
    return _sink.get()


@contextlib.contextmanager
def notices_to(where: Sink) -> Iterator[None]:
    """Requests made inside (and in work carried from here) say they are unanswered by
    ``where(call, text)``, on the watchdog's thread, instead of on stderr, and end with
    ``where(call, None)`` on theirs once they do, if ``where`` was given a notice: a panel
    shows it on its progress line until the answer comes."""
    token = _sink.set(where)
    try:
        yield
    finally:
        _sink.reset(token)


def carry(work: Callable[[], T]) -> Callable[[], T]:
    """``work`` to run on another thread in this thread's context as it is now: the bounds a
    caller set (smartdc_nb.limits: a wait's deadline, a panel's timeout) hold there, and its
    requests give notices where this thread's would, printed where this thread's are."""
    context = contextvars.copy_context()
    flag = noticed()

    def run() -> T:
        _noticed.set(flag)
        return work()
    return lambda: context.copy().run(run)  # a copy each: one context runs on one thread


def clock(moment: float) -> str:
    """A ``time.monotonic()`` moment as a UTC wall-clock time."""
    wall = datetime.now(timezone.utc) + timedelta(seconds=moment - time.monotonic())
    return f"{wall:%H:%M:%S} UTC"


def length(seconds: float) -> str:
    """``0.5 s``, ``42 s``, ``3 min 5 s``: tenths under 10 s, where a period can be short
    ($SMARTDC_NB_SILENCE_NOTICE) and whole seconds would say 0 s of a real silence."""
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def unanswered(call: Any) -> str:
    """The words of request ``call`` (a limits.Call with ``about`` = (method, path, url))
    having had no full answer yet: what it waits for, since when, until when at the latest."""
    method, path, url = call.about
    now = time.monotonic()
    # the latest, not a promise: a read timeout, or retries that ran out, may end it sooner
    until = (f"at the latest until {clock(call.deadline)} ({call.limit})"
             if math.isfinite(call.deadline)
             else "with no deadline (request_timeout=None)")
    text = (f"{method} {path} to CloudAPI at {url} has had no full answer since "
            f"{clock(call.started)} ({length(now - call.started)}); still waiting, {until}.")
    if method not in ("GET", "HEAD"):
        text += " If it arrived, the cloud may carry it out whatever becomes of the answer."
    return text


def say_unanswered(call: Any) -> None:
    """Say :func:`unanswered` of ``call``: to its sink (:func:`notices_to`), else in the log
    and on stderr (run in the context that made it)."""
    text = unanswered(call)
    if call.sink is not None:
        # INFO: with no handler configured, Python prints a warning on stderr, which from
        # here would land in whatever cell happens to be running
        log.info("%s", text)
        call.said = True  # before the sink: a call ending now then tells it (Call.finish)
        call.sink(call, text)
        return
    log.warning("%s", text)
    print(NOTICE_PREFIX + text, file=sys.stderr, flush=True)


__all__ = ["NOTICE_PREFIX", "NOTICE_PERIOD", "PERIOD_ENV", "REQUEST_NOTICE", "notice_period",
           "request_notice_period", "noticed", "carry", "Sink", "sink", "notices_to",
           "clock", "length", "unanswered", "say_unanswered"]
