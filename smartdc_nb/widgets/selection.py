"""The base of the panels over rows with checkboxes (fleet, snapshots): their listing, the
bulk engine's options, and the outcome table of their last action."""

from __future__ import annotations

from typing import Any

from ..display import card_for
from ..display.layout import Card
from ..errors import InvalidInputError
from .base import Panel
from .html import render_card
from .pieces import result_word, unsent
from .sources import datacenters_of
from .table import SelectableTable


class SelectionPanel(Panel):
    """A panel over rows with checkboxes whose actions run through the bulk engine.

    Shared by the fleet and snapshot panels: ``max_rows`` and ``concurrency``
    options, the outcome table of the last bulk action (``result``), and a
    static copy made of the listing's card, that table and the log.
    """

    def __init__(self, subject: Any, *, max_rows: int = 100, concurrency: int = 8,
                 **options: Any):
        for name, value in (("max_rows", max_rows), ("concurrency", concurrency)):
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise InvalidInputError(f"{name} must be a whole number >= 1, not {value!r}")
        self.max_rows, self.concurrency = max_rows, concurrency
        self.datacenters = datacenters_of(subject)
        self.list_errors: dict[str, BaseException] = {}
        self.result: Any = None
        super().__init__(subject, **options)
        if self.widget is not None:
            self.relist()

    def relist(self) -> None:
        """List again (on the worker thread): the panel's first job, and its List button's."""
        raise NotImplementedError

    def make_table(self, columns: list[Any], widths: list[str], noun: str) -> SelectableTable:
        """The panel's rows (``self.table``); its selection changes re-check the buttons."""
        self.table = SelectableTable(self.w, columns, widths, self.max_rows,
                                     on_change=self.update_controls, noun=noun)
        return self.table

    def listed(self) -> Any:
        """What the listing card shows (None before the first listing)."""
        return None

    def extra_widgets(self) -> list[Any]:
        return [w for row in self.table._pool for w in row]

    def static_cards(self) -> list[Card]:
        listed = self.listed()
        cards = [card_for(listed if listed is not None else self.subject)]
        if self.result is not None:
            cards.append(card_for(self.result))
        if self.widget is not None and self.log.entries:
            cards.append(self.log.card())
        return cards

    def bulk_options(self) -> dict[str, Any]:
        """run_bulk's options for a panel action: wait for the end, on the panel's one bar."""
        return {"confirm": True, "wait": True, "timeout": self.timeout,
                "interval": self.interval, "max_interval": self.max_interval,
                "concurrency": self.concurrency, "progress": self.progress.factory()}

    def show_result(self, result: Any, summary: str | None = None, noun: str = "machine") -> None:
        """Show a bulk result's outcome table and say its summary in the log, with the rows
        (each a ``noun``) sent nothing."""
        self.result = result
        self.outcome.value = render_card(card_for(result))
        self.log.add(result_word(result), (summary or result.summary()) + unsent(result, noun))


__all__ = ["SelectionPanel"]
