"""``smartdc-nb journal``: recent runs of the journal, one run's machines, or ``--prune DAYS``
(smartdc_nb.journal_pruning); reading is smartdc_nb.journal_views'."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import InvalidInputError
from .journal_pruning import command as prune_command
from .journal_pruning import days_argument
from .journal_segments import segments
from .journaling import ENV, JournalError, default_path
from .journal_views import journal_path, journal_run, journal_runs


def _positive(text: str) -> int:
    """An argparse type: a whole number of 1 or more (0 or -1 would not mean "all")."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text}")
    return value


def run_id_argument(text: str) -> str:
    """An argparse type: a run id, as copied from the list's "run ID: ..." too (a terminal's
    double-click takes the colon with it)."""
    return text.strip().rstrip(":")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", nargs="?", type=run_id_argument,
                        help="show this run's machines instead of the list")
    parser.add_argument("-n", "--limit", type=_positive, default=20,
                        help="how many runs (default 20)")
    parser.add_argument("--path", help=f"the journal file (default ${ENV} or the state directory)")
    parser.add_argument("--prune", type=days_argument, metavar="DAYS", help="remove the segments "
                        "(rotated files) older than DAYS days that hold no run still to end")
    parser.add_argument("--dry-run", action="store_true",
                        help="with --prune: say what it would remove, and remove nothing")


def run(args: argparse.Namespace) -> int:
    try:
        path = journal_path(args.path, "--path FILE")
        if args.prune is not None or args.dry_run:
            return prune_command(args, path)
        if args.run_id:
            found = journal_run(args.run_id, path=path)
            print(found.summary())
            print(found.frame.drop(columns=["request_id"]).to_string(index=False, na_rep=""))
        elif args.path and not path.exists() and not segments(path):
            return _no_journal(path)
        else:
            runs = journal_runs(args.limit, path=path)
            print(f"journal {path}: {len(runs)} most recent run(s)")
            print(repr(runs))
    except (JournalError, InvalidInputError) as exc:
        print(f"smartdc-nb journal: {exc}", file=sys.stderr)
        return 2
    return 0


def _no_journal(path: Path) -> int:
    """--path names no journal (a typo): said, not listed as a journal with no runs."""
    default = default_path()
    print(f"smartdc-nb journal: there is no journal at {path} (no file, no segment); give "
          "the --path of a journal file" + (f", or leave --path out for the default ({default})"
                                            if default is not None else ""), file=sys.stderr)
    return 2


__all__ = ["add_arguments", "run"]
