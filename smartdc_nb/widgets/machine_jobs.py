"""The machine panel's jobs: what each button does on the panel's worker thread.

Each job sends its request, logs that CloudAPI accepted it, waits (with the
panel's progress bar and wait options) for the change to show, and logs the
result; a failure refreshes the machine so the header shows it as it is now.

An action that asks first is sent by applying the plan its question showed
(smartdc_nb.plans, :func:`plan_note`): the plan reads the machine again and
sends nothing if it changed since the question, which the log then says.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from .. import rules
from ..display.values import Note
from ..errors import InvalidInputError
from ..operations.outcomes import DONE
from ..plans import ACT, Plan
from ..resources.machine import Machine
from ..resources.snapshot import Snapshot
from ..resources.validate import check_snapshot_name, validate_machine_name
from .pieces import NotSent, apply_one, plural, within


def default_snapshot_name(taken: Iterable[str] = ()) -> str:
    """``snap-YYYYmmdd-HHMMSS`` (UTC), valid for CloudAPI, sorted by time, not one of ``taken``."""
    name = datetime.now(timezone.utc).strftime("snap-%Y%m%d-%H%M%S")
    taken = set(taken)
    return next(n for n in (name, *(f"{name}-{i}" for i in range(2, len(taken) + 3)))
                if n not in taken)


def name_problem(action: str, wanted: str, machine: Machine) -> str | None:
    """Why the name typed for ``rename`` or ``create_snapshot`` cannot be sent (None: it can),
    by the checks the Machine methods make before sending and the snapshots listed."""
    check = validate_machine_name if action == "rename" else check_snapshot_name
    try:
        check(wanted)
    except InvalidInputError as exc:
        return str(exc)
    taken = rules.snapshot_name_taken(machine, wanted) if action == "create_snapshot" else None
    return f"this machine {taken} (as last listed)" if taken else None


def plan_note(plan: Plan) -> Note:
    """The question's line about its plan: the id, the verdict and its reason or request."""
    row = plan.rows[0]  # a machine panel's plan is about its one machine
    said = row.request if row.verdict == ACT else row.reason
    return Note(f"Plan {plan.id}: {row.verdict}" + (f" ({said})" if said else "") +
                f". Yes applies exactly this plan: if the machine changed since (it is "
                f"{row.state} now), nothing is sent and the log says why.")


