"""Waiting for 300 machines to stop: the changefeed vs list polling.

    python benchmarks/bench_feed_waits.py [--machines 300] [--datacenters 2] [--stop-seconds 6]

The emulator holds ``--machines`` running machines spread over
``--datacenters`` datacenters; a stop takes ``--stop-seconds``. Each contender
stops all of them (requests not counted), then waits until every one is
stopped with ``MachineList.wait_for("stopped")`` at the default interval
(2 s backing off to 10 s), through the same signed, keep-alive transport:

- **list polling**: ``connect(changefeed=False)``: one ListMachines listing
  per datacenter per poll;
- **changefeed**: ``connect()`` (the default): one WebSocket per datacenter,
  one reconciling listing per datacenter, then the pushed changes.

Figures, from the emulator's request log during the wait only: listings,
other requests, WebSocket upgrades, wall time until the last machine was seen
stopped; ratios polling / feed. Goal: at most one listing per datacenter with
the feed. Machines are set back to running between contenders.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import smartdc_nb
from smartdc_nb.emulator import Emulator
from smartdc_nb.emulator.testing import make_keys
from smartdc_nb.machine import Machine
from smartdc_nb.machinelist import MachineList


def measure(emu, handles, ids, datacenters) -> dict:
    for name, machine_ids in ids.items():
        for machine_id in machine_ids:
            handles[name].set_state(machine_id, "running")
    machines = MachineList(Machine(datacenters[name], data={"id": i, "state": "running"})
                           for name, machine_ids in ids.items() for i in machine_ids)
    for machine in machines:
        machine.stop()
    emu.clear_requests()
    started = time.perf_counter()
    result = machines.wait_for("stopped", timeout=600, progress=False)
    seconds = time.perf_counter() - started
    log = emu.requests
    listings = [r for r in log if r["path"].endswith("/machines")]
    upgrades = [r for r in log if r["path"].endswith("/changefeed")]
    return {"listings": len(listings), "upgrades": len(upgrades),
            "other": len(log) - len(listings) - len(upgrades), "total": len(log),
            "seconds": seconds, "not_stopped": len(result) - result.counts["reached"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--machines", type=int, default=300)
    parser.add_argument("--datacenters", type=int, default=2)
    parser.add_argument("--stop-seconds", type=float, default=6.0)
    args = parser.parse_args()
    names = [f"bench-{i + 1}" for i in range(args.datacenters)]
    keys = make_keys(Path(tempfile.mkdtemp(prefix="bench_feed_")))
    key = keys["rsa"]
    emu = Emulator(datacenters=names, accounts={"demo": [key.public_line]}, machines=0,
                   durations={"stop": args.stop_seconds}).start()
    try:
        handles = {name: emu.datacenter(name) for name in names}
        ids = {name: [handles[name].put_machine(name=f"{name}-{i:04d}")
                      for i in range(i0, args.machines, len(names))]
               for i0, name in enumerate(names)}
        print(f"{args.machines} running machines in {len(names)} datacenters; stop takes "
              f"{args.stop_seconds:g} s; waits at the default interval")

        def connect(feed: bool) -> dict:
            return {name: smartdc_nb.connect(url=emu.urls[name], account="demo", key_id=key.md5,
                                             key_path=str(key.private), rate_limit=False,
                                             name=name, changefeed=feed) for name in names}

        rows = {"list polling": measure(emu, handles, ids, connect(False)),
                "changefeed": measure(emu, handles, ids, connect(True))}
        print(f"\n  {'':14} {'listings':>9} {'upgrades':>9} {'other':>6} {'total':>6} "
              f"{'wall s':>7} {'not stopped':>12}")
        for title, row in rows.items():
            print(f"  {title:14} {row['listings']:>9} {row['upgrades']:>9} {row['other']:>6} "
                  f"{row['total']:>6} {row['seconds']:>7.1f} {row['not_stopped']:>12}")
        poll, feed = rows["list polling"], rows["changefeed"]
        print(f"\n  polling / feed: listings x{poll['listings'] / max(feed['listings'], 1):.1f}, "
              f"requests x{poll['total'] / max(feed['total'], 1):.1f}, "
              f"wall time x{poll['seconds'] / max(feed['seconds'], 1e-9):.2f}")
        per_dc = feed["listings"] / len(names)
        print(f"  feed listings per datacenter: {per_dc:g} (goal: at most 1) -> "
              f"{'met' if per_dc <= 1 else 'NOT met'}")
    finally:
        emu.close()


if __name__ == "__main__":
    main()
