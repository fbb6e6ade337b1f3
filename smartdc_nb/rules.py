"""The rules table: may this action run on this machine now, and if not, why — in words.

One declarative table (:data:`RULES`: actions × states × brands) decides every
precondition of an action on a machine, and everything that acts asks it:

- :class:`~smartdc_nb.resources.machine.Machine` methods refuse before sending what is
  *certain* (a kvm machine cannot be snapshotted, a deleted machine cannot be
  changed, deletion protection is on); what depends on the last known state is
  left to the cloud, which may have moved on since (its refusal is then reported
  by the wait);
- bulk runs skip a machine with the reason (nothing is sent for it);
- panels enable a button only when its action applies, and the tooltip says why not;
- ``df.triton.verdicts(action)`` shows the verdict of every row;
- plans sort machines into act / skip / refused / protected.

    >>> rules.why_not("start", machine)          # None when it applies
    'already running'
    >>> rules.verdict("delete", machine).kind    # OK, SKIP, REFUSED or PROTECTED
    'protected'

A :class:`Verdict` is one of:

- ``OK``: the action applies;
- ``SKIP``: the machine is already as wanted (start on a running machine, a tag
  already set): nothing to do, and not an error;
- ``REFUSED``: the action cannot apply to this machine as it is (its brand, or
  its state: stop on a provisioning machine, anything on a deleted one);
- ``PROTECTED``: deletion protection forbids it until it is turned off.

The rules read a machine's fields (``state``, ``brand``, ``name``, ``package``,
``deletion_protection``, ``firewall_enabled``, tags, metadata, known snapshots)
from a Machine or from a raw CloudAPI payload (a dict), and never make a request.
This module imports only :mod:`smartdc_nb.errors`, so every layer may ask it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from .errors import InvalidInputError

#: Every state CloudAPI shows for a machine (cloudapi.md §4.2).
MACHINE_STATES = ("provisioning", "ready", "running", "stopping", "stopped", "offline",
                  "deleted", "failed", "unknown")
#: Every state CloudAPI shows for a snapshot (cloudapi.md §5.3).
SNAPSHOT_STATES = ("queued", "running", "created", "failed", "canceled", "deleted")

OK, SKIP, REFUSED, PROTECTED = "ok", "skip", "refused", "protected"
VERDICTS = (OK, SKIP, REFUSED, PROTECTED)

#: Settled states: no job is running, so any action may be queued.
LIVE = ("running", "stopped")
#: Every state a machine that still exists can be in.
EXISTING = tuple(s for s in MACHINE_STATES if s != "deleted")
#: Brands CloudAPI refuses snapshots for (409 BrandNotSupported).
NO_SNAPSHOT_BRANDS = ("kvm",)
#: Snapshot states a rollback accepts: those of a snapshot the machine has. CloudAPI shows
#: the newest job of a snapshot (a rollback or delete of it queued, running or failed), and
#: ``deleted`` for one the machine lacks (deleted, or its create job has not taken it or failed).
BOOTABLE = tuple(s for s in SNAPSHOT_STATES if s != "deleted")


@dataclass(frozen=True)
class Verdict:
    """The answer of the rules for one action on one machine.

    ``kind`` is OK, SKIP, REFUSED or PROTECTED; ``reason`` says why (None when
    OK); ``certain`` is True when the verdict rests on facts only an explicit
    action changes (the brand, a deleted machine's tombstone, deletion
    protection) rather than on the last known state; ``code`` is the CloudAPI
    error code the server would answer with, when it would refuse.
    """

    action: str
    kind: str = OK
    reason: str | None = None
    certain: bool = False
    code: str | None = None

    @property
    def ok(self) -> bool:
        """True when the action applies."""
        return self.kind == OK


@dataclass(frozen=True)
class Rule:
    """When one action applies (a row of :data:`RULES`).

    ``needs``: the states in which it applies. ``already``: states meaning it
    is already done (SKIP with ``already_text``). ``brands``: brand -> why it
    can never apply (with the CloudAPI code). ``brand_states``: brand -> the
    states it needs on that brand. ``protected``: refused while deletion
    protection is on. ``done``: ``(machine facts, wanted) -> text`` when the
    wanted change is already there (SKIP), or None. ``check``: ``(facts,
    wanted) -> text`` when the wanted argument cannot apply (REFUSED), or None; or
    ``(text, code)`` when CloudAPI would answer with that error code.
    ``destructive``: a bulk run needs ``confirm=True``.
    """

    action: str
    needs: tuple[str, ...] = EXISTING
    already: tuple[str, ...] = ()
    already_text: str = ""
    brands: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    brand_states: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    protected: bool = False
    done: Callable[[Facts, Any], str | None] | None = None
    check: Callable[[Facts, Any], str | tuple[str, str] | None] | None = None
    destructive: bool = False


class Facts:
    """The fields the rules read, from a Machine or a raw payload (no request)."""

    def __init__(self, machine: Any):
        self.raw: Mapping[str, Any] = machine if isinstance(machine, Mapping) \
            else (getattr(machine, "raw", None) or {})
        self.machine = machine

    def get(self, key: str) -> Any:
        return self.raw.get(key)

    @property
    def state(self) -> str | None:
        return self.raw.get("state")

    @property
    def brand(self) -> str | None:
        return self.raw.get("brand")

    @property
    def tags(self) -> Mapping[str, Any]:
        return self.raw.get("tags") or {}

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.raw.get("metadata") or {}

    @property
    def snapshots(self) -> dict[Any, str | None] | None:
        """``{name: state}`` of the snapshots last listed (None when never listed)."""
        known = None if isinstance(self.machine, Mapping) else \
            getattr(self.machine, "known_snapshots", None)
        if known is None:
            return None
        return {getattr(s, "name", None): getattr(s, "state", None) for s in known}


# ---------------------------------------------------------------- the words


def state_reason(rule: Rule, state: str | None) -> str:
    """Why ``rule.action`` does not apply in ``state`` (one vocabulary for every action)."""
    if state == "deleted":
        return "the machine is deleted"
    if state == "failed":
        return "the machine failed to provision; only delete applies"
    if state == "provisioning":
        return "the machine is still provisioning"
    if rule.needs == LIVE:
        return f"the machine is {state}: wait until it is running or stopped"
    return f"{rule.action} needs a {' or '.join(rule.needs)} machine; it is {state}"


def _name_of(wanted: Any) -> Any:
    if isinstance(wanted, Mapping):
        return wanted.get("name")
    return getattr(wanted, "name", wanted)


def _items_done(what: str, current: Callable[[Facts], Mapping[str, Any]]):
    def done(facts: Facts, items: Any) -> str | None:
        have = current(facts)
        if isinstance(items, Mapping) and all(k in have and have[k] == v
                                              for k, v in items.items()):
            return f"the {what} already set"
        return None
    return done


def _tags_replaced(facts: Facts, items: Any) -> str | None:
    return "the tags are already exactly these" if dict(facts.tags) == dict(items) else None


def _tags_deleted(facts: Facts, names: Any) -> str | None:
    names = [names] if isinstance(names, str) else list(names)
    return None if any(n in facts.tags for n in names) else "has none of these tags"


def _on_package(facts: Facts, package: Any) -> str | None:
    name = _name_of(package)
    current = facts.get("package")
    return f"already on package {current}" if name is not None and name == current else None


def _named(facts: Facts, name: Any) -> str | None:
    return f"already named {name}" if name == facts.get("name") else None


def _flag(key: str, value: bool, text: str):
    def done(facts: Facts, _wanted: Any) -> str | None:
        return text if bool(facts.get(key)) is value else None
    return done


def _known_snapshot(facts: Facts, wanted: Any, bootable: bool = False
                    ) -> str | tuple[str, str] | None:
    name = _name_of(wanted)
    state = getattr(wanted, "state", None) if not isinstance(wanted, (str, Mapping)) else None
    known = facts.snapshots
    if known is not None and state is None:
        if name not in known:
            # CloudAPI's answer for it is a 404: the same error class, said or seen
            return f"the machine has no snapshot {name!r}", "ResourceNotFound"
        state = known[name]
    if bootable and state is not None and state not in BOOTABLE:
        return f"snapshot {name} is {state}: the machine does not have it (deleted, or not made)"
    return None


def snapshot_state_said(state: Any) -> str:
    """A snapshot's state in a refusal: ``queued``/``running`` is the execution of a job not
    ended (a listing shows the create job's, GET the newest job's), not a made snapshot."""
    if state in ("queued", "running"):
        return f"{state}: a job on it, its create or a rollback or delete, has not ended"
    return str(state)


def _snapshot_free(facts: Facts, wanted: Any) -> str | None:
    """A new snapshot's name the machine already has (as last listed): CloudAPI accepts the
    request and its job refuses it, leaving the old snapshot, which a wait would take for new."""
    name = _name_of(wanted)
    state = (facts.snapshots or {}).get(name, "deleted")
    if state == "deleted":
        return None
    return (f"already has a snapshot {name!r} ({snapshot_state_said(state)}); CloudAPI never "
            "replaces one (its job would refuse): pick another name, or delete that snapshot first")


def snapshot_name_taken(machine: Any, name: str) -> str | None:
    """Why ``name`` cannot be a new snapshot of ``machine`` (it has one by that name, as last
    listed), or None: create_snapshot's check, for a panel asking before any plan."""
    return _snapshot_free(Facts(machine), name)


