"""Resume: an interrupted bulk run continues from the journal, never sending anything twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest
from test_machine_support import (FAST, accepted_stops, ctrl_c_after_accepted, ctrl_c_when,
                                  fetched, forget_records, mutations)

import smartdc_nb
from smartdc_nb.bulk import BulkInterrupted
from smartdc_nb.errors import InvalidInputError
from smartdc_nb.journal_views import journal_run, journal_runs
from smartdc_nb.machinelist import MachineList
from smartdc_nb.resuming import resume


def test_resume_after_ctrl_c_sends_only_what_was_not_sent(emu, dc):
    machines = MachineList(fetched(dc, emu, name=f"r-c{i}") for i in range(8))
    emu.faults.add(r"action=stop", method="POST", latency=0.25)
    emu.clear_requests()
    with pytest.raises(BulkInterrupted) as caught, ctrl_c_after_accepted(emu, "stop", 2):
        machines.stop(confirm=True, concurrency=1, **FAST)
    sent_before = accepted_stops(emu)
    assert 0 < len(sent_before) < 8
    run = journal_runs()[0]
    assert run.status == "interrupted"
    assert run.counts()["not sent"] == 8 - len(sent_before)
    emu.faults.clear()
    result = resume(run.run_id, progress=False)
    assert accepted_stops(emu) == Counter({m.id: 1 for m in machines})
    rows = {row["id"]: row for row in result}
    for machine_id in sent_before:
        assert rows[machine_id]["outcome"] == "skipped"
        assert "already sent in this run" in rows[machine_id]["reason"]
    assert sum(r["outcome"] == "done" for r in rows.values()) == 8 - len(sent_before)
    assert caught.value.result.counts["not reached"] == 8 - len(sent_before)
    assert journal_run(run.run_id).status == "ended"
    assert result.run_id == run.run_id
    # resuming again finds everything done: nothing is sent
    emu.clear_requests()
    again = resume(run.run_id, progress=False)
    assert mutations(emu) == [] and again.counts["skipped"] == 8


def test_a_request_in_flight_is_checked_with_the_cloud_first(emu, dc, journal_path):
    a, b, c, d = (fetched(dc, emu, name=f"r-f{i}") for i in range(4))
    emu.faults.add(d.id, method="POST", drop=True)  # d's request never reaches the cloud
    result = MachineList([a, b, c, d]).stop(confirm=True, **FAST)
    assert result.counts == {**result.counts, "done": 3, "failed": 1}
    emu.faults.clear()
    run_id = journal_runs()[0].run_id
    forget_records(journal_path, run_id=run_id, kind="run-end")
    forget_records(journal_path, machine_id=b.id, kind="outcome")  # b: sent, outcome never written
    forget_records(journal_path, machine_id=d.id, kind="outcome")  # d: intent only, and never arrived
    forget_records(journal_path, machine_id=c.id)                  # c: died before its intent
    emu.datacenter("us-east-1").set_state(c.id, "running")
    assert journal_run(run_id).status == "incomplete"
    emu.clear_requests()
    other = journal_path.parent / "elsewhere.jsonl"  # the caller's connections, not new ones
    given = smartdc_nb.Fleet({"us-east-1": dc.clone(journal=str(other))})
    result = resume(run_id, datacenters=given, progress=False)
    assert all(o.machine.datacenter is given["us-east-1"] for o in result.outcomes)
    assert not other.exists()  # the resumed run is written where the run is
    rows = {row["name"]: row for row in result}
    assert rows["r-f0"]["reason"].startswith("already sent in this run")
    assert "sent before the interruption and the machine is stopp" in rows["r-f1"]["reason"]
    assert rows["r-f2"]["outcome"] == "done" and rows["r-f3"]["outcome"] == "done"
    assert accepted_stops(emu) == Counter({c.id: 1, d.id: 1})


def test_an_in_flight_request_that_landed_is_found_in_the_audit_log(emu, dc, journal_path):
    machine = fetched(dc, emu, name="r-audit")
    MachineList([machine]).reboot(confirm=True, wait=True, **FAST)  # back to running, audited
    run_id = journal_runs()[0].run_id
    forget_records(journal_path, run_id=run_id, kind="outcome")
    forget_records(journal_path, run_id=run_id, kind="run-end")
    emu.clear_requests()
    (row,) = resume(run_id, progress=False)
    assert "its audit log shows reboot at" in row["reason"]
    assert mutations(emu) == []
    # a resume with nothing left to send still ends the run: it was "incomplete" forever
    run = journal_run(run_id)
    assert [r["kind"] for r in run.records][-2:] == ["resume", "run-end"]
    assert run.status == "ended"


def test_an_in_flight_request_whose_job_failed_is_said_failed_not_done(emu, dc, journal_path):
    """The audit log shows the request landed, and that its job failed (success "no"): the
    resume sent nothing again (right), but its row was "skipped" with "its audit log shows
    create_snapshot at ...", which reads as done. It now fails, saying the job failed."""
    ok, doomed = (fetched(dc, emu, name=f"r-job{i}") for i in range(2))
    emu.datacenter("us-east-1").fail_next("create_snapshot")  # the first snapshot job fails
    MachineList([doomed]).create_snapshot("pre", confirm=True, **FAST)
    MachineList([ok]).create_snapshot("pre", confirm=True, **FAST)
    runs = [r.run_id for r in journal_runs()[:2]]
    for run_id in runs:
        forget_records(journal_path, run_id=run_id, kind="outcome")
        forget_records(journal_path, run_id=run_id, kind="run-end")
    time.sleep(0.5)  # the jobs end (0.3 s at the tests' speed)
    emu.clear_requests()
    (failed,) = resume(runs[1], progress=False)  # doomed's run
    (landed,) = resume(runs[0], progress=False)
    assert mutations(emu) == []
    assert failed["outcome"] == "failed", (failed["outcome"], failed["reason"])
    assert "its audit log shows create_snapshot at" in failed["reason"]
    assert "which failed" in failed["reason"]
    assert landed["outcome"] == "skipped" and "which failed" not in landed["reason"]


