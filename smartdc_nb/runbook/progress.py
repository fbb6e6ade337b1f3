"""Progress of a headless run as its cells run: ``[3/12 +0:04] df = fleet.frames.machines()``.

papermill reports cells to a NotebookExecutionManager; this engine (papermill's
nbclient engine, registered under another name) tells a callback when each
code cell starts, so that ``smartdc-nb run`` can print a line a cell instead of
nothing until the end.
"""

from __future__ import annotations

import time
from typing import Any, Callable, TextIO

from papermill.engines import NBClientEngine, papermill_engines

from .report import first_line

ENGINE = "smartdc_nb-progress"


class ProgressEngine(NBClientEngine):
    """papermill's nbclient engine, calling ``on_cell(position, total, cell)`` as each code cell starts."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        on_cell: Callable[[int, int, Any], None] | None = kwargs.pop("on_cell", None)
        if on_cell is not None:
            code = [c for c in nb_man.nb.cells if c.cell_type == "code"]
            start = nb_man.cell_start

            def cell_start(cell: Any, cell_index: int | None = None, **more: Any) -> Any:
                if cell.cell_type == "code":
                    on_cell(code.index(cell) + 1 if cell in code else 0, len(code), cell)
                return start(cell, cell_index, **more)

            nb_man.cell_start = cell_start
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


papermill_engines.register(ENGINE, ProgressEngine)


class CellPrinter:
    """Prints one line per code cell to ``stream``: position, time since the run began, first line."""

    def __init__(self, stream: TextIO, width: int = 100):
        self.stream = stream
        self.width = width
        self.started = time.monotonic()

    def __call__(self, position: int, total: int, cell: Any) -> None:
        elapsed = int(time.monotonic() - self.started)
        text = first_line(cell.source) or "(empty cell)"
        head = f"[{position}/{total} +{elapsed // 60}:{elapsed % 60:02d}] "
        room = max(20, self.width - len(head))
        if len(text) > room:
            text = text[:room - 1] + "…"
        print(head + text, file=self.stream, flush=True)

    def elapsed(self) -> float:
        """Seconds since the run began."""
        return time.monotonic() - self.started
