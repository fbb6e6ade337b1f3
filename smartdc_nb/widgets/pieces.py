"""The parts every panel is built from: log, confirmation, progress bar, selectable list.

Each part owns a few ipywidgets and is safe to update from the panel's
worker thread: updates only set traits (ipywidgets 8 syncs a trait set from
any thread; ``with output:`` from a thread is what breaks on ipykernel 7),
under the part's own lock so two threads never interleave one part's state.
"""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Hashable, Sequence

from ..display.layout import Card, Section, Table
from ..display.values import Badge, Note, text
from ..errors import SmartDCError
from .html import render_card, render_line, render_row

log = logging.getLogger("smartdc_nb.widgets")

#: how each log word is coloured (the display's tones)
LOG_TONES = {"done": "ok", "failed": "bad", "refused": "warn", "skipped": "warn", "ignored": "idle",
             "cancelled": "idle", "started": "busy", "info": "neutral"}
#: the log shows the newest entries; ``ActivityLog.entries`` keeps all of them
LOG_SHOWN = 200


def plural(n: int, noun: str) -> str:
    """``1 machine``, ``3 machines``."""
    return f"{n:,} {noun}{'s' * (n != 1)}"


def describe(error: BaseException) -> str:
    """An error in words: its class (which says what kind of failure) and its message."""
    message = str(error) or "(no message)"
    return f"{type(error).__name__}: {message}"


@dataclass(frozen=True)
class Entry:
    """One line of a panel's log."""

    at: datetime
    word: str
    message: str
    detail: str | None = None  # the traceback of an unexpected error

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.word}: {self.message}"


class ActivityLog:
    """A timestamped record of what a panel did, newest first, in an HTML widget.

    Every action, result and error is an :class:`Entry` in :attr:`entries`
    (nothing is printed: ``print`` from a widget callback goes nowhere in
    JupyterLab). Errors that are not smartdc_nb's own keep their traceback.
    """

    def __init__(self, widgets: Any, title: str = "Activity"):
        self.title = title
        self.entries: list[Entry] = []
        self._lock = threading.RLock()  # held while drawing too: a stale drawing never wins
        self.widget = widgets.HTML(layout=widgets.Layout(max_height="15em", overflow="auto"))
        self._render()

    def add(self, word: str, message: str, detail: str | None = None) -> Entry:
        entry = Entry(datetime.now().astimezone(), word, message, detail)
        with self._lock:
            self.entries.append(entry)
            self._render()
        # INFO, never WARNING: with no handler configured, Python prints warnings to stderr,
        # which from a worker thread lands in whatever cell happens to be running
        log.info("%s", entry)
        return entry

    def error(self, what: str, error: BaseException) -> Entry:
        """Log ``what`` failed with ``error``; unexpected errors keep their traceback."""
        detail = None
        if not isinstance(error, SmartDCError):
            detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        return self.add("failed", f"{what}: {describe(error)}", detail)

    @property
    def lines(self) -> list[str]:
        """The entries as text, oldest first."""
        with self._lock:
            return [str(e) for e in self.entries]

    def card(self) -> Card:
        """The log as a display card (the newest entries first)."""
        with self._lock:
            entries = list(self.entries)
        shown = entries[::-1][:LOG_SHOWN]
        rows = [[f"{e.at:%H:%M:%S}", Badge(e.word, LOG_TONES.get(e.word, "neutral")),
                 text(e.message, 4000)] for e in shown]
        blocks: list[Any] = [Table(["Time", "", "What happened"], rows, empty="nothing yet",
                                   more=len(entries) - len(shown),
                                   more_hint="(earlier: panel.log.entries)")]
        last = next((e for e in reversed(entries) if e.detail), None)
        if last is not None:
            blocks.append(Section(f"Traceback of the error at {last.at:%H:%M:%S}", None,
                                  text(last.detail, 8000)))
        count = len(entries)
        return Card(self.title, f"{count} entr{'y' if count == 1 else 'ies'}", blocks=blocks)

    def _render(self) -> None:
        self.widget.value = f'<div class="sdcnb-panel-log">{render_card(self.card())}</div>'


