"""Pruning the journal (``journal_prune``, ``smartdc-nb journal --prune DAYS``): old segments
removed whole, never one that holds a run still to end, never the live file; a dry run
removes nothing. Segments made by real rotation; records of old runs written by the real
Journal with their time given."""

from __future__ import annotations

import gzip
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from polling import eventually
from test_machine_support import FAST, ctrl_c_after_accepted, fetched

import smartdc_nb
from smartdc_nb.bulk import BulkInterrupted
from smartdc_nb.errors import InvalidInputError
from smartdc_nb.journal_pruning import journal_prune
from smartdc_nb.journal_segments import ROTATE_ENV, segments
from smartdc_nb.journal_views import journal_runs
from smartdc_nb.journaling import Journal
from smartdc_nb.machinelist import MachineList
from smartdc_nb.resuming import resume


def ago(days: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "journal", *args],
                          capture_output=True, text=True, timeout=120)


def segment_of(journal: Journal, *records: dict) -> None:
    """Write ``records``, then let the sync thread rotate them into a segment of their own."""
    before = len(segments(journal.path))
    journal.rotate_at = None  # not between two of them
    for record in records:
        journal.write(**record)
    journal.rotate_at = 1
    eventually(lambda: len(segments(journal.path)) == before + 1 and not journal.path.exists(),
               timeout=10, what="the journal to rotate")


def run(run_id: str, days: float, *kinds: str, outcome: str = "ended") -> list[dict]:
    """Records of bulk run ``run_id`` written ``days`` ago: ``kinds`` in order."""
    return [{"kind": kind, "run_id": run_id, "time": ago(days),
             **({"outcome": outcome} if kind == "run-end" else {}),
             **({"machine_id": f"{run_id}-m"} if kind in ("intent", "outcome") else {})}
            for kind in kinds]


@pytest.fixture
def old_journal(tmp_path):
    """A journal of seven segments and a live file; returns (path, segments)."""
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, sync="none", rotate=1)
    segment_of(journal, *run("ended", 60, "run", "intent", "outcome", "run-end"))      # 0: goes
    segment_of(journal, *run("open", 50, "run", "intent"))                 # 1: no run-end: stays
    segment_of(journal, *run("stopped", 45, "run", "intent", "run-end", outcome="interrupted"))
    segment_of(journal, *run("spans", 40, "run", "intent"))                # 3: ends below: goes
    segment_of(journal, *run("spans", 39, "outcome", "run-end"),           # 4: goes
               {"kind": "intent", "run_id": "single", "time": ago(39)})  # one request alone
    segment_of(journal, *run("resumed", 35, "run", "run-end", outcome="interrupted"))  # 5: stays
    segment_of(journal, *run("recent", 2, "run", "intent", "outcome", "run-end"))  # 6: too new
    journal.rotate_at = None
    for record in run("resumed", 1, "resume"):  # the live file: a resume without its end yet
        journal.write(**record)
    journal.close()
    parts = segments(path)
    assert len(parts) == 7
    return path, parts


def snapshot(path) -> dict:
    return {p.name: p.read_bytes() for p in path.parent.iterdir()}


def test_a_dry_run_says_what_would_go_and_changes_nothing(old_journal):
    path, parts = old_journal
    before = snapshot(path)
    said = journal_prune(30, path=path, dry_run=True)
    assert snapshot(path) == before
    assert [s.path for s in said.removed] == [parts[0], parts[3], parts[4]]
    assert [s.path for s in said.kept] == [parts[1], parts[2], parts[5], parts[6]]
    text = repr(said)
    assert "would remove 3 segment(s): 9 records" in text and "dry run: nothing removed" in text
    assert ("holds records of run open (no run-end: incomplete, or running now), not ended: "
            "it may still be resumed (smartdc-nb resume open)") in text
    assert "holds records of run stopped (interrupted), not ended" in text
    assert "holds records of run resumed (no run-end" in text  # its resume has not ended
    assert "is not older than that" in text and "journal.jsonl is never pruned" in text
    listed = cli("--path", str(path), "--prune", "30", "--dry-run")
    assert listed.returncode == 0, listed.stderr
    assert "would remove 3 segment(s): 9 records" in listed.stdout
    assert parts[0].name in listed.stdout and snapshot(path) == before


