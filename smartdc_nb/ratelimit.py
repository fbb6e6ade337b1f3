"""A client-side token bucket, so a notebook stays under CloudAPI's throttle.

CloudAPI throttles each login per datacenter (shipped default: burst 30,
10 requests/s) and answers 429 beyond that. Every connection to the same
datacenter URL as the same login shares one bucket (see :func:`shared_limiter`),
whichever thread, DataCenter or Fleet makes the request.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

#: A little under CloudAPI's default (burst 30, 10 r/s) so that requests made
#: from other tools with the same login rarely push us over.
DEFAULT_RATE = 9.0
DEFAULT_BURST = 20


class RateLimiter:
    """Token bucket: ``rate`` tokens per second, at most ``burst`` saved up.

    :meth:`acquire` blocks until a token is available; it is safe to call from
    many threads. A limiter with ``rate=None`` never blocks.
    """

    def __init__(self, rate: float | None = DEFAULT_RATE, burst: int = DEFAULT_BURST,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be a positive number of requests per second, not {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds callers spent waiting, for diagnostics

    def _reserve(self) -> float:
        """Take a token (possibly going into debt); return how long to wait for it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            delay = -self._tokens / self.rate
            self.waited += delay
            return delay

    def acquire(self) -> float:
        """Wait for a token; return the seconds waited."""
        if self.rate is None:
            return 0.0
        delay = self._reserve()
        if delay > 0:
            self._sleep(delay)
        return delay

    def __repr__(self) -> str:
        if self.rate is None:
            return "RateLimiter(off)"
        return f"RateLimiter(rate={self.rate:g}/s, burst={self.burst})"


_shared: dict[tuple[str, str], RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(url: str, login: str, rate: float | None = DEFAULT_RATE,
                   burst: int = DEFAULT_BURST) -> RateLimiter:
    """The process-wide limiter for (datacenter URL, login), created on first use.

    CloudAPI's bucket is per login per datacenter, so ours is too: two
    connections to the same datacenter share one budget.
    """
    key = (url.rstrip("/").lower(), login)
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None:
            limiter = _shared[key] = RateLimiter(rate, burst)
        return limiter
