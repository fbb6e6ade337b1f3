"""How fast the fleet becomes a DataFrame, beside the official CLI and a raw baseline.

    python benchmarks/bench_frames.py [--machines 10000] [--runs 3] [--big 100000]

One run starts the emulator in its own process (so that it does not share the
client's interpreter lock; the official CLI runs in its own process too) with
``--machines`` machines split over two datacenters and measures, taking turns,
the median and best of ``--runs`` runs of:

1. **raw baseline**: the signed requests a machines frame needs (every
   ListMachines page, the packages and the images of both datacenters, the
   datacenters in parallel) through smartdc_nb's transport, JSON decoded and
   nothing else built;
2. **smartdc_nb**: ``fleet.frames.machines()``, the same requests plus the
   typed, joined DataFrame;
3. **official CLI**: ``triton instance list -j`` for each datacenter (the
   two processes run at once, each with an isolated HOME like the test
   suite's ``triton_cli`` fixture), skipped if the CLI is not installed;

then the ratios to the raw baseline. Then the client-side share: the time
from parsed JSON to DataFrame for the listed machines and for ``--big``
machines (the listing repeated with fresh ids), with peak memory of that step
measured by tracemalloc in a separate pass (tracemalloc slows the code it
watches). Nothing is asserted; everything is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import smartdc_nb
from smartdc_nb.emulator.testing import ACCOUNT_KEYS, TRITON, cli_home, make_keys, triton_available
from smartdc_nb.fleet import Fleet, gather
from smartdc_nb.frames import build

DATACENTERS = ("us-east-1", "us-west-1")


def median_s(fn, runs: int) -> tuple[float, object]:
    """Median wall time of ``fn()`` in seconds over ``runs`` calls, and the last result."""
    samples, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def interleaved(contenders: dict[str, object], runs: int
                ) -> tuple[dict[str, tuple[float, float]], dict]:
    """(median, best) seconds of each contender, run in turn each round (a shared machine's
    load drifts; taking turns spreads the drift over all of them); each one's last result."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    results: dict[str, object] = {}
    for _ in range(runs):
        for name, fn in contenders.items():
            results.pop(name, None)
            start = time.perf_counter()
            results[name] = fn()
            samples[name].append(time.perf_counter() - start)
    return {name: (statistics.median(s), min(s)) for name, s in samples.items()}, results


