"""The rolling-reboot runbook: dry run, plan id, approve and apply, in a kernel and headless."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import nbformat
import pytest
import requests

import smartdc_nb
from smartdc_nb.machine import parse_time
from notebook_runs import NOTEBOOKS, execute, outputs, plan_id_of, run_cli, text_of


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
    # on a terminal each note stays with its machine: pandas moved a table wider than the
    # screen into blocks of columns, the long notes right-aligned in a block of their own
    lines = proc.stdout.splitlines()
    top = next(i for i, line in enumerate(lines) if "datacenter" in line)
    assert not lines[top].rstrip().endswith("\\"), proc.stdout  # no second block of columns
    failed = next(i for i, line in enumerate(lines) if i > top and "web-staging-02" in line
                  and " failed " in line)
    row = lines[failed].split()[0]
    assert any(line.startswith(f"{row}: the cloud refused 'reboot' on web-staging-02")
               for line in lines[failed:]), proc.stdout