def test_a_run_that_set_secrets_is_not_resumed_with_values_it_does_not_have(emu, dc):
    """The journal keeps no secret's value, so a resume of an interrupted update_metadata
    with a password would send the placeholder as the password: it refuses, nothing sent."""
    machines = MachineList(fetched(dc, emu, name=f"r-sec{i}") for i in range(4))
    emu.faults.add(r"/metadata", method="POST", latency=0.25)
    emu.clear_requests()
    written = lambda: any(r["method"] == "POST" and r["path"].endswith("/metadata")  # noqa: E731
                          and r["status"] == 200 for r in emu.requests)
    with pytest.raises(BulkInterrupted), ctrl_c_when(written):
        machines.update_metadata({"db_password": "s3cret-value"}, confirm=True, concurrency=1,
                                 **FAST)
    emu.faults.clear()
    run = journal_runs()[0]
    emu.clear_requests()
    with pytest.raises(InvalidInputError, match="set secret values .*nothing was sent"):
        resume(run.run_id, progress=False)
    assert mutations(emu) == []


def test_resume_refuses_what_it_cannot_resume(emu, dc):
    fetched(dc, emu, name="r-single").stop()
    single = journal_runs()[0].run_id
    with pytest.raises(InvalidInputError, match="single request, not a bulk run"):
        resume(single)
    with pytest.raises(InvalidInputError, match="no run 'nope' in the journal at"):
        resume("nope")
    machines = MachineList(fetched(dc, emu, name=f"r-h{i}") for i in range(2))
    emu.faults.add(r"action=reboot", method="POST", status=500)
    machines.reboot(batch_size=1, health_check=lambda m: True, **FAST)
    with pytest.raises(InvalidInputError, match="health check; give it again"):
        resume(journal_runs()[0].run_id)


