"""Journal rotation: the live file renamed to a segment past a size limit, and every reader
(journal(), the runs, resume, the plan-id search, ``smartdc-nb journal``) reading the segments
and the live file as one journal. Real files, real processes, the emulator over HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
import warnings
from collections import Counter

import pytest
from clients import connect_to
from polling import eventually
from test_machine_support import FAST, accepted, ctrl_c_after_accepted, fetched, mutations

from smartdc_nb import journal_store
from smartdc_nb.bulk import BulkInterrupted
from smartdc_nb.journal_segments import DEFAULT_ROTATE, ROTATE_ENV, rotate_limit, segments
from smartdc_nb.journal_views import JournalWarning, journal, journal_run, journal_runs
from smartdc_nb.journaling import Journal, JournalError
from smartdc_nb.machinelist import MachineList
from smartdc_nb.plans import PlanError
from smartdc_nb.resuming import resume

SEGMENT = re.compile(r"journal\.\d{8}T\d{6}\.\d{6}Z\.jsonl")


def test_the_live_file_is_renamed_to_a_segment_past_the_limit_and_read_on(tmp_path):
    """Records written across rotations read back as one journal: every record, in order,
    ``seq`` numbering on across the files, an outcome's intent found in an earlier file."""
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, sync="none", rotate=600)
    for i in range(40):
        journal.write(kind="intent", run_id="R", ref=f"ref{i}", machine_id=f"m{i}")
        time.sleep(journal_store.SYNC_INTERVAL / 4)  # rotations happen between the two
        journal.write(kind="outcome", run_id="R", intent=f"ref{i}", machine_id=f"m{i}")
    journal.close()
    parts = segments(path)
    assert len(parts) >= 3 and all(SEGMENT.fullmatch(p.name) for p in parts), parts
    assert parts == sorted(parts) and path.exists()
    assert all(p.stat().st_size >= 600 for p in parts)  # the limit passed, then renamed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = journal.rows()
    assert [r["seq"] for r in rows] == list(range(1, 81))
    assert [r["machine_id"] for r in rows] == [f"m{i // 2}" for i in range(80)]
    assert [r["intent"] for r in rows if r["kind"] == "outcome"] == list(range(1, 80, 2))
    assert sum(len(p.read_text().splitlines()) for p in [*parts, path]) == 80


def test_a_damaged_line_in_a_segment_is_said_with_its_file_and_line(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, sync="none", rotate=300)
    for i in range(20):
        journal.write(kind="run", run_id=f"r{i}")
        time.sleep(journal_store.SYNC_INTERVAL / 2)
    journal.close()
    parts = segments(path)
    assert len(parts) >= 2
    second = parts[1]
    lines = second.read_text().splitlines(keepends=True)
    lines[1] = "{not json\n"
    second.write_text("".join(lines))
    before = len(parts[0].read_text().splitlines())
    with pytest.warns(JournalWarning) as caught:
        rows = journal.rows()
    assert len(rows) == 19
    said = [str(w.message) for w in caught]
    assert any(f"journal {second}: record {before + 2} (line 2) is damaged" in m
               for m in said), said


def test_a_rotation_while_the_journal_is_read_loses_nothing_to_the_reader(tmp_path):
    """The live file renamed to a segment while a reader is in an older segment: the reader
    reads that new segment, then the new live file (listing the segments once would skip it)."""
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, sync="none", rotate="off")

    def rotated() -> None:
        journal.rotate_at = 1
        eventually(lambda: not path.exists(), timeout=10, what="the journal to rotate")
        journal.rotate_at = None

    for i in range(3):
        journal.write(kind="run", run_id=f"first-{i}")
    rotated()
    journal.write(kind="run", run_id="second-0")
    journal.write(kind="run", run_id="second-1")
    reading = journal.iter_rows()
    assert next(reading)["run_id"] == "first-0"  # in the first segment, its lock held
    rotated()  # the live file becomes the second segment meanwhile
    journal.write(kind="run", run_id="third-0")
    rest = list(reading)
    assert [r["run_id"] for r in rest] == ["first-1", "first-2", "second-0", "second-1",
                                            "third-0"]
    assert [r["seq"] for r in rest] == [2, 3, 4, 5, 6] and len(segments(path)) == 2


def test_a_segment_made_after_the_clock_went_back_still_sorts_last(tmp_path):
    """Segments are read in the order of their names: one named by a clock that has since
    gone back (NTP, a VM restored) must not make the next one sort, and read, before it."""
    path = tmp_path / "journal.jsonl"
    ahead = tmp_path / "journal.20991231T235959.999999Z.jsonl"
    ahead.write_text('{"time":"2099-12-31T23:59:59+00:00","kind":"run","run_id":"ahead"}\n')
    journal = Journal(path, sync="none", rotate=1)
    journal.write(kind="run", run_id="now")
    eventually(lambda: not path.exists(), timeout=10, what="the journal to rotate")
    assert [p.name for p in segments(path)] == [ahead.name,
                                                 "journal.21000101T000000.000000Z.jsonl"]
    assert [r["run_id"] for r in journal.rows()] == ["ahead", "now"]
    journal.close()


