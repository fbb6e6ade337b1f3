"""What queries, history points, diffs and cost rollups cost beside fetching the machines frame.

    python benchmarks/bench_fleet_questions.py [--machines 10000] [--runs 3]

The emulator runs in its own process (as in bench_frames.py) with
``--machines`` machines over two datacenters. The baseline, measured in the
same run and taking turns with the others, is ``fleet.frames.machines()``
(every machine listed and built). Then, each as a ratio to it:

1. a query the server narrows (``state="running", brand="lx"``);
2. a query that runs in pandas (a name glob and a tag regex over every machine), and
   its pandas steps alone on the listed frame;
3. ``fleet.snapshot(snapshots=False)`` (listing, metadata listing, Parquet write);
4. ``smartdc_nb.load()`` of that point; 5. ``diff`` of two points; 6. ``with_prices``
   and a rollup by owner on the listed frame.

The point's size on disk is printed too. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import smartdc_nb  # noqa: E402
from bench_frames import DATACENTERS, emulator_process  # noqa: E402
from smartdc_nb.emulator.testing import make_keys  # noqa: E402
from smartdc_nb.frames.cost import DEMO_PRICES  # noqa: E402
from smartdc_nb.frames.query_plan import plan  # noqa: E402


def pandas_steps(frame, filters: dict):
    """Only the pandas side of a query, on a frame already listed (no request)."""
    for step in plan(filters).steps:
        if step.test is not None:
            frame = frame[step.test(frame).to_numpy()]
    return frame


def timed(contenders: dict, runs: int) -> dict[str, float]:
    """Median seconds of each contender, run in turn each round."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=10_000, help="machines in all")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        keys = make_keys(tmp_path / "keys")
        with emulator_process(keys, args.machines // len(DATACENTERS), tmp_path) as urls:
            key = keys["rsa"]
            dc = smartdc_nb.connect(url=urls[DATACENTERS[0]], account="demo", key_id=key.md5,
                                    key_path=str(key.private), rate_limit=False,
                                    name=DATACENTERS[0])
            fleet = smartdc_nb.Fleet(dc)
            frame = fleet.frames.machines()
            store = tmp_path / "history"
            first = fleet.snapshot(directory=store, snapshots=False)
            second = fleet.snapshot(directory=store, snapshots=False)
            size = sum(p.stat().st_size for p in first.path.iterdir()) / 2**20
            narrow = fleet.query(state="running", brand="lx")
            wide = fleet.query(name="web-*", tags={"env": "/prod|staging/"})
            results = timed({
                "baseline: fleet.frames.machines()": lambda: fleet.frames.machines(),
                "query, server-side (state, brand)": lambda: fleet.query(state="running",
                                                                         brand="lx"),
                "query, pandas-side (glob, tag regex)": lambda: fleet.query(
                    name="web-*", tags={"env": "/prod|staging/"}),
                "  its pandas steps alone (no request)": lambda: pandas_steps(
                    frame, {"name": "web-*", "tags": {"env": "/prod|staging/"}}),
                "fleet.snapshot(snapshots=False)": lambda: fleet.snapshot(
                    tmp_path / f"p{time.monotonic_ns()}", snapshots=False),
                "smartdc_nb.load(point)": lambda: smartdc_nb.load(str(first.path)),
                "diff(point, point)": lambda: smartdc_nb.diff(first, second),
                "with_prices + cost_by('owner')": lambda: frame.triton.with_prices(
                    DEMO_PRICES).triton.cost_by("owner"),
            }, args.runs)
    base = results["baseline: fleet.frames.machines()"]
    print(f"{len(frame):,} machines in {len(DATACENTERS)} datacenters; median of {args.runs} runs")
    print(f"  server-side query returned {len(narrow):,} rows, pandas-side {len(wide):,}")
    print(f"  a point without snapshots is {size:.1f} MiB on disk "
          f"({size * 2**20 / max(len(frame), 1):,.0f} bytes per machine)")
    for name, seconds in results.items():
        print(f"  {name:40s} {seconds:8.3f} s   {seconds / base:5.2f}x the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
