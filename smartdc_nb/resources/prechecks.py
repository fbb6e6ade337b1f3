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
  (:func:`snapshot_taken`);
- a toggle (firewall, deletion protection) or a delete right after this
  Machine's own toggle of that flag waits until the flag shows it
  (:func:`settle_flag`): CloudAPI compares a toggle with the flag as it is when
  the request comes and runs no job when they agree, so a disable sent before
  the enable's job ran would be dropped.

What only the job can know (a resize the compute node has no room for, another
client's change in between) the wait reports from the audit log.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from .. import rules, seam
from ..errors import ActionSkippedWarning, ConflictError, NotFoundError, WaitError
from .audit import action_entry

if TYPE_CHECKING:
    from .machine import Machine

#: rules whose verdict depends on the known snapshots, re-listed for the fresh look
SNAPSHOT_RULES = ("start_from_snapshot", "delete_snapshot")
#: Actions that set a flag: the flag and the value (CloudAPI runs no job when it is so already).
TOGGLES = {"enable_firewall": ("firewall_enabled", True),
           "disable_firewall": ("firewall_enabled", False),
           "enable_deletion_protection": ("deletion_protection", True),
           "disable_deletion_protection": ("deletion_protection", False)}
#: The flag each action depends on: the toggles', and delete's deletion protection.
FLAG_OF = {**{action: flag for action, (flag, _) in TOGGLES.items()},
           "delete": "deletion_protection"}
#: Seconds to wait for an earlier toggle to show (its job takes a second or two).
SETTLE_TIMEOUT = 120.0


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


def settle_flag(machine: Machine, action: str) -> None:
    """Before ``action``: wait until this Machine's last toggle of the flag it depends on shows
    in the machine's payload, so that the cloud (and the rules) judge it on that value."""
    flag = FLAG_OF.get(action)
    wanted = machine.toggled.get(flag) if flag else None
    if wanted is None:
        return
    if bool(machine.raw.get(flag)) is not wanted:
        try:
            seam.wait_for(machine, check=lambda raw: bool(raw.get(flag)) is wanted,
                          description=f"{flag} {wanted}", timeout=SETTLE_TIMEOUT,
                          interval=0.25, max_interval=2.0, progress=False)
        except WaitError as exc:
            raise ConflictError(
                f"{action} of {machine.label} was not sent: the earlier change of {flag} to "
                f"{wanted} has not shown ({exc}), and CloudAPI compares {action} with the flag as "
                f"it is now, so it would be dropped. Wait for it, e.g. m.wait_for(lambda m: "
                f"m.raw['{flag}'] is {wanted}), then call {action}() again",
                status=409, code=None, method="POST", path=machine.path, body=None) from exc
    machine.toggled.pop(flag, None)


def say_skipped(machine: Machine, action: str, verdict: rules.Verdict) -> None:
    """Warn that ``action`` was not sent because the machine is already as it asks."""
    machine.pending_action = None
    warnings.warn(f"{action} of {machine.label} skipped: {verdict.reason} (as of "
                  f"{machine.fetched_at:%H:%M:%S} UTC); nothing was sent",
                  ActionSkippedWarning, stacklevel=4)


def snapshot_taken(machine: Machine, name: str) -> ConflictError | None:
    """The error for a snapshot ``name`` the machine already has (None when free).

    The known snapshots decide when listed (``snapshots()``) and the name is free there; a
    name they hold is checked on a fresh listing (another client may have deleted it), else
    one GET. CloudAPI would accept the request and its job refuse it, leaving the old
    snapshot, which a wait would otherwise take for the new one.
    """
    if machine.known_snapshots is not None:
        found = next((s.raw for s in machine.known_snapshots if s.name == name), None)
        if found and found.get("state") != "deleted":  # a refusal: not on a stale list
            found = next((s.raw for s in machine.snapshots() if s.name == name), None)
    else:
        try:
            found = machine.raw_snapshot_data(name)
        except NotFoundError:
            found = None
    if not found or found.get("state") == "deleted":
        return None
    state, created = found.get("state"), found.get("created")
    said = rules.snapshot_state_said(state)
    when = f"{'; taken' if said != str(state) else ', created'} {created}" if created else ""
    return ConflictError(
        f"machine {machine.label} already has a snapshot {name!r} ({said}{when}); "
        "CloudAPI never replaces one (its job would refuse). Pick another name, or delete that "
        "snapshot first (refused by smartdc_nb; nothing was sent)",
        status=409, code=None, method="POST", path=f"{machine.path}/snapshots", body=None)


__all__ = ["judge", "settle_flag", "say_skipped", "snapshot_taken", "SNAPSHOT_RULES", "TOGGLES",
           "FLAG_OF"]
