"""SIGTERM (``timeout``, systemd, a batch scheduler) stops a terminal command as Ctrl-C does:
:func:`sigterm_stops` makes it raise :class:`Terminated`, a KeyboardInterrupt, so what a
command does on Ctrl-C (the answers in flight journalled, the kernel shut down, a word on
how to go on) happens on SIGTERM too, not a kill without a word."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM: the command stops as on Ctrl-C."""


@contextlib.contextmanager
def sigterm_stops() -> Iterator[list[int]]:
    """Raise :class:`Terminated` on SIGTERM while in the block (main thread only: signal
    handlers can be set nowhere else). Yields a list that the signal's number joins: a bulk
    run turns any KeyboardInterrupt into its own BulkInterrupted, so the exception alone
    may not say which it was."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def stop(signum: int, _frame: Any) -> None:
        received.append(signum)
        raise Terminated("terminated (SIGTERM)")
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)