def test_pruning_removes_old_segments_of_ended_runs_only(old_journal):
    path, parts = old_journal
    gone = [parts[0], parts[3], parts[4]]
    size = sum(p.stat().st_size for p in gone)
    live = path.read_bytes()
    kept_bytes = {p: p.read_bytes() for p in parts if p not in gone}
    said = cli("--path", str(path), "--prune", "30")
    assert said.returncode == 0, said.stderr
    assert f"removed 3 segment(s): 9 records, {size} bytes, from " in said.stdout
    assert ago(60)[:10] in said.stdout and ago(39)[:10] in said.stdout  # oldest, newest
    assert segments(path) == sorted(kept_bytes) and path.read_bytes() == live
    assert all(p.read_bytes() == data for p, data in kept_bytes.items())  # never rewritten
    assert {r.run_id for r in journal_runs(path=path)} == {"open", "stopped", "resumed", "recent"}
    again = journal_prune(30, path=path)
    assert again.removed == [] and "removed nothing" in repr(again)
    assert len(journal_prune(0, path=path).removed) == 1  # the recent one, ended: any age goes
    assert len(segments(path)) == 3


def test_a_run_interrupted_across_rotations_is_kept_until_it_is_resumed(
        emu, connect, journal_path, monkeypatch):
    monkeypatch.setenv(ROTATE_ENV, "1")
    dc = connect()
    fetched(dc, emu, name="pr-single").stop()  # an ended single request, in its own segment
    eventually(lambda: not journal_path.exists(), timeout=10, what="the journal to rotate")
    machines = MachineList(fetched(dc, emu, name=f"pr-{i}") for i in range(6))
    emu.faults.add(r"action=stop", method="POST", latency=0.25)
    with pytest.raises(BulkInterrupted), ctrl_c_after_accepted(emu, "stop", 3):
        machines.stop(confirm=True, concurrency=1, **FAST)
    emu.faults.clear()
    run_id = journal_runs()[0].run_id
    eventually(lambda: not journal_path.exists(), timeout=10, what="the journal to rotate")
    parts = segments(journal_path)
    holding = [p for p in parts if run_id in p.read_text()]
    assert len(holding) >= 2
    said = smartdc_nb.journal_prune(0)
    assert [s.path for s in said.kept] == holding
    assert [s.path for s in said.removed] == [p for p in parts if p not in holding] != []
    assert f"holds records of run {run_id} (interrupted), not ended" in repr(said)
    assert resume(run_id, progress=False).counts["done"] >= 1
    eventually(lambda: not journal_path.exists(), timeout=10, what="the journal to rotate")
    assert len(journal_prune(0).removed) >= len(holding)
    assert not any(run_id in p.read_text() for p in segments(journal_path))


def test_a_segment_that_cannot_be_removed_is_said_and_the_command_exits_1(old_journal):
    """A real refusal to remove (an immutable file, chattr +i: not even root may unlink it):
    the others still go, that one is listed as kept with the system's reason, and the exit
    status is 1, so a cron job sees it."""
    path, parts = old_journal
    if subprocess.run(["chattr", "+i", str(parts[0])], capture_output=True).returncode:
        pytest.skip("chattr +i is not possible here (not root, or not ext2/3/4)")
    try:
        said = cli("--path", str(path), "--prune", "30")
    finally:
        subprocess.run(["chattr", "-i", str(parts[0])], check=True)
    assert said.returncode == 1, said.stdout + said.stderr
    assert "removed 2 segment(s)" in said.stdout and not parts[3].exists()
    assert f"{parts[0].name}: 4 records" in said.stdout
    assert "kept: cannot remove it ([Errno 1] Operation not permitted" in said.stdout
    assert parts[0].exists()