class MachineJobs:
    """The worker-thread jobs of a MachinePanel (see the module docstring)."""

    def _wait_options(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "interval": self.interval,
                "max_interval": self.max_interval, "progress": self.progress.factory()}

    def _sent(self, verb: str, waiting_for: str) -> float:
        self.log.add("started", f"{verb} {self.machine.label}: accepted by CloudAPI; "
                                f"waiting for {waiting_for}")
        return time.monotonic()

    def _done(self, verb: str, since: float, result: str) -> None:
        self.log.add("done", f"{verb} {self.machine.label}: {result} after "
                             f"{time.monotonic() - since:.1f} s")

    def _apply(self, verb: str, plan: Plan) -> bool:
        """Send the planned request (the plan re-reads the machine first); False when the
        plan skipped it, which the log says in words. A failure to send is raised."""
        row = apply_one(plan, self.timeout, self.sending)
        if row.outcome == DONE:
            return True
        if row.error is not None:
            raise row.error
        self.log.add("skipped", f"{verb} {self.machine.label}: {row.reason}; nothing was sent "
                                f"(plan {plan.id})")
        return False

    def _guarded(self, work: Callable[[], None]) -> Callable[[], None]:
        def job() -> None:
            try:
                work()
            except NotSent:
                raise  # nothing changed, and the cloud is not answering reads: no refresh
            except Exception:
                # After a failure the header must show the machine as it is now; if even
                # this GET fails, the header's "fetched at" time says how old it is.
                try:
                    with within(self.timeout):
                        self.machine.refresh()
                except Exception:  # noqa: BLE001 - the action's error is the one logged
                    pass
                raise
        return job

    def _state_job(self, verb: str, send: Callable[[], Any] | Plan,
                   target: str) -> Callable[[], None]:
        """``send`` is the request, or the plan the question showed."""
        def work() -> None:
            if not isinstance(send, Plan):
                with within(self.timeout):
                    send()
            elif not self._apply(verb, send):
                return
            since = self._sent(verb, target)
            self.machine.wait_for(target, **self._wait_options())
            self._done(verb, since, f"{self.machine.state}")
        return self._guarded(work)

    def _change_job(self, verb: str, send: Callable[[Machine], Any],
                    landed: Callable[[Machine], bool], description: str) -> Callable[[], None]:
        def work() -> None:
            with within(self.timeout):  # a request not answered by then may have been applied
                send(self.machine)
            since = self._sent(verb, description)
            self.machine.wait_until(landed, description, **self._wait_options())
            self._done(verb, since, description)
        return self._guarded(work)

    def _delete_job(self, plan: Plan) -> Callable[[], None]:
        def work() -> None:
            if not self._apply("Delete", plan):
                return
            since = self._sent("Delete", "deleted")
            self.machine.wait_for("deleted", **self._wait_options())
            self._done("Delete", since, "deleted")
        return self._guarded(work)

    def _create_snapshot_job(self, name: str) -> Callable[[], None]:
        def work() -> None:
            with within(self.timeout):
                snapshot = self.machine.create_snapshot(name)
            since = self._sent(f"Create snapshot {name} of", "the snapshot to be created")
            snapshot.wait_for("created", **self._wait_options())
            with within(self.timeout):
                self.machine.snapshots()
            self.snapshot.value = None  # refresh_view picks the newest, this one
            if self.snapshot_name.value.strip() == name:
                self.snapshot_name.value = default_snapshot_name(
                    s.name for s in self.machine.known_snapshots or [])
            self._done(f"Create snapshot {name} of", since, "snapshot created")
        return self._guarded(work)

    def _rollback_job(self, name: str, plan: Plan) -> Callable[[], None]:
        def work() -> None:
            if not self._apply(f"Boot from snapshot {name}:", plan):
                return
            target = rules.after_rollback(plan.rows[0].state)  # as planned, and as it was
            since = self._sent(f"Boot from snapshot {name}:", target)
            self.machine.wait_for(target, **self._wait_options())
            self._done(f"Boot from snapshot {name}:", since, f"{self.machine.state}")
        return self._guarded(work)

    def _delete_snapshot_job(self, snapshot: Snapshot, plan: Plan) -> Callable[[], None]:
        def work() -> None:
            if not self._apply(f"Delete snapshot {snapshot.name} of", plan):
                return
            since = self._sent(f"Delete snapshot {snapshot.name} of", "it to be gone")
            snapshot.wait_for("deleted", **self._wait_options())
            with within(self.timeout):
                self.machine.snapshots()
            self._done(f"Delete snapshot {snapshot.name} of", since, "snapshot deleted")
        return self._guarded(work)

    def _load(self, verb: str = "Loaded") -> None:
        """Fetch the machine, then its snapshots and the packages of its datacenter, all within
        the panel's timeout.

        The machine's own GET failing fails the job; a failed list only leaves its
        chooser empty, and is said in the log.
        """
        with within(self.timeout):
            self._read(verb)

    def _read(self, verb: str) -> None:
        machine = self.machine
        machine.refresh()
        found = [machine.state or "unknown"]
        dc = machine.datacenter
        lists: list[tuple[str, Callable[[], list], str]] = []
        if not dc.known_packages():
            lists.append((f"the packages of {dc.name or dc.url}", dc.packages, "package"))
        if rules.has_snapshots(machine):
            lists.append((f"the snapshots of {machine.label}", machine.snapshots, "snapshot"))
        for what, fetch, noun in lists:
            if self.closed_during(f"Loading {machine.label}"):
                return
            try:
                found.append(plural(len(fetch()), noun))
            except Exception as exc:  # noqa: BLE001 - said in the log; the rest still loads
                self.log.error(f"Listing {what}", exc)
        self.log.add("done", f"{verb} {machine.label}: {', '.join(found)}")


__all__ = ["MachineJobs", "default_snapshot_name", "name_problem", "plan_note"]
