"""Fault injection: make chosen requests slow, fail or lose their connection.

A fault matches requests by a regular expression searched in the path (with
its query string), optionally by method and datacenter. It then adds
``latency`` seconds, or ``hold``\\ s it until the fault is released (removed,
cleared, or :meth:`Faults.release`\\ d), and/or answers ``status`` (429, 500, 503, ...) with a
CloudAPI-style error body, or ``drop``\\ s the connection without an answer; ``drop_after``
serves the request (it is applied) and then drops the connection, as a network that loses
the answer does.
``count`` limits how many requests it hits; ``share`` (0..1) hits that fraction
of the matching requests, chosen by a seeded generator so runs repeat.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

_CODES = {
    400: "BadRequestError", 404: "ResourceNotFound", 409: "ConflictError",
    429: "TooManyRequestsError", 500: "InternalError", 502: "BadGatewayError",
    503: "ServiceUnavailableError", 504: "GatewayTimeoutError",
}
_MESSAGES = {
    429: "You have exceeded your request rate of 10 r/s.",
    500: "Internal Error",
    503: "This Triton data center is being upgraded",
}


@dataclass
class Fault:
    id: int
    path: str
    method: str | None = None
    datacenter: str | None = None
    status: int | None = None
    count: int | None = None
    share: float | None = None
    retry_after: float | str | None = None
    latency: float | None = None
    drop: bool = False
    hold: bool = False
    drop_after: bool = False
    hits: int = 0
    _pattern: re.Pattern = field(default=None, repr=False)  # type: ignore[assignment]
    released: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "id", "path", "method", "datacenter", "status", "count", "share", "retry_after",
            "latency", "drop", "hold", "drop_after", "hits")}

    def retry_after_header(self) -> str:
        """Seconds as a number, or a string (e.g. an HTTP date) sent as given."""
        value = self.retry_after
        if isinstance(value, str):
            return value
        return str(int(value)) if float(value) == int(value) else str(value)

    def error_body(self) -> dict[str, str]:
        status = self.status or 500
        return {"code": _CODES.get(status, "InternalError"),
                "message": _MESSAGES.get(status, f"injected fault {self.id}")}


class Faults:
    """The set of active faults of one emulator (thread-safe)."""

    def __init__(self, seed: int = 0):
        self._lock = threading.Lock()
        self._faults: dict[int, Fault] = {}
        # held faults stay here after their last hit, until released: a test holds a request
        # with count=1 and lets it go when it is ready, not after a guessed latency
        self._held: dict[int, Fault] = {}
        self._ids = itertools.count(1)
        self._rng = random.Random(seed)

    def add(self, path: str = r".*", method: str | None = None, datacenter: str | None = None,
            status: int | None = None, count: int | None = None, share: float | None = None,
            retry_after: float | str | None = None, latency: float | None = None,
            drop: bool = False, hold: bool = False, drop_after: bool = False) -> int:
        """Add a fault; returns its id (for :meth:`remove`).

        ``hold=True`` keeps each matching request waiting (before its latency and answer)
        until the fault is released by :meth:`release`, :meth:`remove` or :meth:`clear`.

        ``retry_after`` is sent as a ``Retry-After`` header: seconds, or a
        string such as an HTTP date, verbatim.
        """
        try:
            pattern = re.compile(path)
        except (re.error, TypeError) as exc:
            raise ValueError(f"path must be a regular expression: {exc}") from None
        if status is not None and not (isinstance(status, int) and 400 <= status <= 599):
            raise ValueError(f"status must be an HTTP error status (400-599), not {status!r}")
        if share is not None and not (0 < float(share) <= 1):
            raise ValueError(f"share must be in (0, 1], not {share!r}")
        if count is not None and int(count) < 1:
            raise ValueError(f"count must be >= 1, not {count!r}")
        if latency is not None and not 0 <= float(latency) <= 3600:  # NaN fails too
            raise ValueError(f"latency must be 0 to 3600 seconds, not {latency!r}")
        if retry_after is not None and not isinstance(retry_after, (int, float, str)) or \
                isinstance(retry_after, float) and not math.isfinite(retry_after):
            raise ValueError(f"retry_after must be seconds or an HTTP date, not {retry_after!r}")
        if not isinstance(hold, bool) or not isinstance(drop_after, bool):
            raise ValueError(f"hold and drop_after must be true or false, not "
                             f"{hold if not isinstance(hold, bool) else drop_after!r}")
        if drop_after and (drop or status is not None):
            raise ValueError("drop_after serves the request, then drops the answer: it takes "
                             "no status and no drop=True")
        if status is None and latency is None and not drop and not hold and not drop_after:
            raise ValueError("a fault needs a status, a latency, drop=True, drop_after=True or "
                             "hold=True")
        with self._lock:
            fault = Fault(next(self._ids), path, method.upper() if method else None, datacenter,
                          status, int(count) if count is not None else None,
                          float(share) if share is not None else None,
                          retry_after, float(latency) if latency is not None else None,
                          bool(drop), hold, drop_after, _pattern=pattern)
            self._faults[fault.id] = fault
            if hold:
                self._held[fault.id] = fault
            return fault.id

    def release(self, fault_id: int) -> bool:
        """Let the requests a ``hold`` fault keeps waiting go on; it holds no more."""
        return self.remove(fault_id)

    def remove(self, fault_id: int) -> bool:
        """Remove a fault (releasing the requests it holds); False if there is none."""
        with self._lock:
            fault = self._faults.pop(int(fault_id), None)
            held = self._held.pop(int(fault_id), None)
        if held is not None:
            held.released.set()
        return (fault or held) is not None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
        self.release_all()

    def release_all(self) -> None:
        """Release every ``hold`` fault (a stopping server must not wait on one)."""
        with self._lock:
            held = list(self._held.values())
            for fault in held:
                self._faults.pop(fault.id, None)
            self._held.clear()
        for fault in held:
            fault.released.set()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults.values()]

    def match(self, datacenter: str, method: str, target: str) -> Fault | None:
        """The first fault that hits this request (counting the hit), or None."""
        with self._lock:
            for fault in list(self._faults.values()):
                if fault.method and fault.method != method:
                    continue
                if fault.datacenter and fault.datacenter != datacenter:
                    continue
                if not fault._pattern.search(target):
                    continue
                if fault.share is not None and self._rng.random() >= fault.share:
                    continue
                fault.hits += 1
                if fault.count is not None and fault.hits >= fault.count:
                    del self._faults[fault.id]
                return fault
        return None

    def __len__(self) -> int:
        return len(self._faults)
