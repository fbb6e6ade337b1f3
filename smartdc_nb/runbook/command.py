"""``smartdc-nb run``: execute a runbook notebook headless, with parameters (papermill).

    smartdc-nb run rolling-reboot -p dry_run False -p batch_size 3 \\
        -o reboot-$(date +%F).ipynb --html reboot-$(date +%F).html

NOTEBOOK is a path or the short name of a packaged runbook (``smartdc-nb
notebooks --list``). Parameters must be ones the notebook's ``parameters``
cell declares (a typo in ``-p dry_rum False`` must not run a runbook with its
defaults); a value is read as the type of the parameter's default (see
:mod:`smartdc_nb.runbook.parameters`), and one it cannot be, or a name given twice, is refused
before any cell runs. ``-r NAME VALUE`` passes the text as given.

While it runs, a line per code cell goes to stderr (``[3/12 +0:04] # reboot in batches``:
its first line that is not an import; ``-q`` turns it off). Progress bars are off in the kernel (``TQDM_DISABLE=1``,
``SMARTDC_NB_PROGRESS=0``). The summary printed on stdout at the end is the
text output of the cells tagged ``summary``, else of the last cell that
printed something. Exit status: 0 on success (a cell may end the run early
with ``sys.exit(0)``), 1 when a cell fails (the cell and the line that raised
are named, the executed notebook keeps the traceback), 2 for bad arguments,
130 on Ctrl-C and 143 on SIGTERM (``timeout``, systemd): both stop the kernel and
list what the journal holds since the run began, and how to resume it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, TextIO

from ..terminating import Terminated, sigterm_stops
from .parameters import ParameterError, declared_parameters, resolve_parameters
from .report import describe_failure, describe_timeout, journal_changes, summary_text, write_html


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", metavar="NOTEBOOK",
                        help="the .ipynb file to run, or a packaged runbook's name (e.g. fleet-overview)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), dest="parameters",
                        help="set a parameter; the value is read as the type of its default")
    parser.add_argument("-r", "--raw", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), dest="raw_parameters",
                        help="set a parameter to VALUE as a string, unparsed")
    parser.add_argument("-o", "--output", metavar="OUT.ipynb",
                        help="where to write the executed notebook (default: NOTEBOOK.out.ipynb "
                             "next to the input; for a packaged runbook, in this directory)")
    parser.add_argument("--html", metavar="OUT.html", help="also write an HTML report of the run")
    parser.add_argument("--kernel", help="the Jupyter kernel to use (default: the notebook's)")
    parser.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                        help="fail a cell that runs longer than this many whole seconds "
                             "(default: no limit)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no line per cell while it runs; only the summary and any failure")
    parser.add_argument("--list-parameters", action="store_true",
                        help="print the parameters the notebook takes, and exit")


def _seconds(text: str) -> int:
    """An argparse type: whole seconds, 1 or more. Papermill's client takes only an int, and
    reads 0 or -1 as no limit at all, which --timeout 0 must not quietly mean."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"give whole seconds, 1 or more (leave it out for no limit), not {text}")
    return value


