"""The notebooks in notebooks/: committed clean, and each runs top to bottom against a cloud.

Execution goes through papermill (the engine ``smartdc-nb run`` uses) with a
real kernel. The kernel's ``connect("demo")`` finds the demo cloud this test
started (a fresh state per test, transitions 20 times faster than the demo's),
so the test can read the cloud afterwards and check what a runbook changed.
The runbooks' acting variants (``dry_run=False``, ``delete=True``, ``approve=<plan id>``) run through
``smartdc-nb run`` itself, as cron would; the fleet overview also runs against
a named triton profile to show one parameter points it at another cloud.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import requests

import smartdc_nb
from smartdc_nb import demo
from smartdc_nb.frames.cost import DEMO_PRICES
from smartdc_nb.machine import parse_time
from notebook_runs import NOTEBOOKS, execute, outputs, run_cli, text_of


EXPECTED = ["01-fleet-overview.ipynb", "02-machine-control.ipynb", "03-rolling-reboot.ipynb",
            "04-snapshot-hygiene.ipynb", "05-what-changed.ipynb"]


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_notebooks_are_the_five_runbooks():
    assert [p.name for p in notebook_paths()] == EXPECTED


@functools.cache
def nbstripout_verify() -> subprocess.CompletedProcess:
    """``nbstripout --verify`` over every notebook, run once (each run spends a second loading
    nbformat): it names each notebook it would change and exits non-zero if any."""
    return subprocess.run([sys.executable, "-m", "nbstripout", "--verify",
                           *map(str, notebook_paths())], capture_output=True, text=True)


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    raw = json.loads(path.read_text())
    for cell in raw["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, cell["source"][:1]
        assert set(cell["metadata"]) <= {"tags"}, cell["metadata"]
    assert set(raw["metadata"]) <= {"kernelspec", "language_info"}, raw["metadata"]
    # and nbstripout, the tool a contributor runs, would change nothing
    proc = nbstripout_verify()
    assert str(path) not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert proc.returncode == 0 or "would have stripped" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_opens_with_a_parameters_cell_defaulting_to_the_demo_cloud(path):
    nb = nbformat.read(str(path), as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.metadata.get("tags") == ["parameters"]
    names = [node.targets[0].id for node in ast.parse(first_code.source).body]
    assert names[0] == "profile"
    assert 'profile = "demo"' in first_code.source.splitlines()[0]
    # smartdc-nb run knows every parameter (with its help text)
    from smartdc_nb.runbook import declared_parameters

    declared = declared_parameters(path)
    assert list(declared) == names
    assert all(info["help"] for info in declared.values())
    # a runbook that changes things is safe by default
    if "dry_run" in declared:
        assert declared["dry_run"]["default"] == "True"
    if "delete" in declared:
        assert declared["delete"]["default"] == "False"
    if "approve" in declared:  # acts only on the id of a plan it printed
        assert declared["approve"]["default"] == '""'


HOSTILE = "<script>alert(1)</script>"


GONE_IMAGE = "00000000-0000-4000-8000-0000000000ad"


@pytest.mark.slow
def test_fleet_overview(demo_cloud, tmp_path):
    admin = demo_cloud["urls"]["us-east-1"] + "/__emulator"
    # a machine with a hostile name, no tags and an image the catalog no longer has
    requests.post(f"{admin}/machines", json={"name": HOSTILE, "image": GONE_IMAGE,
                                             "package": "g4-highcpu-1G", "tags": {}},
                  timeout=10).raise_for_status()
    requests.delete(f"{admin}/requests", timeout=10).raise_for_status()

    nb = execute("01-fleet-overview.ipynb", tmp_path, price_table="demo")

    # read-only: the notebook only read the cloud
    log = requests.get(f"{admin}/requests", timeout=10).json()
    assert log and {entry["method"] for entry in log} <= {"GET", "HEAD"}
    plots = outputs(nb, "image/png")
    assert len(plots) >= 6  # every figure drawn (some hold several charts)
    html = "\n".join(o["data"]["text/html"] for o in outputs(nb, "text/html"))
    assert html.count("<table") >= 8
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = text_of(nb)
    assert "not in the catalog" in text  # the vanished image is named as such
    fleet = smartdc_nb.Fleet(smartdc_nb.connect("demo"))
    total = sum(fleet.num_machines().values())
    summary = [c for c in nb.cells if "summary" in c.metadata.get("tags", [])][0]
    first_line = summary.outputs[0]["text"].splitlines()[0]
    assert first_line.startswith(f"{total} machines in {len(demo.DATACENTERS)} datacenters")
    # the cost section, from the demo's example price table; unpriced machines are counted
    priced = fleet.frames.machines().triton.with_prices(DEMO_PRICES)
    monthly = f"{priced['price_per_month'].sum():,.2f} USD a month"
    unpriced = int((~priced["priced"]).sum())
    assert f"cost: {monthly}, {unpriced} machines unpriced" in summary.outputs[0]["text"]
    assert unpriced > 0 and f"{monthly} for {int(priced['priced'].sum())} priced machines" in text


@pytest.mark.slow
def test_fleet_overview_against_a_named_profile(emu, lab_env, tmp_path):
    """One parameter points a notebook at another cloud: here a triton profile for the emulator."""
    proc = run_cli(NOTEBOOKS / "01-fleet-overview.ipynb", "-p", "profile", "lab",
                   "-o", tmp_path / "out.ipynb", env=lab_env)
    assert proc.returncode == 0, proc.stderr
    listed = sum(len(emu.datacenter(name).machine_ids()) for name in emu.urls)
    first = proc.stdout.splitlines()[0]
    assert " machines in 2 datacenters" in first and 0 < int(first.split()[0]) <= listed
    assert {r["datacenter"] for r in emu.requests} == set(emu.urls)
    assert not (tmp_path / "no-demo" / "running.json").exists()  # the demo cloud was not used


@pytest.mark.slow
def test_machine_control(demo_cloud, tmp_path):
    proc = run_cli(NOTEBOOKS / "02-machine-control.ipynb", "-o", tmp_path / "out.ipynb",
                   "--html", tmp_path / "report.html")
    assert proc.returncode == 0, proc.stderr
    nb = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4)
    started = parse_time(nb.metadata.papermill.start_time)
    text = text_of(nb)
    name = text.split("<Machine ", 1)[1].split()[0]
    dc = smartdc_nb.connect("demo")
    machine = dc.machine(name)
    assert machine.state == "running" and machine.tags["env"] == "dev"
    done = [e["action"] for e in reversed(machine.audit())
            if parse_time(e["time"]) > started and e["success"] == "yes"]
    # from code, then from the panel's buttons
    assert done == ["stop", "start", "set_tags", "create_snapshot", "reboot", "delete_snapshot",
                    "create_snapshot", "stop", "start", "delete_snapshot"]
    assert machine.snapshots() == []
    assert f"the panel asks: Stop {machine.label}" in text
    assert " failed: " not in text and ", 0 failed (panel.log.lines" in text
    dev = dc.machines(tags={"env": "dev"})
    assert dev and all(m.tags.get("last_drill") for m in dev)
    # the tag just added is in the get_tags() printed right after (read-your-writes)
    printed = next(line for line in text.splitlines() if line.startswith("{") and "env" in line)
    assert f"'last_drill': '{machine.tags['last_drill']}'" in printed, printed
    assert "refused: invalid machine name 'web server #1'" in text
    # the report shows each panel in its static form (card and note), needing no widget code
    page = (tmp_path / "report.html").read_text()
    assert page.count("Live panel: needs a front-end") == 3 and "widget-view+json" not in page


@pytest.mark.slow
def test_an_account_without_machines(empty_demo_cloud, tmp_path):
    """A new account: the overview and the hygiene report say so; machine control says why not."""
    nb = execute("01-fleet-overview.ipynb", tmp_path)
    assert "0 machines in 3 datacenters (0 running, 0 not running)" in text_of(nb)
    nb = execute("04-snapshot-hygiene.ipynb", tmp_path)
    assert "report only): 0 snapshots older than 90 days" in text_of(nb)
    # no snapshots: a warning that pandas 4 turns into an error ('and' of booleans and text)
    assert "deprecated" not in text_of(nb), text_of(nb)
    proc = run_cli(NOTEBOOKS / "02-machine-control.ipynb", "-o", tmp_path / "02.ipynb")
    assert proc.returncode == 1
    assert "ValueError: us-east-1 has no running machine to drive: start one, or set machine_name" \
        in proc.stderr


@pytest.mark.slow
def test_snapshot_hygiene_reports_then_deletes(demo_cloud, tmp_path):
    dc = smartdc_nb.connect("demo")
    fleet = smartdc_nb.Fleet(dc)
    before = fleet.frames.snapshots(progress=False)
    made = before[before["state"] == "created"]
    newest = made.groupby(["datacenter", "machine_id"])["created"].transform("max")
    expected = made[(made["age"].dt.days > 200) & (made["created"] != newest)]
    assert len(expected) > 0

    nb = execute("04-snapshot-hygiene.ipynb", tmp_path, older_than_days=200)
    assert f"report only): {len(expected)} snapshots older than 200 days" in text_of(nb)
    assert "Series([]" not in text_of(nb)  # an empty count is said in words, not printed raw
    assert len(fleet.frames.snapshots(progress=False)) == len(before)  # nothing deleted

    proc = run_cli(NOTEBOOKS / "04-snapshot-hygiene.ipynb", "-p", "older_than_days", "200",
                   "-p", "delete", "True", "-o", tmp_path / "deleted.ipynb")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"snapshot hygiene: {len(expected)} of {len(expected)} old "
                                  f"snapshots deleted")
    after = fleet.frames.snapshots(progress=False)
    gone = set(zip(expected["machine_id"], expected["name"]))
    assert not gone & set(zip(after["machine_id"], after["name"]))
    assert len(after) == len(before) - len(expected)
    executed = nbformat.read(str(tmp_path / "deleted.ipynb"), as_version=4)
    assert f"{len(expected)} deleted" in text_of(executed)


@pytest.mark.slow
def test_what_changed_on_the_demo_takes_a_point_changes_the_fleet_and_diffs(demo_cloud, tmp_path,
                                                                           monkeypatch):
    scratch = tmp_path / "tmp"  # the kernel's temporary directory
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    nb = execute("05-what-changed.ipynb", tmp_path)
    # the demo's own point went to a temporary folder that each run left behind
    assert list(scratch.glob("what-changed-*")) == []
    text = text_of(nb)
    summary = [c for c in nb.cells if "summary" in c.metadata.get("tags", [])][0]
    first = summary.outputs[0]["text"].splitlines()[0]
    # one machine created (the first run deletes none), at least stop/start, tag and snapshot
    assert first.startswith("what changed since ") and ": 1 appeared, 0 vanished, " in first
    dc = smartdc_nb.connect("demo")
    created = [m for m in dc.machines() if m.name.startswith("what-changed-")]
    assert len(created) == 1 and created[0].state == "running"
    assert f"created machine {created[0].name}" in text
    stamp = created[0].name.removeprefix("what-changed-")
    tagged = dc.machines(tags={"last_reviewed": stamp})
    assert len(tagged) == 1
    html = "\n".join(o["data"]["text/html"] for o in outputs(nb, "text/html"))
    assert "Fleet diff" in html and f"what-changed-{stamp}" in html and "tag.last_reviewed" in html
    assert len(outputs(nb, "image/png")) >= 1
    # a second run replaces the first run's machine: one vanished, one appeared
    nb = execute("05-what-changed.ipynb", tmp_path)
    summary = [c for c in nb.cells if "summary" in c.metadata.get("tags", [])][0]
    assert ": 1 appeared, 1 vanished, " in summary.outputs[0]["text"]
    assert created[0].name not in {m.name for m in dc.machines()}


@pytest.mark.slow
def test_what_changed_against_a_saved_point_only_reads(emu, lab_env, tmp_path):
    """On a real cloud: the latest point saved by `smartdc-nb snapshot`, compared, nothing changed."""
    history = tmp_path / "history"
    env = dict(lab_env, SMARTDC_NB_HISTORY_DIR=str(history))
    saved = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "snapshot", "--profile", "lab",
                            "--no-snapshots"], capture_output=True, text=True, timeout=300,
                           env=env, stdin=subprocess.DEVNULL)
    assert saved.returncode == 0, saved.stderr
    west = emu.datacenter("us-west-1")
    victim = west.machine_ids()[0]  # before the new one, whose id may sort first
    west.put_machine(name="arrived-later")
    west.set_state(victim, "offline")
    emu.clear_requests()
    proc = run_cli(NOTEBOOKS / "05-what-changed.ipynb", "-p", "profile", "lab",
                   "-o", tmp_path / "out.ipynb", env=env)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("what changed since ") and ": 1 appeared, 0 vanished, 1 changed" in first
    assert "us-west-1: 1 appeared, 0 vanished, 1 changed" in proc.stdout
    assert {r["method"] for r in emu.requests} <= {"GET", "HEAD"}
    proc = run_cli(NOTEBOOKS / "05-what-changed.ipynb", "-p", "profile", "lab", "-p", "since",
                   "30d", "-o", tmp_path / "old.ipynb", env=env)
    assert proc.returncode == 1 and "no saved point in" in proc.stderr and "30d old" in proc.stderr
