"""A plan id's run in the journal, for a runbook given an id again (``-p approve ID``).

Plan.apply refuses a second apply of one plan, and of a twin made before the apply
(run_locks.applied_since). A runbook run again makes its plan anew, though: the same machines
in the same states get the same id, so an approval its first run used approved the second
too, and a reboot, which ends where it began, was done twice. :func:`unspent` gives a plan
whose id a journalled run applied another id, one covering that run, so that a new dry run
prints an id never applied; :func:`applied_before` says, for an id given again, which run
applied it, how it ended and what to do instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from . import rules
from .journaling import journal_of
from .run_locks import applied_since

if TYPE_CHECKING:
    from .journal_views import Run
    from .plans import Plan

REPLAN = ("To act on these machines again, make a new plan with a dry run (the runbook without "
          "-p approve), review it, and approve the id it prints")


def earlier_run(plan_id: str, datacenter: Any) -> Run | None:
    """The journal's run that applied plan ``plan_id``, at any time, or None (None too when
    ``datacenter`` is None or journals nowhere)."""
    record = applied_since(datacenter, plan_id, float("-inf"))
    if record is None:
        return None
    from .journal_views import journal_run

    journal = journal_of(datacenter)
    return journal_run(record["run_id"], path=journal.path if journal else None)


def snapshots_taken_by(plan: Plan, datacenter: Any) -> Run | None:
    """The journalled run that took create_snapshot ``plan``'s names, or None: the run of this
    very plan (its snapshots may not be made yet), else the newest run that took a name the
    machine has now. Once its snapshots exist the rules refuse those names, so a plan made
    again leaves the machines out and has another id; a name taken and later deleted is free,
    and no run is named for it."""
    run = earlier_run(plan.id, datacenter)
    if run is not None:
        return run
    # the names the plan expanded for each machine (plans.Plan keeps them for its apply)
    ours = {m.id: n for m, n in (plan._params.get("names") or {}).items()
            if rules.snapshot_name_taken(m, n)}
    journal = journal_of(datacenter) if datacenter is not None else None
    if not ours or journal is None:
        return None
    from .journal_views import iter_records, journal_run

    found = None
    for record in iter_records(journal.path, lambda r: r.get("kind") == "run"
                               and r.get("action") == "create_snapshot"):
        names = (record.get("detail") or {}).get("names") or {}
        if any(ours.get(machine_id) == name for machine_id, name in names.items()):
            found = record["run_id"]  # oldest first: the last one found is the newest
    return journal_run(found, path=journal.path) if found else None


def unspent(make: Callable[[str | None], Plan]) -> Plan:
    """``make(None)``, or, while the journal has a run of the plan made, ``make(run_id)`` with
    that run's id, which the next plan's ``covers=`` holds (so that its id is another)."""
    plan = make(None)
    while plan.rows:
        record = applied_since(plan.rows[0].machine.datacenter, plan.id, float("-inf"))
        if record is None:
            break
        plan = make(record["run_id"])
    return plan


def applied_before(plan_id: str, datacenter: Any, replan: str = REPLAN, *,
                   already: str | None = None, now: str | None = None,
                   after_resume: str = "", run: Run | None = None) -> str | None:
    """Why plan ``plan_id`` is not applied again, with the run that applied it (when begun,
    how it ended) and what to do instead (``replan`` after a run that ended; resume, then
    ``after_resume``, after one that did not); None when no journalled run applied it.
    ``already`` and ``now`` say what that run did and does (default: plan ID "was already
    applied", "is being applied now"); ``run`` is that run when the caller found it."""
    run = run or earlier_run(plan_id, datacenter)
    if run is None:
        return None
    begun = f"run {run.run_id}, begun {run.start['time']:%Y-%m-%d %H:%M:%S} UTC"
    counts = ended_counts(run)
    shown = f"`smartdc-nb journal {run.run_id}` shows its machines"
    status = run.status
    if status == "running":
        return (f"{now or f'plan {plan_id} is being applied now'}: {begun}, still running "
                f"({counts} so far); nothing was sent. Let that run end; {shown}")
    already = already or f"plan {plan_id} was already applied"
    if status == "ended":
        return (f"{already}: {begun}, ended ({counts}); so nothing was sent: an approval is "
                "used once, for the machines as its dry run read them, and that run changed "
                f"them. {replan}")
    return (f"{already}: {begun}, did not finish ({status}: {counts}); so nothing was sent. "
            f"`smartdc-nb resume {run.run_id}` finishes that run, sending only what it did not "
            f"send{f'; then {after_resume}' if after_resume else ''}; {shown}")


def ended_counts(run: Run) -> str:
    """The run's machines counted as its summary said them when it ended ("8 done": its
    run-end holds the outcomes), else by what the journal has of each ("1 accepted, 7 not
    sent": what a resume would go by)."""
    from .operations.outcomes import OUTCOMES, counts_text

    ended = (run.ended or {}).get("detail") if run.status == "ended" else None
    if isinstance(ended, dict) and ended and set(ended) <= set(OUTCOMES):
        return counts_text(ended) or "no machines"
    return ", ".join(f"{n} {status}" for status, n in run.counts().items()) or "no machines"


__all__ = ["REPLAN", "applied_before", "earlier_run", "ended_counts", "snapshots_taken_by", "unspent"]
