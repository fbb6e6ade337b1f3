"""The machine panel: one machine's header, its actions as buttons, a log.

Every action is sent and then awaited (with the panel's progress bar) on the
panel's worker thread; the header is redrawn from the machine's payload after
each one, and every few seconds while auto-refresh is on. Stop, Delete
machine, Boot from snapshot and Delete snapshot ask first, in the panel.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from .. import rules
from ..display.layout import Card, Facts
from ..display.values import Badge, Note, badge, flag, mebibytes, text, when
from ..display.views import dc_name, fetched, ident, image_value, ip_facts, package_value, raw_of
from ..errors import InvalidInputError
from ..resources.machine import Machine
from ..resources.snapshot import Snapshot
from .base import Panel
from .html import render_card
from .pieces import plural



def default_snapshot_name(taken: Iterable[str] = ()) -> str:
    """``snap-YYYYmmdd-HHMMSS`` (UTC), valid for CloudAPI, sorted by time, not one of ``taken``."""
    name = datetime.now(timezone.utc).strftime("snap-%Y%m%d-%H%M%S")
    taken = set(taken)
    return next(n for n in (name, *(f"{name}-{i}" for i in range(2, len(taken) + 3)))
                if n not in taken)


def package_label(package: dict) -> str:
    """``g4-highcpu-4G · 4 GiB · 4 vCPU`` (a chooser has little room)."""
    parts = [str(package.get("name")), str(mebibytes(package.get("memory")))]
    if package.get("vcpus"):
        parts.append(f"{package['vcpus']} vCPU")
    return " · ".join(parts)


def snapshot_label(snapshot: Snapshot) -> str:
    created = when(snapshot.created)
    age = f", {created.relative}" if hasattr(created, "relative") else ""
    return f"{snapshot.name} ({snapshot.state}{age})"


class MachinePanel(Panel):
    """A control panel for one :class:`~smartdc_nb.machine.Machine` (see the module docstring).

    ``panel.buttons`` maps action names (start, stop, reboot, resize, rename,
    create_snapshot, boot_snapshot, delete_snapshot, firewall, delete,
    refresh) to their buttons; ``panel.package``, ``panel.new_name``,
    ``panel.snapshot_name`` and ``panel.snapshot`` are the choosers;
    ``panel.auto_refresh`` the checkbox; ``panel.log.entries`` the log;
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
                                    layout=w.Layout(width="14em"))
        self.snapshot = w.Dropdown(options=[], layout=w.Layout(width="20em"))
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
                      "Yes, stop it",
                      lambda: self.act("stop", f"Stop {self.machine.label}",
                                       self._state_job("Stop", self.machine.stop, "stopped"),
                                       "Stopping"))

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
                      "Yes, delete the machine",
                      lambda: self.act("delete", what, self._delete_job(), "Deleting"))

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
                      f"{when(snapshot.created)}: everything written since is lost.",
                      "Yes, boot from it",
                      lambda: self.act("boot_snapshot", what, self._rollback_job(name),
                                       "Booting"))

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
                      "Yes, delete the snapshot",
                      lambda: self.act("delete_snapshot", what,
                                       self._delete_snapshot_job(snapshot), "Deleting"))

    def refresh(self) -> None:
        """Fetch the machine, its snapshots and (once) the packages."""
        self.submit(f"Refresh {self.machine.label}", lambda: self._load("Refreshed"),
                    button="refresh", busy_text="Refreshing")

    def _confirm(self, name: str, what: str, question: str, consequence: str, yes: str,
                 then: Callable[[], None]) -> None:
        if not self.applies(name, what):
            return
        card = Card("Confirm", text(question), subtitle=[dc_name(self.machine.datacenter)],
                    blocks=[Note(consequence)])
        self.confirm.ask(what, card, yes, then)

    # ------------------------------------------------------------ jobs (worker thread)

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

    def _guarded(self, work: Callable[[], None]) -> Callable[[], None]:
        def job() -> None:
            try:
                work()
            except Exception:
                # After a failure the header must show the machine as it is now; if even
                # this GET fails, the header's "fetched at" time says how old it is.
                try:
                    self.machine.refresh()
                except Exception:  # noqa: BLE001 - the action's error is the one logged
                    pass
                raise
        return job

    def _state_job(self, verb: str, send: Callable[[], Any], target: str) -> Callable[[], None]:
        def work() -> None:
            send()
            since = self._sent(verb, target)
            self.machine.wait_for(target, **self._wait_options())
            self._done(verb, since, f"{self.machine.state}")
        return self._guarded(work)

    def _change_job(self, verb: str, send: Callable[[Machine], Any],
                    landed: Callable[[Machine], bool], description: str) -> Callable[[], None]:
        def work() -> None:
            send(self.machine)
            since = self._sent(verb, description)
            self.machine.wait_until(landed, description, **self._wait_options())
            self._done(verb, since, description)
        return self._guarded(work)

    def _delete_job(self) -> Callable[[], None]:
        def work() -> None:
            self.machine.delete()
            since = self._sent("Delete", "deleted")
            self.machine.wait_for("deleted", **self._wait_options())
            self._done("Delete", since, "deleted")
        return self._guarded(work)

    def _create_snapshot_job(self, name: str) -> Callable[[], None]:
        def work() -> None:
            snapshot = self.machine.create_snapshot(name)
            since = self._sent(f"Create snapshot {name} of", "the snapshot to be created")
            snapshot.wait_for("created", **self._wait_options())
            self.machine.snapshots()
            self.snapshot.value = None  # refresh_view picks the newest, this one
            if self.snapshot_name.value.strip() == name:
                self.snapshot_name.value = default_snapshot_name(
                    s.name for s in self.machine.known_snapshots or [])
            self._done(f"Create snapshot {name} of", since, "snapshot created")
        return self._guarded(work)

    def _rollback_job(self, name: str) -> Callable[[], None]:
        def work() -> None:
            before = self.machine.state
            target = rules.after_rollback(before)
            self.machine.start_from_snapshot(name)
            since = self._sent(f"Boot from snapshot {name}:", target)
            self.machine.wait_for(target, **self._wait_options())
            self._done(f"Boot from snapshot {name}:", since, f"{self.machine.state}")
        return self._guarded(work)

    def _delete_snapshot_job(self, snapshot: Snapshot) -> Callable[[], None]:
        def work() -> None:
            snapshot.delete()
            since = self._sent(f"Delete snapshot {snapshot.name} of", "it to be gone")
            snapshot.wait_for("deleted", **self._wait_options())
            self.machine.snapshots()
            self._done(f"Delete snapshot {snapshot.name} of", since, "snapshot deleted")
        return self._guarded(work)

    def _load(self, verb: str = "Loaded") -> None:
        """Fetch the machine, then its snapshots and the packages of its datacenter.

        The machine's own GET failing fails the job; a failed list only leaves its
        chooser empty, and is said in the log.
        """
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
            try:
                found.append(plural(len(fetch()), noun))
            except Exception as exc:  # noqa: BLE001 - said in the log; the rest still loads
                self.log.error(f"Listing {what}", exc)
        self.log.add("done", f"{verb} {machine.label}: {', '.join(found)}")

    # ------------------------------------------------------------ auto-refresh

    @property
    def _ticking(self) -> bool:
        return self._ticker is not None and self._ticker.is_alive() \
            and not self._stop_ticking.is_set()

    def _auto_refresh_changed(self, change: dict) -> None:
        if change["new"]:
            self._start_ticking()
        else:
            self._stop_background()
        self.draw_header()

    def _start_ticking(self) -> None:
        if self._ticking or self.closed:
            return
        self._stop_ticking = stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(stop,), daemon=True,
                                        name="smartdc_nb-machine-panel-refresh")
        self._ticker.start()
        self.log.add("info", f"Auto-refresh on: every {self.refresh_every:g} s")

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(self.refresh_every):
            if self.closed:
                return
            if self.busy is None and not self._refresh_queued:
                self._refresh_queued = True
                if self.submit("Auto-refresh", self._quiet_refresh, quiet=True) is None:
                    self._refresh_queued = False

    def _quiet_refresh(self) -> None:
        """One background GET; an error is logged once, not every few seconds."""
        self._refresh_queued = False
        try:
            self.machine.refresh()
        except Exception as exc:  # noqa: BLE001 - logged (once per kind of error)
            # the same failure again (only its request id differs) is not news
            kind = repr((type(exc), getattr(exc, "status", None), getattr(exc, "code", None)))
            if kind != self._refresh_error:
                self._refresh_error = kind
                self.log.error("Auto-refresh", exc)
            return
        if self._refresh_error is not None:
            self._refresh_error = None
            self.log.add("info", "Auto-refresh works again")

    def _stop_background(self) -> None:
        ticker, self._ticker = self._ticker, None
        self._stop_ticking.set()
        if ticker is not None:
            if ticker is not threading.current_thread():
                ticker.join(timeout=5)
            if not self.closed:
                self.log.add("info", "Auto-refresh off")
        if self.widget is not None and self.auto_refresh.value and self.closed:
            self.auto_refresh.value = False


__all__ = ["MachinePanel", "default_snapshot_name"]
