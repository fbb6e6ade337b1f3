"""The ``smartdc-nb`` command: ``demo``, ``emulator``, ``run`` and ``notebooks``.

Each subcommand lives in the module that owns it and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this module only wires them
up, importing a subcommand's module when it is used.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from typing import Any

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "demo": ("smartdc_nb.demo", "start the embedded demo cloud and JupyterLab on the notebooks"),
    "emulator": ("smartdc_nb.emulator.cli", "run the local CloudAPI emulator"),
    "journal": ("smartdc_nb.journal_command", "list recent runs of the journal, or one run's machines"),
    "resume": ("smartdc_nb.resume_command", "continue an interrupted bulk run from the journal"),
    "snapshot": ("smartdc_nb.frames.snapshot_cli",
                 "save the fleet now as a history point (Parquet), e.g. from cron"),
    "run": ("smartdc_nb.runbook.command", "execute a runbook headless with parameters (papermill)"),
    "notebooks": ("smartdc_nb.runbook.library", "copy the packaged runbooks into a folder"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command's parser. A subcommand's options come from its module, which is imported to
    add them; with ``only``, that subcommand's module alone (the others import the emulator,
    pandas, ...: half a second of start-up for a command that would not use them)."""
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="smartdc-nb", description="Triton CloudAPI fleets from notebooks.")
    parser.add_argument("--version", action="version", version=f"smartdc-nb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if only is not None and name != only:
            continue
        try:
            importlib.import_module(module).add_arguments(p)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            p.set_defaults(_missing=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # the subcommand is the first word that is not an option (the command's own options,
    # --help and --version, take no value)
    chosen = next((word for word in argv if not word.startswith("-")), "")
    try:
        return _main(argv, chosen)
    except KeyboardInterrupt:
        # a command that has more to say on Ctrl-C (run, resume) says it itself; any other
        # (or one still starting up) stops with this, not with a traceback into its imports
        name = f"smartdc-nb {chosen}" if chosen in SUBCOMMANDS else "smartdc-nb"
        print(f"{name}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130


def _main(argv: list[str], chosen: str) -> int:
    args = build_parser(only=chosen).parse_args(argv)
    if getattr(args, "_missing", None):
        print(f"smartdc-nb {args.command}: not available yet in this version", file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.showwarning = _say_warning
        try:
            code = int(importlib.import_module(args._module).run(args) or 0)
            sys.stdout.flush()  # here, not at exit, where a closed pipe cannot be caught
        except BrokenPipeError:
            # the reader went away (`| head`): the lines it did not want are no failure to
            # trace back; what is left to print goes nowhere (Python's own recipe)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        return code


def _say_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    """A warning on the terminal as the command's own words: the toolkit's warnings say what
    and where already, and Python's file:line prefix points into the toolkit, not at the user."""
    print(f"smartdc-nb: warning: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
