"""Reading a long-lived journal: memory and time of ``journal_runs()`` and ``journal_run()``.

    python benchmarks/bench_journal_read.py [--records 200000] [--dir PATH]

A journal rotates only past 64 MiB (smartdc_nb.journal_segments): a kernel or a cron job
that runs for months leaves one with hundreds of thousands of records, and
``smartdc-nb journal`` (the 20 newest runs) or ``resume`` (one run) read it. The journal
is made here by one real bulk run against the emulator (``add_tags`` on 15 machines, plus
one single request), its records copied under new run ids up to ``--records``.

Printed, for each reader: the peak of Python's allocations (tracemalloc) as a ratio of
the file's size, and its time as a ratio of the baseline, which only reads the file and
decodes each line with ``json.loads`` (what any reader must do at least). What is shown
is 20 runs or one, so its memory should not grow with the file: a ratio near 0 is the
goal, one above 1 means the reader holds the whole journal (at 10^6 records, gigabytes).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

from smartdc_nb.emulator.testing import make_emulator, make_keys


def real_run(directory: Path) -> list[str]:
    """The lines one bulk run and one single request journal, from the emulator."""
    import smartdc_nb

    keys = make_keys(directory / "keys")
    path = directory / "seed.jsonl"
    os.environ["SMARTDC_NB_JOURNAL"] = str(path)
    os.environ["SMARTDC_NB_JOURNAL_SYNC"] = "none"
    with make_emulator(keys, datacenters=("us-east-1",)).start() as emu:
        key = keys["rsa"]
        dc = smartdc_nb.connect(url=emu.url, account="demo", key_id=key.md5,
                                key_path=str(key.private), rate_limit=False, changefeed=False)
        machines = dc.machines()
        machines.add_tags(bench="1")
        machines[0].add_tags(one="1")
        dc.close()
    return path.read_text().splitlines()


def grow(lines: list[str], records: int, path: Path) -> None:
    """``records`` records: ``lines`` again and again, each copy its own runs and refs."""
    with open(path, "w") as out:
        written, copy = 0, 0
        while written < records:
            copy += 1
            for line in lines:
                record = json.loads(line)
                record["run_id"] = f"{record['run_id'][:-8]}{copy:08x}"
                for field in ("ref", "intent"):
                    if isinstance(record.get(field), str):
                        record[field] = f"{copy:06x}{record[field][6:]}"
                out.write(json.dumps(record, separators=(",", ":")) + "\n")
                written += 1


def measure(call) -> tuple[float, float]:
    """(seconds, peak bytes allocated) of ``call()``."""
    tracemalloc.start()
    started = time.perf_counter()
    call()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--dir", help="where the journal is written (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        path = directory / "journal.jsonl"
        grow(real_run(directory), args.records, path)
        size = path.stat().st_size
        print(f"journal: {args.records:,} records, {size / 2**20:.0f} MiB")
        from smartdc_nb.journal_views import journal_run, journal_runs

        def baseline() -> None:
            with open(path, "rb") as file:
                for line in file:
                    json.loads(line)

        base, _ = measure(baseline)
        newest = journal_runs(1, path=path)[0].run_id
        readers = {"journal_runs(20)": lambda: journal_runs(20, path=path),
                   "journal_run(newest)": lambda: journal_run(newest, path=path)}
        print(f"{'reader':<22} {'memory/file':>12} {'time/baseline':>14}")
        for name, call in readers.items():
            seconds, peak = measure(call)
            print(f"{name:<22} {peak / size:>12.2f} {seconds / base:>14.2f}")


if __name__ == "__main__":
    main()
