"""The journal's cost per mutating request, against the request's own round trip.

    python benchmarks/bench_journal.py [--requests 300] [--rounds 5] [--dir PATH]
                                       [--latency 0.05]

One emulator datacenter, in its own process as a cloud would be (signatures
verified; ``smartdc-nb emulator``). Clients with
the same key send the same mutating request, ``Machine.add_tags`` (a signed
POST with a JSON body and a 200 answer): the baseline with the journal off,
then journalling to a file in ``--dir`` (default: a temporary directory; give
a directory on the disk the journal will really live on, since the cost is
mostly the fsyncs) with each sync mode: ``full`` (the default: every record
fsync'd) and ``normal`` (no fsync; survives kill -9, not a power loss). The
rounds alternate the contenders so that drift in the machine's load hits all
alike. A last pass repeats baseline and ``full`` with ``--latency`` seconds
added to each answer by the emulator (its admin API), as a WAN round trip to a
real cloud.

Printed: the median milliseconds per request of each, and each journal's
extra time per request as a ratio of the baseline round trip measured in the
same run (the goal is under 5%); and the client thread's CPU time per request,
whose difference is the journal's own work without the waits for the disk and
for the CPU on a loaded machine (the wall-time figures need an idle machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

import smartdc_nb
from smartdc_nb.emulator.testing import make_keys
from smartdc_nb.journaling import Journal


def per_request(machines, count: int) -> tuple[float, float]:
    """Median wall seconds, and mean CPU seconds of this thread, of ``count`` add_tags
    requests spread over ``machines``."""
    times = []
    cpu = time.thread_time()
    for i in range(count):
        machine = machines[i % len(machines)]
        started = time.perf_counter()
        machine.add_tags(bench=str(i))
        times.append(time.perf_counter() - started)
    return statistics.median(times), (time.thread_time() - cpu) / count


def compare(contenders: dict, requests: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Per contender, the medians over rounds of (wall, CPU) seconds per request, alternating."""
    for machines in contenders.values():
        per_request(machines, 10)  # warm up connections and the emulator
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, machines in contenders.items():
            times[name].append(per_request(machines, requests))
    return {name: (statistics.median(v[0] for v in values),
                   statistics.median(v[1] for v in values)) for name, values in times.items()}


def report(label: str, results: dict[str, tuple[float, float]]) -> None:
    base, base_cpu = results["off"]
    print(f"{label}: round trip with the journal off {base * 1000:.3f} ms (median), "
          f"{base_cpu * 1e6:.0f} us of client CPU")
    for name, (seconds, cpu) in results.items():
        if name != "off":
            extra = seconds - base
            print(f"  journal {name:<7} {seconds * 1000:8.3f} ms per request: "
                  f"{extra * 1000:+.3f} ms = {extra / base:+.1%} of the round trip; "
                  f"client CPU {cpu * 1e6:.0f} us ({(cpu - base_cpu) * 1e6:+.0f} us = "
                  f"{(cpu - base_cpu) / base:+.1%} of the round trip)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each (alternating)")
    parser.add_argument("--dir", help="directory for the journal files (default: a temp dir)")
    parser.add_argument("--latency", type=float, default=0.05,
                        help="seconds added to each answer in the last pass (default 0.05)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smartdc_nb-bench-"))
    where = Path(args.dir) if args.dir else work
    keys = make_keys(work / "keys")
    key = keys["ed25519"]
    ready = work / "ready.json"
    server = subprocess.Popen([sys.executable, "-m", "smartdc_nb.emulator", "--key",
                               str(key.public), "--machines", "20", "--ready-file", str(ready)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() or not ready.read_text().strip():
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the emulator did not start")
            time.sleep(0.1)
        url = next(iter(json.loads(ready.read_text())["urls"].values()))

        def machines(journal):
            return smartdc_nb.connect(url=url, account="demo", key_id=key.md5,
                                      key_path=str(key.private), rate_limit=False,
                                      journal=journal).machines()

        contenders = {"off": machines(False)}
        for sync in ("full", "normal"):
            contenders[sync] = machines(Journal(where / f"bench-{sync}.sqlite", sync=sync))
        local = compare(contenders, args.requests, args.rounds)
        requests.post(f"{url}/__emulator/faults", json={
            "path": "/tags", "method": "POST", "latency": args.latency}, timeout=10
        ).raise_for_status()
        far = compare({"off": contenders["off"], "full": contenders["full"]},
                      max(20, args.requests // 10), args.rounds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"journal files in {where}; {args.rounds} rounds of {args.requests} requests")
    report("local emulator", local)
    report(f"with {args.latency * 1000:.0f} ms of latency per answer", far)


if __name__ == "__main__":
    main()