def test_resume_runs_the_rest_with_the_runs_own_health_check(emu, dc):
    """The rest of a run goes as it was planned: another health check is refused, saying
    whose it was, unless the caller says the check changed on purpose (a fixed check)."""
    machines = MachineList(fetched(dc, emu, name=f"r-hc{i}") for i in range(3))
    emu.faults.add(r"action=reboot", method="POST", status=500, count=1)

    # the redefinition below is the point (F811)
    def healthy(m):  # noqa: F811
        return m.state == "running"
    original = healthy
    machines.reboot(batch_size=1, health_check=healthy, **FAST)  # halts after the first
    run_id = journal_runs()[0].run_id

    def healthy(m):  # noqa: F811
        return True
    emu.clear_requests()
    with pytest.raises(InvalidInputError, match=r"run \S+ checked each batch with "
                                                r".*healthy, not the health check given "
                                                r"\(another body\)"):
        resume(run_id, health_check=healthy, progress=False)
    assert mutations(emu) == []
    result = resume(run_id, health_check=healthy, check_changed=True, progress=False)
    # the first reboot got a 500 and the cloud shows no reboot: it is sent again, then the rest
    assert result.counts["done"] == 3
    emu.clear_requests()
    again = resume(run_id, health_check=original, progress=False)  # its own check: fine
    assert mutations(emu) == [] and again.counts.get("done", 0) == 0


def test_a_lambda_health_check_is_named_whole_when_another_is_refused(emu, dc):
    """A lambda's qualified name ends in ``<lambda>``: the refusal names it whole, not
    ``<lambda`` (its closing bracket was stripped with the identity's)."""
    machines = MachineList(fetched(dc, emu, name=f"r-lam{i}") for i in range(2))
    emu.faults.add(r"action=reboot", method="POST", status=500, count=1)
    machines.reboot(batch_size=1, health_check=lambda m: m.state == "running", **FAST)
    run_id = journal_runs()[0].run_id
    with pytest.raises(InvalidInputError) as refused:
        resume(run_id, health_check=lambda m: True, progress=False)
    assert re.search(r"checked each batch with \S*<lambda>, not the health check given "
                     r"\(another body\)", str(refused.value)), str(refused.value)


def test_a_run_journalled_before_checks_were_named_resumes_with_any(emu, dc, journal_path):
    """Journals written by 0.1 recorded only that a run had a check (``true``): any check
    given resumes it, as it did, and none given is still refused."""
    machines = MachineList(fetched(dc, emu, name=f"r-old{i}") for i in range(2))
    emu.faults.add(r"action=reboot", method="POST", status=500, count=1)
    machines.reboot(batch_size=1, health_check=lambda m: True, **FAST)
    run_id = journal_runs()[0].run_id
    text, named = re.subn(r'"health_check": "<callable [^"]*>"', '"health_check": true',
                          journal_path.read_text())
    assert named == 1
    journal_path.write_text(text)
    with pytest.raises(InvalidInputError, match="health check; give it again"):
        resume(run_id, progress=False)
    result = resume(run_id, health_check=lambda m: m.state == "running", progress=False)
    assert result.counts["done"] == 2  # the reboot that got a 500 (not done) and the other


