"""The snapshot panel: the snapshots of a machine or a fleet, their age and state; boot, delete.

Listing asks each machine for its snapshots (one request per machine, at most
``concurrency`` at once, counted on the panel's progress bar). "Older than N
days" filters what is listed, without a request. Deleting the selected
snapshots goes through the bulk engine (one run per snapshot name, their rows
in one outcome table); booting from a snapshot rolls its machine back and
waits until the machine is up again. Both ask first. (Delete: snapshot_deletes.)
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from .. import rules
from ..operations.outcomes import DONE
from ..datacenter import DataCenter
from ..display.layout import Card, Facts
from ..display.values import Badge, Note, duration, mebibytes, snapshot_badge, text
from ..display.parts import count_badges, dc_name, stamped
from ..errors import InvalidInputError
from ..fleet import Fleet, gather
from ..resources.machine import Machine
from ..resources.snapshot import Snapshot
from ..machinelist import MachineList
from ..plans import Plan, make_plan
from ..operations.polling import refresh_machines
from .selection import SelectionPanel
from .snapshot_deletes import SnapshotDeletes
from .html import render_card
from .pieces import WidgetBar, apply_one, describe, plural, within
from .sources import list_machines, nothing_listed

COLUMNS = ["Machine", "Datacenter", "Snapshot", "State", "Created (UTC)", "Age", "Size"]
WIDTHS = ["13em", "7em", "16em", "7em", "10.5em", "5.5em", "5em"]


def snapshot_key(snapshot: Snapshot) -> tuple:
    machine = snapshot.machine
    return (machine.datacenter.name or machine.datacenter.url, machine.id, snapshot.name)


def age_of(snapshot: Snapshot, now: datetime) -> timedelta | None:
    return now - snapshot.created if snapshot.created else None


def snapshot_values(snapshot: Snapshot, now: datetime) -> list[Any]:
    machine, created, age = snapshot.machine, snapshot.created, age_of(snapshot, now)
    return [text(machine.name) if machine.name else Note("no name"),
            dc_name(machine.datacenter), text(snapshot.name), snapshot_badge(snapshot.state),
            created.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if created
            else Note("unknown"), duration(age) if age is not None else Note("unknown"),
            mebibytes(snapshot.raw.get("size"))]


class SnapshotPanel(SnapshotDeletes, SelectionPanel):
    """Snapshots of a Machine, a Fleet, a DataCenter or a list of Machines.

    ``panel.older_than`` (days, 0 = any age) filters the rows;
    ``panel.table`` holds them; ``panel.buttons``: list, boot, delete;
    ``panel.snapshots`` is every snapshot listed last.
    """

    kind = "snapshot"

    def __init__(self, subject: Any, **options: Any):
        if not isinstance(subject, (Machine, Fleet, DataCenter, list, tuple)):
            raise InvalidInputError("snapshot_panel needs a Machine, a Fleet, a DataCenter or a "
                                    f"list of Machines, not {type(subject).__name__}")
        self.snapshots: list[Snapshot] | None = None
        self.plans: dict[str, Plan] = {}  # the plans the last delete question showed, by name
        self.plan: Plan | None = None  # the plan the last boot question showed
        self.stale = False  # the last listing failed everywhere: the rows are the previous ones
        self.listed_at: datetime | None = None  # when the rows shown were listed
        super().__init__(subject, **options)

    # ------------------------------------------------------------ widgets

    def _build(self) -> Any:
        w = self.w
        self.make_table(COLUMNS, WIDTHS, "snapshot")
        self.older_than = w.BoundedIntText(value=0, min=0, max=36500, step=1,
                                           description="Older than (days)",
                                           style={"description_width": "initial"},
                                           layout=w.Layout(width="13em"))
        self.older_than.observe(lambda _change: self.show_rows(), names="value")
        self.counts = w.HTML()
        self.outcome = w.HTML()
        b = self.button
        row = dict(layout=w.Layout(flex_flow="row wrap", align_items="center"))
        top = w.HBox([self.older_than, w.Label("(0: any age)"),
                      b("list", "List snapshots", self.relist, icon="sync",
                        style="primary")], **row)
        actions = w.HBox([w.Label("Selected:"),
                          b("boot", "Boot from snapshot", self.boot_from, icon="undo"),
                          b("delete", "Delete snapshots", self.delete_selected, icon="trash",
                            style="danger")], **row)
        self.draw_counts()
        return w.VBox([self.style_widget(), top, self.counts, self.table.widget, actions,
                       self.confirm.widget, self.progress.widget, self.outcome, self.log.widget],
                      layout=w.Layout(max_width="100%"))

    def describe(self) -> str:
        if isinstance(self.subject, Machine):
            return f"the snapshots of machine {self.subject.label}"
        return f"the snapshots of the machines of {', '.join(self.datacenters)}"

    def listed(self) -> list[Snapshot] | None:
        return self.snapshots

    # ------------------------------------------------------------ rows

    def shown(self, now: datetime | None = None) -> list[Snapshot]:
        """The listed snapshots older than ``older_than`` days (all when 0) when listed."""
        now = now or self.listed_at or datetime.now(timezone.utc)
        days = self.older_than.value
        return [s for s in self.snapshots or []
                if not days or (age_of(s, now) is not None and age_of(s, now) >= timedelta(days))]

    def show_rows(self) -> None:
        with self._lock:  # the age filter (main thread) and a listing (worker) both draw
            now = self.listed_at or datetime.now(timezone.utc)  # ages as of the footer's time
            self.table.set_items([(snapshot_key(s), s, snapshot_values(s, now))
                                  for s in self.shown(now)])
            self.draw_counts()

    def draw_counts(self) -> None:
        if self.snapshots is None:
            card = Card("Snapshots", Note("nothing could be listed" if self.list_errors
                                          else "not listed yet"),
                        blocks=[Facts([(name, text(describe(error)))
                                       for name, error in self.list_errors.items()])])
        else:
            rows = self.shown()
            days = self.older_than.value
            title = plural(len(rows), "snapshot")
            subtitle = [f"older than {days} day{'s' * (days != 1)} (of {len(self.snapshots):,})"
                        if days else "any age"]
            machines = {(s.machine.datacenter, s.machine.id) for s in rows}
            subtitle.append(f"on {plural(len(machines), 'machine')}")
            blocks: list[Any] = [Note("From the previous listing: the last one failed "
                                      "everywhere.")] if self.stale else []
            if self.list_errors:
                blocks.append(Facts([(name, text(describe(error)))
                                     for name, error in self.list_errors.items()]))
            header = count_badges(Counter(str(s.state) for s in rows), snapshot_badge)
            if self.list_errors:
                header.append(Badge(f"{len(self.list_errors)} listing(s) failed", "bad"))
            card = Card("Snapshots", title, header=header, subtitle=subtitle, blocks=blocks,
                        footer=stamped("listed", self.listed_at,
                                       "List snapshots lists them again; Age is as listed"))
        self.counts.value = render_card(card)

    def refresh_view(self) -> None:
        self.draw_counts()
        self.update_controls()

    # ------------------------------------------------------------ listing

    def relist(self) -> None:
        """List the machines, then each one's snapshots (on the worker thread)."""
        self.submit("List snapshots", self._list_job, button="list", busy_text="Listing")

    def _machines(self) -> tuple[list[Machine], dict[str, BaseException]]:
        subject = self.subject
        if isinstance(subject, Machine):
            subject.refresh()
            return [subject], {}
        if isinstance(subject, (list, tuple)):
            machines = MachineList(subject)
            missing = set(refresh_machines(machines))
            return [m for m in machines if m not in missing], {}
        return list_machines(self.datacenters)

    def _list_job(self) -> None:
        """The machines, then their snapshots, all within the panel's timeout."""
        with within(self.timeout):
            self._list()

    def _list(self) -> None:
        if self.closed_during("List snapshots"):  # the relist after a delete, once closed
            return
        machines, errors = self._machines()
        if self.closed_during("List snapshots"):
            return
        if errors and len(errors) == len(self.datacenters):
            return self._keep_listing(errors)
        asked = [m for m in machines if rules.has_snapshots(m)]
        bar = WidgetBar(self.progress, total=len(asked), desc="listing snapshots",
                        unit="machine")

        def done(count: int) -> None:
            bar.n = count
            bar.refresh()

        found, failed = gather({m: self._unless_closed(m.snapshots) for m in asked},
                               self.concurrency, done, per=lambda m: m.datacenter,
                               only_reads=True)
        bar.close()
        if self.closed_during("List snapshots"):
            return
        list_errors = {**errors, **{m.label: e for m, e in failed.items()}}
        if asked and len(failed) == len(asked):
            return self._keep_listing(list_errors)
        self.snapshots = [s for m in asked for s in found.get(m, [])]
        self.listed_at = datetime.now(timezone.utc)
        self.list_errors, self.stale = list_errors, False
        for name, error in self.list_errors.items():
            self.log.error(f"Listing {name}", error)
        self.show_rows()
        # a partial listing says so in its summary, not only in the error lines above it
        missing = f"; {', '.join(list_errors)} could not be listed" if list_errors else ""
        self.log.add("done", f"{plural(len(self.snapshots), 'snapshot')} on "
                             f"{plural(len(asked) - len(failed), 'machine')}{missing}")

    def _keep_listing(self, errors: dict[str, BaseException]) -> None:
        """Nothing could be listed: the previous rows and selection stay, said to be old."""
        self.list_errors, self.stale = errors, self.snapshots is not None
        previous = "; the previous listing is still shown" if self.stale else ""
        self.log.add("failed", f"List snapshots: {nothing_listed(errors)}{previous}")
        self.draw_counts()

    def _unless_closed(self, fetch: Callable[[], list[Snapshot]]
                       ) -> Callable[[], list[Snapshot] | None]:
        """``fetch``, not sent once the panel is closed (a fleet's listing is many requests)."""
        return lambda: None if self.closed else fetch()

    # ------------------------------------------------------------ actions

    def why_not(self, name: str) -> str | None:
        if name == "list":
            return None
        chosen = self.table.chosen
        if not chosen:
            return "select snapshots first"
        if name == "boot":
            if len(chosen) != 1:
                return f"select exactly one snapshot to boot from ({len(chosen)} selected)"
            snapshot = chosen[0]
            why = rules.why_not("start_from_snapshot", snapshot.machine, snapshot)
            return f"{snapshot.machine.name}: {why}" if why else None
        return None

    def boot_from(self) -> None:
        """Ask, then roll the snapshot's machine back to it and wait until it is up."""
        if not self.applies("boot", "Boot from snapshot"):
            return
        snapshot = self.table.chosen[0]
        machine = snapshot.machine
        what = f"Boot {machine.label} from snapshot {snapshot.name}"
        try:  # the plan, from the state the panel holds (no request), as the other questions
            plan = self.plan = make_plan([machine], "start_from_snapshot", snapshot.name,
                                         refresh=False)
        except InvalidInputError as exc:  # a snapshot name the API cannot address
            self.refuse(what, str(exc))
            return
        card = Card("Confirm", text(f"Boot {machine.name} from snapshot {snapshot.name}?"),
                    subtitle=[dc_name(machine.datacenter), f"plan {plan.id}"],
                    blocks=[Note("The machine is rolled back to the snapshot: everything "
                                 "written since it was taken is lost.")])
        self.confirm.ask(what, card, "Yes, boot from it",
                         lambda: self.act("boot", what, self._boot_job(snapshot, plan),
                                          "Booting", f"Checking {machine.name or machine.label}"))

    def _boot_job(self, snapshot: Snapshot, plan: Plan) -> Callable[[], None]:
        def job() -> None:
            machine = snapshot.machine
            since = time.monotonic()
            # exactly the plan asked about: apply re-reads the machine, and one that changed
            # since the question is skipped, in words, with nothing sent
            row = apply_one(plan, self.timeout, self.sending)
            if row.error is not None:
                raise row.error
            if row.outcome != DONE:
                self.log.add("skipped", f"Boot {machine.label} from snapshot {snapshot.name}: "
                                        f"{row.reason}; nothing was sent (plan {plan.id})")
                return
            target = rules.after_rollback(plan.rows[0].state)
            self.log.add("started", f"Boot {machine.label} from snapshot {snapshot.name}: "
                                    f"accepted by CloudAPI; waiting for {target}")
            machine.wait_for(target, timeout=self.timeout, interval=self.interval,
                             max_interval=self.max_interval, progress=self.progress.factory())
            self.log.add("done", f"Boot {machine.label} from snapshot {snapshot.name}: "
                                 f"{machine.state} after {time.monotonic() - since:.1f} s")
        return job


__all__ = ["SnapshotPanel"]