def _missing_kernel(notebook: Path, asked: str | None) -> str | None:
    """Why the run's kernel cannot start, or None: papermill finds out only as it starts it,
    and its NoSuchKernel read as a run that stopped, the installed kernels unsaid."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager

    name = asked or nbformat.read(str(notebook), as_version=4).metadata.get(
        "kernelspec", {}).get("name")
    installed = sorted(KernelSpecManager().find_kernel_specs())
    if not name or name in installed:
        return None
    kernels = ", ".join(installed) or "none"
    if asked:
        return (f"--kernel {name}: no Jupyter kernel of that name is installed (kernels: "
                f"{kernels}); nothing was run")
    return (f"{notebook} asks for the Jupyter kernel {name!r}, which is not installed "
            f"(kernels: {kernels}); give --kernel NAME; nothing was run")


def _fail(message: str, code: int = 2) -> int:
    print(f"smartdc-nb run: {message}", file=sys.stderr)
    return code


@contextlib.contextmanager
def _captured_stderr() -> Iterator[tuple[list[str], TextIO]]:
    """Send file descriptor 2 (ours and the kernel's, which inherits it) to a temporary file.

    The kernel writes start-up and shut-down chatter there on every run; it is
    shown only when a run stops abnormally (e.g. the kernel died). Yields the
    captured text (filled in at the end) and a stream to the real stderr, for
    the progress lines.
    """
    text: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    real = os.fdopen(os.dup(saved), "w", encoding="utf-8", errors="replace", buffering=1)
    with real, tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield text, real
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            text.append(log.read())


def _unsaved(failure: BaseException | None, output: Path) -> bool:
    """Whether ``failure`` is the executed notebook that could not be saved (its folder gone,
    a full disk), not another file error (a kernel that would not start), nor a cell past
    --timeout (nbclient's CellTimeoutError is an OSError too). The folder papermill names
    counts unless it is "." (``-o out.ipynb``), which every message with a full stop holds."""
    from nbclient.exceptions import CellTimeoutError

    if not isinstance(failure, OSError) or isinstance(failure, CellTimeoutError):
        return False
    folder = str(output.parent)
    return (str(output) in str(failure) or (folder != "." and folder in str(failure)) or
            failure.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS))


def _locate(name: str) -> Path | str:
    """The notebook to run, or a message saying why there is none."""
    from .library import packaged, resolve

    path = resolve(name)
    if path is not None:
        return path
    if Path(name).expanduser().is_dir():
        return f"{name}: a directory, not a notebook file; give the .ipynb file to run"
    names = ", ".join(packaged()) or "none"
    return f"{name}: no such notebook file, nor a packaged runbook of that name (runbooks: {names})"


def _default_output(notebook: Path) -> Path:
    # a packaged runbook's output goes here, never into site-packages
    return _working_dir(notebook) / (notebook.stem + ".out.ipynb")


def _working_dir(notebook: Path) -> Path:
    """The kernel's working directory: the notebook's folder, or here for a packaged runbook."""
    from .library import PACKAGED

    folder = notebook.resolve().parent
    return Path.cwd() if folder == PACKAGED else folder


def _cannot_write(path: Path, what: str, option: str) -> str | None:
    """Why ``path`` cannot take the run's ``what``, or None. Asked before any cell runs: a
    runbook's cells change the cloud, and a place to report them that cannot be written must
    not be found out after (papermill said only "IsADirectoryError"; the HTML report failed
    with a traceback after the whole run, its summary unsaid)."""
    if path.is_dir():
        reason = "it is a directory"
    elif not path.parent.is_dir():
        reason = f"{path.parent} {'is not a directory' if path.parent.exists() else 'does not exist'}"
    elif not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        reason = "permission denied"
    else:
        return None
    return f"cannot write {what} to {path}: {reason}; give another {option}; nothing was run"


def _list_parameters(declared: dict[str, dict[str, Any]]) -> int:
    for name, info in declared.items():
        kind = info["type"].__name__ if info["type"] else "any"
        note = f"  # {info['help']}" if info["help"] else ""
        print(f"{name}: {kind} = {info['default']}{note}")
    return 0


def _skip_iri_checks() -> None:
    """Keep jsonschema, which papermill loads through nbformat, from importing rfc3987_syntax.

    When that package is installed (jupyter-events asks for it), jsonschema imports it for the
    ``iri`` formats, and it builds some 35 Earley parsers as it loads: about a second of CPU at
    the start of every run, for formats no notebook schema uses
    (python-jsonschema/jsonschema#1428). A None in sys.modules makes the import fail as
    jsonschema expects of a package that is not there; the command is a process of its own.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]


def run(args: argparse.Namespace) -> int:
    """Execute the notebook; 0 on success, 1 when a cell fails, 2 on bad arguments."""
    located = _locate(args.notebook)
    if isinstance(located, str):
        return _fail(located)
    notebook = located
    if notebook.suffix != ".ipynb":
        return _fail(f"{args.notebook} is not a notebook (.ipynb)")
    _skip_iri_checks()
    try:
        import nbformat
        import papermill
        from nbclient.exceptions import CellTimeoutError
        from papermill.exceptions import PapermillExecutionError

        from .progress import ENGINE, CellPrinter
    except ImportError as exc:
        return _fail(f"{exc.name} is not installed: pip install 'smartdc_nb[notebook]'")
    try:
        declared = declared_parameters(notebook)
    except Exception as exc:  # noqa: BLE001 - an unreadable notebook: say why, do not trace back
        return _fail(f"cannot read {notebook}: {exc}")
    if args.list_parameters:
        return _list_parameters(declared)
    try:
        parameters = resolve_parameters(declared, args.parameters, args.raw_parameters)
    except ParameterError as exc:
        return _fail(str(exc))
    problem = _missing_kernel(notebook, args.kernel)
    if problem:
        return _fail(problem)
    output = Path(args.output).expanduser() if args.output else _default_output(notebook)
    html = Path(args.html).expanduser() if args.html else None
    if output.resolve() == notebook.resolve():
        return _fail("the output would overwrite the input notebook; give another -o")
    # the report is written last, over whatever is there: the runbook itself, or the executed
    # notebook it was made from (which the end of the run then named as saved)
    if html is not None and html.resolve() in (notebook.resolve(), output.resolve()):
        mine = "the input notebook" if html.resolve() == notebook.resolve() else \
            f"the executed notebook ({output})"
        return _fail(f"the HTML report would overwrite {mine}; give another --html; "
                     "nothing was run")
    problem = _cannot_write(output, "the executed notebook", "-o") or (
        _cannot_write(html, "the HTML report", "--html") if html is not None else None)
    if problem:
        return _fail(problem)

    # The kernel inherits this environment: no progress bars in a headless run.
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["SMARTDC_NB_PROGRESS"] = "0"
    failure = None
    began = datetime.now(timezone.utc)
    with _captured_stderr() as (captured, stderr):
        printer = CellPrinter(stderr)
        if not args.quiet:
            print(f"running {notebook.name} ...", file=stderr, flush=True)
        try:
            with sigterm_stops():
                papermill.execute_notebook(
                    str(notebook), str(output), parameters=parameters,
                    kernel_name=args.kernel, engine_name=ENGINE,
                    on_cell=None if args.quiet else printer, progress_bar=False,
                    stderr_file=None if args.quiet else printer,
                    cwd=str(_working_dir(notebook)), execution_timeout=args.timeout)
        except Terminated as exc:
            failure = exc
        except KeyboardInterrupt:
            failure = KeyboardInterrupt("interrupted (Ctrl-C)")
        except Exception as exc:  # noqa: BLE001 - a cell failed, the kernel died, ...: report it
            failure = exc
    if isinstance(failure, KeyboardInterrupt):  # its summary cell never ran: say what changed
        changes = journal_changes(began)
        how, code = ("terminated (SIGTERM)", 128 + signal.SIGTERM) \
            if isinstance(failure, Terminated) else ("interrupted", 130)
        return _fail(f"{notebook}: {how}; the cells run so far are in {output}"
                     + (f"\n{changes}" if changes else ""), code)
    timed_out = isinstance(failure, CellTimeoutError)  # a failing cell, named as one below
    if _unsaved(failure, output):  # papermill saves the executed notebook after each cell
        return _fail(f"cannot save the executed notebook to {output} "
                     f"({failure.strerror or failure}), so the run of {notebook} stopped there: "
                     "the cells listed above ran, and made their changes. Free some space, or "
                     "give another -o", 1)
    if failure is not None and not isinstance(failure, PapermillExecutionError) and not timed_out:
        log = "".join(captured).strip()
        changes = journal_changes(began)
        return _fail(f"the run of {notebook} stopped: {type(failure).__name__}: {failure}"
                     + (f"\nthe kernel said:\n{log[-3000:]}" if log else "")
                     + (f"\n{changes}" if changes else ""), 1)

    nb = nbformat.read(str(output), as_version=4)
    unwritten = None  # the report, when it could not be written after all (a full disk)
    if html is not None:
        try:
            write_html(nb, html)
        except OSError as exc:
            unwritten = f"smartdc-nb run: cannot write the HTML report to {html}: " \
                        f"{exc.strerror or exc}"
            html = None
    seconds = f"{printer.elapsed():.0f} s"
    if failure is not None:
        summary = summary_text(nb, tagged_only=True)  # a runbook may report, then fail
        if summary:
            print(summary, flush=True)
        said = describe_timeout(nb, args.timeout) if timed_out else describe_failure(failure, nb)
        print(f"smartdc-nb run: {notebook}: {said}", file=sys.stderr)
        print(f"The executed notebook, with the traceback, is {output}"
              + (f" (HTML: {html})" if html else ""), file=sys.stderr)
        if unwritten:
            print(unwritten, file=sys.stderr)
        changes = "" if summary else journal_changes(began)  # no report of what it did
        if changes:
            print(f"smartdc-nb run: {changes}", file=sys.stderr)
        return 1
    summary = summary_text(nb)
    if summary:
        print(summary)
    print(f"smartdc-nb run: {notebook} ran to the end in {seconds}; executed notebook: {output}"
          + (f", HTML report: {html}" if html else ""), file=sys.stderr)
    if unwritten:
        print(unwritten, file=sys.stderr)
        return 1
    return 0