_KVM_SNAPSHOTS = ("kvm machines cannot be snapshotted (BrandNotSupported)", "BrandNotSupported")
_KVM_NO_SNAPSHOTS = ("kvm machines have no snapshots (BrandNotSupported)", "BrandNotSupported")

#: The table: one row per action (the names of the bulk actions and Machine methods).
RULES: dict[str, Rule] = {r.action: r for r in [
    Rule("start", needs=("stopped",), already=("running", "ready"),
         already_text="already running"),
    Rule("stop", needs=("running",), already=("stopped",), already_text="already stopped",
         destructive=True),
    Rule("reboot", needs=("running",)),
    Rule("resize", needs=LIVE, done=_on_package,
         brands={"kvm": ("kvm machines cannot be resized", "InvalidArgument")},
         brand_states={"bhyve": ("stopped",)}),
    Rule("rename", done=_named),
    Rule("delete", needs=EXISTING, already=("deleted",), already_text="already deleted",
         protected=True, destructive=True),
    Rule("enable_firewall", needs=LIVE,
         done=_flag("firewall_enabled", True, "the firewall is already on")),
    Rule("disable_firewall", needs=LIVE,
         done=_flag("firewall_enabled", False, "the firewall is already off")),
    Rule("enable_deletion_protection", needs=MACHINE_STATES,
         done=_flag("deletion_protection", True, "deletion protection is already on")),
    Rule("disable_deletion_protection", needs=MACHINE_STATES,
         done=_flag("deletion_protection", False, "deletion protection is already off")),
    Rule("create_snapshot", needs=LIVE, brands={"kvm": _KVM_SNAPSHOTS}, check=_snapshot_free),
    Rule("start_from_snapshot", needs=LIVE, brands={"kvm": _KVM_NO_SNAPSHOTS},
         check=lambda f, w: _known_snapshot(f, w, bootable=True), destructive=True),
    Rule("delete_snapshot", needs=LIVE, brands={"kvm": _KVM_NO_SNAPSHOTS}, check=_known_snapshot,
         destructive=True),
    Rule("add_tags", done=_items_done("tags are", lambda f: f.tags)),
    Rule("replace_tags", done=_tags_replaced),
    Rule("delete_tags", done=_tags_deleted),
    Rule("update_metadata", done=_items_done("metadata is", lambda f: f.metadata)),
    Rule("delete_metadata"),
]}

