"""How fast the emulator answers, with and without signature verification.

Prints, for an emulator seeded with 10,000 machines:

* GetMachine requests per second (one keep-alive connection, then 4 threads),
* the time to list all 10,000 machines in pages of 1000 (as node-triton does),

first with verification off (the baseline), then on, and the ratio on/off.
Requests are signed in both runs by the client library (``smartdc_nb.auth``:
KeyFileSigner + HTTPSignatureAuth on a requests.Session), so the difference is
the server's verification alone. Seeding times for 10,000 and 100,000
machines are printed too. Run: ``python benchmarks/bench_emulator.py``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from smartdc_nb.auth import HTTPSignatureAuth, KeyFileSigner
from smartdc_nb.emulator import Emulator
from smartdc_nb.emulator.testing import make_keys


def session(key, url: str) -> requests.Session:
    s = requests.Session()
    s.auth = HTTPSignatureAuth(KeyFileSigner(key.private), "demo")
    s.headers["Accept-Version"] = "~9||~8"
    s.get(url + "/my").raise_for_status()  # open the connection
    return s


def get_machine_rate(url: str, key, machine_ids: list[str], seconds: float, threads: int) -> float:
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(n: int) -> None:
        s = session(key, url)
        i = n
        while time.perf_counter() < stop:
            s.get(f"{url}/my/machines/{machine_ids[i % len(machine_ids)]}").raise_for_status()
            done[n] += 1
            i += threads
        s.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done) / (time.perf_counter() - started)


def list_all(url: str, key, rounds: int) -> tuple[float, int]:
    s = session(key, url)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        count, offset = 0, 0
        while True:
            page = s.get(f"{url}/my/machines", params={"limit": 1000, "offset": offset})
            page.raise_for_status()
            count += int(page.headers["x-resource-count"])
            if int(page.headers["x-resource-count"]) < 1000:
                break
            offset += 1000
        times.append(time.perf_counter() - started)
    s.close()
    return statistics.median(times), count


def measure(keys, verify: bool, machines: int, seconds: float, rounds: int) -> dict[str, float]:
    accounts = {"demo": [keys["rsa"].public_line, keys["ed25519"].public_line]}
    with Emulator(accounts=accounts, machines=machines, seed=1, verify_signatures=verify) as emu:
        dc = emu.state.datacenters["us-east-1"]
        ids = [m.id for m in dc.ordered() if m.state not in ("deleted", "failed")][:500]
        figures = {
            "get_rsa_1": get_machine_rate(emu.url, keys["rsa"], ids, seconds, 1),
            "get_ed25519_1": get_machine_rate(emu.url, keys["ed25519"], ids, seconds, 1),
            "get_rsa_4": get_machine_rate(emu.url, keys["rsa"], ids, seconds, 4),
        }
        figures["list_s"], figures["listed"] = list_all(emu.url, keys["rsa"], rounds)
        # the first listing serialises every machine; later ones join cached bytes
        for m in dc.machines.values():
            m.cache = None
        figures["list_cold_s"], _ = list_all(emu.url, keys["rsa"], 1)
    return figures


def seeding(count: int) -> float:
    started = time.perf_counter()
    Emulator(machines=count)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--machines", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="per GetMachine measurement")
    parser.add_argument("--rounds", type=int, default=5, help="full listings (median reported)")
    args = parser.parse_args()
    keys = make_keys(Path(tempfile.mkdtemp(prefix="bench-emulator-")))
    base = measure(keys, False, args.machines, args.seconds, args.rounds)
    signed = measure(keys, True, args.machines, args.seconds, args.rounds)
    print(f"emulator benchmark: {args.machines:,} machines, signed by smartdc_nb.auth "
          f"(requests.Session, keep-alive)")
    print(f"{'measure':44} {'verify off':>12} {'verify on':>12} {'on/off':>8}")
    rows = [
        ("GetMachine req/s, 1 connection, RSA-2048", "get_rsa_1", "{:,.0f}"),
        ("GetMachine req/s, 1 connection, Ed25519", "get_ed25519_1", "{:,.0f}"),
        ("GetMachine req/s, 4 threads, RSA-2048", "get_rsa_4", "{:,.0f}"),
        (f"list {base['listed']:,.0f} machines, pages of 1000 (s)", "list_s", "{:.3f}"),
        ("same, serialisation cache cold (s)", "list_cold_s", "{:.3f}"),
    ]
    for label, name, fmt in rows:
        ratio = signed[name] / base[name] if base[name] else float("nan")
        print(f"{label:44} {fmt.format(base[name]):>12} {fmt.format(signed[name]):>12} {ratio:>8.2f}")
    print(f"seeding 10,000 machines: {seeding(10_000):.2f} s; 100,000: {seeding(100_000):.2f} s")


if __name__ == "__main__":
    main()
