"""What the rolling reboot says in a terminal: a plan with nothing to act on says so and why,
without inviting an approve; an empty table is said in words, not as pandas'
"Empty DataFrame / Columns: [...] / Index: []"."""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest
from polling import eventually
from notebook_runs import NOTEBOOKS, run_cli, text_of

pytestmark = pytest.mark.slow
ROLLING = NOTEBOOKS / "03-rolling-reboot.ipynb"


def _dry_run(tmp_path, env, selector: str, *args: str):
    proc = run_cli(ROLLING, "-p", "profile", "lab", "-p", "tag_selector", selector, *args,
                   "-o", tmp_path / "dry.ipynb", env=env)
    assert proc.returncode == 0, proc.stderr
    return proc, text_of(nbformat.read(str(tmp_path / "dry.ipynb"), as_version=4))


def _plan_cell(tmp_path) -> str:
    """What the plan's cell of the last dry run showed (as JupyterLab shows it)."""
    nb = nbformat.read(str(tmp_path / "dry.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if c.source.startswith("# The machines were listed just now"))
    return text_of(nbformat.v4.new_notebook(cells=[cell]))


def test_a_selection_that_matches_no_machine_has_nothing_to_apply(emu, lab_env, tmp_path):
    """It ended with "0 machines would be rebooted ...; plan ID (apply it with -p approve
    ID)", then pandas' "Empty DataFrame" for the report."""
    proc, notebook = _dry_run(tmp_path, lab_env, "drill=none")
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("dry run for drill=none: nothing to apply: no machine carries "
                               "drill=none (plan "), proc.stdout
    assert lines[1:] == ["no machines to report"], proc.stdout
    # nothing anywhere invites an approve, nor shows an empty frame
    assert "approve" not in notebook and "Empty DataFrame" not in notebook, notebook
    assert "nothing to apply: no machine carries drill=none" in notebook
    # the plan's cell says it once, without "0 of 0 machines to reboot, in 0 batch(es)"
    plan = _plan_cell(tmp_path)
    assert plan.count("no machine carries drill=none") == 1, plan
    assert "0 of 0" not in plan and "batch(es)" not in plan, plan
    # an id that is not this plan's is refused, saying there is nothing to apply now
    stale = run_cli(ROLLING, "-p", "profile", "lab", "-p", "tag_selector", "drill=none",
                    "-p", "approve", "0123456789ab", "-o", tmp_path / "stale.ipynb", env=lab_env)
    assert stale.returncode == 1
    assert ("the fleet or the parameters changed since that id was printed, and now there is "
            "nothing to apply: no machine carries drill=none") in stale.stderr, stale.stderr
    assert "run again with -p approve" not in stale.stderr


def test_a_selection_whose_machines_are_all_left_out_has_nothing_to_apply(emu, lab_env, dc,
                                                                         tmp_path):
    stopped = dc.machines(state="stopped")[0]
    kvm = next(m for m in dc.machines(state="running") if m.brand == "kvm")
    for machine in (stopped, kvm):
        machine.add_tags(drill="lonely")
    proc, notebook = _dry_run(tmp_path, lab_env, "drill=lonely")
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(
        'dry run for drill=lonely: nothing to apply: the 2 machines that carry drill=lonely are '
        'all left out: 1 "no snapshot possible: kvm machines cannot be snapshotted '
        '(BrandNotSupported)", '
        '1 "reboot needs a running machine; it is stopped" (plan '), proc.stdout
    assert "approve" not in notebook, notebook
    # the table of the machines left out, and why, is still shown
    assert stopped.name in proc.stdout and kvm.name in proc.stdout and "leave alone" in proc.stdout
    # without a snapshot first, only the stopped one is left out: the kvm one is rebooted
    proc, _ = _dry_run(tmp_path, lab_env, "drill=lonely", "-p", "snapshot_first", "False")
    assert "nothing to apply" not in proc.stdout
    assert "apply it with -p approve" in proc.stdout


def test_a_batch_that_came_back_after_its_wait_says_so_in_order(emu, lab_env, dc, tmp_path,
                                                                journal_path):
    """The batch's wait timed out, and the verify step after it found the machine running,
    its reboot succeeded: the report's row read reboot "failed" next to reboot_succeeded
    True. The row keeps the run's outcome (as the summary counts it) and says what the check
    found after, in that order."""
    machine = next(m for m in dc.machines(state="running") if m.brand != "kvm")
    machine.add_tags(drill="late")
    args = [ROLLING, "-p", "profile", "lab", "-p", "tag_selector", "drill=late",
            "-p", "snapshot_first", "False", "-p", "timeout", "2"]
    dry = run_cli(*args, "-o", tmp_path / "dry.ipynb", env=lab_env)
    assert dry.returncode == 0, dry.stderr
    plan_id = re.search(r"plan id: ([0-9a-f]{12})", text_of(
        nbformat.read(str(tmp_path / "dry.ipynb"), as_version=4))).group(1)
    emu.clock.set_manual(True)  # the reboot stays in flight past the batch's wait
    proc = subprocess.Popen([sys.executable, "-m", "smartdc_nb.cli", "run", *map(str, args),
                             "-p", "approve", plan_id, "-o", tmp_path / "out.ipynb"],
                            env=lab_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        # the wait ended (its batch record is journalled): the machine comes back now, before
        # the verify step reads it
        eventually(lambda: journal_path.exists() and '"kind":"batch"' in journal_path.read_text(),
                   120, "the batch's end", interval=0.005)
        emu.clock.advance(600)
        emu.clock.set_manual(False)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        emu.clock.set_manual(False)
    assert proc.returncode == 1, err
    lines = out.splitlines()
    # the run's own count, then what the check found after it
    assert re.search(r": 1 failed in [0-9.]+s; failed: .*; then, at the check after the waits, "
                     r"1 of the failed found running, their newest reboot succeeded$", lines[0]), out
    # the row: the run's outcome, then what the check found, and the note in that order
    assert "then, at the check" in lines[1] and "reboot_succeeded" not in out, out
    row = lines[2]
    assert machine.name in row and " failed " in row, out
    assert " running, reboot succeeded 20" in row, out
    # the note whole (pandas cut each cell at 50 characters: "...found running at..."), in
    # the block pandas wraps the table's last columns into on a terminal
    assert (f"the wait ran out, then it was found running at the check: {machine.name} "
            f"({machine.id[:8]}) did not reach running within 2s") in out, out
    assert "..." not in out, out
