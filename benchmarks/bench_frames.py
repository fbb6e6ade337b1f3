"""The machines frame at fleet scale: every figure of issue 16 as a ratio measured in one run.

    python benchmarks/bench_frames.py [--machines 5000] [--runs 5] [--latency 0.3] [--big 100000]

The emulator runs in its own process (as the official CLI does) with two
datacenters of ``--machines`` machines each. Contenders take turns each round
(a shared machine's load drifts; turns spread it over all of them); the
figure is the ratio of medians of ``--runs`` warm runs:

1. ``fleet.frames.machines()`` / ``triton instance list -j`` once per
   datacenter (both CLI processes at once, isolated HOME);
2. ``dc.frames.machines()`` / the **raw floor** for one datacenter: a
   ``requests`` session signing its own requests, paging ListMachines one page
   after another (limit 1000), decoding JSON and calling
   ``pd.DataFrame.from_records`` on the rows;
3. ``fleet.frames.machines()`` / the raw floor over both datacenters in turn;
4. the same with ``--latency`` seconds added to every ListMachines page (the
   emulator's ``latency`` fault; a real CloudAPI answers a page in hundreds of
   milliseconds or more);
5. parsed JSON -> the typed, joined machines frame for ``--big`` machines (the
   listing repeated with fresh ids) / ``from_records`` on the same dicts, and
   the peak memory of each by tracemalloc in a separate pass (tracemalloc
   slows what it watches); the 10,000-machine figure is printed beside it.

smartdc_nb runs as a notebook would: default options (parallel paging, the
login's rate limiter, the catalog reused while fresh). Nothing is asserted;
the table is printed with each goal.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import requests

import smartdc_nb
from smartdc_nb.auth import HTTPSignatureAuth, load_signer
from smartdc_nb.emulator.testing import ACCOUNT_KEYS, TRITON, cli_home, make_keys, triton_available
from smartdc_nb.fleet import Fleet
from smartdc_nb.frames import build

DATACENTERS = ("us-east-1", "us-west-1")
GOALS = {"cli": 0.3, "one": 1.2, "fleet": 1.0, "latency": 0.25, "build": 1.5, "memory": 2.0}


def interleaved(contenders: dict, runs: int, settle: float = 0.0
                ) -> tuple[dict[str, float], dict]:
    """Median seconds of each contender, taking turns each round; each one's last result."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    results: dict = {}
    for _ in range(runs):
        for name, fn in contenders.items():
            results.pop(name, None)
            time.sleep(settle)  # the last contender's processes and sockets wind down first
            start = time.perf_counter()
            results[name] = fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}, results


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
        deadline = time.monotonic() + 600
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start: {proc.stderr.read()[-500:]}")
            time.sleep(0.05)
        yield json.loads(ready.read_text())["urls"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def admin(url: str, method: str, path: str, body=None) -> None:
    """A call to the emulator's admin API (loopback, unsigned)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}/__emulator/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).read()


class RawFloor:
    """What a hand-written client does: sign, page one page after another, decode, from_records."""

    def __init__(self, key):
        self.session = requests.Session()
        self.session.auth = HTTPSignatureAuth(load_signer(key_id=key.md5,
                                                          key_path=str(key.private)), "demo")
        self.session.headers.update({"Accept": "application/json", "Accept-Version": "~9||~8"})

    def rows(self, url: str) -> list[dict]:
        rows, offset = [], 0
        while True:
            reply = self.session.get(f"{url}/demo/machines",
                                     params={"limit": 1000, "offset": offset}, timeout=60)
            reply.raise_for_status()
            page = reply.json()
            rows += page
            if len(page) < 1000:
                return rows
            offset += 1000

    def frame(self, *urls: str) -> pd.DataFrame:
        return pd.DataFrame.from_records([m for url in urls for m in self.rows(url)])


def cli_list(urls: dict[str, str], keys, home: Path) -> int:
    """``triton instance list -j`` against every datacenter at once; the instances listed."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRITON_", "SDC_")) and k != "SSH_AUTH_SOCK"}
    env.update(HOME=str(home), TRITON_ACCOUNT="demo", TRITON_KEY_ID=keys["rsa"].md5)

    def run(url: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(TRITON), "instance", "list", "-j"], env=dict(env, TRITON_URL=url),
                              capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)

    with ThreadPoolExecutor(len(urls)) as pool:
        procs = list(pool.map(run, urls.values()))
    for proc in procs:
        if proc.returncode != 0:
            raise RuntimeError(f"triton instance list failed: {proc.stderr.strip()[:300]}")
    return sum(1 for proc in procs for line in proc.stdout.splitlines() if line.strip())


def listing(fleet: Fleet) -> dict[str, tuple[list[dict], dict, dict]]:
    """Each datacenter's machine dicts and join indexes, for the client-side figure."""
    return {name: (dc.raw_machines(), build.package_index(dc.catalog.packages()),
                   build.image_index(dc.catalog.images()))
            for name, dc in fleet.datacenters.items()}


def copied(listed: dict[str, tuple[list[dict], dict, dict]], size: int) -> list[build.Part]:
    """Builder input of about ``size`` machines: the listing repeated with fresh ids."""
    parts = []
    for name, (records, packages, images) in listed.items():
        copies = max(1, round(size / len(listed) / max(len(records), 1)))
        records = [dict(m, id=str(uuid.uuid4())) for _ in range(copies) for m in records]
        parts.append(build.Part(name, records, packages, images))
    return parts


