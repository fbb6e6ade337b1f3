"""Where the browser tests write their screenshots.

Into ``tests/screenshots/`` (committed, linked from the README) only when asked:
``SMARTDC_NB_SCREENSHOTS=1 ./dev test tests/browser``. Otherwise into a temporary
directory, so an ordinary run checks the same pictures without rewriting tracked files.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

COMMITTED = Path(__file__).resolve().parents[1] / "screenshots"


def _directory() -> Path:
    if os.environ.get("SMARTDC_NB_SCREENSHOTS", "") not in ("", "0"):
        return COMMITTED
    scratch = Path(tempfile.mkdtemp(prefix="smartdc_nb-screenshots-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return scratch


SCREENSHOTS = _directory()