class ConfirmBar:
    """A question in the panel: Yes runs the action once, Cancel drops it.

    A second click on Yes finds the question already answered and does
    nothing, so a double click cannot run the action twice.
    """

    def __init__(self, widgets: Any, activity: ActivityLog):
        self.activity = activity
        self._lock = threading.Lock()
        self._pending: tuple[str, Callable[[], Any]] | None = None
        self.message = widgets.HTML()
        self.yes = widgets.Button(description="Yes", button_style="danger", icon="check")
        self.no = widgets.Button(description="Cancel", icon="times")
        self.yes.on_click(self._answer_yes)
        self.no.on_click(self._answer_no)
        self.widget = widgets.VBox([self.message, widgets.HBox([self.yes, self.no])],
                                   layout=widgets.Layout(display="none"))

    @property
    def armed(self) -> bool:
        return self._pending is not None

    @property
    def question(self) -> str | None:
        """What is being asked (None when nothing is)."""
        return self._pending[0] if self._pending else None

    def ask(self, what: str, card: Card, yes: str, then: Callable[[], Any]) -> None:
        """Show ``card`` with a ``yes`` button that calls ``then()`` (replacing any question)."""
        with self._lock:
            self._pending = (what, then)
        self.message.value = f'<div class="sdcnb-panel-confirm">{render_card(card)}</div>'
        self.yes.description = yes
        self.widget.layout.display = "flex"

    def cancel(self, quiet: bool = False) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        self.widget.layout.display = "none"
        if pending is not None and not quiet:
            self.activity.add("cancelled", f"{pending[0]}: cancelled, nothing was sent")

    def _answer_yes(self, _button: Any = None) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        self.widget.layout.display = "none"
        if pending is not None:
            pending[1]()

    def _answer_no(self, _button: Any = None) -> None:
        self.cancel()


class ProgressArea:
    """The panel's one progress bar and the line beside it, shown while an action runs."""

    def __init__(self, widgets: Any):
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0,
                                         layout=widgets.Layout(width="16em"))
        self.note = widgets.HTML()
        self.widget = widgets.HBox([self.bar, self.note],
                                   layout=widgets.Layout(display="none", align_items="center"))

    def start(self, what: str) -> None:
        self.bar.value, self.bar.max, self.bar.bar_style = 0.0, 1.0, "info"
        self.note.value = render_line(what)
        self.widget.layout.display = "flex"

    def stop(self) -> None:
        self.widget.layout.display = "none"

    def show(self, value: float, maximum: float | None, words: Sequence[Any],
             style: str = "info") -> None:
        if maximum:
            self.bar.max = float(maximum)
            self.bar.value = float(min(value, maximum))
        self.bar.bar_style = style
        self.note.value = render_line(*words)

    def factory(self) -> Callable[..., WidgetBar]:
        """What ``progress=`` takes in smartdc_nb's waits and bulk actions: bars drawn here."""
        return lambda **options: WidgetBar(self, **options)


class _Lines:
    """A file-like sink for the one-line summaries smartdc_nb.progress prints to a bar's ``fp``."""

    def __init__(self, bar: WidgetBar):
        self.bar = bar
        self.buffer = ""

    def write(self, data: str) -> int:
        self.buffer += data
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            if line.strip():
                self.bar.summary = line
                self.bar.refresh()
        return len(data)

    def flush(self) -> None:
        pass


