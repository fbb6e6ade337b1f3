"""The journal's cost per mutating request, against the request's own round trip.

    python benchmarks/bench_journal.py [--requests 300] [--rounds 5] [--dir PATH]
                                       [--latency 0.05]

One emulator datacenter, in its own process as a cloud would be (signatures
verified; ``smartdc-nb emulator``). Clients with
the same key send the same mutating request, ``Machine.add_tags`` (a signed
POST with a JSON body and a 200 answer): the baseline with the journal off,
then journalling to a file in ``--dir`` (default: a temporary directory; give
a directory on the disk the journal will really live on) with each sync mode:
``background`` (the default, configured as a user's is: no ``journal=``, the
file named by ``$SMARTDC_NB_JOURNAL``; each record written before the request,
fsync'd by a background thread soon after), ``full`` (each record fsync'd before the
request goes) and ``none`` (never fsync'd). The
baseline and one mode take turns request by request, so that drift in the
machine's load hits both alike (one mode at a time: a mode's fsyncs would slow
its neighbours in a shared pass). A last pass repeats baseline, ``background`` and ``full`` with ``--latency`` seconds
added to each answer by the emulator (its admin API), as a WAN round trip to a
real cloud.

Printed: the median milliseconds per request of each; each journal's extra
time per request as a ratio of the baseline round trip measured in the same
round (the median over the rounds; the goal is under 5%), with the lowest and
highest of its rounds (the figure is only as sure as they are close); and the
client thread's CPU time per request, whose difference is the journal's own
work without the waits for the disk and for the CPU on a loaded machine (the
wall-time figures need an idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

import smartdc_nb
from smartdc_nb.emulator.testing import make_keys
from smartdc_nb.journal_store import ENV, SYNC_ENV
from smartdc_nb.journaling import Journal


def one(machines, i: int) -> tuple[float, float]:
    """Wall and CPU (this thread) seconds of the ``i``-th add_tags request."""
    machine = machines[i % len(machines)]
    cpu, started = time.thread_time(), time.perf_counter()
    machine.add_tags(bench=str(i))
    return time.perf_counter() - started, time.thread_time() - cpu


def compare(contenders: dict, requests: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Per contender, the median wall seconds and mean CPU seconds per request.

    The contenders take turns request by request, so a change in the machine's load (other
    processes, the disk writing back) falls on all of them alike.
    """
    for machines in contenders.values():
        for i in range(10):  # warm up connections and the emulator
            one(machines, i)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    turn = list(contenders.items())
    for i in range(requests * rounds):
        for name, machines in turn if i % 2 else turn[::-1]:  # who goes first alternates too
            times[name].append(one(machines, i))
    return {name: (statistics.median(v[0] for v in values),
                   statistics.fmean(v[1] for v in values)) for name, values in times.items()}


def by_rounds(off, modes: dict, requests: int, rounds: int) -> dict[str, dict]:
    """Each mode against the baseline, a pass of each mode per round (the medians over the
    rounds; each round's extra seconds and ratio to its own baseline as ``extra`` and
    ``rounds``): the machine drifts over a run, and each mode gets the early and the late."""
    passes: dict[str, list[dict]] = {sync: [] for sync in modes}
    for _ in range(rounds):
        for sync, journal in modes.items():
            passes[sync].append(compare({"off": off, sync: journal}, requests, 1))
    return {sync: {"extra": [p[sync][0] - p["off"][0] for p in results],
                   "rounds": [(p[sync][0] - p["off"][0]) / p["off"][0] for p in results],
                   **{name: (statistics.median(p[name][0] for p in results),
                             statistics.median(p[name][1] for p in results))
                      for name in ("off", sync)}} for sync, results in passes.items()}


def report(label: str, pairs: dict[str, dict]) -> None:
    """Each sync mode against the baseline measured in turns with it, with the spread of its
    rounds: a figure near a goal means little when its rounds straddle the goal."""
    print(f"{label}:")
    for name, results in pairs.items():
        base, base_cpu = results["off"]
        seconds, cpu = results[name]
        # the extra time of each round against the baseline of the same round, their median:
        # a difference of two medians taken over different rounds can pair a fast round
        # with a slow one
        extra, spread = statistics.median(results["extra"]), results["rounds"]
        print(f"  journal {name:<10} {seconds * 1000:7.3f} ms per request against "
              f"{base * 1000:.3f} ms with it off: {extra * 1000:+.3f} ms = "
              f"{statistics.median(spread):+.1%} of the round trip (its {len(spread)} rounds: "
              f"{min(spread):+.1%} to {max(spread):+.1%}); client CPU "
              f"{(cpu - base_cpu) * 1e6:+.0f} us = "
              f"{(cpu - base_cpu) / base:+.1%}")


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

        # One mode at a time against the baseline: a mode that fsyncs slows the machine
        # for whatever runs next, and in a shared pass that would be its neighbours.
        off = machines(False)
        # The default mode as a user gets it: no journal= given, the place from the
        # environment (so the per-request lookup of where the journal is counts too).
        os.environ.pop(SYNC_ENV, None)
        os.environ[ENV] = str(where / "bench-background.jsonl")
        modes = {"background": machines(None)}
        modes.update({sync: machines(Journal(where / f"bench-{sync}.jsonl", sync=sync))
                      for sync in ("none", "full")})
        # "off again" (a second client, journal off) shows how far apart two equal clients
        # measure: the noise floor of the other figures. Full goes last: its fsyncs would
        # slow whatever pass came after it.
        local = by_rounds(off, {"off again": machines(False), "background": modes["background"],
                                "none": modes["none"]}, args.requests, args.rounds)
        local.update(by_rounds(off, {"full": modes["full"]}, args.requests, args.rounds))
        requests.post(f"{url}/__emulator/faults", json={
            "path": "/tags", "method": "POST", "latency": args.latency}, timeout=10
        ).raise_for_status()
        far = by_rounds(off, {sync: modes[sync] for sync in ("background", "full")},
                        max(20, args.requests // 10), args.rounds)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work / "keys", ignore_errors=True)  # the journal files stay, to look at
    print(f"journal files in {where}; {args.rounds} rounds of {args.requests} requests")
    report("local emulator", local)
    report(f"with {args.latency * 1000:.0f} ms of latency per answer", far)


if __name__ == "__main__":
    main()
