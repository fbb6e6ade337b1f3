"""``fleet.frames.snapshots()`` over two datacenters: side by side, or one after the other.

    python benchmarks/bench_snapshots.py [--machines 150] [--runs 3] [--concurrency 8]

The snapshots frame asks CloudAPI once per machine, and each datacenter's
login is paced by its own rate limiter (9 requests/s, burst 20: the client's
default). Against an emulator of two datacenters of ``--machines`` machines
each, with the default rate limiter on, three contenders take turns each round
(the limiters' buckets refill between them):

* **floor**: each datacenter's ``dc.frames.snapshots()`` in a thread of its own,
  both at once: the time of the slower datacenter, the best one pool can do;
* **one queue** (the old way): every machine's request in one pool of
  ``--concurrency`` threads, us-east-1's first, as ``fleet.frames.snapshots()``
  queued them before it kept a pool per datacenter;
* **fleet**: ``fleet.frames.snapshots()`` as it is now.

Printed: the median seconds of ``--runs`` runs and each one's ratio to the
floor (goal: fleet within 1.2x of it; one queue is near 2x, the sum over the
datacenters). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("SMARTDC_NB_JOURNAL", "off")
os.environ.setdefault("SMARTDC_NB_PROGRESS", "0")

import smartdc_nb  # noqa: E402 - after the environment it reads
from smartdc_nb import rules  # noqa: E402
from smartdc_nb.emulator.testing import make_emulator, make_keys  # noqa: E402
from smartdc_nb.parallel import gather  # noqa: E402
from smartdc_nb.ratelimit import DEFAULT_BURST, DEFAULT_RATE  # noqa: E402

GOAL = 1.2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--machines", type=int, default=150, help="machines per datacenter")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    keys = make_keys(Path(tempfile.mkdtemp()))
    emu = make_emulator(keys, machines=args.machines).start()
    try:
        dc = smartdc_nb.connect(url=emu.url, account="demo",
                                key_path=str(keys["ed25519"].private))
        fleet = smartdc_nb.Fleet(dc)
        frame = fleet.frames.machines()
        machines = frame.triton.machines()

        def floor() -> None:
            threads = [threading.Thread(target=lambda n=name: fleet[n].frames.snapshots(
                frame[frame["datacenter"] == n], concurrency=args.concurrency))
                for name in fleet.names]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        def one_queue() -> None:
            tasks = {(m.datacenter.name, m.id): (lambda m=m: m.datacenter.request(
                "GET", "machines", m.id, "snapshots").data)
                for m in machines if rules.has_snapshots(m.raw)}
            gather(tasks, args.concurrency)

        def new() -> None:
            fleet.frames.snapshots(frame, concurrency=args.concurrency)

        contenders = {"floor": floor, "one queue": one_queue, "fleet": new}
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        asked = sum(rules.has_snapshots(m.raw) for m in machines)
        print(f"{len(fleet.names)} datacenters x {args.machines} machines, {asked} snapshot "
              f"listings a run, rate limit {DEFAULT_RATE:g}/s burst {DEFAULT_BURST} per "
              f"datacenter, concurrency {args.concurrency}, {args.runs} runs")
        for _ in range(args.runs):
            for name, run in contenders.items():
                time.sleep(DEFAULT_BURST / DEFAULT_RATE + 0.5)  # both buckets full again
                started = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - started)
    finally:
        emu.close()
    medians = {name: statistics.median(s) for name, s in samples.items()}
    print(f"{'contender':<12}{'median s':>10}{'/ floor':>9}")
    for name, seconds in medians.items():
        print(f"{name:<12}{seconds:>10.2f}{seconds / medians['floor']:>9.2f}")
    print(f"one queue / fleet: {medians['one queue'] / medians['fleet']:.2f}; goal: fleet / "
          f"floor <= {GOAL} ({'met' if medians['fleet'] / medians['floor'] <= GOAL else 'missed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