def test_a_rotation_the_directory_refuses_leaves_the_journal_written_and_says_why(
        tmp_path, caplog):
    """A directory where nothing may be renamed (chattr +i: refused even to root): the
    journal keeps its one file, written and watched as before, and the log says why."""
    folder = tmp_path / "state"
    folder.mkdir()
    path = folder / "journal.jsonl"
    journal = Journal(path, sync="background", rotate="off")
    journal.write(kind="run", run_id="before")
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        journal.close()
        pytest.skip("chattr +i is not possible here (not root, or not ext2/3/4)")
    try:
        journal.rotate_at = 1
        eventually(lambda: journal.rotate_at is None, timeout=10, what="the rotation to fail")
        journal.write(kind="run", run_id="after")
        time.sleep(journal_store.SYNC_INTERVAL * 2)
        syncer = journal._syncer
        assert syncer is not None and syncer.is_alive()  # it still fsyncs and watches
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert segments(path) == [] and [r["run_id"] for r in journal.rows()] == ["before", "after"]
    assert any(f"cannot rotate the journal at {path}" in r.getMessage() and "grows on" in
               r.getMessage() for r in caplog.records), caplog.records
    journal.close()


@pytest.mark.parametrize("value, limit", [(None, DEFAULT_ROTATE), ("0", None), ("off", None),
                                          ("1000", 1000), ("64M", 64 << 20), ("2k", 2048),
                                          (0, None), (5, 5)])
def test_the_rotation_size_is_read_from_bytes_or_a_unit(value, limit):
    assert rotate_limit(value) == limit


def test_a_bad_rotation_size_is_refused_saying_what_to_give(tmp_path, monkeypatch):
    with pytest.raises(JournalError, match=r"rotation size must be 0 \(off\) or more bytes, "
                                           r"not -1"):
        Journal(tmp_path / "j.jsonl", rotate=-1)
    monkeypatch.setenv(ROTATE_ENV, "big")
    journal = Journal(tmp_path / "j.jsonl")  # reading does not need it
    assert journal.rows() == []
    with pytest.raises(JournalError, match=r"must be a number of bytes \(such as 67108864 or "
                                           r"64M\), or 0 or off, not 'big' "
                                           r"\(\$SMARTDC_NB_JOURNAL_ROTATE\); nothing was sent"):
        journal.write(kind="run", run_id="x")


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_rotation_size_in_the_environment_is_the_default(tmp_path, monkeypatch, value):
    """``SMARTDC_NB_JOURNAL_ROTATE=`` (an env file's blank line, a CI's unset variable)
    refused every request ("not ''; nothing was sent"), where an empty
    $SMARTDC_NB_JOURNAL_SYNC or $SMARTDC_NB_JOURNAL is the default: so is this one."""
    monkeypatch.setenv(ROTATE_ENV, value)
    journal = Journal(tmp_path / "j.jsonl")
    journal.write(kind="run", run_id="x")
    assert journal.rotate_at == DEFAULT_ROTATE
    assert [row["run_id"] for row in journal.rows()] == ["x"]
    journal.close()


def test_a_bulk_run_across_rotations_reads_back_whole_and_resumes(emu, connect, journal_path,
                                                                  monkeypatch):
    """A run interrupted after its journal rotated (its ``run`` record and first requests in
    segments, the rest in the live file) is listed and read whole, and resumed: the machines
    the cloud accepted are not sent again, every other one is sent once."""
    monkeypatch.setenv(ROTATE_ENV, "1")  # every look of the sync thread rotates
    dc = connect()
    machines = MachineList(fetched(dc, emu, name=f"rot-{i}") for i in range(8))
    emu.faults.add(r"action=stop", method="POST", latency=0.25)
    emu.clear_requests()
    with pytest.raises(BulkInterrupted), ctrl_c_after_accepted(emu, "stop", 4):
        machines.stop(confirm=True, concurrency=1, **FAST)
    emu.faults.clear()
    sent = accepted(emu, "stop")
    assert 0 < len(sent) < 8
    parts = segments(journal_path)
    assert len(parts) >= 3, parts
    run = journal_runs()[0]
    run_id = run.run_id
    assert run_id in parts[0].read_text() or run_id in parts[1].read_text()  # its start
    assert run.status == "interrupted" and len(run.machines()) == 8
    assert run.counts()["accepted"] == len(sent)
    assert run.counts()["not sent"] == 8 - len(sent)
    whole = journal(run=run_id)
    assert list(whole["kind"])[0] == "run" and list(whole["kind"])[-1] == "run-end"
    assert whole["seq"].is_monotonic_increasing
    outcomes = whole[whole["kind"] == "outcome"]
    assert outcomes["intent"].notna().all()  # each found its intent, whatever file it is in
    listed = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "journal", run_id],
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\n", 1)[1].count("accepted") == len(sent)
    assert "rot-7" in listed.stdout
    result = resume(run_id, progress=False)
    assert accepted(emu, "stop") == Counter({m.id: 1 for m in machines})
    assert result.counts["skipped"] == len(sent) and result.counts["done"] == 8 - len(sent)
    assert journal_run(run_id).status == "ended"
    emu.clear_requests()
    assert resume(run_id, progress=False).counts["skipped"] == 8 and mutations(emu) == []


