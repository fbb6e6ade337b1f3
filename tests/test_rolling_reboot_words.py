"""What the rolling reboot says in a terminal: a plan with nothing to act on says so and why,
without inviting an approve; an empty table is said in words, not as pandas'
"Empty DataFrame / Columns: [...] / Index: []"."""

from __future__ import annotations

import nbformat
import pytest
from test_notebooks import NOTEBOOKS, lab_env, run_cli, text_of  # noqa: F401

pytestmark = pytest.mark.slow
ROLLING = NOTEBOOKS / "03-rolling-reboot.ipynb"


def _dry_run(tmp_path, env, selector: str, *args: str):
    proc = run_cli(ROLLING, "-p", "profile", "lab", "-p", "tag_selector", selector, *args,
                   "-o", tmp_path / "dry.ipynb", env=env)
    assert proc.returncode == 0, proc.stderr
    return proc, text_of(nbformat.read(str(tmp_path / "dry.ipynb"), as_version=4))


def test_a_selection_that_matches_no_machine_has_nothing_to_apply(emu, lab_env, tmp_path):  # noqa: F811
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
    # an id that is not this plan's is refused, saying there is nothing to apply now
    stale = run_cli(ROLLING, "-p", "profile", "lab", "-p", "tag_selector", "drill=none",
                    "-p", "approve", "0123456789ab", "-o", tmp_path / "stale.ipynb", env=lab_env)
    assert stale.returncode == 1
    assert ("the fleet or the parameters changed since that id was printed, and now there is "
            "nothing to apply: no machine carries drill=none") in stale.stderr, stale.stderr
    assert "run again with -p approve" not in stale.stderr


def test_a_selection_whose_machines_are_all_left_out_has_nothing_to_apply(emu, lab_env, dc,  # noqa: F811
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
