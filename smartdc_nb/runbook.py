"""``smartdc-nb run``: execute a runbook notebook headless, with parameters (papermill).

    smartdc-nb run notebooks/03-rolling-reboot.ipynb -p dry_run False -p batch_size 3 \\
        -o reboot-$(date +%F).ipynb --html reboot-$(date +%F).html

Parameters must be ones the notebook's ``parameters`` cell declares (a typo
in ``-p dry_rum False`` must not run a runbook with its defaults). A value is
read as the type of the parameter's default: ``True``/``False`` (also
``true``/``yes``/``1``...) for a boolean, a number for a number, the text as
given for a string; a parameter without a typed default reads values as
papermill's ``-p`` does (``True``, ``False``, ``None``, numbers, else text).
``-r NAME VALUE`` always passes the text as given.

Progress bars are off in the kernel (``TQDM_DISABLE=1``,
``SMARTDC_NB_PROGRESS=0``): the executed notebook and the summary carry what
happened. The summary printed at the end is the text output of the cells
tagged ``summary``, else of the last cell that printed something. Exit status:
0 on success (a cell may end the run early with ``sys.exit(0)``), 1 when a
cell fails (the cell is named, the executed notebook keeps the traceback), 2
for bad arguments.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import os
import sys
import tempfile
import tokenize
from pathlib import Path
from typing import Any, Iterator

PARAMETERS_TAG = "parameters"
SUMMARY_TAG = "summary"
INJECTED_TAG = "injected-parameters"
ERROR_TAG = "papermill-error-cell-tag"
KNOWN_TYPES = {t.__name__: t for t in (bool, int, float, str, list, dict)}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class ParameterError(ValueError):
    """A ``-p``/``-r`` parameter the notebook cannot take."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", metavar="NOTEBOOK", help="the .ipynb file to run")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), dest="parameters",
                        help="set a parameter; the value is read as the type of its default")
    parser.add_argument("-r", "--raw", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), dest="raw_parameters",
                        help="set a parameter to VALUE as a string, unparsed")
    parser.add_argument("-o", "--output", metavar="OUT.ipynb",
                        help="where to write the executed notebook (default: NOTEBOOK.out.ipynb "
                             "next to the input)")
    parser.add_argument("--html", metavar="OUT.html", help="also write an HTML report of the run")
    parser.add_argument("--kernel", help="the Jupyter kernel to use (default: the notebook's)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="fail a cell that runs longer than this (default: no limit)")
    parser.add_argument("--list-parameters", action="store_true",
                        help="print the parameters the notebook takes, and exit")


# ------------------------------------------------------------ parameters


def _tags(cell: Any) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """The notebook's parameters: ``{name: {"type": python type or None, "default": source, "help": ...}}``.

    Read from the first cell tagged ``parameters`` with :mod:`ast` rather than
    papermill.inspect_notebook, whose line pattern drops any assignment whose
    value contains ``=`` (``selector = "role=web"``). A parameter's type is its
    annotation, else the type of its literal default; its help is the comment
    ending its line.
    """
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    cell = next((c for c in nb.cells if c.cell_type == "code" and PARAMETERS_TAG in _tags(c)), None)
    if cell is None:
        return {}
    source = cell.source
    tree = ast.parse(source)
    comments = {token.start[0]: token.string.lstrip("#").strip()
                for token in tokenize.generate_tokens(io.StringIO(source).readline)
                if token.type == tokenize.COMMENT}
    declared = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value, annotation = node.targets[0], node.value, None
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value, annotation = node.target, node.value, node.annotation
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        kind = KNOWN_TYPES.get(annotation.id) if isinstance(annotation, ast.Name) else None
        if kind is None:
            try:
                kind = type(ast.literal_eval(value))
            except ValueError:
                kind = None
            kind = kind if kind in KNOWN_TYPES.values() else None
        declared[target.id] = {"type": kind, "default": ast.get_source_segment(source, value),
                               "help": comments.get(node.end_lineno, "")}
    return declared


def papermill_value(text: str) -> Any:
    """A value read as papermill's ``-p`` reads it (True, False, None, int, float, else str)."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_value(name: str, text: str, kind: type | None) -> Any:
    """``text`` as a value of ``kind`` (the parameter's declared type); ParameterError if it is not one."""
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ParameterError(f"parameter {name} is a boolean: give True or False, not {text!r}")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise ParameterError(
                f"parameter {name} is a number ({kind.__name__}): {text!r} is not one") from None
    if kind is str:
        return text
    if kind in (list, dict):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
        if not isinstance(value, kind):
            example = '["a", "b"]' if kind is list else '{"key": "value"}'
            raise ParameterError(f"parameter {name} is a {kind.__name__}: write it as Python, e.g. "
                                 f"'{example}', not {text!r}")
        return value
    return papermill_value(text)


def resolve_parameters(declared: dict[str, dict[str, Any]], typed: list[tuple[str, str]],
                       raw: list[tuple[str, str]]) -> dict[str, Any]:
    """The parameters to inject, checked against the declared ones."""
    given = [(name, text, False) for name, text in typed] + [(name, text, True) for name, text in raw]
    if given and not declared:
        raise ParameterError("the notebook has no cell tagged 'parameters', so it takes no parameters")
    values = {}
    for name, text, is_raw in given:
        if name not in declared:
            raise ParameterError(f"the notebook has no parameter {name!r}; it takes: "
                                 + ", ".join(declared))
        values[name] = text if is_raw else parse_value(name, text, declared[name]["type"])
    return values


# ------------------------------------------------------------ results


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


def summary_text(nb: Any, tagged_only: bool = False) -> str:
    """The summary of an executed notebook: its ``summary``-tagged cells, else the last output."""
    cells = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in cells if SUMMARY_TAG in _tags(c)]
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
    executed = [c for c in nb.cells if ERROR_TAG not in _tags(c)]
    inserted = sum(1 for c in executed[:index] if INJECTED_TAG in _tags(c))
    return index - inserted + 1


def write_html(nb: Any, path: Path) -> None:
    """An HTML report of ``nb`` that reads the same offline, e.g. attached to a mail.

    Without the saved widget state, nbconvert renders each widget output
    from its static forms (a panel's card, a bar's text) instead of loading
    the widget manager's JavaScript from a CDN.
    """
    import copy

    from nbconvert import HTMLExporter

    static = copy.deepcopy(nb)
    static.metadata.pop("widgets", None)
    body, _ = HTMLExporter().from_notebook_node(static)
    path.write_text(body, encoding="utf-8")


# ------------------------------------------------------------ the command


def _fail(message: str, code: int = 2) -> int:
    print(f"smartdc-nb run: {message}", file=sys.stderr)
    return code


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Send file descriptor 2 (ours and the kernel's, which inherits it) to a temporary file.

    The kernel writes start-up and shut-down chatter there on every run; it is
    shown only when a run stops abnormally (e.g. the kernel died).
    """
    text: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield text
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            text.append(log.read())


def _default_output(notebook: Path) -> Path:
    return notebook.with_name(notebook.stem + ".out.ipynb")


def _describe_failure(error: Any, nb: Any) -> str:
    first_line = next((line for line in str(error.source).splitlines() if line.strip()), "")
    position = failed_cell_position(nb, error.cell_index)
    return (f"cell {position} (In [{error.exec_count}]) failed: {first_line.strip()}\n"
            f"  {error.ename}: {error.evalue}")


def run(args: argparse.Namespace) -> int:
    """Execute the notebook; 0 on success, 1 when a cell fails, 2 on bad arguments."""
    notebook = Path(args.notebook).expanduser()
    if not notebook.is_file():
        return _fail(f"{args.notebook}: no such notebook file")
    if notebook.suffix != ".ipynb":
        return _fail(f"{args.notebook} is not a notebook (.ipynb)")
    try:
        import nbformat
        import papermill
        from papermill.exceptions import PapermillExecutionError
    except ImportError as exc:
        return _fail(f"{exc.name} is not installed: pip install 'smartdc_nb[notebook]'")
    try:
        declared = declared_parameters(notebook)
    except Exception as exc:  # noqa: BLE001 - an unreadable notebook: say why, do not trace back
        return _fail(f"cannot read {notebook}: {exc}")
    if args.list_parameters:
        for name, info in declared.items():
            kind = info["type"].__name__ if info["type"] else "any"
            note = f"  # {info['help']}" if info["help"] else ""
            print(f"{name}: {kind} = {info['default']}{note}")
        return 0
    try:
        parameters = resolve_parameters(declared, args.parameters, args.raw_parameters)
    except ParameterError as exc:
        return _fail(str(exc))
    output = Path(args.output).expanduser() if args.output else _default_output(notebook)
    html = Path(args.html).expanduser() if args.html else None
    if output.resolve() == notebook.resolve():
        return _fail("the output would overwrite the input notebook; give another -o")

    # The kernel inherits this environment: no progress bars in a headless run.
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["SMARTDC_NB_PROGRESS"] = "0"
    failure = None
    with _captured_stderr() as captured:
        try:
            papermill.execute_notebook(
                str(notebook), str(output), parameters=parameters, kernel_name=args.kernel,
                progress_bar=False, cwd=str(notebook.resolve().parent),
                execution_timeout=args.timeout)
        except KeyboardInterrupt:
            failure = KeyboardInterrupt("interrupted (Ctrl-C)")
        except Exception as exc:  # noqa: BLE001 - a cell failed, the kernel died, ...: report it
            failure = exc
    if isinstance(failure, KeyboardInterrupt):
        return _fail(f"{notebook}: interrupted; the cells run so far are in {output}", 130)
    if failure is not None and not isinstance(failure, PapermillExecutionError):
        log = "".join(captured).strip()
        return _fail(f"the run of {notebook} stopped: {type(failure).__name__}: {failure}"
                     + (f"\nthe kernel said:\n{log[-3000:]}" if log else ""), 1)

    nb = nbformat.read(str(output), as_version=4)
    if html is not None:
        write_html(nb, html)
    if failure is not None:
        summary = summary_text(nb, tagged_only=True)  # a runbook may report, then fail
        if summary:
            print(summary, flush=True)
        print(f"smartdc-nb run: {notebook}: {_describe_failure(failure, nb)}", file=sys.stderr)
        print(f"The executed notebook, with the traceback, is {output}"
              + (f" (HTML: {html})" if html else ""), file=sys.stderr)
        return 1
    summary = summary_text(nb)
    if summary:
        print(summary)
    print(f"smartdc-nb run: {notebook} ran to the end; executed notebook: {output}"
          + (f", HTML report: {html}" if html else ""), file=sys.stderr)
    return 0