class WidgetBar:
    """A tqdm-like bar for smartdc_nb.progress (``n``, ``total``, descriptions, ``close``).

    Two shapes come through it: a count of machines (``unit`` given: "2/5
    machines") and one resource's wait (elapsed seconds towards the deadline).
    """

    def __init__(self, area: ProgressArea, total: float | None = None, desc: str = "",
                 postfix: Any = None, unit: str | None = None, **_tqdm_options: Any):
        self.area, self.total, self.desc, self.unit = area, total, desc, unit
        self.postfix = postfix if isinstance(postfix, str) else None
        self.n: float = 0
        self.summary: str | None = None
        self.fp = _Lines(self)
        self.closed = False
        self.refresh()

    def set_description_str(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc
        if refresh:
            self.refresh()

    def set_postfix_str(self, postfix: str, refresh: bool = True) -> None:
        self.postfix = postfix
        if refresh:
            self.refresh()

    def update(self, n: float = 1) -> None:
        self.n += n
        self.refresh()

    def refresh(self) -> None:
        if self.summary:
            words: list[Any] = [text(self.summary)]
        elif self.unit:
            count = f"{self.n:.0f}/{self.total:.0f} {self.unit}{'s' * (self.total != 1)}" \
                if self.total is not None else f"{self.n:.0f}"
            words = [text(self.desc), count] + ([Note(self.postfix)] if self.postfix else [])
        else:
            words = [text(self.desc), f"{self.n:.0f} s"] + \
                ([Note(self.postfix)] if self.postfix else [])
        full = self.total is not None and self.n >= self.total
        style = ("success" if full else "danger") if self.closed else "info"
        self.area.show(self.n, self.total, words, style)

    def close(self) -> None:
        self.closed = True
        self.refresh()


def _row_layout(widgets: Any) -> Any:
    # a widget box scrolls (overflow: auto) by default: every row would get a scroll bar
    return widgets.Layout(align_items="center", flex="0 0 auto", overflow="visible")


class SelectableTable:
    """Rows of display values, each with a checkbox; select all or none; a count line.

    Rows are keyed (e.g. ``(datacenter, machine id)``), so a selection
    survives a new listing. ``on_change`` is never called with this table's
    lock held (the panel's lock is taken around it, and the panel asks the
    table for its selection). Only the first ``max_rows`` rows get widgets;
    "select all" selects every row, shown or not, and the count says so.
    Row widgets are reused between listings.
    """

    def __init__(self, widgets: Any, columns: Sequence[Any], widths: Sequence[str],
                 max_rows: int, on_change: Callable[[], None], noun: str = "machine"):
        self.w, self.widths, self.max_rows, self.noun = widgets, list(widths), max_rows, noun
        self.on_change = on_change
        self._lock = threading.RLock()
        self.items: dict[Hashable, tuple[Any, list[Any]]] = {}
        self.selected: set[Hashable] = set()
        self._shown: list[Hashable] = []
        self._pool: list[tuple[Any, Any, Any]] = []  # (row box, checkbox, html)
        self._syncing = False
        self.select_all_button = widgets.Button(description="Select all", icon="check-square")
        self.select_none_button = widgets.Button(description="Select none", icon="square")
        self.select_all_button.on_click(lambda _b: self.select_all())
        self.select_none_button.on_click(lambda _b: self.select_none())
        self.count = widgets.HTML()
        # laid out as a row is (a checkbox, then the HTML), with the checkbox hidden, so the
        # column headings sit exactly over the columns
        spacer = widgets.Checkbox(indent=False, disabled=True,
                                  layout=widgets.Layout(width="2em", visibility="hidden"))
        self.heading = widgets.HBox([spacer, widgets.HTML(
            render_row(columns, self.widths, "sdcnb-panel-heading"),
            layout=widgets.Layout(flex="0 0 auto"))], layout=_row_layout(widgets))
        # A flex column with a max height shrinks its children to fit: rows would pile up on
        # each other. Nothing in it may shrink, nor clip a row narrower than its columns:
        # the one box around heading and rows scrolls instead, both ways.
        self.rows = widgets.VBox(layout=widgets.Layout(flex="0 0 auto", overflow="visible"))
        self.more = widgets.HTML()
        self.widget = widgets.VBox([
            widgets.HBox([self.select_all_button, self.select_none_button, self.count],
                         layout=widgets.Layout(align_items="center")),
            widgets.VBox([self.heading, self.rows],
                         layout=widgets.Layout(overflow="auto", max_height="24em")),
            self.more])
        self._refresh_count()

    def set_items(self, items: Sequence[tuple[Hashable, Any, list[Any]]]) -> None:
        """Show ``(key, object, display values)`` rows; keep the selection of keys still there."""
        with self._lock:
            self.items = {key: (obj, values) for key, obj, values in items}
            self.selected &= set(self.items)
            self._shown = list(self.items)[:self.max_rows]
            while len(self._pool) < len(self._shown):
                self._pool.append(self._new_row(len(self._pool)))
            self._syncing = True
            try:
                for index, key in enumerate(self._shown):
                    _box, checkbox, _html = self._pool[index]
                    checkbox.value = key in self.selected
                    self._draw(index)
            finally:
                self._syncing = False
            self.rows.children = tuple(box for box, _c, _h in self._pool[:len(self._shown)])
            hidden = len(self.items) - len(self._shown)
            self.more.value = render_line(Note(
                f"… and {hidden:,} more {self.noun}s not listed here (narrow the filters to see "
                "them; Select all includes them)")) if hidden else ""
        self._refresh_count()

    def _new_row(self, index: int) -> tuple[Any, Any, Any]:
        w = self.w
        checkbox = w.Checkbox(value=False, indent=False, layout=w.Layout(width="2em"))
        html = w.HTML(layout=w.Layout(flex="0 0 auto"))
        checkbox.observe(lambda change, i=index: self._toggled(i, change["new"]), names="value")
        box = w.HBox([checkbox, html], layout=_row_layout(w))
        return box, checkbox, html

    def _draw(self, index: int) -> None:
        key = self._shown[index]
        _obj, values = self.items[key]
        css = "sdcnb-panel-selected" if key in self.selected else ""
        self._pool[index][2].value = render_row(values, self.widths, css)

    def _toggled(self, index: int, value: bool) -> None:
        if self._syncing:
            return
        with self._lock:
            if index >= len(self._shown):
                return
            key = self._shown[index]
            (self.selected.add if value else self.selected.discard)(key)
            self._draw(index)
        self._refresh_count()

    def toggle(self, key: Hashable, value: bool = True) -> None:
        """Select (or unselect) one row by key, as clicking its checkbox does."""
        with self._lock:
            if key not in self.items:
                raise KeyError(f"no row {key!r} in this list")
            checkbox = self._pool[self._shown.index(key)][1] if key in self._shown else None
            if checkbox is None:
                (self.selected.add if value else self.selected.discard)(key)
        if checkbox is not None:
            checkbox.value = value  # its observer does the rest, as for a click
        else:
            self._refresh_count()

    def select_all(self) -> None:
        self._set_all(True)

    def select_none(self) -> None:
        self._set_all(False)

    def _set_all(self, value: bool) -> None:
        with self._lock:
            self.selected = set(self.items) if value else set()
            self._syncing = True
            try:
                for index, key in enumerate(self._shown):
                    self._pool[index][1].value = value
                    self._draw(index)
            finally:
                self._syncing = False
        self._refresh_count()

    @property
    def chosen(self) -> list[Any]:
        """The selected objects, in row order."""
        with self._lock:
            return [obj for key, (obj, _v) in self.items.items() if key in self.selected]

    def _refresh_count(self) -> None:
        with self._lock:
            total, chosen = len(self.items), len(self.selected)
        self.count.value = render_line(f"{chosen:,} of {plural(total, self.noun)} selected")
        self.on_change()

    def close(self) -> None:
        for box, checkbox, html in self._pool:
            for widget in (checkbox, html, box):
                widget.close()
