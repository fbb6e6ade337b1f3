"""A table with a column of long notes, readable in a notebook and on a terminal alike.

A runbook's report has a note per machine, some a sentence or three (a refusal with the audit
entry that shows it). As HTML the table wraps them in their cells. As text (``smartdc-nb run``
on a terminal, an executed notebook read as text) pandas moved a table wider than the display
into blocks of columns, and the notes into a block of their own, right-aligned, far from their
machines. :func:`noted` shows the table without them, then each note under it, by row.
"""

from __future__ import annotations

import textwrap
from typing import Any


class Noted:
    """``frame`` shown with its ``column`` of notes under the table in text (see the module)."""

    def __init__(self, frame: Any, column: str = "note"):
        self.frame = frame
        self.column = column

    def _repr_html_(self) -> str:
        return self.frame._repr_html_()

    def __repr__(self) -> str:
        import pandas as pd

        frame = self.frame
        if self.column not in frame.columns:
            return repr(frame)
        notes = frame[self.column].fillna("").astype(str)
        width = pd.get_option("display.width") or 80
        with pd.option_context("display.expand_frame_repr", False):
            table = repr(frame.drop(columns=self.column))
        said = [textwrap.fill(f"{label}: {note}", width=width, subsequent_indent="    ")
                for label, note in notes.items() if note.strip()]
        return table + (f"\n\n{self.column}s:\n" + "\n".join(said) if said else "")


def noted(frame: Any, column: str = "note") -> Noted:
    """``frame`` to display with its notes (``column``) under the table when shown as text."""
    return Noted(frame, column)


__all__ = ["Noted", "noted"]
