"""What a headless run reports: the summary, the failing cell and line, and an offline HTML report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .parameters import cell_tags

SUMMARY_TAG = "summary"
INJECTED_TAG = "injected-parameters"
ERROR_TAG = "papermill-error-cell-tag"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# IPython >= 8 names the frame of the running cell "Cell In[7], line 3"
_CELL_FRAME = re.compile(r"^Cell In\[\d*\], line (\d+)")


def output_text(cell: Any) -> str:
    """The text a code cell printed or returned (plain-text forms); errors and warnings left out."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("execute_result", "display_data"):
            text = output.get("data", {}).get("text/plain")
            if text:
                parts.append(text if text.endswith("\n") else text + "\n")
    return "".join(parts).rstrip()


def journal_changes(since: Any, limit: int = 10) -> str:
    """The journal's runs begun since ``since`` (a line each), for a run that stopped before
    its summary: what it sent to the cloud is there even when its notebook is not. '' if none."""
    try:
        from ..journal_views import journal_runs

        runs = journal_runs(None, since=since)
    except Exception:  # noqa: BLE001 - no readable journal: there is nothing to add
        return ""
    if not runs:
        return ""
    lines = [run.summary() for run in runs[:limit]]
    if len(runs) > limit:
        lines.append(f"… {len(runs) - limit} more (smartdc-nb journal -n {len(runs)})")
    return ("the journal has the requests sent since the run began (any process's): "
            "`smartdc-nb journal RUN_ID` shows a run's machines, `smartdc-nb resume RUN_ID` "
            "continues an interrupted one\n  " + "\n  ".join(lines))


def summary_text(nb: Any, tagged_only: bool = False) -> str:
    """The summary of an executed notebook: its ``summary``-tagged cells, else the last output."""
    cells = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in cells if SUMMARY_TAG in cell_tags(c)]
    if tagged or tagged_only:
        return "\n".join(filter(None, map(output_text, tagged)))
    for cell in reversed(cells):
        text = output_text(cell)
        if text:
            return text
    return ""


def failed_cell_position(nb: Any, index: int) -> int:
    """The 1-based position in the input notebook of the cell papermill reports as ``index``.

    papermill counts cells after injecting the parameters cell and before
    adding its error banner and anchor to the written notebook.
    """
    executed = [c for c in nb.cells if ERROR_TAG not in cell_tags(c)]
    inserted = sum(1 for c in executed[:index] if INJECTED_TAG in cell_tags(c))
    return index - inserted + 1


def raising_line(source: str, traceback: list[str]) -> tuple[int, str] | None:
    """(line number, text) of the cell's own line that raised, read from the kernel's traceback."""
    lines = source.splitlines()
    for entry in traceback or []:
        for text in _ANSI.sub("", entry).splitlines():
            match = _CELL_FRAME.match(text.strip())
            if match and 0 < int(match.group(1)) <= len(lines):
                number = int(match.group(1))
                return number, lines[number - 1].strip()
    return None


def cell_label(source: str) -> tuple[int, str]:
    """(line number, text) of what names a cell: its first line that is neither blank nor an
    import, so a heading comment when it has one; the first line of a cell that only imports;
    ``(0, "")`` for an empty cell. A runbook's first cell starts with imports, and "import
    socket" named it in the progress and in a failure."""
    lines = str(source).splitlines()
    open_parens = 0  # inside an import's parentheses: `from x import (\n a,\n b)`
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if open_parens or text.startswith(("import ", "from ")):
            open_parens = max(0, open_parens + text.count("(") - text.count(")"))
            continue
        if text:
            return number, text
    return next(((n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()), (0, ""))


def describe_failure(error: Any, nb: Any) -> str:
    """A papermill execution error in words: the cell (its position, its In [n] as papermill's
    banner in the executed notebook says it, and its label) and the line that raised."""
    position = failed_cell_position(nb, error.cell_index)
    label = cell_label(error.source)
    text = f"cell {position} (In [{error.exec_count}]) failed: {label[1]}"
    raised = raising_line(str(error.source), getattr(error, "traceback", []))
    if raised is not None and raised[0] != label[0]:
        text += f"\n  at line {raised[0]}: {raised[1]}"
    return text + f"\n  {error.ename}: {error.evalue}"


def describe_timeout(nb: Any, timeout: float) -> str:
    """A cell cut off by ``--timeout`` in words: the last cell that started, as a failure is
    named (nbclient's CellTimeoutError names no cell, only a preview of its source)."""
    cells = [c for c in nb.cells if ERROR_TAG not in cell_tags(c)]
    started = [i for i, c in enumerate(cells) if c.cell_type == "code" and c.get("execution_count")]
    if not started:
        return f"a cell did not finish within --timeout {timeout:g} s"
    cell = cells[started[-1]]
    return (f"cell {failed_cell_position(nb, started[-1])} (In [{cell.execution_count}]) did not "
            f"finish within --timeout {timeout:g} s: {cell_label(cell.source)[1]}")


def write_html(nb: Any, path: Path) -> None:
    """An HTML report of ``nb`` that reads the same offline, e.g. attached to a mail.

    Without the saved widget state, nbconvert renders each widget output from
    its static forms (a panel's card, a bar's text); the template leaves out
    every script nbconvert would load from a CDN.
    """
    import copy

    from nbconvert import HTMLExporter

    static = copy.deepcopy(nb)
    static.metadata.pop("widgets", None)
    exporter = HTMLExporter(template_file=str(Path(__file__).with_name("offline.html.j2")))
    body, _ = exporter.from_notebook_node(static)
    path.write_text(body, encoding="utf-8")