@contextmanager
def emulator_process(keys, per_dc: int, tmp: Path):
    """``python -m smartdc_nb.emulator`` serving the fleet; yields ``{datacenter: url}``."""
    ready = tmp / "ready.json"
    command = [sys.executable, "-m", "smartdc_nb.emulator", "--port", "0", "--account", "demo",
               "--machines", str(per_dc), "--datacenters", ",".join(DATACENTERS),
               "--ready-file", str(ready), "--parent-pid", str(os.getpid())]
    for name in ACCOUNT_KEYS:
        command += ["--key", str(keys[name].public)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start: {proc.stderr.read()[-500:]}")
            time.sleep(0.05)
        yield json.loads(ready.read_text())["urls"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def raw_fetch(fleet: Fleet) -> dict[str, dict[str, list]]:
    """The machines frame's requests with no model building (JSON decoded by the transport)."""
    tasks = {}
    for name, dc in fleet.datacenters.items():
        tasks[name, "machines"] = lambda d=dc: [m for page in d.transport.paginate(
            d.path("machines")) for m in page]
        tasks[name, "packages"] = lambda d=dc: d.transport.get(d.path("packages"))
        tasks[name, "images"] = lambda d=dc: d.transport.get(d.path("images"), state="all")
    results, errors = gather(tasks, 16)
    if errors:
        raise next(iter(errors.values()))
    out: dict[str, dict[str, list]] = {name: {} for name in fleet.datacenters}
    for (name, what), value in results.items():
        out[name][what] = value
    return out


def cli_list(urls: dict[str, str], keys, home: Path) -> int:
    """``triton instance list -j`` against both datacenters at once; the instances listed."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRITON_", "SDC_")) and k != "SSH_AUTH_SOCK"}
    env.update(HOME=str(home), TRITON_ACCOUNT="demo", TRITON_KEY_ID=keys["rsa"].md5)

    def run(url: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(TRITON), "instance", "list", "-j"], env=dict(env, TRITON_URL=url),
                              capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)

    with ThreadPoolExecutor(len(urls)) as pool:
        procs = list(pool.map(run, urls.values()))
    count = 0
    for proc in procs:
        if proc.returncode != 0:
            raise RuntimeError(f"triton instance list failed: {proc.stderr.strip()[:300]}")
        count += sum(1 for line in proc.stdout.splitlines() if line.strip())
    return count


def parts_of(raw: dict[str, dict[str, list]], copies: int = 1) -> list[build.Part]:
    """Builder input from raw answers; ``copies`` > 1 repeats each machine with fresh ids."""
    parts = []
    for name, got in raw.items():
        records = got["machines"]
        if copies > 1:
            records = [dict(m, id=str(uuid.uuid4())) for _ in range(copies) for m in records]
        parts.append(build.Part(name, records, build.package_index(got["packages"]),
                                build.image_index(got["images"])))
    return parts


def client_side(parts: list[build.Part], runs: int) -> tuple[float, float, int]:
    """(median seconds, peak MiB by tracemalloc, rows) of building the machines frame."""
    now = datetime.now(timezone.utc)
    seconds, frame = median_s(lambda: build.machines(parts, now), runs)
    rows = len(frame)
    del frame
    tracemalloc.start()
    build.machines(parts, now)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--machines", type=int, default=10_000,
                        help="machines in the fleet, split over two datacenters (default 10000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--big", type=int, default=100_000,
                        help="machines for the larger client-side measurement (default 100000)")
    args = parser.parse_args()
    per_dc = args.machines // len(DATACENTERS)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        keys = make_keys(tmp / "keys")
        started = time.perf_counter()
        with emulator_process(keys, per_dc, tmp) as urls:
            print(f"emulator (own process): {per_dc * len(DATACENTERS):,} machines in "
                  f"{len(DATACENTERS)} datacenters, seeded and serving in "
                  f"{time.perf_counter() - started:.1f} s")
            key = keys["rsa"]
            dc = smartdc_nb.connect(url=urls[DATACENTERS[0]], account="demo", key_id=key.md5,
                                    key_path=str(key.private))
            fleet = Fleet(dc)
            contenders = {"raw": lambda: raw_fetch(fleet), "lib": lambda: fleet.frames.machines()}
            cli = triton_available()
            if cli:
                home = cli_home(keys, tmp)
                contenders["cli"] = lambda: cli_list(urls, keys, home)
            for fn in contenders.values():  # warm up: connections, caches, node's file cache
                fn()
            times, results = interleaved(contenders, args.runs)
            raw_s, raw, frame = times["raw"][0], results["raw"], results["lib"]
            listed = sum(len(got["machines"]) for got in raw.values())
            print(f"\nfetch {listed:,} machines + packages + images of both datacenters "
                  f"({args.runs} runs taking turns; median, best):")
            labels = {"raw": "raw baseline (signed pages, JSON only)",
                      "lib": "smartdc_nb fleet.frames.machines()",
                      "cli": "triton instance list -j (2 at once)"}
            notes = {"lib": f"{len(frame):,} rows x {len(frame.columns)} columns",
                     "cli": f"{results.get('cli', 0):,} instances"}
            for name, (median, best) in times.items():
                print(f"  {labels[name]:40s} {median * 1000:6.0f} ms {best * 1000:6.0f} ms  "
                      f"{median / raw_s:5.2f}x  {notes.get(name, '')}")
            if cli:
                lib_s, cli_s = times["lib"][0], times["cli"][0]
                print(f"  smartdc_nb takes {lib_s / cli_s:.0%} of the official CLI's time "
                      f"({cli_s / lib_s:.1f}x faster)")
            else:
                print(f"  triton instance list -j: skipped ({TRITON} or node is missing)")

        print("\nclient side: parsed JSON -> machines DataFrame (median; peak memory by "
              "tracemalloc in a separate run):")
        copies = max(1, round(args.big / max(listed, 1)))
        for label, count in (("listed", 1), ("big", copies)):
            parts = parts_of(raw, count)  # made in turn: the big copy is not alive while timing
            seconds, peak, rows = client_side(parts, args.runs)
            del parts
            share = f"   {seconds / raw_s:.1%} of the raw fetch" if label == "listed" else ""
            print(f"  {rows:>9,} machines  {seconds * 1000:8.0f} ms  "
                  f"({seconds / rows * 1e6:.1f} us/machine)  peak {peak:7.1f} MiB{share}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
