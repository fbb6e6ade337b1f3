"""``smartdc-nb snapshot``: save the fleet now as a history point (for cron).

    smartdc-nb snapshot --profile prod            # a new point under the history directory
    smartdc-nb snapshot --profile prod --dir /srv/fleet-history --no-snapshots

Prints one line saying what was saved and where; exits 1 (with the reason on
stderr) when the cloud cannot be read, so cron mails the failure, and 2 when the
configuration is what is wrong (no such profile, a key that cannot be loaded),
as the other commands do.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default=None,
                        help="triton profile to read (default: as connect() chooses; 'demo' "
                             "for the demo cloud)")
    parser.add_argument("--datacenters", default=None, metavar="A,B",
                        help="only these datacenters (default: every one the cloud lists)")
    parser.add_argument("--dir", dest="directory", default=None, metavar="DIR",
                        help="history directory (default: $SMARTDC_NB_HISTORY_DIR, else the "
                             "user data directory)")
    parser.add_argument("--output", default=None, metavar="PATH",
                        help="write the point to exactly this directory instead")
    parser.add_argument("--no-snapshots", action="store_true",
                        help="skip the machine snapshots (a request per machine)")


def run(args: argparse.Namespace) -> int:
    from ..datacenter import connect
    from ..errors import AuthError, ConfigError, InvalidInputError, SmartDCError
    from ..fleet import Fleet
    from .history import save

    try:
        dc = connect(args.profile)
        names = [n for n in (args.datacenters or "").split(",") if n] or None
        fleet = Fleet(names, dc=dc)
        point = save(fleet, args.output, directory=args.directory,
                     snapshots=not args.no_snapshots, progress=False)
    except SmartDCError as exc:
        print(f"smartdc-nb snapshot: {exc}", file=sys.stderr)
        # nothing was asked of the cloud: running it again will not help until it is fixed
        return 2 if isinstance(exc, (ConfigError, AuthError, InvalidInputError)) else 1
    snaps = "" if point.snapshots is None else f", {len(point.snapshots)} snapshots"
    # a partial point is saved (it holds what could be read) but cron must hear of the gap
    missing = point.unread()
    failed = f"; FAILED: {'; '.join(f'{k}: {v}' for k, v in missing.items())}" if missing else ""
    print(f"saved point {point.name}: {len(point.machines)} machines{snaps} in "
          f"{', '.join(point.datacenters)} to {point.path}{failed}")
    return 1 if missing else 0
