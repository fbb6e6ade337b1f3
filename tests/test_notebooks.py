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
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import papermill
import pytest
import requests

import smartdc_nb
from smartdc_nb import demo
from smartdc_nb.emulator.testing import cli_home
from smartdc_nb.frames.cost import DEMO_PRICES
from smartdc_nb.machine import parse_time
from polling import eventually

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
EXPECTED = ["01-fleet-overview.ipynb", "02-machine-control.ipynb", "03-rolling-reboot.ipynb",
            "04-snapshot-hygiene.ipynb", "05-what-changed.ipynb"]
SPEED = 20


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


# ------------------------------------------------------------ running them


def start_demo_cloud(tmp_path, monkeypatch, machines: int):
    """A demo cloud owned by the test, found by connect("demo") in kernels and here."""
    for name in list(os.environ):
        if name.startswith(("TRITON_", "SDC_", "SMARTDC_NB_DEMO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SMARTDC_NB_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("SMARTDC_NB_PROGRESS", "0")
    d = demo.demo_dir()
    with demo.start_lock(d):
        return demo.start_cloud(d, parent_pid=os.getpid(), machines=machines, speed=SPEED)


@pytest.fixture
def demo_cloud(tmp_path, monkeypatch):
    proc, info = start_demo_cloud(tmp_path, monkeypatch, machines=20)
    yield info
    demo.stop_process(proc)


@pytest.fixture
def empty_demo_cloud(tmp_path, monkeypatch):
    proc, info = start_demo_cloud(tmp_path, monkeypatch, machines=0)
    yield info
    demo.stop_process(proc)


def execute(name: str, tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    """Run notebook ``name`` with papermill; fail with the cell's traceback on any error."""
    out = tmp_path / name
    try:
        papermill.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=parameters,
                                   cwd=str(NOTEBOOKS), progress_bar=False, kernel_name="python3")
    except papermill.PapermillExecutionError as exc:
        pytest.fail(f"{name}: cell {exc.cell_index} failed:\n{exc.source}\n{exc.ename}: {exc.evalue}")
    return nbformat.read(str(out), as_version=4)


def outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == kind or kind in o.get("data", {})]


def text_of(nb) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "run", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env,
                          stdin=subprocess.DEVNULL)


def run_cli_while(emu, meanwhile, *args, env=None) -> subprocess.CompletedProcess:
    """run_cli while ``meanwhile()`` (what the cloud does during the run) runs in a thread;
    the emulator's faults are cleared after both."""
    watcher = threading.Thread(target=meanwhile)
    watcher.start()
    try:
        return run_cli(*args, env=env)
    finally:
        watcher.join()
        emu.faults.clear()


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


@pytest.fixture
def lab_env(emu, triton_keys, tmp_path):
    """An environment with a triton CLI profile "lab" for the emulator fixture, and no demo cloud."""
    config = tmp_path / "triton"
    (config / "profiles.d").mkdir(parents=True)
    (config / "profiles.d" / "lab.json").write_text(json.dumps(
        {"url": emu.url, "account": "demo", "keyId": triton_keys["rsa"].md5}))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRITON_", "SDC_", "SMARTDC_NB_DEMO_")) and k != "SSH_AUTH_SOCK"}
    env.update(TRITONTEST_CLI_CONFIG_DIR=str(config), HOME=str(cli_home(triton_keys, tmp_path)),
               SMARTDC_NB_DEMO_DIR=str(tmp_path / "no-demo"))
    return env


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
def test_machine_control_needs_a_machine_name_on_a_real_cloud(emu, lab_env, tmp_path):
    proc = run_cli(NOTEBOOKS / "02-machine-control.ipynb", "-p", "profile", "lab",
                   "-o", tmp_path / "out.ipynb", env=lab_env)
    assert proc.returncode == 1
    assert "ValueError: with a real cloud, name the machine to drive: set machine_name" in proc.stderr
    assert {r["method"] for r in emu.requests} <= {"GET", "HEAD"}


