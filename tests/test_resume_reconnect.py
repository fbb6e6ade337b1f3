"""Resume reaches the run's cloud again where it is now: through the recorded profile (the demo
cloud's port changes with every process), else the recorded URL, else where ``--profile`` or
``--url`` say. The commands run as subprocesses, as from a terminal."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from polling import eventually
from demo_processes import emulator_pids
from test_machine_support import FAST, accepted_stops, fetched, forget_records, mutations

from smartdc_nb.journal_views import journal_run, journal_runs
from smartdc_nb.machinelist import MachineList


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smartdc_nb.cli", *args], capture_output=True,
                          text=True, timeout=180, env=env)


def dead_url() -> str:
    """A loopback URL nothing listens on (a port just freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _move(journal_path: Path, **connection) -> None:
    """Change what the run records of its connections, as if its cloud had moved."""
    lines = []
    for line in journal_path.read_text().splitlines():
        record = json.loads(line)
        for conn in ((record.get("detail") or {}).get("connections") or {}).values():
            conn.update(connection)
        lines.append(json.dumps(record) + "\n")
    journal_path.write_text("".join(lines))


def test_a_run_whose_cloud_moved_is_resumed_where_the_terminal_says(emu, dc, journal_path):
    machines = MachineList(fetched(dc, emu, name=f"rr-{i}") for i in range(2))
    machines.stop(confirm=True, **FAST)
    run_id = journal_runs()[0].run_id
    forget_records(journal_path, run_id=run_id, kind="run-end")
    forget_records(journal_path, machine_id=machines[1].id)  # died before its request
    emu.datacenter("us-east-1").set_state(machines[1].id, "running")
    gone = dead_url()
    _move(journal_path, url=gone, profile="no-such-profile")
    emu.clear_requests()
    told = cli("resume", run_id)
    assert told.returncode == 2, told.stdout + told.stderr
    said = " ".join(told.stderr.split())
    assert f"cannot reconnect to datacenter 'us-east-1' of run {run_id}" in said, said
    assert "profile 'no-such-profile'" in said and gone in said
    assert "--profile NAME or --url URL" in said
    assert "TRITON_URL" not in said and "Traceback" not in said
    assert mutations(emu) == []
    done = cli("resume", run_id, "--url", emu.urls["us-east-1"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"run {run_id}: stop on 2 machines" in done.stdout
    assert accepted_stops(emu) == Counter({machines[1].id: 1})
    assert journal_run(run_id).status == "ended"


@pytest.mark.slow
def test_a_demo_run_is_resumed_from_a_new_process(demo_env, tmp_path):
    """The demo cloud ends with the process that started it; the next one has another port."""
    journal_file = tmp_path / "demo-journal.jsonl"
    env = {**demo_env, "SMARTDC_NB_JOURNAL": str(journal_file), "SMARTDC_NB_JOURNAL_SYNC": "none"}
    script = ("import smartdc_nb\n"
              "dc = smartdc_nb.connect('demo')\n"
              "machines = dc.machines(state='running')[:3]\n"
              "machines.stop(confirm=True, progress=False)\n"
              "print(machines[2].id)\n")
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    last = first.stdout.split()[-1]
    demo_dir = Path(env["SMARTDC_NB_DEMO_DIR"])
    eventually(lambda: not emulator_pids(demo_dir), 15, what="the first cloud to exit")
    run_id = journal_runs(path=journal_file)[0].run_id
    forget_records(journal_file, run_id=run_id, kind="run-end")
    forget_records(journal_file, machine_id=last, kind="outcome")  # in flight when the process died
    resumed = cli("resume", run_id, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"run {run_id}: stop on 3 machines" in resumed.stdout
    # read from the cloud the resume found: the machine the first process left in flight
    assert "sent before the interruption and the machine is stopp" in resumed.stdout
    eventually(lambda: not emulator_pids(demo_dir), 15, what="the resume's cloud to exit")
