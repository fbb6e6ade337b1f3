"""Stopping and waiting on many machines: smartdc_nb's bulk + list polling vs per-machine polling.

    python benchmarks/bench_waiters.py [--machines 1000] [--stop-seconds 4] [--quick]
                                       [--skip-throttled] [--unlimited-client]

One emulator datacenter holds ``--machines`` running machines (stop takes
``--stop-seconds``). Each contender stops all of them and waits until every
one is stopped, through the same smartdc_nb transport (signed, keep-alive):

- **smartdc_nb**: ``MachineList.stop(confirm=True, wait=True)`` — requests
  from 8 threads, then one ListMachines listing (``tombstone=true``, paged)
  per poll for the whole datacenter, interval from 2 s backing off to 10 s;
- **per-machine baseline**, like ``triton instance stop -w`` (node-triton
  stops every instance in parallel and polls GetMachine for each one every
  1 s, the first poll right after the action): 128 worker threads, each
  stopping one machine and polling it every second until it is stopped.

Figures, from the emulator's request counters: requests (and 429 answers) and
wall time, with ratios baseline / smartdc_nb, in two settings measured in the
same run: no throttle and no client limiter (the request count is the cost),
then the emulator's throttle at CloudAPI's defaults (burst 30, 10 r/s per
login) with smartdc_nb's shared client-side limiter on (as a notebook runs).
``--unlimited-client`` adds the throttled run without the client limiter (the
baseline then drowns in 429s). Machines are set back to running between runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import smartdc_nb
from smartdc_nb.emulator import Emulator
from smartdc_nb.emulator.testing import make_keys
from smartdc_nb.machine import Machine
from smartdc_nb.machinelist import MachineList

#: node-triton stops and polls every instance at once; threads stand in for its event loop
BASELINE_WORKERS = 128
BASELINE_INTERVAL = 1.0  # node-triton's waitForMachineStates


def per_machine_baseline(dc, ids: list[str]) -> int:
    """POST stop, then GetMachine every second until stopped, for each machine; returns failures."""
    failures = 0

    def one(machine_id: str) -> bool:
        try:
            dc.request("POST", "machines", machine_id, params={"action": "stop"})
            while dc.request("GET", "machines", machine_id).data["state"] != "stopped":
                time.sleep(BASELINE_INTERVAL)
            return True
        except smartdc_nb.SmartDCError:
            return False

    with ThreadPoolExecutor(BASELINE_WORKERS) as pool:
        for ok in pool.map(one, ids):
            failures += not ok
    return failures


def smartdc_nb_bulk(dc, ids: list[str]) -> int:
    """The toolkit's way: one bulk stop with wait; returns machines not stopped."""
    machines = MachineList(Machine(dc, data={"id": i, "state": "running"}) for i in ids)
    result = machines.stop(confirm=True, wait=True, refresh=False, progress=False,
                           timeout=3600)
    return len(result) - result.counts["done"]


def measure(emu, handle, ids, contender, dc) -> dict:
    for machine_id in ids:
        handle.set_state(machine_id, "running")
    emu.clear_requests()
    started = time.perf_counter()
    failures = contender(dc, ids)
    seconds = time.perf_counter() - started
    counters = emu.counters()
    return {"requests": counters["total"], "throttled": counters["by_status"].get("429", 0),
            "seconds": seconds, "failures": failures}


def report(title: str, ours: dict, base: dict) -> None:
    print(f"\n{title}")
    print(f"  {'':34} {'requests':>9} {'429s':>6} {'wall s':>8} {'not stopped':>12}")
    for name, row in (("smartdc_nb (bulk + list polling)", ours),
                      ("per-machine polling (CLI-like)", base)):
        print(f"  {name:34} {row['requests']:>9,} {row['throttled']:>6,} {row['seconds']:>8.1f} "
              f"{row['failures']:>12}")
    print(f"  baseline / smartdc_nb: requests x{base['requests'] / max(ours['requests'], 1):.2f}, "
          f"wall time x{base['seconds'] / max(ours['seconds'], 1e-9):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--stop-seconds", type=float, default=4.0)
    parser.add_argument("--quick", action="store_true", help="200 machines, stop in 2 s")
    parser.add_argument("--skip-throttled", action="store_true",
                        help="only the run without throttling")
    parser.add_argument("--unlimited-client", action="store_true",
                        help="also the throttled run without the client-side limiter")
    args = parser.parse_args()
    if args.quick:
        args.machines, args.stop_seconds = 200, 2.0

    keys = make_keys(Path(tempfile.mkdtemp(prefix="bench_waiters_")))
    key = keys["rsa"]
    emu = Emulator(datacenters=("bench-1",), accounts={"demo": [key.public_line]}, machines=0,
                   durations={"stop": args.stop_seconds}).start()
    try:
        handle = emu.datacenter("bench-1")
        ids = [handle.put_machine(name=f"bench-{i:05d}") for i in range(args.machines)]
        print(f"{args.machines} running machines in one datacenter; stop takes "
              f"{args.stop_seconds:g} s; baseline: {BASELINE_WORKERS} workers polling every "
              f"{BASELINE_INTERVAL:g} s")

        def connect(rate_limit):
            return smartdc_nb.connect(url=emu.url, account="demo", key_id=key.md5,
                                      key_path=str(key.private), rate_limit=rate_limit,
                                      name="bench-1")

        settings = [("no throttle, no client limiter", None, False)]
        if not args.skip_throttled:
            settings.append(("throttle at CloudAPI's defaults (burst 30, 10 r/s), client "
                             "limiter on (9 r/s, burst 20)", True, True))
            if args.unlimited_client:
                settings.append(("throttle at CloudAPI's defaults, client limiter off",
                                 True, False))
        for title, throttle, rate_limit in settings:
            emu.set_throttle(throttle)
            dc = connect(rate_limit)
            ours = measure(emu, handle, ids, smartdc_nb_bulk, dc)
            time.sleep(3.5)  # let the throttle's bucket refill between contenders
            base = measure(emu, handle, ids, per_machine_baseline, dc)
            report(title, ours, base)
            dc.close()
    finally:
        emu.close()


if __name__ == "__main__":
    main()
