"""The shapes a view is laid out in: a card of facts, tables and collapsible sections.

Every object is displayed as one :class:`Card`; the HTML template
(``card.html.j2``) and :func:`card_text` both walk the same card, so the rich
and the plain-text repr cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


@dataclass
class Facts:
    """Label/value pairs (a definition list)."""

    items: list[tuple[str, Any]]
    kind = "facts"


@dataclass
class Table:
    """Rows of values under column headings; ``more`` rows were left out."""

    columns: list[Any]
    rows: list[list[Any]]
    more: int = 0
    more_hint: str = ""
    empty: str = "none"
    kv: bool = False  # a key/value table: the last column wraps
    frame: str | None = None  # the frame kind whose column dictionary gives header tooltips
    kind = "table"


@dataclass
class Section:
    """A collapsible part (``<details>``): a summary line and a body."""

    title: str
    count: int | None
    body: Any  # Facts, Table or a Note
    open: bool = False
    kind = "section"


@dataclass
class Card:
    """One displayed object: what it is, its name, header values, blocks and a footer."""

    what: str                 # "Machine", "Fleet", ... (our word)
    title: Any                # the object's name (cloud data)
    header: list[Any] = field(default_factory=list)    # badges and ids beside the title
    subtitle: list[Any] = field(default_factory=list)  # where / what kind
    blocks: list[Any] = field(default_factory=list)    # Facts, Table, Section, Note
    footer: list[Any] = field(default_factory=list)    # e.g. when the data was fetched


def capped(columns: list[Any], items: Sequence[Any], row: Callable[[Any], list[Any]], limit: int,
           hint: str = "", empty: str = "none", total: int | None = None,
           frame: str | None = None) -> Table:
    """A table of the first ``limit`` of ``total`` items (only those are formatted)."""
    shown = [row(item) for item in items[:limit]]
    return Table(columns, shown, max(0, (len(items) if total is None else total) - len(shown)),
                 hint, empty, frame=frame)


def card_text(card: Card, width: int = 22) -> str:
    """The plain-text form of a card (the text fallback beside the HTML)."""
    head = " ".join(str(v) for v in [card.what, card.title, *card.header] if v not in (None, ""))
    lines = [head]
    if card.subtitle:
        lines.append("  " + " · ".join(str(v) for v in card.subtitle))
    for block in card.blocks:
        lines.extend(_block_text(block, "  ", width))
    if card.footer:
        lines.append("  " + " · ".join(str(v) for v in card.footer))
    return "\n".join(lines)


def _block_text(block: Any, indent: str, width: int) -> list[str]:
    if isinstance(block, Facts):
        return [f"{indent}{str(label).ljust(width - 1)} {value}" for label, value in block.items]
    if isinstance(block, Section):
        count = f" ({block.count})" if block.count is not None else ""
        body = _block_text(block.body, indent + "  ", width - 2)
        return [f"{indent}{block.title}{count}:", *body]
    if isinstance(block, Table):
        if not block.rows:
            return [f"{indent}({block.empty})"]
        cells = [[str(c) for c in block.columns], *[[str(c) for c in row] for row in block.rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(block.columns))]
        lines = [indent + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
                 for row in cells]
        if block.more:
            lines.append(f"{indent}… and {block.more:,} more {block.more_hint}".rstrip())
        return lines
    return [f"{indent}{block}"]
