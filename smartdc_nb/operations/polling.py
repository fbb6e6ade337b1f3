"""Observing many resources with the fewest requests: one listing per datacenter, audit reads
capped per poll; and :func:`refresh_machines`, which re-fetches many machines the same way.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .. import rules
from ..errors import (
    APIError,
    GoneError,
    NotFoundError,
    TransportError,
)
from ..resources.machine import Machine
from ..resources.snapshot import Snapshot
from .targets import TRANSIENT, Target, Tracker

if TYPE_CHECKING:
    pass

# ------------------------------------------------------------------ polling


class Poller:
    """Observes trackers with as few requests as possible (see the module docstring)."""

    def __init__(self) -> None:
        self.pages: dict[Any, int] = {}  # datacenter -> pages its listing took last time

    def observe(self, trackers: Sequence[Tracker]) -> None:
        by_dc: dict[Any, list[Tracker]] = defaultdict(list)
        for tracker in trackers:
            if isinstance(tracker.resource, Snapshot):
                _observe_one(tracker)
            else:
                by_dc[tracker.machine.datacenter].append(tracker)
        for dc, group in by_dc.items():
            if len(group) < max(2, self.pages.get(dc, 1)):
                for tracker in group:
                    _observe_one(tracker)
            else:
                self._observe_listing(dc, group)

    def _observe_listing(self, dc: Any, group: list[Tracker]) -> None:
        wanted = {t.machine.id: t for t in group}
        seen: set[str] = set()
        pages = 0
        # one page after another: the listing stops as soon as every awaited machine was
        # seen, and a poll's requests count more here than its latency
        listing = dc.iter_machine_pages(tombstone=True, page_concurrency=1)
        asked = time.monotonic()
        try:
            for page in listing:
                pages += 1
                took, asked = time.monotonic() - asked, time.monotonic()
                for raw in page:
                    tracker = wanted.get(raw.get("id"))
                    if tracker is not None and raw["id"] not in seen:
                        seen.add(raw["id"])
                        tracker.machine.update_from(raw)
                        tracker.observe(raw.get("state"), tracker.machine.raw_as_served, seconds=took)
                if len(seen) == len(wanted):
                    break
            else:
                for machine_id, tracker in wanted.items():
                    if machine_id not in seen:
                        tracker.observe(None, missing=True)
        except TRANSIENT as exc:
            for machine_id, tracker in wanted.items():
                if machine_id not in seen:
                    tracker.note_error(exc)
        except APIError as exc:
            for machine_id, tracker in wanted.items():
                if machine_id not in seen:
                    tracker.fail(f"listing the machines of {dc.name or dc.url} failed: {exc}", exc)
        finally:
            listing.close()
        self.pages[dc] = max(pages, self.pages.get(dc, 1))


def _observe_one(tracker: Tracker) -> None:
    """GET one machine or snapshot (a machine's 410 tombstone becomes its payload)."""
    resource = tracker.resource
    asked = time.monotonic()
    try:
        resource.refresh()
    except (NotFoundError, GoneError):
        tracker.observe(None, missing=True, seconds=time.monotonic() - asked)
    except TRANSIENT as exc:
        tracker.note_error(exc)
    except APIError as exc:
        tracker.fail(f"fetching {tracker.label} failed: {exc}", exc)
    else:
        tracker.observe(resource.state, getattr(resource, "raw_as_served", resource.raw),
                        seconds=time.monotonic() - asked)


def _read_audit(tracker: Tracker) -> None:
    try:
        entries = tracker.machine.audit()
    except (*TRANSIENT, NotFoundError, GoneError) as exc:
        tracker.audit_at = time.monotonic()  # try again in a later round
        if isinstance(exc, TransportError):
            tracker.note_error(exc)  # no answer at all: a wait ending now says so
        return
    except APIError as exc:
        # e.g. 403 for an RBAC user without machineaudit: the audit only explains a wait, so
        # the wait goes on (and ends with its own error), saying why it has no audit
        tracker.audit_at = time.monotonic()
        tracker.audit_error = exc
        return
    tracker.apply_audit(entries)


def _read_audits(trackers: Sequence[Tracker], budget: int | None) -> None:
    """Read the audit of every tracker that needs a confirmation, and of up to
    ``budget`` stalled ones (those read longest ago first)."""
    for tracker in trackers:
        if tracker.wants_audit == "confirm" and tracker.outcome is None:
            _read_audit(tracker)
    stalled = sorted((t for t in trackers if t.wants_audit == "stall" and t.outcome is None),
                     key=lambda t: t.audit_at)
    for tracker in stalled[:budget]:
        _read_audit(tracker)


#: actions judged on the machine's snapshots, which planning and a bulk run list (a read)
SNAPSHOT_ACTIONS = ("create_snapshot", "start_from_snapshot", "delete_snapshot")


def list_snapshots_for(action: str, machines: Iterable[Machine]) -> None:
    """Before judging ``action``: list the snapshots of the machines that never listed them
    (those whose brand has any), so a plan, a dry run and a run judge on the same facts."""
    if action in SNAPSHOT_ACTIONS:
        list_snapshots([m for m in machines if rules.has_snapshots(m)
                        and m.known_snapshots is None])


def list_snapshots(machines: list[Machine]) -> None:
    """List each machine's snapshots (reads, a few at a time), so the rules judge a snapshot
    action on the snapshots the machine has; a machine whose listing fails is judged as
    before (its snapshots unknown), and the run finds out."""
    from ..parallel import gather

    gather({m: m.snapshots for m in machines}, max_workers=8, per=lambda m: m.datacenter,
           only_reads=True)


def unique_machines(machines: Iterable[Machine]) -> list[Machine]:
    """The machines in order, each once; anything else is refused."""
    seen: set[Machine] = set()
    out = []
    for machine in machines:
        if not isinstance(machine, Machine):
            from ..errors import InvalidInputError

            raise InvalidInputError(f"expected Machine objects, not {type(machine).__name__} "
                                    f"{machine!r}")
        if machine not in seen:
            seen.add(machine)
            out.append(machine)
    return out


def refresh_machines(machines: Iterable[Machine],
                     errors: dict[Machine, BaseException] | None = None) -> list[Machine]:
    """Re-fetch many machines with the cheapest requests (one listing per datacenter).

    Returns the machines that no longer exist (404: not even a tombstone).
    Transient and API errors are raised, or, when an ``errors`` dict is given,
    put there for each machine that could not be fetched.
    """
    everything = Target.check(lambda raw: True, "refresh")
    trackers = [Tracker(m, everything) for m in unique_machines(machines)]
    Poller().observe(trackers)
    for tracker in trackers:
        error = tracker.last_error or tracker.cause
        if error is not None:
            if errors is None:
                raise error
            errors[tracker.machine] = error
    return [t.machine for t in trackers if t.missing]


__all__ = ["Poller", "SNAPSHOT_ACTIONS", "list_snapshots", "list_snapshots_for", "refresh_machines", "unique_machines"]
