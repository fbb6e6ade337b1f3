"""The snapshot panel's Delete: the selected snapshots, one plan per name, applied side by side.

The bulk engine takes one snapshot name per run, so the panel plans each name on its own
(from the states last listed, without a request) and asks once for them all; Yes applies
exactly those plans, each re-reading its machines first (a machine that changed since the
question is skipped, in words), and their rows make one outcome table.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from typing import Any, Callable

from ..display.layout import Card
from ..display.values import Note, text
from ..errors import InvalidInputError
from ..fleet import gather
from ..operations.outcomes import FAILED, BulkResult, Outcome
from ..plans import Plan, make_plan
from ..resources.machine import Machine
from ..resources.snapshot import Snapshot
from .pieces import WidgetBar, apply_plan, describe, list_again, plural


def failed_rows(name: str, error: BaseException, plan: Plan | None,
                chosen: list[Snapshot]) -> list[Outcome]:
    """The outcome rows of snapshot ``name`` whose delete run ended in ``error``: the rows it
    got that far (a run interrupted with its result), failed rows in words for the others."""
    partial = getattr(error, "result", None)
    rows = list(partial.outcomes) if isinstance(partial, BulkResult) else []
    have = {o.machine for o in rows}
    if plan is None:
        reason = f"snapshot {name!r} could not be planned ({describe(error)}); nothing was sent"
    else:
        reason = (f"deleting snapshot {name!r} stopped with {describe(error)}; whether it "
                  "is gone shows in the next listing")
    for snapshot in chosen:
        if snapshot.name == name and snapshot.machine not in have:
            outcome = Outcome(snapshot.machine, "delete_snapshot")
            outcome.end(FAILED, error=error, reason=reason)
            rows.append(outcome)
            have.add(snapshot.machine)
    return rows


class SnapshotDeletes:
    """The Delete of a SnapshotPanel (see the module docstring)."""

    concurrency: int
    timeout: float | None
    plans: dict[str, Plan]
    confirm: Any
    log: Any
    progress: Any
    table: Any

    def delete_selected(self) -> None:
        """Ask, then delete the selected snapshots and wait until they are gone."""
        if not self.applies("delete", "Delete snapshots"):
            return
        chosen = self.table.chosen
        machines = {(s.machine.datacenter, s.machine.id) for s in chosen}
        places = Counter(s.machine.datacenter.name or s.machine.datacenter.url for s in chosen)
        where = ", ".join(f"{name} ({n})" for name, n in sorted(places.items()))
        count = plural(len(chosen), "snapshot")
        what = f"Delete {count} of {plural(len(machines), 'machine')} in {where}"
        by_name: dict[str, list[Machine]] = defaultdict(list)
        for snapshot in chosen:
            by_name[snapshot.name].append(snapshot.machine)
        # one plan per name (the bulk engine takes one name per run), from the known states
        # without a request; Yes applies exactly these plans
        plans: dict[str, Plan] = {}
        unplanned: dict[str, InvalidInputError] = {}
        share = max(1, self.concurrency // self._side_by_side(len(by_name)))
        for name, found in by_name.items():
            try:
                plans[name] = make_plan(found, "delete_snapshot", name, refresh=False,
                                        concurrency=share)
            except InvalidInputError as exc:  # a name the API cannot address (cloud data)
                unplanned[name] = exc
        self.plans = plans
        shown = "; ".join([f"{name}: plan {plan.id} (" + ", ".join(
            f"{n} {v}" for v, n in plan.counts.items() if n) + ")"
            for name, plan in sorted(plans.items())] +
            [f"{name}: cannot be planned ({exc})" for name, exc in sorted(unplanned.items())])
        card = Card("Confirm", text(f"{what}?"),
                    blocks=[Note("Deleted snapshots cannot be booted from or restored."),
                            Note("Names: " + ", ".join(sorted({s.name for s in chosen}))),
                            Note(f"Plans: {shown}. Yes applies them as shown: a machine that "
                                 "changed since is skipped.")])
        # the plans re-read the machines before they send (Panel.sending): it says so till then
        self.confirm.ask(what, card, f"Yes, delete {count}",
                         lambda: self.act("delete", what,
                                          self._delete_job(chosen, plans, unplanned),
                                          "Deleting",
                                          f"Checking {plural(len(machines), 'machine')}"))

    def _side_by_side(self, names: int) -> int:
        """How many delete runs go at once: the bulk engine takes one snapshot name per run
        (a month of nightly snapshots is 30 names), and they share the panel's concurrency
        (each plan is made with its share)."""
        return max(1, min(names, self.concurrency))

    def _delete_job(self, chosen: list[Snapshot], plans: dict[str, Plan],
                    unplanned: dict[str, InvalidInputError]) -> Callable[[], None]:
        def job() -> None:
            by_name = {name: [r.machine for r in plan.rows] for name, plan in plans.items()}
            self.log.add("started", f"Delete {len(chosen)} snapshots "
                                    f"({len(by_name)} distinct names)")
            started = time.monotonic()
            lock = threading.Lock()
            workers = self._side_by_side(len(by_name))
            options = {**self.bulk_options(), "progress": False}
            options.pop("confirm")  # approving the plan is the confirmation
            options.pop("concurrency")  # each plan holds its share
            # the count replaces the progress line's "Checking" once a plan sends (or ends)
            counting: list[WidgetBar] = []

            def bar() -> WidgetBar:
                with lock:
                    if not counting:
                        counting.append(WidgetBar(self.progress, total=len(chosen),
                                                  desc="deleting snapshots", unit="snapshot"))
                    return counting[0]

            def sending() -> None:
                self.sending()
                bar()

            def run(name: str, machines: list[Machine]) -> BulkResult:
                result = apply_plan(plans[name], self.timeout, sending, **options)
                shown = bar()
                with lock:
                    shown.n += len(machines)
                    shown.refresh()
                return result

            results, errors = gather({name: (lambda n=name, m=machines: run(n, m))
                                      for name, machines in by_name.items()}, workers)
            bar().close()
            outcomes = [o for result in results.values() for o in result.outcomes]
            for name, error in {**errors, **unplanned}.items():
                self.log.error(f"Delete snapshot {name}", error)
                # a snapshot not deleted is a failed row of the result, never left out of it
                outcomes += failed_rows(name, error, plans.get(name), chosen)
            result = BulkResult("delete_snapshot", outcomes, time.monotonic() - started,
                                waited_for="snapshots deleted")
            counts = ", ".join(f"{n} {outcome}" for outcome, n in result.counts.items() if n)
            self.show_result(result, f"Delete {len(chosen)} snapshots: {counts or 'nothing'} "
                                     f"in {result.elapsed:.1f} s", "snapshot")
            list_again(result, self.log, self._list_job)
        return job



__all__ = ["SnapshotDeletes", "failed_rows"]
