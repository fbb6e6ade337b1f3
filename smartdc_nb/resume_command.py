"""``smartdc-nb resume RUN_ID``: continue an interrupted bulk run from a terminal.

A run that ended with nothing left to send is said so first, with the counts its summary
gave, and nothing is sent or journalled. A terminal cannot give a health check (code): a run
that had one is resumed here only with ``--without-health-check``, and that is asked for only
when there is something to send (smartdc_nb.resuming.nothing_to_send).
"""

from __future__ import annotations

import argparse
import signal
import sys

from .errors import SmartDCError
from .operations.outcomes import BulkInterrupted, BulkResult
from .journal_command import run_id_argument
from .journal_place import TERMINAL_ELSEWHERE, JournalError
from .journal_views import journal_path, journal_run
from .plan_ids import identity_name
from .plan_runs import ended_counts
from .terminating import sigterm_stops
from .resuming import ReconnectError, nothing_to_send, resume


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", type=run_id_argument,
                        help="the run to continue (smartdc-nb journal lists them)")
    parser.add_argument("--path", help="the journal file (default $SMARTDC_NB_JOURNAL or the "
                                       "state directory)")
    parser.add_argument("--without-health-check", action="store_true",
                        help="resume a run that had a health check without one")
    parser.add_argument("--profile", metavar="NAME",
                        help="reconnect through this profile (default: the run's own, then its URL)")
    parser.add_argument("--url", help="reconnect to CloudAPI at this URL (with the run's account "
                                      "and key, or --profile's)")


def run(args: argparse.Namespace) -> int:
    terminated: list[int] = []
    try:
        path = journal_path(args.path, "--path FILE")
        run_record = journal_run(args.run_id, path=path)
        settled = run_record.detail.get("kind") == "bulk" and nothing_to_send(run_record)
        if settled and run_record.status == "ended":
            waited = " and its batch checked" if run_record.checked() else ""
            print(f"run {args.run_id} ended ({ended_counts(run_record)}): nothing needs "
                  f"sending; every machine's request was accepted{waited}")
            return 0
        had = run_record.detail.get("health_check")
        if had and not args.without_health_check and not settled:
            which = identity_name(had) if isinstance(had, (str, dict)) else "a health check"
            print(f"smartdc-nb resume: run {args.run_id} checked each batch with {which}, "
                  "which a terminal cannot give. Resume it from Python with "
                  f"smartdc_nb.resume({args.run_id!r}, health_check=...), or here with "
                  "--without-health-check (the rest then goes on without a check)",
                  file=sys.stderr)
            return 2
        # a settled run checks nothing: its resume only journals the end it did not write
        check = (lambda machine: True) if had else None
        with sigterm_stops() as terminated:
            result = resume(args.run_id, path=path, health_check=check,
                            check_changed=check is not None, progress=False,
                            profile=args.profile, url=args.url)
    except KeyboardInterrupt as exc:  # before SmartDCError: a BulkInterrupted is both
        again = f"smartdc-nb resume {args.run_id}" + (f" --path {args.path}" if args.path else "")
        if isinstance(exc, BulkInterrupted):
            _print_table(args.run_id, exc.result)
        how, code = ("terminated (SIGTERM)", 128 + signal.SIGTERM) \
            if terminated else ("interrupted", 130)
        print(f"smartdc-nb resume: {how}; what the cloud accepted is in the journal, "
              f"and `{again}` goes on from there", file=sys.stderr)
        return code
    except ReconnectError as exc:
        print(f"smartdc-nb resume: {exc.saying('--profile NAME or --url URL')}", file=sys.stderr)
        return 2
    except JournalError as exc:  # a resume needs its journal: it cannot be turned off here
        print(f"smartdc-nb resume: {exc.saying(TERMINAL_ELSEWHERE)}", file=sys.stderr)
        return 2
    except SmartDCError as exc:
        print(f"smartdc-nb resume: {exc}", file=sys.stderr)
        return 2
    _print_table(args.run_id, result)
    return 0 if result.ok else 1


def _print_table(run_id: str, result: BulkResult) -> None:
    print(f"run {run_id}: {result.summary()}")
    frame = result.frame[["datacenter", "name", "id", "outcome", "reason", "error"]]
    # na_rep leaves pandas' string columns' <NA> as it is: blank them first
    print(frame.astype(object).where(frame.notna(), "").to_string(index=False))
