"""Which metadata values are secrets: the one rule the card, the frames, history and the
journal follow.

A secret's key is shown (which machines carry a ``db_password`` is worth knowing), its value
never: the card masks it, ``frames.metadata()`` leaves its value empty (its size is shown),
and neither a saved history point nor the journal keeps its value (journal_lines). Boot
scripts and the injected SSH keys are shown by size (:data:`SCRIPT_KEYS`); a history point
keeps no value of those either.
"""

from __future__ import annotations

import re
from typing import Any

#: metadata keys whose values are secrets: CloudAPI's ``*_pw`` convention (``root_pw``), the
#: ``credentials`` a listing adds when asked, and common names (password, token, api_key, ...)
SECRET_KEY = re.compile(r"(_pw$|passw(or)?d|secret|token|api[_-]?key|private[_-]?key|credential)",
                        re.I)
#: metadata keys shown by size only (a boot script, the injected SSH keys)
SCRIPT_KEYS = frozenset({"user-script", "user-data", "root_authorized_keys"})


def may_carry_secrets(method: str, path: str) -> bool:
    """Whether a request's body may hold metadata values: a metadata write, or a machine's
    creation (its ``metadata.*`` keys). The journal looks for secrets in these only: the
    look costs more than the rest of a record where every request pays it."""
    return "/metadata" in path or (method == "POST" and path.endswith("/machines"))


def is_secret(key: Any) -> bool:
    """Whether metadata ``key``'s value is a secret (never shown, never saved)."""
    return isinstance(key, str) and bool(SECRET_KEY.search(key))


__all__ = ["SECRET_KEY", "SCRIPT_KEYS", "is_secret", "may_carry_secrets"]
