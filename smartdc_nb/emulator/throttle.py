"""Per-login token buckets, as CloudAPI's restify throttle keeps them.

CloudAPI throttles each account login separately for each endpoint group
(machines and their sub-resources share one bucket; images, packages, keys,
... have their own), with the shipped default ``burst 30, rate 10/s``. A request
that finds its bucket empty gets ``429 TooManyRequestsError`` and no rate-limit
headers.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .errors import CloudAPIError

DEFAULT = {"burst": 30, "rate": 10}


def normalise(setting: Any) -> dict[str, float] | None:
    """``None``/``False`` -> off; ``True`` -> CloudAPI's default; a dict -> checked copy."""
    if setting is None or setting is False:
        return None
    if setting is True:
        return dict(DEFAULT)
    if not isinstance(setting, dict):
        raise ValueError("throttle must be None, False, True or {'burst': N, 'rate': R}")
    unknown = set(setting) - {"burst", "rate"}
    if unknown:
        raise ValueError(f"unknown throttle setting(s) {sorted(unknown)}; use 'burst' and 'rate'")
    burst = float(setting.get("burst", DEFAULT["burst"]))
    rate = float(setting.get("rate", DEFAULT["rate"]))
    if burst < 1 or rate <= 0:
        raise ValueError("throttle burst must be >= 1 and rate > 0")
    return {"burst": burst, "rate": rate}


class Throttle:
    """Token buckets keyed by (datacenter, login, endpoint group)."""

    def __init__(self, setting: Any = None):
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], list[float]] = {}
        self.setting = normalise(setting)

    def configure(self, setting: Any) -> None:
        with self._lock:
            self.setting = normalise(setting)
            self._buckets.clear()

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def check(self, datacenter: str, login: str, group: str) -> None:
        """Take a token or raise the 429 CloudAPI answers with."""
        setting = self.setting
        if setting is None:
            return
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault((datacenter, login, group), [setting["burst"], now])
            tokens = min(setting["burst"], bucket[0] + (now - bucket[1]) * setting["rate"])
            bucket[1] = now
            if tokens < 1:
                bucket[0] = tokens
                rate = setting["rate"]
                shown = int(rate) if rate == int(rate) else rate
                raise CloudAPIError(429, "TooManyRequestsError",
                                    f"You have exceeded your request rate of {shown} r/s.")
            bucket[0] = tokens - 1
