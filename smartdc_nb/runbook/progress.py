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

from ..progress import NOTICE_PREFIX
from .report import cell_label

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
    """Prints one line per code cell to ``stream``: position, time since the run began, first
    line; and, as papermill's ``stderr_file``, the toolkit's notices from the running cell."""

    def __init__(self, stream: TextIO, width: int = 100):
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.cell = "[0/0"  # the running cell's position, as its line showed it
        self._partial = ""  # a line of the kernel's stderr not yet ended

    def _head(self) -> str:
        elapsed = int(time.monotonic() - self.started)
        return f"{self.cell} +{elapsed // 60}:{elapsed % 60:02d}] "

    def __call__(self, position: int, total: int, cell: Any) -> None:
        self.cell = f"[{position}/{total}"
        text = cell_label(cell.source)[1] or "(empty cell)"
        head = self._head()
        room = max(20, self.width - len(head))
        if len(text) > room:
            text = text[:room - 1] + "…"
        print(head + text, file=self.stream, flush=True)

    def write(self, text: str) -> int:
        """The kernel's stderr as it comes: a notice (a wait that hears nothing from the
        cloud, smartdc_nb.operations.silence) is shown at once, in full, under its cell's
        line; everything else stays in the executed notebook, as before."""
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            if line.startswith(NOTICE_PREFIX):
                print(self._head() + line[len(NOTICE_PREFIX):], file=self.stream, flush=True)
        return len(text)

    def flush(self) -> None:
        """Lines are shown as they end (papermill flushes after each output)."""

    def elapsed(self) -> float:
        """Seconds since the run began."""
        return time.monotonic() - self.started
