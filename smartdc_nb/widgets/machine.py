"""The machine panel: one machine's header, its actions as buttons, a log.

Every action is sent and then awaited (with the panel's progress bar) on the
panel's worker thread; the header is redrawn from the machine's payload after
each one, and every few seconds while auto-refresh is on. Stop, Delete
machine, Boot from snapshot and Delete snapshot ask first, in the panel: the
question shows the plan for the machine (smartdc_nb.plans: the rules table's
verdict with its reason or request, and the plan's id, made from the state the
panel holds, without a request), and Yes applies exactly that plan, so a
machine that changed since the question is skipped and the log says so.

The jobs the buttons run are in :mod:`.machine_jobs`, the auto-refresh in
:mod:`.refresher`.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from .. import rules
from ..display.layout import Card, Facts
from ..display.values import Badge, Note, When, badge, flag, mebibytes, text, when
from ..display.parts import (dc_name, fetched, ident, image_value, ip_facts, package_value,
                             raw_of)
from ..errors import InvalidInputError
from ..plans import Plan, make_plan
from ..resources.machine import Machine
from ..resources.snapshot import Snapshot
from .base import Panel
from .html import render_card
from .machine_jobs import MachineJobs, default_snapshot_name, name_problem, plan_note
from .refresher import AutoRefresh



def package_label(package: dict) -> str:
    """``g4-highcpu-4G · 4 GiB · 4 vCPU`` (a chooser has little room)."""
    parts = [str(package.get("name")), str(mebibytes(package.get("memory")))]
    if package.get("vcpus"):
        parts.append(f"{package['vcpus']} vCPU")
    return " · ".join(parts)


def taken_at(snapshot: Snapshot) -> str | None:
    """When the snapshot was taken (UTC), not its age: a chooser or a question stays on screen
    long after it is drawn."""
    created = when(snapshot.created)
    return created.absolute if isinstance(created, When) else None


def snapshot_label(snapshot: Snapshot) -> str:
    said = [str(snapshot.state)] if snapshot.state != "created" else []  # created: the usual
    return f"{snapshot.name} ({', '.join(said + [taken_at(snapshot) or 'taken when unknown'])})"


class MachinePanel(MachineJobs, AutoRefresh, Panel):
    """A control panel for one :class:`~smartdc_nb.resources.machine.Machine` (see the module docstring).

    ``panel.buttons`` maps action names (start, stop, reboot, resize, rename,
    create_snapshot, boot_snapshot, delete_snapshot, firewall, delete,
    refresh) to their buttons; ``panel.package``, ``panel.new_name``,
    ``panel.snapshot_name`` and ``panel.snapshot`` are the choosers;
    ``panel.auto_refresh`` the checkbox; ``panel.log.entries`` the log;
    ``panel.plan`` the plan the last question showed (Yes applies exactly it);
    ``panel.wait()`` waits for the actions submitted so far.
    """

    kind = "machine"

    def __init__(self, machine: Machine, *, refresh_every: float = 5.0, **options: Any):
        if not isinstance(machine, Machine):
            raise InvalidInputError(f"machine_panel needs a Machine, not {type(machine).__name__}")
        if not (isinstance(refresh_every, (int, float)) and not isinstance(refresh_every, bool)
                and refresh_every > 0):
            raise InvalidInputError(
                f"refresh_every must be a number of seconds > 0, not {refresh_every!r}")
        self.machine = machine
        self.refresh_every = float(refresh_every)
        self._ticker: threading.Thread | None = None
        self._stop_ticking = threading.Event()
        self._refresh_queued = False
        self._refresh_error: str | None = None
        self._shown_name = machine.name
        self.plan: Plan | None = None  # the plan the last question showed
        super().__init__(machine, **options)
        if self.widget is not None:
            self.submit("Load", self._load, busy_text="Loading")

    # ------------------------------------------------------------ widgets

    def _build(self) -> Any:
        w = self.w
        self.header = w.HTML()
        self.package = w.Dropdown(options=[], layout=w.Layout(width="20em"))
        self.new_name = w.Text(value=self.machine.name or "", placeholder="new name",
                               layout=w.Layout(width="14em"))
        self.snapshot_name = w.Text(value=default_snapshot_name(), placeholder="snapshot name",
                                    layout=w.Layout(width="12em"))
        # wide enough for a name and when it was taken (snapshot_label)
        self.snapshot = w.Dropdown(options=[], layout=w.Layout(width="22em"))
        self.auto_refresh = w.Checkbox(value=False, description=f"Auto-refresh every "
                                       f"{self.refresh_every:g} s", indent=False,
                                       layout=w.Layout(width="auto"))
        for chooser in (self.package, self.new_name, self.snapshot_name, self.snapshot):
            chooser.observe(lambda _change: self.update_controls(), names="value")
        self.auto_refresh.observe(self._auto_refresh_changed, names="value")
        b = self.button
        row = dict(layout=w.Layout(flex_flow="row wrap", align_items="center"))
        actions = w.HBox([
            b("start", "Start", self.start, icon="play"),
            b("stop", "Stop", self.stop, icon="stop"),
            b("reboot", "Reboot", self.reboot, icon="refresh"),
            b("firewall", "Firewall", self.toggle_firewall, icon="shield"),
            b("delete", "Delete machine", self.delete, icon="trash", style="danger"),
            w.HTML(layout=w.Layout(flex="1 1 auto")),
            b("refresh", "Refresh", self.refresh, icon="sync"),
            self.auto_refresh], **row)
        changes = w.HBox([
            w.Label("Resize to"), self.package,
            b("resize", "Resize", self.resize, icon="arrows-alt"),
            w.HTML(layout=w.Layout(width="1.5em")),
            w.Label("Rename to"), self.new_name, b("rename", "Rename", self.rename, icon="pencil"),
        ], **row)
        snapshots = w.HBox([
            w.Label("New snapshot"), self.snapshot_name,
            b("create_snapshot", "Create snapshot", self.create_snapshot, icon="camera"),
            w.HTML(layout=w.Layout(width="1.5em")),
            w.Label("Snapshot"), self.snapshot,
            b("boot_snapshot", "Boot from snapshot", self.boot_from_snapshot, icon="undo"),
            b("delete_snapshot", "Delete snapshot", self.delete_snapshot, icon="trash"),
        ], **row)
        self.draw_header()
        return w.VBox([self.style_widget(), self.header, actions, changes, snapshots,
                       self.confirm.widget, self.progress.widget, self.log.widget],
                      layout=w.Layout(max_width="100%"))

    def describe(self) -> str:
        return f"machine {self.machine.label}"

    def static_cards(self) -> list[Card]:
        cards = super().static_cards()
        if self.widget is not None and self.log.entries:
            cards.append(self.log.card())
        return cards

    # ------------------------------------------------------------ drawing

    def header_card(self) -> Card:
        """The header: name, state badge, IPs, package, image (from the payload; no request)."""
        machine = self.machine
        raw = raw_of(machine)
        dc = machine.datacenter
        header: list[Any] = [badge(raw.get("state")), ident(raw.get("id"))]
        if self.busy:
            header.append(Badge(f"{self.busy_text}…", "busy"))
        elif self.last_error:
            header.append(Badge(f"{self.last_error[0]} failed", "bad"))
        known = machine.known_snapshots
        facts: list[tuple[str, Any]] = [
            *ip_facts(machine, raw),
            ("Package", package_value(dc, raw)),
            ("Image", image_value(dc, raw.get("image"))),
            ("Firewall", flag(raw.get("firewall_enabled"))),
            ("Deletion protection", flag(raw.get("deletion_protection"), "protected", "off")),
            ("Snapshots", str(len(known)) if known is not None else Note("not listed yet")),
        ]
        how = (f"auto-refresh every {self.refresh_every:g} s" if self._ticking
               else "Refresh fetches it again")
        subtitle = [dc_name(dc)] + ([text(raw["brand"])] if raw.get("brand") else [])
        return Card("Machine", text(raw.get("name")) if raw.get("name") else Note("no name"),
                    header=header, subtitle=subtitle, blocks=[Facts(facts)],
                    footer=fetched(machine, how))

    def draw_header(self) -> None:
        with self._lock:  # the main thread draws "busy", the worker "done": never crossed
            self.header.value = render_card(self.header_card())

    def show_status(self) -> None:
        self.draw_header()

    def refresh_view(self) -> None:
        """Redraw the header and the choosers from what the machine holds, then the buttons."""
        with self._lock:
            self._redraw_choosers()
            self.draw_header()
            self.update_controls()

    def _redraw_choosers(self) -> None:
        machine = self.machine
        if machine.name != self._shown_name:  # renamed: the field follows unless edited
            if self.new_name.value in ("", self._shown_name):
                self.new_name.value = machine.name or ""
            self._shown_name = machine.name
        packages = sorted(machine.datacenter.known_packages(),
                          key=lambda p: (p.get("memory") or 0, str(p.get("name"))))
        options = [(package_label(p), p.get("name")) for p in packages if p.get("name")]
        if options and list(self.package.options) != options:
            current = self.package.value or machine.package
            self.package.options = options
            names = [name for _label, name in options]
            self.package.value = current if current in names else None
        snapshots = machine.known_snapshots or []
        options = [(snapshot_label(s), s.name) for s in snapshots if s.state != "deleted"]
        if list(self.snapshot.options) != options:
            current = self.snapshot.value
            self.snapshot.options = options
            names = [name for _label, name in options]
            self.snapshot.value = current if current in names else (names[-1] if names else None)

    def label_of(self, name: str, label: str) -> str:
        if name == "firewall":
            return "Disable firewall" if self.machine.firewall_enabled else "Enable firewall"
        return label

    # ------------------------------------------------------------ when actions apply

    def chosen_snapshot(self) -> Snapshot | None:
        name = self.snapshot.value
        return next((s for s in self.machine.known_snapshots or [] if s.name == name), None)

    #: the panel's buttons -> the rules table's action names
    RULE_OF = {"boot_snapshot": "start_from_snapshot"}

    def rule_of(self, name: str) -> str:
        """The rules-table action a button runs (the firewall button toggles)."""
        if name == "firewall":
            return "disable_firewall" if self.machine.firewall_enabled else "enable_firewall"
        return self.RULE_OF.get(name, name)

    def wanted(self, name: str) -> Any:
        """What the choosers ask for ``name`` (None when nothing is chosen or typed)."""
        if name == "resize":
            return self.package.value or None
        if name == "rename":
            return self.new_name.value.strip() or None
        if name == "create_snapshot":
            return self.snapshot_name.value.strip() or None
        if name in ("boot_snapshot", "delete_snapshot"):
            return self.chosen_snapshot()
        return None

    def why_not(self, name: str) -> str | None:
        """The rules table's reason (smartdc_nb.rules), then what the choosers still need."""
        if name == "refresh":
            return None
        machine = self.machine
        action = self.rule_of(name)
        verdict = rules.verdict(action, machine)
        if verdict.kind == rules.PROTECTED:
            return None  # clickable, so that the click can say why not (see delete())
        if not verdict.ok:
            return verdict.reason
        wanted = self.wanted(name)
        if wanted is None:
            if name == "resize":
                return "choose a package" if self.package.options else \
                    "the packages are not loaded yet (Refresh loads them)"
            if name == "rename":
                return "type a new name"
            if name == "create_snapshot":
                return "type a snapshot name"
            if name in ("boot_snapshot", "delete_snapshot"):
                return "choose a snapshot" if machine.known_snapshots else \
                    "this machine has no snapshots (listed by Refresh)"
            return None
        if name in ("rename", "create_snapshot"):  # what the click would only refuse later
            problem = name_problem(name, wanted, machine)
            if problem:
                return problem
        return rules.why_not(action, machine, wanted)

    # ------------------------------------------------------------ actions (on click)

    def start(self) -> None:
        """Start the machine and wait until it is running."""
        self.act("start", f"Start {self.machine.label}",
                 self._state_job("Start", self.machine.start, "running"), "Starting")

    def stop(self) -> None:
        """Ask, then stop the machine and wait until it is stopped."""
        self._confirm("stop", f"Stop {self.machine.label}",
                      f"Stop {self.machine.name}?",
                      "It shuts down: whatever runs on it stops until it is started again.",
                      "Yes, stop it", "Stopping",
                      lambda plan: self._state_job("Stop", plan, "stopped"))

    def reboot(self) -> None:
        """Reboot the machine and wait until the audit log shows the reboot done."""
        self.act("reboot", f"Reboot {self.machine.label}",
                 self._state_job("Reboot", self.machine.reboot, "running"), "Rebooting")

    def resize(self) -> None:
        """Resize to the package chosen and wait until the machine shows it."""
        package = self.package.value
        self.act("resize", f"Resize {self.machine.label} to {package}",
                 self._change_job(f"Resize to {package}", lambda m: m.resize(package),
                                  lambda m: m.package == package, f"package {package}"),
                 "Resizing")

    def rename(self) -> None:
        """Rename to the name typed and wait until the machine shows it."""
        new = self.new_name.value.strip()
        self.act("rename", f"Rename {self.machine.label} to {new}",
                 self._change_job(f"Rename to {new}", lambda m: m.rename(new),
                                  lambda m: m.name == new, f"name {new}"), "Renaming")

    def toggle_firewall(self) -> None:
        """Turn the cloud firewall on or off and wait until the machine shows it."""
        on = not self.machine.firewall_enabled
        verb = "Enable firewall" if on else "Disable firewall"
        self.act("firewall", f"{verb} of {self.machine.label}",
                 self._change_job(verb,
                                  lambda m: m.enable_firewall() if on else m.disable_firewall(),
                                  lambda m: bool(m.firewall_enabled) == on,
                                  f"firewall {'on' if on else 'off'}"),
                 "Enabling" if on else "Disabling")

    def delete(self) -> None:
        """Ask, then delete the machine (refused, with the reason, under deletion protection)."""
        machine = self.machine
        what = f"Delete {machine.label}"
        if not self.applies("delete", what):
            return
        verdict = rules.verdict("delete", machine)
        if verdict.kind == rules.PROTECTED:
            self.confirm.cancel(quiet=True)
            self.refuse(what, f"{verdict.reason} (as of {machine.fetched_at:%H:%M:%S} UTC); it "
                              "is there to stop exactly this click. If the machine must go, "
                              "turn it off in code: m.disable_deletion_protection()")
            return
        self._confirm("delete", what, f"Delete {machine.name}?",
                      "The machine and its disks are destroyed; this cannot be undone.",
                      "Yes, delete the machine", "Deleting", self._delete_job)

    def create_snapshot(self) -> None:
        """Snapshot the machine under the name typed and wait until the snapshot is created."""
        name = self.snapshot_name.value.strip()
        self.act("create_snapshot", f"Create snapshot {name} of {self.machine.label}",
                 self._create_snapshot_job(name), "Snapshotting")

    def boot_from_snapshot(self) -> None:
        """Ask, then roll the machine back to the chosen snapshot and wait until it is up."""
        if not self.applies("boot_snapshot", "Boot from snapshot"):
            return
        snapshot = self.chosen_snapshot()
        assert snapshot is not None  # why_not("boot_snapshot") says so
        name, machine = snapshot.name, self.machine
        what = f"Boot {machine.label} from snapshot {name}"
        self._confirm("boot_snapshot", what, f"Boot {machine.name} from snapshot {name}?",
                      f"The machine is rolled back to the snapshot taken "
                      f"{taken_at(snapshot) or 'at an unknown time'}: everything written since "
                      "is lost.",
                      "Yes, boot from it", "Booting",
                      lambda plan: self._rollback_job(name, plan), name)

    def delete_snapshot(self) -> None:
        """Ask, then delete the chosen snapshot and wait until it is gone."""
        if not self.applies("delete_snapshot", "Delete snapshot"):
            return
        snapshot = self.chosen_snapshot()
        assert snapshot is not None  # why_not("delete_snapshot") says so
        what = f"Delete snapshot {snapshot.name} of {self.machine.label}"
        self._confirm("delete_snapshot", what,
                      f"Delete snapshot {snapshot.name} of {self.machine.name}?",
                      "A deleted snapshot cannot be booted from or restored.",
                      "Yes, delete the snapshot", "Deleting",
                      lambda plan: self._delete_snapshot_job(snapshot, plan), snapshot.name)

    def refresh(self) -> None:
        """Fetch the machine, its snapshots and (once) the packages."""
        self.submit(f"Refresh {self.machine.label}", lambda: self._load("Refreshed"),
                    button="refresh", busy_text="Refreshing")

    def _confirm(self, name: str, what: str, question: str, consequence: str, yes: str,
                 busy_text: str, job_of: Callable[[Plan], Callable[[], None]],
                 *args: Any) -> None:
        """Ask, showing the plan of action ``name`` (with ``args``) made from the state the
        panel holds (no request); Yes submits ``job_of(plan)``, which applies exactly it."""
        if not self.applies(name, what):
            return
        try:
            plan = self.plan = make_plan([self.machine], self.rule_of(name), *args,
                                         refresh=False)
        except InvalidInputError as exc:  # e.g. a snapshot name the API cannot address
            self.refuse(what, str(exc))
            return
        card = Card("Confirm", text(question),
                    subtitle=[dc_name(self.machine.datacenter), f"plan {plan.id}"],
                    blocks=[Note(consequence), plan_note(plan)])
        # the plan re-reads the machine before it sends (Panel.sending): it says so till then
        checking = f"Checking {self.machine.name or self.machine.label}"
        self.confirm.ask(what, card, yes,
                         lambda: self.act(name, what, job_of(plan), busy_text, checking))


__all__ = ["MachinePanel", "default_snapshot_name"]
