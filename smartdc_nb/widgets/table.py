"""A selectable list of rows for the fleet and snapshot panels: a checkbox per row, select
all or none, a count line, and one box that scrolls (see :class:`SelectableTable`)."""

from __future__ import annotations

import threading
from typing import Any, Callable, Hashable, Sequence

from ..display.values import Note
from .html import render_line, render_row
from .pieces import plural


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
