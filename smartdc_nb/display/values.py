"""The small value types a view is made of, and how each reads as text.

A card (see :mod:`.cards`) is built from plain strings and these values; the
templates render each kind as HTML (``value`` in ``macros.html.j2``) and
:func:`str` gives its plain-text form, so the HTML and text reprs say the same.
Nothing here holds markup: every string is data, escaped when rendered.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

#: the longest piece of cloud data shown whole; longer values are clipped
CLIP = 160

#: tone of every CloudAPI machine/snapshot state and every wait/bulk outcome
#: (the word is always shown; the tone only colours it)
TONES = {
    "running": "ok", "created": "ok", "active": "ok", "done": "ok", "reached": "ok",
    "succeeded": "ok", "success": "ok", "planned": "busy", "timed out": "bad",
    "stopped": "idle", "skipped": "idle", "disabled": "idle", "unactivated": "idle",
    "provisioning": "busy", "ready": "busy", "stopping": "busy", "starting": "busy",
    "queued": "busy", "creating": "busy", "resizing": "busy", "deleting": "busy",
    "failed": "bad", "error": "bad", "timeout": "bad", "interrupted": "warn",
    "offline": "warn", "unknown": "warn", "not reached": "warn", "canceled": "warn",
    "deleted": "gone", "destroyed": "gone",
}
#: a snapshot's ``running`` is a job's execution (its create job, which has taken it, or a
#: rollback or delete of it), not a settled state as a machine's: busy, as ``queued``
SNAPSHOT_TONES = {**TONES, "running": "busy"}
#: the order states are counted in (others follow alphabetically)
STATE_ORDER = ("running", "provisioning", "ready", "stopping", "stopped", "offline", "unknown",
               "failed", "deleted")


@dataclass(frozen=True)
class Badge:
    """A state, outcome or flag: its word, and a tone that colours it."""

    word: str
    tone: str = "neutral"
    kind = "badge"

    def __str__(self) -> str:
        return f"[{self.word}]"


def badge(word: Any) -> Badge:
    """The badge of a state or outcome word (unknown words are neutral)."""
    text = "unknown" if word is None else str(word)
    return Badge(text, TONES.get(text.lower(), "neutral"))


def snapshot_badge(word: Any) -> Badge:
    """The badge of a snapshot's state."""
    shown = badge(word)
    return Badge(shown.word, SNAPSHOT_TONES.get(shown.word.lower(), shown.tone))


def flag(value: Any, on: str = "enabled", off: str = "disabled") -> Badge | Note:
    if value is None:
        return Note("unknown")
    return Badge(on, "ok") if value else Badge(off, "idle")


@dataclass(frozen=True)
class Ident:
    """A UUID shown short (its first 8 characters, as the triton CLI does), whole on hover/copy."""

    full: str
    kind = "ident"

    @property
    def short(self) -> str:
        return self.full[:8]

    def __str__(self) -> str:
        return self.short


@dataclass(frozen=True)
class When:
    """A moment: absolute UTC time and how long ago it was."""

    at: datetime
    kind = "when"

    @property
    def absolute(self) -> str:
        return self.at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    @property
    def exact(self) -> str:
        """To the second, for when data was read: true however long it is shown (an age is
        true only when drawn)."""
        return self.at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")

    @property
    def iso(self) -> str:
        return self.at.astimezone(timezone.utc).isoformat(timespec="milliseconds")

    @property
    def relative(self) -> str:
        delta = datetime.now(timezone.utc) - self.at
        if abs(delta) < timedelta(seconds=1):
            return "just now"
        if delta < timedelta(0):
            return "in " + duration(-delta)
        return duration(delta) + " ago"

    def __str__(self) -> str:
        return f"{self.absolute} ({self.relative})"


@dataclass(frozen=True)
class Note:
    """Our own explanatory words (muted), e.g. why something is not known."""

    text: str
    kind = "note"

    def __str__(self) -> str:
        return f"({self.text})"


@dataclass(frozen=True)
class Masked:
    """A secret that is never shown; ``what`` says what was hidden."""

    what: str = "masked"
    kind = "masked"

    def __str__(self) -> str:
        return f"•••••• ({self.what})"


@dataclass(frozen=True)
class Clipped:
    """The start of a long value, and how many characters are not shown."""

    shown: str
    hidden: int
    kind = "clipped"

    def __str__(self) -> str:
        return f"{self.shown}… (+{self.hidden:,} characters)"


@dataclass(frozen=True)
class Series:
    """Several values in one cell (IP addresses, badges of one row)."""

    items: tuple
    sep: str = ", "
    kind = "series"

    def __str__(self) -> str:
        return self.sep.join(str(i) for i in self.items) if self.items else "—"


def text(value: Any, limit: int = CLIP) -> str | Clipped | Note:
    """Cloud data as display text: JSON spelling for non-strings, clipped when long."""
    if value is None:
        return Note("none")
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    if len(value) > limit:
        return Clipped(value[:limit], len(value) - limit)
    return value


def when(value: Any) -> When | Note:
    """A datetime or CloudAPI timestamp (ISO-8601 or epoch ms) as a :class:`When`."""
    if isinstance(value, datetime):
        return When(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return When(datetime.fromtimestamp(value / 1000, timezone.utc))
    if isinstance(value, str) and value:
        try:  # datetime.fromisoformat reads a trailing "Z" only from Python 3.11
            return when(datetime.fromisoformat(re.sub(r"Z$", "+00:00", value)))
        except ValueError:
            return Note(f"unreadable time {value[:40]!r}")
    return Note("unknown")


def duration(delta: timedelta | float) -> str:
    """A rough, readable length of time: ``42 s``, ``5 min``, ``3 h``, ``12 days``, ``1.4 years``"""
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.0f} h"
    days = seconds / 86400
    if days < 60:
        return f"{days:.0f} days"
    if days < 730:
        return f"{days / 30.44:.0f} months"
    return f"{days / 365.25:.1f} years"


def mebibytes(value: Any) -> str | Note:
    """A size CloudAPI gives in MiB, in the largest whole unit (``512 MiB``, ``32 GiB``)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return Note("unknown")
    if value >= 1024 * 1024:
        return f"{value / (1024 * 1024):g} TiB"
    if value >= 1024:
        return f"{value / 1024:.3g} GiB" if value % 1024 else f"{value // 1024:.0f} GiB"
    return f"{value:g} MiB"


def byte_size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"