def test_a_plan_applied_before_a_rotation_is_still_refused_after_it(emu, connect, journal_path,
                                                                     monkeypatch, triton_keys):
    """The plan-id search (an mmap of one file) must look in the segments too: once the
    run record rotated into one, a twin of the plan made before its apply applied again."""
    monkeypatch.setenv(ROTATE_ENV, "1")
    dc = connect()
    machines = MachineList(fetched(dc, emu, name=f"rot-plan-{i}") for i in range(2))
    plan = machines.plan("reboot", wait=True, **FAST)
    other = connect_to(emu, triton_keys)  # another notebook, the same plan
    twin = MachineList(other.machine(m.id) for m in machines).plan("reboot", wait=True, **FAST)
    assert twin.id == plan.id
    plan.apply(approve=plan.id)
    eventually(lambda: not journal_path.exists(), timeout=10, what="the journal to rotate")
    assert any(plan.id in p.read_text() for p in segments(journal_path))
    emu.clear_requests()
    with pytest.raises(PlanError, match=f"plan {plan.id} was already applied .*run "):
        twin.apply(approve=twin.id)
    assert mutations(emu) == []


def test_a_writer_that_has_not_seen_the_rename_yet_writes_into_the_segment_which_is_read(
        tmp_path, monkeypatch):
    """Two writers of one file (two Journal objects: two open files and flocks, as two
    processes have): one rotates it; the other, whose sync thread has not looked since,
    writes its next record into the renamed file, which is read as a segment; its
    record after that, once it looked, goes to the new live file."""
    monkeypatch.setattr(journal_store, "SYNC_INTERVAL", 2.0)  # the other's look comes late
    path = tmp_path / "journal.jsonl"
    rotating = Journal(path, sync="none", rotate=1)
    other = Journal(path, sync="none", rotate="off")
    other.write(kind="run", run_id="other-1")  # its sync thread looks now, then in 2 s
    eventually(lambda: other._size > 0, timeout=10, what="the other's first look")
    rotating.write(kind="run", run_id="rotating-1")  # its sync thread rotates at once
    eventually(lambda: not path.exists(), timeout=5, what="the journal to rotate")
    other.write(kind="run", run_id="other-2")  # into the renamed file: not seen yet
    eventually(lambda: other._stale, timeout=10, what="the other writer to see the rename")
    other.write(kind="run", run_id="other-3")
    parts = segments(path)
    assert len(parts) == 1 and "other-2" in parts[0].read_text()
    assert [r["run_id"] for r in rotating.rows()] == ["other-1", "rotating-1", "other-2",
                                                      "other-3"]
    assert "other-3" in path.read_text()
    rotating.close()
    other.close()


def test_processes_writing_while_the_file_rotates_lose_and_interleave_no_record(tmp_path):
    """Four processes of four threads append while each one's sync thread rotates the file
    they share (a small limit): a record written to a file just renamed lands in the
    segment, which is read; every record is whole and none is lost or read twice."""
    path = tmp_path / "shared.jsonl"
    script = textwrap.dedent(f"""
        import sys, threading, time
        from smartdc_nb.journaling import Journal, to_json
        journal = Journal({str(path)!r}, sync="none", rotate=64 * 1024)
        def write(thread):
            for i in range(100):
                tag = f"{{sys.argv[1]}}-{{thread}}-{{i}}"
                journal.write(kind="intent", run_id=tag, machine_id=tag,
                              arguments=to_json({{"tag": tag, "pad": "x" * 2000}}))
                time.sleep(0.01)  # a second of writing: several looks of each sync thread
        threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(p)]) for p in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    parts = segments(path)
    assert len(parts) >= 4, parts
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = journal(path=path)
    assert len(frame) == 4 * 4 * 100
    assert frame["run_id"].is_unique and list(frame["seq"]) == list(range(1, 1601))
    assert all(row["arguments"]["tag"] == row["run_id"] for row in frame.to_dict("records"))
    for process in range(4):  # each thread's records in the order it wrote them
        for thread in range(4):
            mine = [int(r.rsplit("-", 1)[1]) for r in frame["run_id"]
                    if r.startswith(f"{process}-{thread}-")]
            assert mine == list(range(100))