def test_a_segment_compressed_or_renamed_is_said_as_not_read_and_not_pruned(old_journal):
    """A segment gzip'ed (logrotate's habit) or renamed is no longer read or pruned, and the
    report said nothing of it: the runs in it vanished from the journal, and --prune said
    'removed nothing' while it stayed forever. The report names such files and says why."""
    path, parts = old_journal
    zipped = parts[0].with_name(parts[0].name + ".gz")
    zipped.write_bytes(gzip.compress(parts[0].read_bytes()))
    parts[0].unlink()
    renamed = parts[3].with_name("old-" + parts[3].name)
    parts[3].rename(renamed)
    said = cli("--path", str(path), "--prune", "30")
    assert said.returncode == 0, said.stderr
    text = " ".join(said.stdout.split())
    assert (f"not read, so not pruned: 2 file(s) named after a segment of this journal, "
            f"but not as one: {zipped.name}, {renamed.name}") in text, text
    assert "gunzip a compressed one" in text
    assert zipped.exists() and renamed.exists()


def test_pruning_where_there_is_no_journal_says_so(tmp_path):
    """A mistyped --path (or a journal never written) said 'removed nothing' and 'the live
    file j.jsonl is never pruned', as though a journal were there."""
    path = tmp_path / "typo" / "j.jsonl"
    said = cli("--path", str(path), "--prune", "30")
    assert said.returncode == 0, said.stderr
    assert f"there is no journal at {path} (no file, no segment): nothing to prune" \
        in said.stdout, said.stdout
    assert "never pruned" not in said.stdout


@pytest.mark.parametrize("days", [-1, "x", True, float("nan"), None])
def test_bad_days_are_refused_saying_what_to_give(days, tmp_path):
    with pytest.raises(InvalidInputError, match=r"days must be a number of days, 0 or more "
                                                r"\(the segments whose newest record is older "
                                                rf"are removed\), not {days!r}"):
        journal_prune(days, path=tmp_path / "j.jsonl")


@pytest.mark.parametrize("days", ["1e10", "999999999", "1e300"])
def test_more_days_than_the_calendar_holds_are_refused_not_a_traceback(days, tmp_path):
    """``--prune 1e10`` (a slip of the finger) raised OverflowError with a traceback: DAYS
    before now fell before year 1. It is bad input, refused with what to give, exit 2."""
    told = cli("--path", str(tmp_path / "j.jsonl"), "--prune", days)
    assert told.returncode == 2 and "Traceback" not in told.stderr, told.stderr
    assert (f"argument --prune: {days} days ago is before the calendar's year 1: give fewer "
            "days") in told.stderr, told.stderr
    with pytest.raises(InvalidInputError, match="is before the calendar's year 1"):
        journal_prune(float(days), path=tmp_path / "j.jsonl")
    with pytest.raises(InvalidInputError, match="is before the calendar's year 1"):
        journal_prune(10 ** 400, path=tmp_path / "j.jsonl")  # no float holds it


@pytest.mark.parametrize("args, said", [
    (["--prune", "-1"], "argument --prune: must be a number of days, 0 or more, not '-1'"),
    (["--prune", "soon"], "argument --prune: must be a number of days, 0 or more, not 'soon'"),
    (["--dry-run"], "--dry-run goes with --prune DAYS"),
    (["--prune", "3", "some-run"], "--prune DAYS prunes the whole journal: give no run id"),
])
def test_the_command_refuses_bad_input_with_exit_2(tmp_path, args, said):
    told = cli("--path", str(tmp_path / "j.jsonl"), *args)
    assert told.returncode == 2 and said in told.stderr and "Traceback" not in told.stderr
