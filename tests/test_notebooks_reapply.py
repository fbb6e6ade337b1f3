"""rolling-reboot run again headless with the approve id it already applied.

The approval was for the machines as that dry run read them, and its apply changed them. A
second ``smartdc-nb run rolling-reboot ... -p approve <id>`` (cron run twice, a shell's
history) rebooted every machine again when no snapshot came first, and stopped at the
snapshot step with "already exists" when one did. It now says, before anything is sent,
which run applied the plan, when and how it ended, and what to do: a new dry run for a run
that ended, ``smartdc-nb resume RUN_ID`` for one that did not.
"""

from __future__ import annotations

import os
import signal

import nbformat
import pytest
from notebook_runs import (NOTEBOOKS, _rolling_reboot_stopped_mid_batch, applied_then_stopped,
                           plan_id_of, run_cli, text_of)
from test_machine_support import accepted, mutations

import smartdc_nb

pytestmark = pytest.mark.slow
ROLLING = NOTEBOOKS / "03-rolling-reboot.ipynb"


def _run_of(plan_id: str):
    return next(run for run in smartdc_nb.journal_runs(None) if run.start.get("plan_id") == plan_id)


def _applied(emu, lab_env, tmp_path, *args: str) -> tuple[list, str]:
    args = [ROLLING, "-p", "profile", "lab", "-p", "tag_selector", "role=web",
            "-p", "batch_size", "10", *args]
    dry = run_cli(*args, "-o", tmp_path / "dry.ipynb", env=lab_env)
    assert dry.returncode == 0, dry.stderr
    plan_id = plan_id_of(dry.stdout)
    first = run_cli(*args, "-p", "approve", plan_id, "-o", tmp_path / "first.ipynb", env=lab_env)
    assert first.returncode == 0, first.stderr
    assert " done" in first.stdout
    return args, plan_id