#: Actions a bulk run does only with ``confirm=True``.
DESTRUCTIVE = frozenset(name for name, rule in RULES.items() if rule.destructive)


def rule(action: str) -> Rule:
    """The row of ``action`` (InvalidInputError naming the known ones)."""
    found = RULES.get(action) if isinstance(action, str) else None
    if found is None:
        raise InvalidInputError(f"no rule for action {action!r}; the rules know {', '.join(RULES)}")
    return found


# ---------------------------------------------------------------- asking


def verdict(action: str, machine: Any, wanted: Any = None) -> Verdict:
    """The verdict of ``action`` on ``machine`` (a Machine or a raw payload), no request.

    ``wanted`` is the action's argument when it has one: the package (name or
    dict) for resize, the new name for rename, the snapshot (name or Snapshot)
    for the snapshot actions, the dict of items for tag and metadata changes,
    the tag names for delete_tags. Without it, only state, brand and protection
    are judged.
    """
    row = rule(action)
    facts = Facts(machine)
    state, brand = facts.state, facts.brand
    if state == "deleted" and "deleted" not in row.needs:
        if "deleted" in row.already:
            return Verdict(action, SKIP, row.already_text, certain=True, code="Gone")
        return Verdict(action, REFUSED, state_reason(row, state), certain=True, code="Gone")
    if brand is not None and brand in row.brands:
        why, code = row.brands[brand]
        return Verdict(action, REFUSED, why, certain=True, code=code)
    if state in row.already:
        return Verdict(action, SKIP, row.already_text)
    if state not in row.needs:
        return Verdict(action, REFUSED, state_reason(row, state))
    brand_needs = row.brand_states.get(brand or "")
    if brand_needs and state not in brand_needs:
        return Verdict(action, REFUSED, f"{brand} machines can {action} only when "
                                        f"{' or '.join(brand_needs)}; it is {state}")
    if row.protected and facts.get("deletion_protection"):
        return Verdict(action, PROTECTED,
                       "deletion protection is on (disable_deletion_protection first)",
                       certain=True, code="CannotDestroyMachineError")
    if wanted is not None:
        refused = row.check(facts, wanted) if row.check is not None else None
        if refused:
            why, code = refused if isinstance(refused, tuple) else (refused, None)
            return Verdict(action, REFUSED, why, code=code)
        done = row.done(facts, wanted) if row.done is not None else None
        if done:
            return Verdict(action, SKIP, done)
    elif row.done is not None and action.endswith(("_firewall", "_deletion_protection")):
        done = row.done(facts, None)  # the toggles' wanted value is in their name
        if done:
            return Verdict(action, SKIP, done)
    return Verdict(action)


