"""The fleet panel: filter machines, select rows, act on the selection in bulk.

Listing and bulk actions run on the panel's worker thread. Every bulk action
asks first, saying how many machines in which datacenters, and shows its plan
(smartdc_nb.plans: the counts per verdict and the plan's id, made from the
states as listed, without a request); Yes applies exactly that plan through
the bulk engine (its concurrency, rate limiting, skips and outcome rows) with
``wait=True`` and the panel's one progress bar, and its outcome table is shown
when it is done.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any, Callable

from ..operations.actions import ACTIONS
from ..datacenter import LIST_STATE_FILTERS
from ..display.layout import Card, Facts
from ..display.values import Badge, Note, text
from ..display.parts import MACHINE_COLUMNS, machine_row, stamped, state_counts
from ..errors import InvalidInputError
from ..resources.machine import Machine
from ..resources.validate import TRITON_TAGS
from ..machinelist import MachineList
from ..plans import Plan, make_plan
from .selection import SelectionPanel
from .html import render_card
from .pieces import apply_plan, describe, list_again, plural, within
from .sources import list_machines, name_matches, nothing_listed, tag_text

#: column widths of the machine rows (MACHINE_COLUMNS of the display package)
#: (about 75em with the gaps and the checkbox: the whole row fits a 1280 px wide notebook;
#: in a narrower one the list scrolls sideways inside its box)
WIDTHS = ["12em", "6.5em", "5em", "6.5em", "4em", "10.5em", "9em", "9em", "5.5em"]
#: the bulk buttons: action name -> (label, icon, what the button says while it runs)
BULK = {"start": ("Start", "play", "Starting"), "stop": ("Stop", "stop", "Stopping"),
        "reboot": ("Reboot", "refresh", "Rebooting"),
        "create_snapshot": ("Create snapshot", "camera", "Snapshotting"),
        "add_tags": ("Add tag", "tag", "Tagging")}
#: what each action does to a machine, said in the confirmation
CONSEQUENCE = {
    "start": "Stopped machines boot; the others are skipped.",
    "stop": "Running machines shut down: whatever runs on them stops until they are started.",
    "reboot": "Running machines restart: their services are down for a moment.",
    "create_snapshot": "Each machine gets a snapshot (kvm machines cannot have one).",
    "add_tags": "The tag is set on each machine (an existing value is replaced).",
}


def where(machines: list[Machine]) -> str:
    """``us-east-1 (2), us-west-1 (1)``: how many machines in which datacenters."""
    counts = Counter(m.datacenter.name or m.datacenter.url for m in machines)
    return ", ".join(f"{name} ({n})" for name, n in sorted(counts.items()))


class FleetPanel(SelectionPanel):
    """A control panel over a Fleet or a DataCenter (see the module docstring).

    ``panel.datacenter``, ``panel.state``, ``panel.tag_key``,
    ``panel.tag_value`` and ``panel.name_pattern`` are the filters (applied by
    the List button); ``panel.table`` the selectable rows (``select_all()``,
    ``toggle(key)``, ``chosen``); ``panel.buttons`` the actions (list, start,
    stop, reboot, create_snapshot, add_tags); ``panel.result`` the last
    BulkResult; ``panel.plan`` the plan the last confirmation showed (its id and counts are in
    the question; Yes applies exactly it); ``panel.listing`` the machines listed last.
    """

    kind = "fleet"

    def __init__(self, fleet: Any, **options: Any):
        self.listing: MachineList | None = None
        self.plan: Plan | None = None  # the plan the last confirmation showed
        self.listed_with = ""
        self.listed_at: datetime | None = None  # when the rows shown were listed
        self.stale: str | None = None  # the filters of a listing that failed everywhere
        self._last_lister: Callable[[], None] = lambda: None
        super().__init__(fleet, **options)

    # ------------------------------------------------------------ widgets

    def _build(self) -> Any:
        w = self.w
        self.make_table(MACHINE_COLUMNS, WIDTHS, "machine")
        self.datacenter = w.Dropdown(
            # "" not None for "all": ipywidgets reads a None value as "nothing selected"
            options=[("all datacenters", "")] + [(name, name) for name in self.datacenters],
            description="Datacenter", layout=w.Layout(width="auto"))
        self.state = w.Dropdown(options=[("any state", "")] + [(s, s) for s in
                                                                 LIST_STATE_FILTERS],
                                description="State", layout=w.Layout(width="auto"))
        self.tag_key = w.Text(placeholder="tag key", layout=w.Layout(width="9em"))
        self.tag_value = w.Text(placeholder="value (any)", layout=w.Layout(width="9em"))
        self.name_pattern = w.Text(placeholder="name, or web-*", layout=w.Layout(width="11em"))
        self.snapshot_template = w.Text(value="{name}-{datetime}", layout=w.Layout(width="13em"),
                                        tooltip="fields: {name} {short_id} {datacenter} "
                                                "{date} {time} {datetime}")
        self.new_tag_key = w.Text(placeholder="key", layout=w.Layout(width="8em"))
        self.new_tag_value = w.Text(placeholder="value", layout=w.Layout(width="8em"))
        for field in (self.snapshot_template, self.new_tag_key, self.new_tag_value):
            field.observe(lambda _change: self.update_controls(), names="value")
        self.counts = w.HTML()
        self.outcome = w.HTML()
        row = dict(layout=w.Layout(flex_flow="row wrap", align_items="center"))
        b = self.button
        filters = w.HBox([self.datacenter, self.state, w.Label("Tag"), self.tag_key,
                          w.Label("="), self.tag_value, w.Label("Name"), self.name_pattern,
                          b("list", "List machines", self.relist, icon="search",
                            style="primary")], **row)
        bulk = w.HBox([
            w.Label("Selected:"),
            *[b(name, BULK[name][0], self._asker(name), icon=BULK[name][1])
              for name in ("start", "stop", "reboot")],
            w.HTML(layout=w.Layout(width="1em")), self.snapshot_template,
            b("create_snapshot", "Create snapshot", self._asker("create_snapshot"),
              icon="camera"),
            w.HTML(layout=w.Layout(width="1em")), self.new_tag_key, w.Label("="),
            self.new_tag_value, b("add_tags", "Add tag", self._asker("add_tags"), icon="tag"),
        ], **row)
        self.draw_counts()
        return w.VBox([self.style_widget(), filters, self.counts, self.table.widget, bulk,
                       self.confirm.widget, self.progress.widget, self.outcome, self.log.widget],
                      layout=w.Layout(max_width="100%"))

    def describe(self) -> str:
        names = ", ".join(self.datacenters) or "no datacenters"
        return f"the machines of {names}"

    def listed(self) -> MachineList | None:
        return self.listing

    # ------------------------------------------------------------ drawing

    def draw_counts(self) -> None:
        if self.listing is None:
            card = Card("Machines", Note("not listed yet" if not self.list_errors else
                                         "nothing could be listed"),
                        blocks=[Facts([(name, text(describe(error)))
                                       for name, error in self.list_errors.items()])]
                        if self.list_errors else [])
        else:
            blocks: list[Any] = [state_counts(self.listing)] if self.listing else \
                [Note("no machine matched these filters" if self.stale is not None
                      else "no machine matches these filters")]
            if self.stale is not None:  # a failed listing says nothing about the machines
                blocks.insert(0, Note(f"From the previous listing: listing {self.stale} "
                                      "failed in every datacenter."))
            if self.list_errors:
                blocks.append(Facts([(name, text(describe(error)))
                                     for name, error in self.list_errors.items()]))
            header = [Badge(f"{len(self.list_errors)} datacenter(s) failed", "bad")] \
                if self.list_errors else []
            card = Card("Machines", f"{plural(len(self.listing), 'machine')} match",
                        header=header, subtitle=[self.listed_with], blocks=blocks,
                        footer=stamped("listed", self.listed_at, "List machines lists them again; Age is as listed"))
        self.counts.value = render_card(card)

    def refresh_view(self) -> None:
        self.draw_counts()
        self.update_controls()

    # ------------------------------------------------------------ filters and listing

    def filters(self) -> tuple[dict[str, Any], str]:
        """The server-side filters from the fields, and the filters in words."""
        filters: dict[str, Any] = {}
        words = []
        if self.datacenter.value:
            words.append(f"datacenter {self.datacenter.value}")
        if self.state.value:
            filters["state"] = self.state.value
            words.append(f"state {self.state.value}")
        key, value = self.tag_key.value.strip(), self.tag_value.value.strip()
        if key and value:
            filters["tags"] = {key: value}
            words.append(f"tag {key}={value}")
        elif key:
            words.append(f"tag {key} set")
        elif value:
            raise InvalidInputError("a tag value needs a tag key (type the key in the first "
                                    "tag field)")
        if self.name_pattern.value.strip():
            words.append(f"name {self.name_pattern.value.strip()}")
        return filters, ", ".join(words) or "all machines"

    def relist(self) -> None:
        """List the machines matching the filters (on the worker thread)."""
        try:
            job = self._lister()
        except InvalidInputError as exc:
            self.refuse("List machines", str(exc))
            return
        # kept for the relist after an action only when accepted: an ignored click changes nothing
        if self.submit("List machines", job, button="list", busy_text="Listing") is not None:
            self._last_lister = job

    def _lister(self) -> Callable[[], None]:
        """A job listing with the filters as they are now (kept to list again after an action)."""
        filters, words = self.filters()
        chosen = self.datacenter.value
        datacenters = {n: d for n, d in self.datacenters.items() if chosen in ("", n)}
        key, pattern = self.tag_key.value.strip(), self.name_pattern.value
        value = filters.get("tags", {}).get(key)

        def keep(machine: Machine) -> bool:
            tags = machine.raw.get("tags") or {}
            return name_matches(machine.name, pattern) and (not key or key in tags and (
                value is None or tag_text(tags[key]) == value))

        def job() -> None:
            if self.closed_during("List machines"):  # the relist after an action, once closed
                return
            with within(self.timeout):
                machines, errors = list_machines(datacenters, **filters)
            if errors and len(errors) == len(datacenters):
                self._keep_listing(errors, words)
            else:
                self._show_listing(MachineList(m for m in machines if keep(m)), errors, words)

        return job

    def _keep_listing(self, errors: dict[str, BaseException], words: str) -> None:
        """Every datacenter failed: the previous rows and selection stay, said to be old (an
        empty table would read as 'no machine matches', which nobody was told)."""
        self.list_errors, self.stale = errors, words
        previous = (f"; the previous listing ({self.listed_with}) is still shown"
                    if self.listing is not None else "")
        self.log.add("failed", f"List machines ({words}): {nothing_listed(errors)}{previous}")

    def _show_listing(self, machines: MachineList, errors: dict[str, BaseException],
                      words: str) -> None:
        self.listing, self.list_errors, self.listed_with = machines, errors, words
        self.listed_at = datetime.now(timezone.utc)
        self.stale = None
        self.table.set_items([((m.datacenter.name or m.datacenter.url, m.id), m, machine_row(m))
                              for m in machines])
        for name, error in errors.items():
            self.log.error(f"Listing the machines of {name}", error)
        found = f"{plural(len(machines), 'machine')} match ({words})"
        self.log.add("done", found if not errors else
                     f"{found}; {', '.join(errors)} could not be listed")

    # ------------------------------------------------------------ bulk actions

    def params(self, action: str) -> tuple[tuple, dict]:
        """The bulk action's arguments from the fields (checked as run_bulk checks them)."""
        if action == "create_snapshot":
            args: tuple = (self.snapshot_template.value.strip(),)
        elif action == "add_tags":
            key = self.new_tag_key.value.strip()
            value: Any = self.new_tag_value.value
            if TRITON_TAGS.get(key) is bool:
                if value.strip().lower() not in ("true", "false"):
                    raise InvalidInputError(f"tag {key!r} takes true or false, not {value!r}")
                value = value.strip().lower() == "true"
            args = ({key: value},)
        else:
            args = ()
        return args, ACTIONS[action].prepare(*args)

    def applicable(self, action: str) -> tuple[list[Machine], Counter]:
        """The selected machines the action applies to (as known) and why the others not.

        Judged by the plan of the known states (no request), the one Yes applies: the button
        then refuses what the plan refuses (a snapshot name the API cannot take, say).
        """
        args, _params = self.params(action)
        plan = make_plan(self.table.chosen, action, *args, refresh=False,
                         concurrency=self.concurrency)
        return list(plan.machines("act")), Counter(r.reason for r in plan.rows
                                                   if r.verdict != "act")

    def why_not(self, name: str) -> str | None:
        if name == "list" or name not in ACTIONS:
            return None
        if not self.table.selected:
            return "select machines first"
        if name == "create_snapshot" and not self.snapshot_template.value.strip():
            return "type a snapshot name template"
        if name == "add_tags" and not self.new_tag_key.value.strip():
            return "type a tag key"
        try:
            applies, skipped = self.applicable(name)
        except InvalidInputError as exc:
            return str(exc)
        if not applies:
            # each machine's expanded name may be refused in its own words: a few say enough
            reasons = [f"{n} {reason}" for reason, n in skipped.most_common()]
            more = f"; and {len(reasons) - 3} more reasons" if len(reasons) > 3 else ""
            return f"{BULK[name][0]} applies to none of the selected machines: " + \
                "; ".join(reasons[:3]) + more
        return None

    def _asker(self, action: str) -> Callable[[], None]:
        return lambda: self.ask(action)

    def ask(self, action: str) -> None:
        """Ask to run ``action`` on the selection: how many machines, in which datacenters."""
        label = BULK[action][0]
        if not self.applies(action, label):
            return
        selected = self.table.chosen
        args, _params = self.params(action)
        # the plan of the known states (no request); the Yes button applies exactly it
        plan = self.plan = make_plan(selected, action, *args, refresh=False,
                                     concurrency=self.concurrency)
        applies = plan.machines("act")
        skipped = Counter(r.reason for r in plan.rows if r.verdict != "act")
        count = plural(len(selected), "machine")
        what = f"{label} on {count} in {where(selected)}"
        notes: list[Any] = [Note(CONSEQUENCE[action])]
        if skipped:
            notes.append(Note("As last listed, " + "; ".join(
                f"{n} will be skipped ({reason})" for reason, n in skipped.items()) +
                ". States are checked again before anything is sent."))
        counts = ", ".join(f"{n} {verdict}" for verdict, n in plan.counts.items() if n)
        notes.append(Note(f"Plan {plan.id}: {counts}. Yes applies this plan: a machine that "
                          "changed since it was listed is skipped, not acted on."))
        if action == "create_snapshot":
            notes.append(Note(f"Snapshot names: {args[0]}"))
        elif action == "add_tags":
            notes.append(Note("Tag: " + ", ".join(f"{k}={tag_text(v)}"
                                                  for k, v in args[0].items())))
        card = Card("Confirm", text(f"{label}: {count} in {where(selected)}?"),
                    subtitle=[f"{len(applies)} to act on as last listed", f"plan {plan.id}"],
                    blocks=notes)
        # the plan re-reads the machines before it sends (Panel.sending): it says so till then
        self.confirm.ask(what, card, f"Yes, {label.lower()} {count}",
                         lambda: self.act(action, what, self._bulk_job(plan), BULK[action][2],
                                          f"Checking {count}"))

    def _bulk_job(self, plan: Plan) -> Callable[[], None]:
        def job() -> None:
            machines = [r.machine for r in plan.rows]
            self.log.add("started", f"{BULK[plan.action][0]} on "
                                    f"{plural(len(machines), 'machine')} in {where(machines)} "
                                    f"(plan {plan.id})")
            options = {k: v for k, v in self.bulk_options().items() if k != "confirm"}
            result = apply_plan(plan, self.timeout, self.sending, **options)
            self.show_result(result)
            list_again(result, self.log, self._last_lister)  # with the same filters
        return job


__all__ = ["FleetPanel", "where"]