def _said(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("snapshot_first", ["True", "False"])
def test_an_approve_id_applied_before_is_refused_saying_by_which_run(emu, lab_env, tmp_path,
                                                                     snapshot_first):
    args, plan_id = _applied(emu, lab_env, tmp_path, "-p", "snapshot_first", snapshot_first)
    earlier = _run_of(plan_id)
    emu.clear_requests()
    again = run_cli(*args, "-p", "approve", plan_id, "-o", tmp_path / "again.ipynb", env=lab_env)
    assert again.returncode == 1
    said = _said(again.stderr)
    # in the words of that run's own summary ("8 done"), not the journal's ("8 accepted")
    done = len(earlier.machines())
    first = nbformat.read(str(tmp_path / "first.ipynb"), as_version=4)
    assert f": {done} done in " in text_of(first)
    assert (f"plan {plan_id} was already applied: run {earlier.run_id}, begun "
            f"{earlier.start['time']:%Y-%m-%d %H:%M:%S} UTC, ended ({done} done)") in said, said
    assert done > 0 and "accepted" not in said
    assert "nothing was sent" in said and "make a new plan with a dry run" in said
    assert "already exists" not in said and "already has" not in said
    if snapshot_first == "True":  # the names it would take again are taken: how to plan anew
        snapshots = next(run for run in smartdc_nb.journal_runs(None)
                         if run.action == "create_snapshot")
        assert (f"this plan's snapshots were taken by run {snapshots.run_id}: give another "
                "snapshot_name, or -p snapshot_first False") in said, said
    assert mutations(emu) == []


def test_the_dry_run_after_an_apply_prints_a_new_id_which_applies(emu, lab_env, tmp_path):
    """The same machines in the same states, planned after the apply: another id, so a new
    review approves a new reboot, and only the old id is spent."""
    args, plan_id = _applied(emu, lab_env, tmp_path, "-p", "snapshot_first", "False")
    dry = run_cli(*args, "-o", tmp_path / "dry2.ipynb", env=lab_env)
    assert dry.returncode == 0, dry.stderr
    second_id = plan_id_of(dry.stdout)
    assert second_id != plan_id
    emu.clear_requests()
    second = run_cli(*args, "-p", "approve", second_id, "-o", tmp_path / "second.ipynb",
                     env=lab_env)
    assert second.returncode == 0, second.stderr
    assert _run_of(second_id).status == "ended"
    rebooted = _run_of(second_id).machines()
    assert rebooted and accepted(emu, "reboot") == {machine_id: 1 for machine_id in rebooted}


def test_an_approve_id_whose_run_was_interrupted_is_pointed_at_resume(emu, lab_env, tmp_path):
    code, stderr, plan_id = _rolling_reboot_stopped_mid_batch(
        emu, lab_env, tmp_path, lambda proc: os.killpg(proc.pid, signal.SIGINT))
    assert code == 130, stderr
    earlier = _run_of(plan_id)
    assert earlier.status == "interrupted"
    emu.clear_requests()
    again = run_cli(ROLLING, "-p", "profile", "lab", "-p", "tag_selector", "role=web",
                    "-p", "snapshot_first", "False", "-p", "batch_size", "1",
                    "-p", "approve", plan_id, "-o", tmp_path / "again.ipynb", env=lab_env)
    assert again.returncode == 1
    said = _said(again.stderr)
    assert (f"plan {plan_id} was already applied: run {earlier.run_id}, begun "
            f"{earlier.start['time']:%Y-%m-%d %H:%M:%S} UTC, did not finish (interrupted") \
        in said, said
    assert f"smartdc-nb resume {earlier.run_id}" in said and "nothing was sent" in said
    assert "make a new plan" not in said
    assert mutations(emu) == []


def test_an_approve_id_being_applied_elsewhere_now_is_said_so(emu, lab_env, tmp_path):
    """The same command started again while the first still reboots (a second cron entry):
    it names the running run, and sends nothing."""
    seen = {}

    def again_then_stop(proc):
        seen["again"] = run_cli(ROLLING, "-p", "profile", "lab", "-p", "tag_selector", "role=web",
                                "-p", "snapshot_first", "False", "-p", "batch_size", "1",
                                "-p", "approve", seen.setdefault("plan", _running_plan()),
                                "-o", tmp_path / "again.ipynb", env=lab_env)
        seen["sent"] = len(mutations(emu))
        os.killpg(proc.pid, signal.SIGINT)

    def _running_plan():
        return next(run for run in smartdc_nb.journal_runs(None)
                    if run.action == "reboot").start["plan_id"]

    code, stderr, plan_id = _rolling_reboot_stopped_mid_batch(emu, lab_env, tmp_path,
                                                              again_then_stop)
    assert code == 130, stderr
    assert seen["plan"] == plan_id
    said = _said(seen["again"].stderr)
    assert seen["again"].returncode == 1, said
    earlier = _run_of(plan_id)
    assert (f"plan {plan_id} is being applied now: run {earlier.run_id}, begun "
            f"{earlier.start['time']:%Y-%m-%d %H:%M:%S} UTC, still running") in said, said
    assert "nothing was sent" in said
    assert seen["sent"] == 1  # the first run's reboot, and nothing of the second


def _stopped_in_the_snapshots(emu, lab_env, tmp_path) -> tuple[list, str]:
    """A rolling reboot applied headless and Ctrl-C'd while its snapshots are being taken
    (the emulator's clock stopped, so they stay there): its reboots never began."""
    args = [ROLLING, "-p", "profile", "lab", "-p", "tag_selector", "role=web",
            "-p", "batch_size", "10"]
    code, stderr, plan_id = applied_then_stopped(emu, lab_env, tmp_path, args,
                                                 lambda proc: os.killpg(proc.pid, signal.SIGINT))
    assert code == 130, stderr
    return args, plan_id


def test_an_approve_id_whose_snapshots_were_interrupted_is_pointed_at_resume(emu, lab_env,
                                                                              tmp_path):
    """Ctrl-C while the snapshots are taken: run again with the same id, it took the
    snapshots again ("already has a snapshot" for those taken) and stopped there."""
    args, plan_id = _stopped_in_the_snapshots(emu, lab_env, tmp_path)
    snapshots = next(run for run in smartdc_nb.journal_runs(None)
                     if run.action == "create_snapshot")
    assert snapshots.status == "interrupted"
    assert not [run for run in smartdc_nb.journal_runs(None) if run.action == "reboot"]
    emu.clear_requests()
    again = run_cli(*args, "-p", "approve", plan_id, "-o", tmp_path / "again.ipynb", env=lab_env)
    assert again.returncode == 1
    said = _said(again.stderr)
    assert (f"the snapshots of plan {plan_id} were already taken: run {snapshots.run_id}, "
            f"begun {snapshots.start['time']:%Y-%m-%d %H:%M:%S} UTC, did not finish "
            "(interrupted") in said, said
    assert f"smartdc-nb resume {snapshots.run_id}` finishes that run" in said
    assert "reboots, which never began" in said and "-p snapshot_first False" in said
    assert "already has" not in said and "nothing was sent" in said
    assert mutations(emu) == []


@pytest.mark.parametrize("check", ["tcp:99999", "tcp:0"])
def test_a_health_check_port_no_tcp_port_can_be_is_refused_before_any_reboot(emu, lab_env,
                                                                             tmp_path, check):
    """``-p health_check tcp:99999`` (a digit too many) passed the dry run, so its apply
    rebooted the first batch, then failed every check and stopped the roll. The dry run
    refuses it, and nothing is sent."""
    proc = run_cli(ROLLING, "-p", "profile", "lab", "-p", "tag_selector", "role=web",
                   "-p", "health_check", check, "-o", tmp_path / "dry.ipynb", env=lab_env)
    assert proc.returncode == 1, proc.stdout
    assert (f'health_check must be "running", "tcp:PORT" (a port from 1 to 65535) or "none", '
            f"not '{check}'") in _said(proc.stderr), proc.stderr
    assert mutations(emu) == []
