"""Before a Machine sends an action: is it already done, or sure to be refused?

CloudAPI accepts most actions with 202 and checks them in a job: a stop of a
stopped machine, a snapshot under a name already taken, a reboot of a stopped
machine are "accepted" and then refused in the audit log only. What the client
can know, it says before sending:

- the rules table (:mod:`smartdc_nb.rules`) judges the action on the last
  payload. When it says *skip* (already so) or *refused* (the state forbids it),
  that payload may be old, so the verdict is checked once more on a fresh one
  (a GET; the snapshots too for snapshot actions). Not when an earlier action
  of the same Machine has no audit entry yet: its effect may not show, so the
  action is sent and the cloud decides (a wait reports a refusal);
- a confirmed *skip* sends nothing and says so with an
  :class:`~smartdc_nb.errors.ActionSkippedWarning`; a confirmed *refused* in a
  settled state (running, stopped) raises the error the cloud's refusal maps
  to, sending nothing. In a transitional state (stopping, ...) the action is
  sent: CloudAPI queues it behind the running job;
- a snapshot name already taken is refused before sending
  (:func:`snapshot_taken`).

What only the job can know (a resize the compute node has no room for, another
client's change in between) the wait reports from the audit log.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from .. import rules
from ..errors import ActionSkippedWarning, ConflictError, NotFoundError
from .audit import action_entry

if TYPE_CHECKING:
    from .machine import Machine

#: rules whose verdict depends on the known snapshots, re-listed for the fresh look
SNAPSHOT_RULES = ("start_from_snapshot", "delete_snapshot")


def judge(machine: Machine, rule: str, wanted: Any = None) -> rules.Verdict | None:
    """The verdict that stops ``rule`` before sending (skip or refused), else None: send.

    Certain refusals are left to the caller's ``_change`` (it raises them).
    """
    verdict = rules.verdict(rule, machine, wanted)
    if verdict.ok or verdict.certain:
        return None
    earlier = machine.pending_action
    if earlier is not None and earlier.action:
        if action_entry(earlier, machine.audit()) is None:
            return None  # not done yet: its effect may not show in the state
    machine.refresh()
    if rule in SNAPSHOT_RULES and machine.known_snapshots is not None:
        machine.snapshots()
    verdict = rules.verdict(rule, machine, wanted)
    if verdict.ok or verdict.certain:
        return None
    if verdict.kind == rules.REFUSED and machine.state not in rules.LIVE:
        return None  # CloudAPI queues it behind the job that is running
    return verdict


def say_skipped(machine: Machine, action: str, verdict: rules.Verdict) -> None:
    """Warn that ``action`` was not sent because the machine is already as it asks."""
    machine.pending_action = None
    warnings.warn(f"{action} of {machine.label} skipped: {verdict.reason} (as of "
                  f"{machine.fetched_at:%H:%M:%S} UTC); nothing was sent",
                  ActionSkippedWarning, stacklevel=4)


def snapshot_taken(machine: Machine, name: str) -> ConflictError | None:
    """The error for a snapshot ``name`` the machine already has (None when free).

    The known snapshots decide when listed (``snapshots()``), else one GET.
    CloudAPI would accept the request and its job refuse it, leaving the old
    snapshot, which a wait would otherwise take for the new one.
    """
    if machine.known_snapshots is not None:
        found = next((s.raw for s in machine.known_snapshots if s.name == name), None)
    else:
        try:
            found = machine.raw_snapshot_data(name)
        except NotFoundError:
            found = None
    if not found or found.get("state") == "deleted":
        return None
    created = found.get("created")
    when = f", created {created}" if created else ""
    return ConflictError(
        f"machine {machine.label} already has a snapshot {name!r} ({found.get('state')}{when}); "
        "CloudAPI never replaces one (its job would refuse). Pick another name, or delete that "
        "snapshot first (refused by smartdc_nb; nothing was sent)",
        status=409, code=None, method="POST", path=f"{machine.path}/snapshots", body=None)


__all__ = ["judge", "say_skipped", "snapshot_taken", "SNAPSHOT_RULES"]