@pytest.mark.slow
def test_kill_9_mid_bulk_stop_then_resume_in_a_new_process(emu, triton_keys, journal_path):
    """A few hundred machines, the cloud's throttle on: every machine gets one stop, no more."""
    count = 300
    east = emu.datacenter("us-east-1")
    ids = [east.put_machine(name=f"kill9-{i:03d}", tags={"drill": "kill9"}) for i in range(count)]
    emu.set_throttle({"burst": 30, "rate": 60})  # CloudAPI's throttle, at a test's speed
    emu.clear_requests()
    key = triton_keys["rsa"]
    script = textwrap.dedent(f"""
        import smartdc_nb
        dc = smartdc_nb.connect(url={emu.urls['us-east-1']!r}, account="demo",
                                key_id={key.md5!r}, key_path={str(key.private)!r},
                                name="us-east-1", rate_limit=30)
        machines = dc.machines(tags={{"drill": "kill9"}})
        print(len(machines), flush=True)
        machines.stop(confirm=True, concurrency=8, progress=False)
        print("finished", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    outcomes = 0
    while outcomes < count // 4:
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended too early"
        time.sleep(0.05)
        if journal_path.exists():
            outcomes = journal_path.read_text().count('"kind":"outcome"')
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    run = journal_runs()[0]
    assert run.status == "incomplete" and len(run.machines()) == count
    before = accepted_stops(emu)
    assert count // 4 <= len(before) < count
    out = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "resume", run.run_id],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"run {run.run_id}: stop on {count} machines" in out.stdout
    stops = accepted_stops(emu)
    assert stops == Counter({machine_id: 1 for machine_id in ids})  # one each, no more
    # the client's limiter kept under the throttle: no request was refused, none sent twice
    assert [r for r in emu.requests if r["status"] not in (200, 202)] == []
    print(f"kill -9 after {len(before)} of {count} stops; resumed: {out.stdout.splitlines()[0]}")
    emu.set_throttle(None)
    dc = smartdc_nb.connect(url=emu.urls["us-east-1"], account="demo", key_id=key.md5,
                            key_path=str(key.private), name="us-east-1", rate_limit=False)
    waited = dc.machines(tags={"drill": "kill9"}).wait_for("stopped", timeout=60, **FAST)
    assert waited.ok and len(waited.rows) == count
    assert journal_run(run.run_id).status == "ended"


def test_the_terminal_says_how_to_resume_a_run_that_had_a_health_check(emu, dc, journal_path):
    """A terminal cannot give code: `smartdc-nb resume` says both ways on, and sends nothing."""
    machines = MachineList(fetched(dc, emu, name=f"r-cli{i}") for i in range(2))
    emu.faults.add(r"action=reboot", method="POST", status=500, count=1)

    def healthy(m):
        return m.state == "running"
    machines.reboot(batch_size=1, health_check=healthy, **FAST)
    run_id = journal_runs()[0].run_id
    emu.clear_requests()
    told = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "resume", run_id,
                           "--path", str(journal_path)], capture_output=True, text=True,
                          timeout=120)
    assert told.returncode == 2, told.stderr
    said = " ".join(told.stderr.split())
    assert f"run {run_id} checked each batch with" in said and "healthy" in said
    assert f"smartdc_nb.resume({run_id!r}, health_check=...)" in said
    assert "--without-health-check" in said
    assert emu.requests == []


def test_the_terminal_says_first_that_a_run_that_ended_needs_nothing_sent(emu, dc, journal_path):
    """`smartdc-nb resume` of a rolling run that ended, every batch checked, asked for
    --without-health-check, and only with it said there was nothing to do. It says so at
    once now, without the flag and without a request; the flag is asked for only when there
    is something to send (the test above)."""
    machines = MachineList(fetched(dc, emu, name=f"r-end{i}") for i in range(2))

    def healthy(m):
        return m.state == "running"
    result = machines.reboot(batch_size=1, health_check=healthy, **FAST)
    assert result.ok, result.summary()
    run_id = journal_runs()[0].run_id
    records = len(journal_run(run_id).records)
    emu.clear_requests()
    told = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "resume", run_id,
                           "--path", str(journal_path)], capture_output=True, text=True,
                          timeout=120)
    assert told.returncode == 0, told.stderr
    assert told.stdout.strip() == (f"run {run_id} ended (2 done): nothing needs sending; every "
                                   "machine's request was accepted and its batch checked"), \
        told.stdout
    assert told.stderr == "" and emu.requests == []
    assert len(journal_run(run_id).records) == records  # nothing journalled either
