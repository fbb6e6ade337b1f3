"""The ``smartdc-nb`` commands as a user meets them in a terminal: Ctrl-C, pipes, files it
cannot write. Each runs the real command in a subprocess, against the emulator."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from polling import eventually
from test_machine_support import (FAST, accepted_stops, ctrl_c_after_accepted, fetched,
                                  until_held)

from smartdc_nb.bulk import BulkInterrupted
from smartdc_nb.journal_views import journal_run, journal_runs
from smartdc_nb.machinelist import MachineList


def command(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "smartdc_nb.cli", *args], text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_during_a_terminal_resume_says_how_to_go_on(emu, dc, journal_path, sig):
    """Ctrl-C in `smartdc-nb resume` exited 2 (as for bad arguments) with "The full table is
    this exception's .result", which a terminal has no way to read. SIGTERM (`timeout`,
    systemd) killed it without a word, the answers to the requests in flight unjournalled:
    it stops as on Ctrl-C now, as `smartdc-nb run` does."""
    machines = MachineList(fetched(dc, emu, name=f"t-c{i}") for i in range(6))
    emu.faults.add(r"action=stop", method="POST", latency=0.4)
    with pytest.raises(BulkInterrupted), ctrl_c_after_accepted(emu, "stop", 1):
        machines.stop(confirm=True, concurrency=1, **FAST)
    run_id = journal_runs()[0].run_id
    before = sum(accepted_stops(emu).values())
    proc = command("resume", run_id, "--path", str(journal_path))
    eventually(lambda: sum(accepted_stops(emu).values()) > before, timeout=60,
               what="the resume's first stop")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert ".result" not in err and "Traceback" not in err
    assert f"smartdc-nb resume {run_id} --path {journal_path}" in err
    assert f"run {run_id}: stop on 6 machines" in out  # the table of what it did so far
    assert "<NA>" not in out  # an empty cell is blank, as in `smartdc-nb journal RUN_ID`
    assert journal_run(run_id).status == "interrupted"
    emu.faults.clear()


def test_a_ready_file_that_cannot_be_written_is_said_not_traced_back(tmp_path):
    """--ready-file in a folder that does not exist printed the banner ("Ctrl-C to stop"),
    then died with a FileNotFoundError traceback (exit 1)."""
    ready = tmp_path / "no-such-folder" / "ready.json"
    proc = command("emulator", "--no-verify", "--machines", "0", "--ready-file", str(ready))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "Ctrl-C to stop" not in out
    assert err.strip() == (f"smartdc-nb emulator: cannot write --ready-file {ready}: No such "
                           "file or directory; give a file in a folder that can be written")


@pytest.mark.parametrize("args", [["notebooks", "--list"], ["journal"]])
def test_a_reader_that_stops_reading_is_no_traceback(args):
    """`smartdc-nb journal RUN_ID | head` ended in a BrokenPipeError traceback once head had
    its lines (a shorter output: "Exception ignored ... BrokenPipeError", exit 120)."""
    proc = command(*args)
    proc.stdout.close()  # the reader is gone before the command writes: as `| head -1` is soon
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert "BrokenPipeError" not in err and "Traceback" not in err, err
    assert err == "" and proc.returncode == 1


def test_a_journal_path_with_no_journal_is_said_not_listed_as_empty(tmp_path, journal_path):
    """`smartdc-nb journal --path` with a typo listed "0 most recent run(s)", "no runs in the
    journal", exit 0: as if the runs the user looked for had never been."""
    typo = tmp_path / "jounral.jsonl"
    proc = command("journal", "--path", str(typo))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert err.strip() == (f"smartdc-nb journal: there is no journal at {typo} (no file, no "
                           "segment); give the --path of a journal file, or leave --path out "
                           f"for the default ({journal_path})")
    typo.write_text("")  # a journal with no records yet is one
    proc = command("journal", "--path", str(typo))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "no runs in the journal" in out


def test_ctrl_c_in_a_command_with_no_words_of_its_own_is_a_sentence(emu, lab_env, tmp_path):
    """Ctrl-C in `smartdc-nb snapshot` (a cron job run by hand, a slow cloud) printed a
    KeyboardInterrupt traceback through the thread pool."""
    fault = emu.faults.add(path="/machines", method="GET", hold=True)
    try:
        proc = command("snapshot", "--profile", "lab", "--dir", str(tmp_path / "h"), env=lab_env)
        until_held(emu, fault, what="the snapshot's machine listing")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        emu.faults.release_all()
    assert proc.returncode == 130, err
    assert err.strip() == "smartdc-nb snapshot: interrupted (Ctrl-C)" and out == ""
    assert not (tmp_path / "h").exists()


def test_a_script_interrupted_mid_run_is_told_how_to_resume_it(emu, dc):
    """A plain script's Ctrl-C ended in "BulkInterrupted: ... The full table is this
    exception's .result": no run id, and no word of resume, which is what the user needs."""
    machines = MachineList(fetched(dc, emu, name=f"t-s{i}") for i in range(6))
    emu.faults.add(r"action=stop", method="POST", latency=0.3)
    with pytest.raises(BulkInterrupted) as caught, ctrl_c_after_accepted(emu, "stop", 1):
        machines.stop(confirm=True, concurrency=1, **FAST)
    run_id = journal_runs()[0].run_id
    assert (f"smartdc_nb.resume({run_id!r}) or `smartdc-nb resume {run_id}` sends what was "
            "not sent") in str(caught.value)
    plan = MachineList(fetched(dc, emu, name=f"t-p{i}") for i in range(6)).plan(
        "stop", concurrency=1)
    with pytest.raises(BulkInterrupted) as caught, \
            ctrl_c_after_accepted(emu, "stop", sum(accepted_stops(emu).values()) + 1):
        plan.apply(approve=plan.id, **FAST)
    run_id = journal_runs()[0].run_id
    assert f"`smartdc-nb resume {run_id}`" in str(caught.value)
    emu.faults.clear()


def test_resuming_a_single_request_points_at_the_terminals_journal(emu, dc, journal_path):
    """`smartdc-nb resume` of a run that was one request pointed a terminal at
    smartdc_nb.journal(run=...), Python it may not have open."""
    fetched(dc, emu, name="t-one").stop()
    run_id = journal_runs()[0].run_id
    proc = command("resume", run_id)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"`smartdc-nb journal {run_id}` on a terminal, shows it" in err, err


def test_a_run_id_copied_with_the_lists_colon_is_found(emu, dc, journal_path):
    """`smartdc-nb journal` lists "run ID: ...": a double-click in a terminal takes the colon
    with the id, and `smartdc-nb journal ID:` or `resume ID:` said there was no such run."""
    fetched(dc, emu, name="t-colon").stop()
    run_id = journal_runs()[0].run_id
    proc = command("journal")
    out, _ = proc.communicate(timeout=60)
    assert f"run {run_id}: stop by" in out
    proc = command("journal", f"{run_id}:")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "t-colon" in out
    proc = command("resume", f"{run_id}:")
    _, err = proc.communicate(timeout=60)
    assert f"run {run_id} is a single request" in err, err
