"""Where the journal lives, and what a user is told when it cannot be written there.

Kept apart from smartdc_nb.journal_store (how records are written) so that the errors and
their advice are one rule, read by the store, the run locks and the terminal commands.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import SmartDCError

ENV = "SMARTDC_NB_JOURNAL"
OFF = ("off", "0", "false", "no", "none")
#: What to do when the journal (or the run locks beside it) cannot be written.
ELSEWHERE = (f"Give a writable file with connect(journal=PATH) or ${ENV}, or turn the journal "
             "off with connect(journal=False)")
#: The same, for `smartdc-nb resume` at a terminal: it needs the journal holding its run.
TERMINAL_ELSEWHERE = (f"Copy the journal to a writable place and give it with --path FILE or "
                      f"${ENV}.")


class JournalError(SmartDCError):
    """The journal cannot be opened or written (raised before any mutating request)."""

    def __init__(self, message: str, *, elsewhere: bool = False):
        self.head, self.elsewhere = message, elsewhere
        super().__init__(f"{message} {ELSEWHERE}" if elsewhere else message)

    def saying(self, elsewhere: str) -> str:
        """The message, with ``elsewhere`` as the way to give another journal (a terminal's
        options, where ``connect(journal=...)`` means nothing)."""
        return f"{self.head} {elsewhere}" if self.elsewhere else str(self)


class JournalWarning(UserWarning):
    """A journal record was damaged and skipped (the message says which, where)."""


def default_path() -> Path | None:
    """Where the journal lives when ``connect()`` was not told: the env var, else platformdirs."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in OFF:
        return None
    if value:
        return Path(value).expanduser()
    import platformdirs

    return platformdirs.user_state_path("smartdc_nb", appauthor=False) / "journal.jsonl"


__all__ = ["ENV", "OFF", "ELSEWHERE", "TERMINAL_ELSEWHERE", "JournalError", "JournalWarning",
           "default_path"]
