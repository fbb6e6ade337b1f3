"""The log of API requests and their counters, for tests and benchmarks.

Admin requests (``/__emulator/...``) are not logged. The log keeps the newest
``limit`` entries (100,000 by default) so a long demo does not grow without
bound; the counters count everything since the last clear.

Secrets a request carries (create-time passwords such as ``root_pw`` or
``password``, ``metadata.credentials``, tokens) are masked before an entry is
kept: the log is readable by anyone who can reach the admin API.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, deque
from typing import Any

#: The keys whose values are secrets: the client's rule (smartdc_nb.masking.SECRET_KEY), written
#: out again because the emulator never imports the client; a test holds the two equal. (Its
#: own anchored rule kept the values of api_key, aws_secret_access_key, db_password_prod ...)
_SECRET = re.compile(r"(_pw$|passw(or)?d|secret|token|api[_-]?key|private[_-]?key|credential)",
                     re.I)
MASK = "********"


def redact(value: Any) -> Any:
    """``value`` (a query or body) with the values of secret-named keys masked."""
    if isinstance(value, dict):
        return {k: _masked(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _masked(key: Any, value: Any) -> Any:
    # ``?credentials=true`` asks for them and is no secret; a value under such a key is
    if isinstance(key, str) and _SECRET.search(key) and not isinstance(value, bool) \
            and value not in ("true", "false"):
        return MASK
    return redact(value)


class RequestLog:
    def __init__(self, limit: int = 100_000):
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._status: Counter = Counter()
        self._route: Counter = Counter()
        self._dc: Counter = Counter()
        self._total = 0
        #: bumped by clear(): a request answered after a clear it arrived before is not kept
        self.generation = 0

    def record(self, entry: dict[str, Any], route: str | None, generation: int | None = None) -> None:
        """Keep one request; ``generation`` is the log's when it arrived."""
        entry["query"], entry["body"] = redact(entry.get("query")), redact(entry.get("body"))
        with self._lock:
            if generation is not None and generation != self.generation:
                return  # the log was cleared while it was served: it belongs to before
            self._entries.append(entry)
            self._total += 1
            self._status[str(entry["status"])] += 1
            self._route[f"{entry['method']} {route or '(unrouted)'}"] += 1
            self._dc[entry["datacenter"]] += 1

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()
            self._status.clear()
            self._route.clear()
            self._dc.clear()
            self._total = 0

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {"total": self._total, "by_status": dict(self._status),
                    "by_route": dict(self._route), "by_datacenter": dict(self._dc)}
