"""What a Machine last asked of the cloud, and how its audit log says it happened.

CloudAPI answers an action with 202 before the job runs; the job's outcome
(``success: "yes"/"no"``) appears later in the machine's audit log. A
:class:`PendingAction` remembers the request so a wait can find its entry
(:func:`action_entry`) and tell a refused action from one not finished yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

from .values import parse_time


@dataclass(frozen=True)
class PendingAction:
    """What a Machine method last asked of the cloud, for the waits.

    ``action`` is the name the machine's audit log uses (``stop``,
    ``destroy``, ``set_tags``, ...; None when the audit has no usable name),
    ``date`` the server's ``Date`` header of the accepted request (the local
    clock when the answer had none), ``from_state`` the machine's state (as
    known) when it was sent, ``subject`` the snapshot a snapshot action concerns,
    ``known`` the audit entries this Machine had already seen then (the server
    ``Date`` has whole seconds, so an entry of an earlier job finished in the
    same second would otherwise pass for this action's) and ``nth`` how many
    entries of the same name are expected before this one's (earlier actions
    of this Machine whose entries have not been seen yet: jobs of a machine
    run in order). See :func:`action_entry`.
    """

    action: str | None
    date: datetime | None
    from_state: str | None
    sent_at: float  # time.monotonic()
    subject: str | None = None  # the snapshot name, for snapshot actions
    known: frozenset = frozenset()  # audit entries already seen when it was sent
    nth: int = 1  # 1 + earlier actions of the same name still without an audit entry


def audit_key(entry: Mapping[str, Any]) -> tuple:
    """What identifies one audit entry (CloudAPI gives them no id)."""
    return (entry.get("action"), entry.get("time"), entry.get("success"))


def action_entry(action: PendingAction, entries: Iterable[Mapping[str, Any]]) -> dict | None:
    """The audit entry recording ``action``, if the log (newest first) has it yet.

    Candidates are the entries of the action's name that are newer than its
    request's ``Date`` and were not seen before it was sent, oldest first;
    the action's is the ``nth``.
    """
    candidates = []
    for entry in entries:
        if entry.get("action") != action.action or audit_key(entry) in action.known:
            continue
        when = parse_time(entry.get("time"))
        if when is not None and action.date is not None and when > action.date:
            candidates.append(entry)
    candidates.reverse()
    return dict(candidates[action.nth - 1]) if len(candidates) >= action.nth else None


__all__ = ["PendingAction", "audit_key", "action_entry"]