@pytest.mark.slow
@pytest.mark.parametrize("name, args", [
    ("02-machine-control.ipynb", ["-p", "timeout", "0"]),
    ("03-rolling-reboot.ipynb", ["-p", "tag_selector", "role=web", "-p", "timeout", "-5"]),
    ("04-snapshot-hygiene.ipynb", ["-p", "delete", "True", "-p", "older_than_days", "0",
                                   "-p", "timeout", "-1"]),
    ("05-what-changed.ipynb", ["-p", "timeout", "0"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_timeout_below_one_second_is_refused_before_any_change(emu, lab_env, dc, tmp_path,
                                                                  name, args):
    """The waits refuse a timeout of 0 or less, but only after their requests went out:
    snapshot-hygiene deleted every old snapshot and reported each as failed; machine-control
    stopped its machine; rolling-reboot printed a plan id whose apply was then refused. The
    first cell says so now, before anything is read or sent."""
    machine = dc.machines(state="running")[0]
    if name.startswith("04"):  # an old snapshot the bad run would have deleted
        machine.create_snapshot("old").wait_for("created", timeout=30, interval=0.05)
        emu.clock.advance(3 * 86400)
    emu.clear_requests()
    proc = run_cli(NOTEBOOKS / name, "-p", "profile", "lab", "-p", "machine_name", machine.name,
                   *args, "-o", tmp_path / "out.ipynb", env=lab_env) if name.startswith("02") \
        else run_cli(NOTEBOOKS / name, "-p", "profile", "lab", *args, "-o", tmp_path / "out.ipynb",
                     env=lab_env)
    assert proc.returncode == 1, proc.stderr
    assert "ValueError: timeout must be a number of seconds above 0, not " in proc.stderr
    assert "plan id" not in proc.stdout
    assert {r["method"] for r in emu.requests} <= {"GET", "HEAD"}


@pytest.mark.slow
def test_an_empty_snapshot_name_is_refused_before_anything(emu, lab_env, tmp_path):
    """`-p snapshot_name ''` planned every machine as "left alone: invalid snapshot name ''",
    a dry run of nothing, rather than saying the parameter was wrong."""
    emu.clear_requests()
    proc = run_cli(NOTEBOOKS / "03-rolling-reboot.ipynb", "-p", "profile", "lab",
                   "-p", "tag_selector", "role=web", "-p", "snapshot_name", "",
                   "-o", tmp_path / "out.ipynb", env=lab_env)
    assert proc.returncode == 1, proc.stderr
    assert "ValueError: snapshot_name must name the snapshots" in proc.stderr, proc.stderr
    assert emu.requests == []  # refused before the fleet was even listed


def _rolling_reboot_stopped_mid_batch(emu, lab_env, tmp_path, stop) -> tuple[int, str, str]:
    """Apply a one-at-a-time rolling reboot headless and call ``stop(process)`` once its first
    reboot is in flight (the emulator's clock stopped, so it stays there). Returns the run's
    exit status, its stderr and the plan id."""
    args = [NOTEBOOKS / "03-rolling-reboot.ipynb", "-p", "profile", "lab", "-p", "tag_selector",
            "role=web", "-p", "snapshot_first", "False", "-p", "batch_size", "1"]
    return applied_then_stopped(emu, lab_env, tmp_path, args, stop)


def applied_then_stopped(emu, lab_env, tmp_path, args, stop) -> tuple[int, str, str]:
    """Dry-run a runbook with ``args``, apply its plan id headless and call ``stop(process)``
    once its first change is in flight (the emulator's clock stopped, so it stays there).
    Returns the run's exit status, its stderr and the plan id."""
    dry = run_cli(*args, "-o", tmp_path / "dry.ipynb", env=lab_env)
    assert dry.returncode == 0, dry.stderr
    emu.clock.set_manual(True)
    proc = subprocess.Popen([sys.executable, "-m", "smartdc_nb.cli", "run", *map(str, args),
                             "-p", "approve", plan_id_of(dry.stdout), "-o", tmp_path / "out.ipynb"],
                            env=lab_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not any(r["method"] == "POST" for r in emu.requests):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        time.sleep(0.5)
        stop(proc)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        emu.clock.set_manual(False)
    return proc.returncode, stderr, plan_id_of(dry.stdout)


@pytest.mark.slow
def test_ctrl_c_in_a_rolling_reboot_says_what_the_cloud_was_sent(emu, lab_env, tmp_path):
    """Ctrl-C during the first batch said only "interrupted; the cells run so far are in
    out.ipynb": the summary cell never ran, and the notebook's last error read "not reached".
    The run now says what the journal has: the reboots accepted, and how to resume."""
    import signal

    # a terminal's Ctrl-C: the run and its kernel
    code, stderr, plan_id = _rolling_reboot_stopped_mid_batch(
        emu, lab_env, tmp_path, lambda proc: os.killpg(proc.pid, signal.SIGINT))
    assert code == 130, stderr
    assert "interrupted; the cells run so far are in" in stderr
    assert f"(plan {plan_id}) — interrupted; 1 accepted" in stderr, stderr
    assert "smartdc-nb resume RUN_ID" in stderr


@pytest.mark.slow
def test_snapshot_deletions_still_going_at_the_timeout_are_not_called_failed(emu, lab_env, dc,
                                                                            tmp_path):
    """snapshot-hygiene reported a deletion the cloud had accepted, and was still doing when
    the wait ran out, as "failed"; and it gave each wait the whole timeout in turn, so two
    slow deletions took twice the time the parameter names."""
    emu.clock.set_manual(True, start=time.time() - 3 * 86400)  # two snapshots 3 days old
    for machine in dc.machines(state="running")[:2]:
        machine.create_snapshot("old")
    emu.clock.advance(60)
    emu.clock.set_manual(False)
    emu.set_durations(delete_snapshot=120)
    proc = run_cli(NOTEBOOKS / "04-snapshot-hygiene.ipynb", "-p", "profile", "lab", "-p", "delete",
                   "True", "-p", "older_than_days", "0", "-p", "keep_newest", "0", "-p",
                   "name_pattern", "^old$",
                   "-p", "timeout", "2", "-o", tmp_path / "out.ipynb", env=lab_env)
    assert proc.returncode == 1, proc.stderr
    said = " ".join(proc.stdout.split())
    assert "0 of 2 old snapshots deleted (0.0 GiB freed), 0 failed, 2 accepted but not seen " \
           "deleted within 2s (the cloud may still finish them)" in said, said
    assert "2 snapshot deletions were accepted but not seen done within 2s" in proc.stderr
    deletes = [r for r in emu.requests if r["method"] == "DELETE"]
    assert len(deletes) == 2 and all(r["status"] == 204 for r in deletes), deletes


@pytest.mark.slow
def test_a_terminated_run_says_so_and_what_the_cloud_was_sent(emu, lab_env, tmp_path):
    """`timeout 1h smartdc-nb run ...` (or a service stop) sends SIGTERM to the run alone: it
    died with status 143 and not a word, its kernel left to find out by itself. It now ends
    like a Ctrl-C: it says it was terminated, what the journal has, and how to resume."""
    import signal

    # the run only, as timeout(1) and systemd do
    code, stderr, plan_id = _rolling_reboot_stopped_mid_batch(
        emu, lab_env, tmp_path, lambda proc: os.kill(proc.pid, signal.SIGTERM))
    assert code == 128 + signal.SIGTERM, stderr
    assert "terminated (SIGTERM); the cells run so far are in" in stderr, stderr
    assert f"(plan {plan_id})" in stderr and "1 accepted" in stderr, stderr
    assert "smartdc-nb resume RUN_ID" in stderr


@pytest.mark.slow
def test_a_headless_wait_on_a_silent_cloud_says_so_while_it_goes_on(emu, lab_env, tmp_path):
    """The cloud accepts a reboot, then stops answering: the batch's wait polls on to its
    deadline (15 minutes by default) and the terminal said nothing until then. It now shows
    the wait's notices as they come, under the running cell's line."""
    args = [NOTEBOOKS / "03-rolling-reboot.ipynb", "-p", "profile", "lab", "-p", "tag_selector",
            "role=web", "-p", "snapshot_first", "False", "-p", "batch_size", "1",
            "-p", "timeout", "6"]
    dry = run_cli(*args, "-o", tmp_path / "dry.ipynb", env=lab_env)
    assert dry.returncode == 0, dry.stderr

    def silent_after_the_first_reboot() -> None:
        eventually(lambda: any(r["method"] == "POST" for r in emu.requests), 120, "a reboot")
        fault = emu.faults.add(path=r"/demo/machines", method="GET", drop=True)
        time.sleep(7)  # past the batch's wait: the cells after it read the cloud as it is again
        emu.faults.remove(fault)

    proc = run_cli_while(emu, silent_after_the_first_reboot, *args, "-p", "approve",
                         plan_id_of(dry.stdout), "-o", tmp_path / "out.ipynb",
                         env={**lab_env, "SMARTDC_NB_SILENCE_NOTICE": "1"})
    assert proc.returncode == 1, proc.stderr
    notices = [line for line in proc.stderr.splitlines() if "no answer from CloudAPI" in line]
    assert notices, proc.stderr
    assert re.match(r"\[\d+/\d+ \+\d+:\d\d\] no answer from CloudAPI \(us-east-1\) since ",
                    notices[0]), notices[0]
    assert "still waiting for 1 machine (" in notices[0] and "smartdc_nb: " not in proc.stderr


@pytest.mark.slow
def test_a_headless_listing_the_cloud_holds_says_so_under_its_cell(emu, lab_env, tmp_path):
    """A listing on a cloud that takes the connection and does not answer said nothing until
    request_timeout (180 s): the terminal showed a cell's line and then nothing. The request's
    notice is printed in the kernel from the watchdog's thread, in the context of the cell that
    made it, and relayed under that cell's line."""
    fault = emu.faults.add(path=r"/demo/machines(\?|$)", method="GET", hold=True)

    def answer_after_a_while() -> None:
        eventually(lambda: any(f["hits"] for f in emu.faults.list()), 120, "the held listing")
        time.sleep(3.5)
        emu.faults.remove(fault)  # lets the held request go on to its answer

    proc = run_cli_while(emu, answer_after_a_while, NOTEBOOKS / "01-fleet-overview.ipynb",
                         "-p", "profile", "lab", "-o", tmp_path / "out.ipynb",
                         env={**lab_env, "SMARTDC_NB_SILENCE_NOTICE": "1"})
    assert proc.returncode == 0, proc.stderr
    notices = [line for line in proc.stderr.splitlines() if "has had no full answer" in line]
    assert len(notices) >= 2, proc.stderr
    urls = "|".join(map(re.escape, emu.urls.values()))  # the overview lists every datacenter
    assert re.match(r"\[\d+/\d+ \+\d+:\d\d\] GET /demo/machines\S* to CloudAPI at "
                    f"({urls}) has had no full answer since ", notices[0]), notices[0]
    assert "smartdc_nb: " not in proc.stderr


@pytest.mark.slow
def test_rolling_reboot_dry_run_changes_nothing(demo_cloud, tmp_path):
    dc = smartdc_nb.connect("demo")
    nb = execute("03-rolling-reboot.ipynb", tmp_path, tag_selector="role=web")
    text = text_of(nb)
    assert "dry run: nothing was snapshotted" in text and "dry run: nothing was rebooted" in text
    assert "dry run for role=web:" in text
    for url in demo_cloud["urls"].values():
        for m in dc.clone(url=url).raw_machines(tags={"role": "web"}):
            audit = dc.clone(url=url).request("GET", "machines", m["id"], "audit").data
            assert not any(e["action"] in ("reboot", "create_snapshot") and
                           parse_time(e["time"]) > parse_time(nb.metadata.papermill.start_time)
                           for e in audit)


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


def plan_id_of(text: str) -> str:
    """The plan id a rolling-reboot dry run printed."""
    match = re.search(r"plan ([0-9a-f]{12}) \(apply it with -p approve \1\)", text)
    assert match, text[-3000:]
    return match.group(1)


@pytest.mark.slow
def test_rolling_reboot_of_nothing_is_a_clean_no_op(demo_cloud, tmp_path):
    nb = execute("03-rolling-reboot.ipynb", tmp_path, tag_selector="role=nothing")
    assert "0 machines carry {'role': 'nothing'}" in text_of(nb)
    assert "nothing to apply: no machine carries role=nothing" in text_of(nb)
    approved = execute("03-rolling-reboot.ipynb", tmp_path, tag_selector="role=nothing",
                       approve=re.search(r"\(plan ([0-9a-f]{12})\)", text_of(nb)).group(1))
    assert "reboot on 0 machines: nothing to do" in text_of(approved)
    assert "Empty DataFrame" not in text_of(approved)
    assert "no machines to verify: none was rebooted" in text_of(approved)
    assert not [o for o in outputs(approved, "text/plain") if o["data"]["text/plain"] == "None"]


@pytest.mark.slow
def test_rolling_reboot_applies_only_the_approved_plan(demo_cloud, tmp_path):
    """A wrong or stale id changes nothing, and says the plan's id."""
    dry = run_cli(NOTEBOOKS / "03-rolling-reboot.ipynb", "-p", "tag_selector", "role=web",
                  "-o", tmp_path / "dry.ipynb")
    assert dry.returncode == 0, dry.stderr
    plan_id = plan_id_of(dry.stdout)
    dc = smartdc_nb.connect("demo")
    web = smartdc_nb.Fleet(dc).machines(tags={"role": "web"})
    running = [m for m in web if m.state == "running" and m.brand != "kvm"]
    running[0].stop().wait_for("stopped", timeout=60, interval=0.1)  # the fleet changed since
    stale = run_cli(NOTEBOOKS / "03-rolling-reboot.ipynb", "-p", "tag_selector", "role=web",
                    "-p", "approve", plan_id, "-o", tmp_path / "stale.ipynb")
    assert stale.returncode == 1
    assert f"approve '{plan_id}' is not this plan's id" in stale.stderr
    assert "run again with -p approve " in stale.stderr
    for machine in web:
        audit = machine.audit()
        assert not any(e["action"] in ("reboot", "create_snapshot") for e in audit
                       if parse_time(e["time"]) > parse_time(
                           nbformat.read(str(tmp_path / "dry.ipynb"), as_version=4)
                           .metadata.papermill.start_time)), machine.name


@pytest.mark.slow
def test_rolling_reboot_approval_covers_every_parameter_that_changes_the_run(demo_cloud, tmp_path):
    """The id a dry run printed does not approve a run with other batches, another health
    check or other snapshot names: each is refused before anything is sent."""
    args = [NOTEBOOKS / "03-rolling-reboot.ipynb", "-p", "tag_selector", "role=web,env=staging"]
    dry = run_cli(*args, "-o", tmp_path / "dry.ipynb")
    assert dry.returncode == 0, dry.stderr
    plan_id = plan_id_of(dry.stdout)
    for name, value in (("batch_size", "3"), ("health_check", "none"),
                        ("snapshot_name", "other-{date}")):
        changed = run_cli(*args, "-p", name, value, "-p", "approve", plan_id,
                          "-o", tmp_path / f"{name}.ipynb")
        assert changed.returncode == 1, name
        assert f"approve '{plan_id}' is not this plan's id" in changed.stderr, name
    for machine in smartdc_nb.Fleet(smartdc_nb.connect("demo")).machines(tags={"role": "web"}):
        assert not any(e["action"] in ("reboot", "create_snapshot") for e in machine.audit()
                       if parse_time(e["time"]) > parse_time(
                           nbformat.read(str(tmp_path / "dry.ipynb"), as_version=4)
                           .metadata.papermill.start_time)), machine.name


@pytest.mark.slow
def test_rolling_reboot_named_to_the_second_says_no_id_can_approve_it(demo_cloud, tmp_path):
    """snapshot_name with {datetime}: every run plans other names, so the id a dry run printed
    never approves the next run. The dry run and the refusal say so, and what to use, instead
    of "run again with -p approve <another id that will not work either>"."""
    args = [NOTEBOOKS / "03-rolling-reboot.ipynb", "-p", "tag_selector", "role=web,env=staging",
            "-p", "snapshot_name", "pre-{datetime}"]
    dry = run_cli(*args, "-o", tmp_path / "dry.ipynb")
    assert dry.returncode == 0, dry.stderr
    assert "has the time to the second in it" in dry.stdout and "{date}" in dry.stdout
    plan_id = re.search(r"plan ([0-9a-f]{12}) \(snapshot_name", dry.stdout).group(1)
    time.sleep(1.1)  # another second: other names
    refused = run_cli(*args, "-p", "approve", plan_id, "-o", tmp_path / "refused.ipynb")
    assert refused.returncode == 1
    assert f"approve '{plan_id}' is not this plan's id" in refused.stderr
    assert "no id can approve it" in refused.stderr and "run again with" not in refused.stderr


@pytest.mark.slow
def test_rolling_reboot_runs_headless(demo_cloud, tmp_path):
    args = [NOTEBOOKS / "03-rolling-reboot.ipynb", "-p", "tag_selector", "role=web,env=staging",
            "-p", "batch_size", "2"]
    dry = run_cli(*args, "-o", tmp_path / "dry.ipynb")
    assert dry.returncode == 0, dry.stderr
    proc = run_cli(*args, "-p", "approve", plan_id_of(dry.stdout), "-o", tmp_path / "out.ipynb",
                   "--html", tmp_path / "report.html")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"rolling reboot of role=web,env=staging (plan "
                               f"{plan_id_of(dry.stdout)}): reboot on ")
    # the runbook's requests are in the journal, the reboots under the approved plan's id
    runs = {run.action: run for run in smartdc_nb.journal_runs()}
    assert runs["reboot"].start["plan_id"] == plan_id_of(dry.stdout)
    assert runs["reboot"].status == "ended" and "create_snapshot" in runs
    # and a runbook's run can be resumed from the terminal: here nothing is left to send,
    # which is said first (no --without-health-check asked for), in the summary's words
    resumed = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "resume",
                              runs["reboot"].run_id], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith(f"run {runs['reboot'].run_id} ended (") and \
        resumed.stdout.rstrip().endswith(": nothing needs sending; every machine's request was "
                                         "accepted and its batch checked"), resumed.stdout
    dc = smartdc_nb.connect("demo")
    fleet = smartdc_nb.Fleet(dc)
    staging = [m for m in fleet.machines(tags={"role": "web", "env": "staging"})
               if m.brand != "kvm"]
    rebooted = [m for m in staging if m.state == "running"]
    assert rebooted and f"{len(rebooted)} done" in lines[0]
    reboot_times = []
    for machine in rebooted:
        audit = machine.audit()
        reboots = [e for e in audit if e["action"] == "reboot" and e["success"] == "yes"]
        snapshots = [e for e in audit if e["action"] == "create_snapshot" and e["success"] == "yes"]
        assert reboots and snapshots and snapshots[0]["time"] < reboots[0]["time"], machine.name
        reboot_times.append(reboots[0]["time"])
        assert any(s.name.startswith("before-reboot-") for s in machine.snapshots())
    # batches of two: never more than two reboots at the same moment
    assert max(reboot_times.count(t) for t in reboot_times) <= 2
    assert "before-reboot-" in (tmp_path / "report.html").read_text()


@pytest.mark.slow
def test_rolling_reboot_stops_at_a_failed_batch_and_fails_loudly(demo_cloud, tmp_path):
    # the cloud fails the next reboot job in us-east-1, whose machines make up the first batch
    requests.post(demo_cloud["urls"]["us-east-1"] + "/__emulator/fail-next",
                  json={"action": "reboot", "count": 1}, timeout=10).raise_for_status()
    args = [NOTEBOOKS / "03-rolling-reboot.ipynb", "-p", "tag_selector", "role=web,env=staging",
            "-p", "snapshot_first", "False"]
    dry = run_cli(*args, "-o", tmp_path / "dry.ipynb")
    assert dry.returncode == 0, dry.stderr
    proc = run_cli(*args, "-p", "approve", plan_id_of(dry.stdout), "-o", tmp_path / "out.ipynb")
    assert proc.returncode == 1
    assert "RuntimeError: the rolling reboot did not complete" in proc.stderr
    # the report still came out: one failed, the later batches not reached
    assert "1 failed" in proc.stdout and "not reached" in proc.stdout
    assert "the roll stopped after batch 1" in proc.stdout


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
