"""Plan, approve, apply: bulk work that does exactly what was reviewed.

    >>> plan = fleet.machines(tags={"env": "dev"}).plan("stop")
    >>> plan                       # counts per verdict and datacenter, the rows that act, the id
    >>> plan.apply(approve="3f9c2a1b7d4e")          # the id printed above

:func:`make_plan` (``MachineList.plan``, ``Fleet.plan(where=...)``,
``df.triton.plan``) re-reads the machines (one listing per datacenter; no
mutating request; for a snapshot action, the snapshots of each machine whose
snapshots were never listed) and asks
the rules table (smartdc_nb.rules) for each one's
verdict: ``act``, ``skip`` (already as wanted), ``protected`` (deletion
protection) or ``refused`` (the action cannot apply in this state or to this
brand), with the reason in words.

:attr:`Plan.id` is a short hash of what the plan is about: the action and its
arguments, each machine's id, state, planned request and batch, the run options
that shape the run (``plan_ids.SHAPING``), what ``covers=`` names, the account and the
datacenters. The same selection in the same states gives the same id in any
process, so a runbook's dry run can print it and a later headless run can be
told ``-p approve <id>``.

:meth:`Plan.apply` needs ``approve=`` equal to the id, and cannot change what
the approval fixed (``plan_ids.FIXED``: the batches, the concurrency, the health
check). It reads the machines again first: a machine whose state or verdict
changed since the plan is skipped with the reason "changed since the plan"
(``strict=True`` refuses the whole plan instead, sending nothing). The result
is a BulkResult with a row for every machine of the plan. A plan is applied once: the
journal (or, without one, the plan) shows a run of it since it was made, and a second
apply is refused (plan_ids.spent).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from . import rules
from .errors import BulkActionError, InvalidInputError
from .limits import check_limit, cutoff
from .pandas_text import dtypes
from .operations.actions import ACTIONS, PlannedNames, _plan_params
from .operations.bulk import CONCURRENCY, _check_options, run_bulk
from .operations.outcomes import (FAILED, NOT_REACHED, SKIPPED, BulkInterrupted, BulkResult,
                                  Outcome)
from .operations.polling import list_snapshots_for, refresh_machines, unique_machines
from .plan_ids import changed_at_apply, checked_covers, plan_id, shown, spent, time_bound
from .run_locks import applied_since, plan_lock

if TYPE_CHECKING:
    import pandas

    from .resources.machine import Machine

ACT, SKIP, PROTECTED, REFUSED = "act", "skip", "protected", "refused"
VERDICTS = (ACT, SKIP, PROTECTED, REFUSED)
_FROM_RULES = {rules.OK: ACT, rules.SKIP: SKIP, rules.PROTECTED: PROTECTED,
               rules.REFUSED: REFUSED}
#: run_bulk's options: given to plan() they become apply()'s defaults and shape the estimate.
RUN_OPTIONS = ("wait", "timeout", "concurrency", "batch_size", "health_check",
               "raise_on_failure", "progress", "interval", "max_interval")
CHANGED = "changed since the plan"


class PlanError(InvalidInputError):
    """A plan cannot be applied as asked (not approved, or changed with strict=True)."""


@dataclass
class PlanRow:
    """One machine of a plan."""

    machine: Machine
    state: str | None
    verdict: str
    reason: str | None = None
    request: str | None = None
    batch: int | None = None

    def row(self) -> dict[str, Any]:
        machine = self.machine
        return {"datacenter": machine.datacenter.name or machine.datacenter.url,
                "id": machine.id, "name": machine.name, "state": self.state,
                "verdict": self.verdict, "reason": self.reason, "request": self.request,
                "batch": self.batch}


class Plan:
    """What a bulk action would do to each machine, and the id that approves it (see module)."""

    def __init__(self, action: str, args: tuple, kwargs: dict, options: dict,
                 rows: list[PlanRow], params: dict, covers: dict | None = None):
        self.action = action
        self.args, self.kwargs, self.options = args, kwargs, options
        self.rows = rows
        self._params = params
        #: more that the approval covers (a runbook's parameters, another plan's id)
        self.covers = dict(covers or {})  # make_plan checked it
        self.created = time.time()
        self._applied = False  # a run began from it (the journal says so across processes)
        machines = [r.machine for r in rows]
        self.account = machines[0].datacenter.login if machines else None
        self.datacenters = sorted({m.datacenter.name or m.datacenter.url for m in machines})
        self.id = plan_id(self)

    # ------------------------------------------------------------ views

    def machines(self, verdict: str | None = ACT) -> Any:
        """The machines with ``verdict`` (default: those the plan acts on) as a MachineList."""
        from .machinelist import MachineList

        return MachineList(r.machine for r in self.rows if verdict is None or r.verdict == verdict)

    @property
    def counts(self) -> dict[str, int]:
        """Machines per verdict (act, skip, protected, refused)."""
        counts = dict.fromkeys(VERDICTS, 0)
        for row in self.rows:
            counts[row.verdict] += 1
        return counts

    @property
    def frame(self) -> pandas.DataFrame:
        """One row per machine: datacenter, id, name, state, verdict, reason, request, batch."""
        import pandas as pd

        frame = pd.DataFrame([r.row() for r in self.rows],
                             columns=["datacenter", "id", "name", "state", "verdict", "reason",
                                      "request", "batch"])
        frame["verdict"] = pd.Categorical(frame["verdict"], categories=list(VERDICTS))
        # explicit: inferred, an all-missing reason would be object and ids str, not the
        # column dictionary's dtypes (tests/test_dictionary.py)
        return frame.astype(dtypes({"datacenter": "string", "id": "string", "name": "string",
                                    "state": "str", "reason": "str", "request": "str",
                                    "batch": "Int64"}))

    @property
    def estimate(self) -> dict[str, Any]:
        """Requests it will send, the seconds they take under the client's rate limit, and the
        wait: ``{"requests", "send_seconds", "batches", "wait", "wait_bound_seconds"}``."""
        per_dc: dict[Any, int] = {}
        for row in self.rows:
            if row.verdict == ACT:
                count = row.request.count("; ") + 1 if row.request else 1
                per_dc[row.machine.datacenter] = per_dc.get(row.machine.datacenter, 0) + count
        seconds = 0.0
        for datacenter, count in per_dc.items():
            limiter = getattr(datacenter.transport, "limiter", None)
            rate, burst = getattr(limiter, "rate", None), getattr(limiter, "burst", 0)
            if rate:
                seconds = max(seconds, max(0, count - burst) / rate)
        batch_size = self.options.get("batch_size")
        acting = self.counts[ACT]
        batches = -(-acting // batch_size) if batch_size and acting else (1 if acting else 0)
        wait = self.options.get("wait") or bool(batch_size or self.options.get("health_check"))
        timeout = self.options.get("timeout", 600.0)
        return {"requests": sum(per_dc.values()), "send_seconds": round(seconds, 1),
                "batches": batches, "wait": bool(wait),
                "wait_bound_seconds": (timeout * batches if wait and timeout else None)}

    def _estimate_text(self) -> str:
        est = self.estimate
        text = f"{est['requests']} request(s)"
        if est["send_seconds"]:
            text += f", about {est['send_seconds']:g}s under the rate limit"
        if est["wait"] and est["batches"]:
            bound = est["wait_bound_seconds"]
            text += f"; then waits in {est['batches']} batch(es)" + \
                    (f", at most {bound:g}s in all" if bound else "")
        return text

    def pace_text(self) -> str:
        """What the approval fixes besides the machines (plan_ids.FIXED), in words."""
        options = self.options
        text = f"up to {options.get('concurrency', CONCURRENCY)} at once"
        if options.get("batch_size"):
            text += f", in batches of {options['batch_size']}"
        if options.get("health_check") is not None:
            text += f", each batch checked by {shown(options['health_check'])}"
        return text

    def summary(self) -> str:
        """One line: the id, the action, the machines per verdict and the estimate."""
        counts = ", ".join(f"{n} {verdict}" for verdict, n in self.counts.items() if n)
        return (f"plan {self.id}: {self.action} on {len(self.rows)} machine(s): "
                f"{counts or 'nothing'}; {self._estimate_text()}")

    def __repr__(self) -> str:
        lines = [self.summary()]
        for row in sorted(self.rows, key=lambda r: VERDICTS.index(r.verdict))[:20]:
            lines.append(f"  {row.verdict:<9} {row.machine.label:<40} {row.state or '':<12} "
                         f"{row.reason or row.request or ''}")
        if len(self.rows) > 20:
            lines.append(f"  … {len(self.rows) - 20} more (plan.frame has them all)")
        lines.append(f"pace: {self.pace_text()}")
        if self.covers:
            lines.append(f"the id also covers {self._covers_text()}")
        if self.time_bound:
            lines.append(f"note: {self.time_bound}")
        lines.append(f"apply with plan.apply(approve={self.id!r})")
        return "\n".join(lines)

    def _covers_text(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.covers.items())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        from .display.operations import plan_card, render

        return render(plan_card(self))

    # ------------------------------------------------------------ apply

    @property
    def time_bound(self) -> str | None:
        """Why no other planning can have this id (names to the second), or None."""
        return time_bound(self._params)

    def check_approval(self, approve: Any) -> None:
        """PlanError (showing this plan's id) unless ``approve`` is this plan's id."""
        if approve != self.id:
            said = "no approve=" if approve is None else f"approve={approve!r}"
            why = f"; {self.time_bound}" if self.time_bound and approve is not None else ""
            raise PlanError(f"{said} does not approve this plan; its id is {self.id!r}: "
                            f"plan.apply(approve={self.id!r}) after reviewing it{why}")

    def apply(self, approve: str | None = None, *, strict: bool = False,
              send_timeout: float | None = None, _send_said: str = "",
              _sending: Callable[[], Any] | None = None, **run_options: Any) -> BulkResult:
        """Run the plan; ``approve`` must be :attr:`id`. See the module docstring.

        ``send_timeout`` (seconds; None: the transport's limits) bounds the re-read before
        sending and the sends, not the wait: a machine not read by then is sent nothing; a
        send cut off may still have been applied, and its row says so. ``run_options`` are
        run_bulk's (wait, timeout, raise_on_failure, progress, interval, max_interval) and
        override plan()'s; another batch_size, concurrency or health_check than the plan's,
        or in a rolling plan another wait, is refused: they were reviewed (plan_ids.FIXED).
        ``_send_said`` names the bound in errors as its user gave it (a panel's timeout);
        ``_sending()`` is called when the re-read is done and something is to be sent (a
        panel then says "Stopping" instead of "Checking").
        """
        self.check_approval(approve)
        check_limit("send_timeout", send_timeout, float)
        unknown = sorted(set(run_options) - set(RUN_OPTIONS))
        if unknown:
            raise InvalidInputError(f"apply() takes run options ({', '.join(RUN_OPTIONS)}), "
                                    f"not {', '.join(unknown)}")
        refusal = changed_at_apply({"concurrency": CONCURRENCY, **self.options}, run_options)
        if refusal:
            raise PlanError(refusal)
        # One apply of a plan at a time: two at once both read the machines before either
        # sent anything, so both sent every request (an apply after another one reads the
        # machines it changed and skips them).
        datacenter = self.rows[0].machine.datacenter if self.rows else None
        with plan_lock(datacenter, self.id):
            # Once: a plan whose end state is its start (a reboot) passes every re-check
            # after its apply, and a second apply would act again on a spent approval.
            earlier = applied_since(datacenter, self.id, self.created)
            if earlier is not None or self._applied:
                raise PlanError(spent(self.id, earlier))
            return self._apply(strict, send_timeout, run_options, _send_said, _sending)

    def _apply(self, strict: bool, bound: float | None, run_options: dict[str, Any],
               said: str = "", sending: Callable[[], Any] | None = None) -> BulkResult:
        options = {**self.options, **run_options}
        raise_on_failure = options.pop("raise_on_failure", False)
        started = time.monotonic()
        spec = ACTIONS[self.action]
        acting = [r for r in self.rows if r.verdict == ACT]
        unread: dict[Machine, BaseException] = {}  # the cloud failed even after retries
        # every machine, not only those that act: one listing per datacenter either way, and
        # a machine the plan left alone that changed is said (and refused by strict=True)
        until = (started + bound, said or f"send_timeout={bound:g}s") if bound else (None, "")
        with cutoff(*until):  # None: no cutoff
            missing = set(refresh_machines([r.machine for r in self.rows], errors=unread)) \
                if self.rows else set()
        outcomes: dict[Machine, Outcome] = {}
        changed = []
        for row in self.rows:
            outcome = outcomes[row.machine] = Outcome(row.machine, self.action)
            if row.verdict != ACT:
                why = f"{row.verdict} in the plan: {row.reason}"
                now = "gone (404)" if row.machine in missing else row.machine.state
                if row.machine not in unread and now != row.state:
                    why += f"; {CHANGED} (was {row.state}, now {now})"
                    changed.append(f"{row.machine.label}: {CHANGED} (was {row.state}, now {now})")
                outcome.end(SKIPPED, reason=why)
                continue
            if row.machine in unread:
                outcome.end(NOT_REACHED, error=unread[row.machine],
                            reason="could not re-fetch the machine before acting; nothing was "
                                   "sent")
                continue
            now = "gone (404)" if row.machine in missing else row.machine.state
            verdict = None if row.machine in missing else spec.verdict(row.machine, self._params)
            if now != row.state or verdict is None or not verdict.ok:
                why = f"{CHANGED} (was {row.state}, now {now}" + \
                      (f": {verdict.reason})" if verdict is not None and verdict.reason else ")")
                outcome.end(SKIPPED, reason=why)
                changed.append(f"{row.machine.label}: {why}")
        if strict and changed:
            raise PlanError(f"{len(changed)} machine(s) changed since plan {self.id}, so "
                            f"nothing was sent (strict=True): {'; '.join(changed[:5])}"
                            f"{' …' if len(changed) > 5 else ''}. Plan again to review them")
        todo = [r.machine for r in acting if outcomes[r.machine].outcome is None]
        args, kwargs = self._run_arguments()
        from .journaling import under_plan

        interrupted = None
        if todo and sending is not None:
            sending()
        with under_plan(self.id):
            try:
                ran = run_bulk(todo, self.action, *args, confirm=True, refresh=False,
                               _send_until=until, **options, **kwargs) if todo else None
            except BulkInterrupted as exc:
                ran, interrupted = exc.result, exc
        if ran is not None or interrupted is not None:
            self._applied = True
        if ran is not None:
            for outcome in ran.outcomes:
                outcomes[outcome.machine] = outcome
        result = BulkResult(self.action, list(outcomes.values()), time.monotonic() - started,
                            interrupted=interrupted is not None,
                            waited_for=ran.waited_for if ran is not None else None)
        result.plan_id = self.id
        sent = interrupted.result if interrupted is not None else ran
        result.run_id = sent.run_id if sent is not None else None
        if interrupted is not None:
            raise BulkInterrupted.of(result) from interrupted
        if raise_on_failure and not result.ok:
            raise BulkActionError(result.summary(), outcomes=result)
        return result

    def _run_arguments(self) -> tuple[tuple, dict]:
        """The arguments run_bulk gets: planned names stay the planned ones (templates with
        a time in them would otherwise be expanded again, to other names)."""
        names = self._params.get("names")
        if names is not None:
            planned = {m.id: n for m, n in names.items()}
            return (PlannedNames(planned),), {}
        return self.args, self.kwargs


def make_plan(machines: Iterable[Machine], action: str, *args: Any, refresh: bool = True,
              **kwargs: Any) -> Plan:
    """Plan ``action`` over ``machines`` (reads only; see the module docstring).

    ``args``/``kwargs`` are the action's arguments, as for the bulk method of
    the same name; keywords named like run options (wait, batch_size,
    health_check, timeout, ...) become apply()'s defaults, and the id covers them.
    ``refresh=False`` judges the states already known instead of listing again.
    ``covers={name: value}`` is more that the approval covers: a runbook's parameters,
    the id of a plan applied first.
    """
    spec = ACTIONS.get(action) if isinstance(action, str) else None
    if spec is None:
        raise InvalidInputError(f"unknown bulk action {action!r}; one of {', '.join(ACTIONS)}")
    options = {k: kwargs.pop(k) for k in RUN_OPTIONS if k in kwargs}
    covers = checked_covers(kwargs.pop("covers", None))  # before any read: bad input loses nothing
    for name in ("confirm", "dry_run"):
        if name in kwargs:
            raise InvalidInputError(f"plan() takes no {name}=: a plan never acts; approve it with "
                                    "plan.apply(approve=plan.id)")
    if "batch_size" in options or "concurrency" in options or "health_check" in options:
        _check_options(options.get("concurrency", CONCURRENCY), options.get("batch_size"),
                       options.get("health_check"))
    targets = unique_machines(machines)
    params = spec.prepare(*args, **kwargs)
    missing = set(refresh_machines(targets)) if refresh and targets else set()
    list_snapshots_for(action, [m for m in targets if m not in missing])
    outcomes = {m: Outcome(m, action) for m in targets}
    for machine in missing:
        outcomes[machine].end(SKIPPED, reason="the machine no longer exists (404)")
    _plan_params(spec, [m for m in targets if m not in missing], params, outcomes)
    rows = []
    for machine in targets:
        outcome = outcomes[machine]
        if machine in missing:
            rows.append(PlanRow(machine, "gone", REFUSED, outcome.reason))
        elif outcome.outcome == FAILED:  # a bad expanded name, an unknown package
            rows.append(PlanRow(machine, machine.state, REFUSED, str(outcome.error)))
        else:
            verdict = spec.verdict(machine, params)
            rows.append(PlanRow(machine, machine.state, _FROM_RULES[verdict.kind],
                                verdict.reason,
                                spec.describe(machine, params) if verdict.ok else None))
    batch_size = options.get("batch_size")
    if batch_size:
        for number, row in enumerate((r for r in rows if r.verdict == ACT)):
            row.batch = number // batch_size + 1
    return Plan(action, args, kwargs, options, rows, params, covers)


__all__ = ["Plan", "PlanRow", "PlanError", "PlannedNames", "make_plan", "VERDICTS", "ACT", "SKIP",
           "PROTECTED", "REFUSED", "CHANGED"]
