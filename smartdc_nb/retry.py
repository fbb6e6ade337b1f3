"""When a CloudAPI request is sent again: urllib3's ``Retry`` with CloudAPI's rules.

A 429 is retried for any method, as the server's ``Retry-After`` says (or with
backoff when it says nothing readable); 5xx answers and dropped connections only for
reads; every retry takes a token from the login's rate limiter, and all of them fit in a
time budget. Used by :class:`~smartdc_nb.transport.Transport`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from urllib3.exceptions import InvalidHeader, MaxRetryError
from urllib3.util.retry import Retry

from . import limits
from .answers import _refused
from .ratelimit import RateLimiter

log = logging.getLogger("smartdc_nb")


class CloudAPIRetry(Retry):
    """urllib3 ``Retry`` with CloudAPI's rules.

    - 429 is retried for any method: a throttled request was not applied.
    - 500/502/503/504 and read errors (a reset connection after the request
      went out) only for GET/HEAD, which cannot do anything twice. Connect
      errors are retried for any method because nothing was sent (urllib3's
      rule), except a refused connection: nothing listens at the address, so
      it is tried once more only.
    - ``Retry-After`` is honoured in both forms (seconds or HTTP date); CloudAPI
      itself sends none on 429, so then exponential backoff with jitter applies.
    - ``budget`` bounds the seconds from the start of the request to the last
      retry: a retry whose wait would overrun it, or the request's total
      deadline (:mod:`smartdc_nb.limits`), is not attempted, and the last
      answer is returned (and becomes a typed error).
    - Each retry takes a token from the rate limiter, like a first attempt.
    """

    def __init__(self, *args: Any, budget: float = 60.0, limiter: RateLimiter | None = None,
                 started: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.budget = budget
        self.limiter = limiter
        self.started = started

    def new(self, **kw: Any) -> CloudAPIRetry:
        kw.setdefault("budget", self.budget)
        kw.setdefault("limiter", self.limiter)
        kw.setdefault("started", self.started)
        return super().new(**kw)  # type: ignore[return-value]

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429:
            return True
        return super().is_retry(method, status_code, has_retry_after)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                  _stacktrace=None):  # type: ignore[override]
        current = limits.current_call()
        started = current.started if current is not None else (
            self.started if self.started is not None else time.monotonic())
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        new.started = started
        if _refused(error) and sum(_refused(h.error) for h in new.history) > 1:
            # Refused twice: nothing listens there. That is not transient; say so at once.
            raise MaxRetryError(_pool, url, error)  # type: ignore[arg-type]
        wait = None
        if response is not None and self.respect_retry_after_header:
            try:
                wait = new.get_retry_after(response)
            except InvalidHeader:  # a proxy's unreadable Retry-After: fall back to backoff
                wait = None
        if wait is None:
            wait = new.get_backoff_time()
        if time.monotonic() - started + wait > self.budget:
            reason = error or Exception(f"retry budget of {self.budget:g}s exhausted")
            raise MaxRetryError(_pool, url, reason)  # type: ignore[arg-type]
        if current is not None and current.abandoned:  # its listing was given up (Ctrl-C)
            raise MaxRetryError(_pool, url, error or Exception("the request was given up"))
        if current is not None and current.left() < wait:
            reason = error or Exception(f"no time left for a retry before {current.limit}")
            raise MaxRetryError(_pool, url, reason)  # type: ignore[arg-type]
        what = f"HTTP {response.status}" if response is not None else type(error).__name__
        log.info("retrying %s %s after %s (waiting %.2fs)", method, url, what, wait)
        return new

    def sleep_for_retry(self, response) -> bool:  # type: ignore[override]
        try:
            return super().sleep_for_retry(response)
        except InvalidHeader:
            return False  # backoff instead, as increment() planned

    def sleep(self, response=None) -> None:  # type: ignore[override]
        super().sleep(response)
        if self.limiter is not None:
            self.limiter.acquire()



__all__ = ["CloudAPIRetry"]
