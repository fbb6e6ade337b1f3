"""The runbooks run headless (``smartdc-nb run``): parameters refused before any change, and
what a run says when it is interrupted, terminated, or its cloud goes silent."""

from __future__ import annotations

import os
import re
import time

import pytest

from polling import eventually
from notebook_runs import NOTEBOOKS, plan_id_of, _rolling_reboot_stopped_mid_batch, run_cli, run_cli_while


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