def why_not(action: str, machine: Any, wanted: Any = None) -> str | None:
    """Why ``action`` does not apply to ``machine`` now, in words; None when it does."""
    return verdict(action, machine, wanted).reason


def has_snapshots(machine: Any) -> bool:
    """Whether listing the machine's snapshots makes sense (its brand has them; it exists)."""
    facts = Facts(machine)
    return facts.brand not in NO_SNAPSHOT_BRANDS and facts.state != "deleted"


def after_rollback(state: str | None) -> str:
    """The state a machine in ``state`` ends in after booting from a snapshot: ``running``.

    CloudAPI's rollback job stops a running machine (a stopped one skips that),
    rolls back, and starts it: the job expects ``running`` either way.
    """
    return "running"


def confirm_message(action: str, confirm: bool, dry_run: bool,
                    count: int | None = None) -> str | None:
    """Why a destructive ``action`` may not run yet (None when it may): it needs confirm=True."""
    if action not in DESTRUCTIVE or confirm or dry_run:
        return None
    on = f" and would act on {count} machine(s)" if count is not None else ""
    return (f"{action} is destructive{on}; pass confirm=True to do it, or dry_run=True to see "
            "the plan first")


def table(actions: Iterable[str] = RULES, states: Iterable[str] = MACHINE_STATES,
          brands: Iterable[str] = ("joyent", "lx", "kvm", "bhyve")) -> list[dict[str, Any]]:
    """Every verdict of ``actions`` × ``states`` × ``brands`` as rows (for docs and tests)."""
    rows = []
    for action in actions:
        for state in states:
            for brand in brands:
                v = verdict(action, {"id": "-", "state": state, "brand": brand})
                rows.append({"action": action, "state": state, "brand": brand,
                             "verdict": v.kind, "reason": v.reason})
    return rows


__all__ = ["Verdict", "Rule", "snapshot_name_taken", "snapshot_state_said", "RULES", "DESTRUCTIVE",
           "MACHINE_STATES", "SNAPSHOT_STATES",
           "OK", "SKIP", "REFUSED", "PROTECTED", "VERDICTS", "LIVE", "BOOTABLE",
           "NO_SNAPSHOT_BRANDS", "verdict", "why_not", "has_snapshots", "confirm_message",
           "after_rollback",
           "table", "rule", "state_reason"]
