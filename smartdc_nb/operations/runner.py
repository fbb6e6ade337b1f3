"""How a bulk run acts on one batch: send its requests, wait for them, check its health.

Used by :func:`smartdc_nb.operations.bulk.run_bulk`, which decides what goes in each batch.
"""

from __future__ import annotations

import concurrent.futures
import sys
import time
from typing import Any, Callable

from ..call_notices import NOTICE_PREFIX, carry, clock
from ..call_groups import Abandoned, CallGroup, cut_at_exit, labelled, within
from ..limits import cutoff
from ..errors import (BulkActionError, TooManyRequestsError, TransportError, WaitInterrupted,
                      WaitUnanswered)
from ..progress import CountBar
from ..resources.machine import Machine
from ..resources.snapshot import Snapshot
from .actions import Action
from .outcomes import (ACCEPTED_ONLY, DONE, FAILED, NOT_REACHED, OUTCOMES, UNSENT_AT_CTRL_C,
                       Outcome)
from .targets import TIMED_OUT, Target, Tracker
from .waits import wait_trackers


def _wait_target(action: Action, wait: Any, machine: Machine, params: dict) -> Target:
    return action.target(machine, params) if wait is True else Target.of(wait)



class Runner:
    """Sends one batch's requests from a thread pool, then waits and checks health."""

    def __init__(self, spec: Action, params: dict, wait: Any, concurrency: int, progress: Any,
                 timeout: float | None, interval: float | None, max_interval: float,
                 health_check: Callable[[Machine], Any] | None):
        self.spec, self.params, self.wait_for = spec, params, wait
        self.concurrency, self.progress = concurrency, progress
        self.timeout, self.interval, self.max_interval = timeout, interval, max_interval
        self.health = health_check
        self.sent: dict[Outcome, Any] = {}
        self.run: Any = None  # the journal's run context (smartdc_nb.journaling)
        #: (when the sends must end or None, why then): Plan.apply's send_timeout (a panel's)
        self.send_until: tuple[float | None, str] = (None, "")

    def _send(self, row: Outcome) -> None:
        row.started = time.monotonic()
        # in this worker thread: its refresh after a lost answer too
        with cutoff(*self.send_until), labelled(row):
            self._send_bounded(row)

    def _send_bounded(self, row: Outcome) -> None:
        from ..journaling import inside

        try:
            with inside(self.run):  # this worker thread's requests belong to the run
                self.sent[row] = self.spec.send(row.machine, self.params)
            row.sent = not row.let_go  # a row let go of stays as the user was given it
        except Abandoned as exc:  # its turn under the rate limit came after a Ctrl-C
            if exc.sent:  # cut on its way (a second Ctrl-C, then the end of the script)
                row.end(FAILED, error=exc)
            else:
                row.end(NOT_REACHED, reason=UNSENT_AT_CTRL_C)
        except TooManyRequestsError as exc:  # a throttled request was not applied
            row.end(NOT_REACHED, error=exc, reason="throttled (429) beyond the retry budget: "
                                                   "the cloud did not apply that request")
        except TransportError as exc:
            if not exc.maybe_applied:
                row.end(FAILED, error=exc)
                return
            # Its answer was lost, not the request: the row says what the cloud shows now.
            try:
                row.machine.refresh()
                now = f"it is {row.machine.state} now"
            except Exception:  # noqa: BLE001 - the lost answer is the error this row reports
                now = "it could not be read again"
            row.end(FAILED, error=exc, reason=f"no answer to the request, which the cloud may "
                                              f"have applied ({now}); not waited for")
        except Exception as exc:  # one machine's failure never stops the others
            row.end(FAILED, error=exc)
        else:
            row.end(DONE, reason="" if self.wait_for else ACCEPTED_ONLY)

    def act(self, batch: list[Outcome]) -> None:
        """Send the requests of the batch's rows that have none yet (a resumed run's batch
        may hold machines whose request went out before the interruption)."""
        batch = [row for row in batch if row.outcome is None]
        if not batch:
            return
        bar = CountBar(len(batch), f"{self.spec.name}: sending", self.progress)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.concurrency,
                                                     thread_name_prefix="smartdc_nb-bulk")
        futures: list[concurrent.futures.Future] = []
        calls = CallGroup()  # closed on Ctrl-C: nothing more is sent
        try:
            with within(calls):
                for row in batch:
                    # in this thread's context: a send the cloud does not answer says so here
                    futures.append(pool.submit(carry(lambda r=row: self._send(r))))
            pending = set(futures)
            while pending:
                # a short timeout keeps the main thread where Ctrl-C can reach it
                _, pending = concurrent.futures.wait(
                    pending, timeout=0.25, return_when=concurrent.futures.FIRST_COMPLETED)
                bar.update(len(futures) - len(pending))
        except KeyboardInterrupt:
            calls.close()
            bar.close(False, "interrupted")
            self._finish_sent(pool, calls, futures)
            raise
        pool.shutdown(wait=True)
        sent = {outcome: sum(r.outcome == outcome for r in batch) for outcome in OUTCOMES}
        bar.close(sent[DONE] == len(batch), ", ".join(  # the cloud's 202 is all a send knows
            f"{n} {'accepted' if outcome == DONE else outcome}" for outcome, n in sent.items()
            if n or outcome == DONE))

    def _finish_sent(self, pool: concurrent.futures.ThreadPoolExecutor, calls: CallGroup,
                     sends: list[concurrent.futures.Future]) -> None:
        """On Ctrl-C: let the requests on their way finish, so that what the cloud did with
        them is known and journalled, saying so at once (a held request keeps the cell busy
        until its timeout); a second Ctrl-C stops waiting, and their rows say the cloud may
        have applied them. Their threads go on, so the journal gets the answers if they come,
        until the interpreter exits (call_groups.cut_at_exit)."""
        flying = [row for row in calls.live() if isinstance(row, Outcome)]
        if flying:
            ends = [row.started + rt for row in flying if row.started is not None
                    and (rt := row.machine.datacenter.transport.request_timeout) is not None]
            until = f", at the latest until {clock(max(ends))}" if ends else ""
            print(f"{NOTICE_PREFIX}interrupted: waiting for the answers to the "
                  f"{self._requests(len(flying))} "
                  f"already sent{until}, so that what the cloud did with them is known; Ctrl-C "
                  "again to stop waiting", file=sys.stderr, flush=True)
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            run = f"; smartdc-nb resume {self.run.run_id} asks it" if self.run else ""
            cut_at_exit(calls, lambda left: print(
                f"{NOTICE_PREFIX}exiting without the answers to {self._requests(len(left))} "
                f"let go of at Ctrl-C: not waited for, the cloud may have applied them{run}",
                file=sys.stderr, flush=True), sends)
            for row in flying:
                if row.outcome is None:
                    row.let_go_of("interrupted (Ctrl-C twice) while its request was on its way: "
                                  f"its answer was not waited for: the cloud may have applied it{run}")

    def _requests(self, count: int) -> str:
        return f"{count} {self.spec.name} request{'s' if count > 1 else ''}"

    def wait(self, batch: list[Outcome]) -> None:
        trackers: dict[Any, Outcome] = {}
        for row in batch:
            if row.outcome != DONE:
                continue
            resource = self.sent.get(row) if self.spec.snapshot_wait else row.machine
            if resource is None:  # sent before a resume: the snapshot is known by its name
                resource = Snapshot(row.machine,
                                    data={"name": self.spec.wanted(row.machine, self.params)})
            target = _wait_target(self.spec, self.wait_for, row.machine, self.params)
            action = row.machine.pending_action
            if isinstance(resource, Snapshot):
                action = action if action and action.subject == resource.name else None
            trackers[Tracker(resource, target, action=action, label=row.machine.label)] = row
        if not trackers:
            return
        title = self.spec.done if self.wait_for is True else \
            next(iter(trackers)).target.description
        try:
            wait_trackers(list(trackers), title, timeout=self.timeout, interval=self.interval,
                          max_interval=self.max_interval, progress=self.progress)
        except (WaitInterrupted, KeyboardInterrupt):  # a bare one too: never DONE unconfirmed
            for tracker, row in trackers.items():
                row.history = list(tracker.history)
                if tracker.outcome != "reached":
                    row.end(NOT_REACHED, reason="interrupted (Ctrl-C) while waiting; the "
                                                "request was sent")
            raise KeyboardInterrupt from None
        for tracker, row in trackers.items():
            row.history = list(tracker.history)
            row.finished = tracker.finished or row.finished
            if tracker.error is not None:
                # the cloud took the request; only the wait ended: say so, not a bare "failed"
                row.end(FAILED, error=tracker.error, reason=(
                    # a silent cloud confirmed no state: the last one known is no outcome
                    "the request was accepted, but the cloud stopped answering during the "
                    f"wait ({tracker.state} when last seen): it may still finish it (refresh "
                    "to see)" if isinstance(tracker.error, WaitUnanswered) else
                    f"the request was accepted, but the wait ran out with it {tracker.state}: "
                    "the cloud may still finish it (refresh to see)"
                    if tracker.outcome == TIMED_OUT else ""))

    def check_health(self, batch: list[Outcome]) -> None:
        for row in batch:
            if row.outcome != DONE:
                continue
            try:
                healthy = self.health(row.machine)
            except Exception as exc:
                row.end(FAILED, error=exc, reason="the health check raised an exception")
                continue
            if not healthy:
                row.end(FAILED, error=BulkActionError(
                    f"health check of {row.machine.label} returned {healthy!r}"),
                    reason="unhealthy after the action")


__all__ = ["Runner"]
