"""Waiting in tests for something that has no future to wait on (a process, a timer, a page)."""

from __future__ import annotations

import time
from typing import Any, Callable


def eventually(condition: Callable[[], Any], timeout: float = 10.0, what: str = "",
               interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something true, and return that; fail at ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        time.sleep(interval)
