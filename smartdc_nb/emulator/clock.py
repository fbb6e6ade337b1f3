"""The emulator's clock: when machine transitions happen, as the server sees time.

Every transition (smartdc_nb.emulator.timeline) is computed from timestamps, so
whoever owns the clock owns the pace:

- **wall** (the default): ``now()`` is the wall clock plus an offset that
  :meth:`Clock.advance` moves forward (jumping over a transition's duration);
- **manual** (``Clock.manual_at()`` or ``emu.clock.set_manual(True)``): time stands
  still until :meth:`Clock.advance` or the emulator's ``step()`` (to the next
  job's end) moves it, so a test can walk a transition phase by phase with no
  sleeping and nothing left to chance.

The fast mode for tests that go through real waits is the wall clock with short
transitions: ``Emulator(speed=X)`` / ``emu.set_speed(X)`` divide every duration, and
``durations=`` sets them one by one (the pytest fixtures use 0.15-0.4 s, see
``smartdc_nb.emulator.testing.FAST_DURATIONS``).

The clock drives transitions, the ``Date`` header and audit times. Signature
checks keep the wall clock: a client signs with its own real time.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class Clock:
    """A clock for the emulator (see the module docstring); thread-safe."""

    def __init__(self, manual: bool = False, start: float | None = None):
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen: float | None = None
        self._listeners: list[Callable[[], None]] = []
        if manual:
            self.set_manual(True, start)

    @classmethod
    def manual_at(cls, start: float | None = None) -> Clock:
        """A manual clock standing at ``start`` (default: the wall clock now)."""
        return cls(manual=True, start=start)

    @property
    def is_manual(self) -> bool:
        return self._frozen is not None

    def now(self) -> float:
        """Seconds since the epoch, as the emulator sees them."""
        frozen = self._frozen
        return frozen if frozen is not None else time.time() + self._offset

    def set_manual(self, manual: bool, start: float | None = None) -> None:
        """Stop time (at ``start``, default the current reading) or let it run again.

        Time never goes back: leaving manual mode keeps the reading it reached
        (the offset to the wall clock grows, it is never negative).
        """
        with self._lock:
            current = self.now()
            if manual:
                self._frozen = current if start is None else float(start)
            else:
                self._frozen = None
                self._offset = max(0.0, current - time.time())
        self._changed()

    def reset(self) -> None:
        """Back to the wall clock itself: not manual, no offset.

        The one way time goes back, so only for an emulator whose state is seeded
        again right after (the ``emu`` test fixture): a test that advanced the clock
        must not leave the next one a cloud whose times run ahead of its client's.
        """
        with self._lock:
            self._frozen, self._offset = None, 0.0
        self._changed()

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0); returns the new reading."""
        seconds = float(seconds)
        if not seconds >= 0:
            raise ValueError(f"the clock only moves forward, not by {seconds!r} seconds")
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds
            reading = self.now()
        self._changed()
        return reading

    def advance_to(self, moment: float) -> float:
        """Move the clock forward to ``moment`` (no-op when it is already past)."""
        return self.advance(max(0.0, moment - self.now()))

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every jump (the changefeed re-checks its machines)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def __repr__(self) -> str:
        mode = "manual" if self.is_manual else f"wall{self._offset:+.3f}s"
        return f"<Clock {mode} at {self.now():.3f}>"


__all__ = ["Clock"]