def client_side(parts: list[build.Part], runs: int) -> dict[str, float]:
    """Seconds (median) and peak MiB of the typed frame vs ``from_records`` on the same dicts."""
    now = datetime.now(timezone.utc)
    records = [m for p in parts for m in p.records]
    contenders = {"build": lambda: build.machines(parts, now),
                  "records": lambda: pd.DataFrame.from_records(records)}
    # the frame pauses the cyclic GC while it builds; from_records gets the same conditions
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        times, _ = interleaved(contenders, runs)
    finally:
        if was:
            gc.enable()
    out = {"rows": len(records), "build_s": times["build"], "records_s": times["records"]}
    for name, fn in contenders.items():
        gc.collect()
        tracemalloc.start()
        fn()
        out[f"{name}_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return out


def row(label: str, ratio: float, goal: float, detail: str) -> str:
    mark = "yes" if ratio <= goal else "**no**"
    return f"| {label} | {ratio:.2f}x | <= {goal:g}x | {mark} | {detail} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--machines", type=int, default=5000, help="machines per datacenter")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--latency", type=float, default=0.3,
                        help="seconds added to every ListMachines page in figure 4")
    parser.add_argument("--big", type=int, default=100_000,
                        help="machines of the client-side figure (default 100000)")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        keys = make_keys(tmp / "keys")
        key = keys["rsa"]
        with emulator_process(keys, args.machines, tmp) as urls:
            dc = smartdc_nb.connect(url=urls[DATACENTERS[0]], account="demo", key_id=key.md5,
                                    key_path=str(key.private))
            fleet = Fleet(dc)
            one = fleet[DATACENTERS[0]]
            raw = RawFloor(key)
            contenders = {
                "raw one": lambda: raw.frame(urls[DATACENTERS[0]]),
                "lib one": lambda: one.frames.machines(),
                "raw both": lambda: raw.frame(*urls.values()),
                "lib both": lambda: fleet.frames.machines(),
            }
            cli = triton_available()
            if cli:
                home = cli_home(keys, tmp)
                contenders["cli"] = lambda: cli_list(urls, keys, home)
            for fn in contenders.values():  # warm: connections, catalogs, page counts, node
                fn()
            times, results = interleaved(contenders, args.runs, settle=0.5)
            listed = len(results["lib both"])
            assert len(results["raw both"]) == listed, "the raw floor listed another fleet"
            if cli:
                lines.append(row("`fleet.frames.machines()` / `triton instance list -j` per DC",
                                 times["lib both"] / times["cli"], GOALS["cli"],
                                 f"{times['lib both'] * 1000:.0f} ms vs {times['cli'] * 1000:.0f}"
                                 f" ms, {results['cli']:,} instances"))
            else:
                lines.append(f"| `fleet.frames.machines()` / CLI | skipped | <= 0.3x | | "
                             f"{TRITON} or node missing |")
            lines.append(row("`dc.frames.machines()` / raw floor, one DC, loopback",
                             times["lib one"] / times["raw one"], GOALS["one"],
                             f"{times['lib one'] * 1000:.0f} ms vs "
                             f"{times['raw one'] * 1000:.0f} ms, {len(results['lib one']):,} rows"))
            lines.append(row("`fleet.frames.machines()` / raw floor, both DCs in turn, loopback",
                             times["lib both"] / times["raw both"], GOALS["fleet"],
                             f"{times['lib both'] * 1000:.0f} ms vs "
                             f"{times['raw both'] * 1000:.0f} ms, {listed:,} rows"))

            admin(urls[DATACENTERS[0]], "POST", "faults",
                  {"path": r"^/demo/machines\?", "method": "GET", "latency": args.latency})
            slow = {"raw both": contenders["raw both"], "lib both": contenders["lib both"]}
            times, _ = interleaved(slow, args.runs, settle=0.5)
            admin(urls[DATACENTERS[0]], "DELETE", "faults")
            lines.append(row(f"same, {args.latency * 1000:.0f} ms added to every ListMachines page",
                             times["lib both"] / times["raw both"], GOALS["latency"],
                             f"{times['lib both'] * 1000:.0f} ms vs "
                             f"{times['raw both'] * 1000:.0f} ms"))
            listed_dicts = listing(fleet)
        # the emulator is gone; each size is made only after the one before is dropped
        figures = []
        for size in (args.big, 10_000):
            parts = copied(listed_dicts, size)
            figures.append(client_side(parts, args.runs))
            del parts
        for fig in figures:
            rows = fig["rows"]
            lines.append(row(f"JSON -> typed frame, {rows:,} machines / `from_records`",
                             fig["build_s"] / fig["records_s"], GOALS["build"],
                             f"{fig['build_s'] * 1000:.0f} ms vs {fig['records_s'] * 1000:.0f} ms"
                             f" ({fig['build_s'] / rows * 1e6:.1f} us/machine)"))
            lines.append(row(f"peak memory of the same, {rows:,} machines (tracemalloc)",
                             fig["build_mib"] / fig["records_mib"], GOALS["memory"],
                             f"{fig['build_mib']:.1f} MiB vs {fig['records_mib']:.1f} MiB"))
    print(f"\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node() or 'this machine'}: "
          f"{os.cpu_count()} CPUs, {platform.python_implementation()} "
          f"{platform.python_version()}, pandas {pd.__version__}; {len(DATACENTERS)} x "
          f"{args.machines:,} machines, medians of {args.runs} warm runs taking turns; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| figure | measured | goal | met | detail |\n|---|---|---|---|---|")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
