"""A journal read or written as it is, not as it should be: records of the wrong shape, bad
settings, a full disk, and ``smartdc-nb journal``'s options (the CLI in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from test_machine_support import FAST, fetched, mutations

from smartdc_nb.journal_views import JournalWarning, journal, journal_run, journal_runs
from smartdc_nb.journaling import Journal, JournalError
from smartdc_nb.machinelist import MachineList
from smartdc_nb.resuming import resume

RUN_A = {"time": "2026-12-01T08:00:00+00:00", "kind": "run", "run_id": "A", "action": "stop",
         "detail": {"kind": "bulk", "machines": []}}
# valid JSON objects, each of a shape no writer makes: (record, words the warning must say)
WRONG_SHAPES = [
    ({"time": "2026-12-01T08:00:01+00:00", "kind": "outcome", "run_id": "B", "intent": ["x"]},
     "intent is not text"),
    ({"time": "2026-12-01T08:00:02+00:00", "kind": "run", "run_id": "C", "action": "stop",
      "detail": {"kind": "bulk", "machines": "?"}}, "detail.machines is not a list"),
    ({"time": "2026-12-01T08:00:03+00:00", "kind": "run", "run_id": "D", "action": "stop",
      "detail": {"kind": "bulk", "machines": [{"name": "x"}]}}, "detail.machines[0].id is missing"),
    ({"time": "2026-12-01T08:00:04+00:00", "kind": "run", "run_id": ["E"]}, "run_id is not text"),
    ({"time": "2026-12-01T08:00:05+00:00", "kind": "outcome", "run_id": "F",
      "http_status": "200"}, "http_status is not a number"),
    ({"time": "2026-12-01T08:00:06+00:00", "kind": "run", "run_id": "G", "action": "stop",
      "detail": {"kind": "bulk", "connections": {"us-east-1": "http://x"}}},
     "detail.connections['us-east-1'] is not a JSON object"),
]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smartdc_nb.cli", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def write_lines(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.mark.parametrize("record, problem", WRONG_SHAPES)
def test_a_record_of_the_wrong_shape_is_skipped_with_a_warning_saying_where_and_what(
        tmp_path, record, problem):
    path = tmp_path / "j.jsonl"
    write_lines(path, [RUN_A, record, {**RUN_A, "kind": "run-end", "outcome": "ended",
                                       "time": "2026-12-01T08:01:00+00:00", "detail": None}])
    with pytest.warns(JournalWarning) as caught:
        runs = journal_runs(path=path)
    said = [str(w.message) for w in caught]
    assert len(said) == 1 and f"journal {path}: record 2 is damaged ({problem}" in said[0], said
    assert [r.run_id for r in runs] == ["A"] and runs[0].status == "ended"
    assert "run A: stop" in repr(runs)
    with pytest.warns(JournalWarning, match="record 2 is damaged"):
        assert list(journal(path=path)["seq"]) == [1, 3]
    listed = cli("journal", "--path", str(path))
    assert listed.returncode == 0, listed.stderr
    assert "run A: stop" in listed.stdout and "Traceback" not in listed.stderr
    # said in the command's words, not Python's "file.py:123: JournalWarning:" prefix
    assert listed.stderr.startswith(f"smartdc-nb: warning: journal {path}: record 2 is damaged")
    assert "JournalWarning" not in listed.stderr and ".py:" not in listed.stderr


def test_a_damaged_record_of_another_run_leaves_a_run_to_resume(emu, dc, journal_path):
    machines = MachineList(fetched(dc, emu, name=f"ji-{i}") for i in range(2))
    machines.stop(confirm=True, **FAST)
    run_id = journal_runs()[0].run_id
    lines = journal_path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not (json.loads(line).get("machine_id") == machines[1].id
                                           or json.loads(line)["kind"] == "run-end")]
    emu.datacenter("us-east-1").set_state(machines[1].id, "running")
    journal_path.write_text("".join(kept) + "".join(json.dumps(r) + "\n" for r, _ in WRONG_SHAPES))
    emu.clear_requests()
    with pytest.warns(JournalWarning, match="is damaged"):
        result = resume(run_id, progress=False)
    assert Counter(o.outcome for o in result.outcomes) == Counter({"skipped": 1, "done": 1})
    assert [r["path"].rsplit("/", 1)[1] for r in mutations(emu)] == [machines[1].id]
    with pytest.warns(JournalWarning):
        assert journal_run(run_id).status == "ended"


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_the_command_refuses_a_limit_below_one(tmp_path, limit):
    told = cli("journal", "--path", str(tmp_path / "j.jsonl"), "-n", limit)
    assert told.returncode == 2 and "Traceback" not in told.stderr
    assert f"-n/--limit: must be 1 or more, not {limit}" in told.stderr


@pytest.mark.parametrize("command", [["journal"], ["resume", "some-run"]])
def test_with_the_journal_off_the_terminal_is_told_about_path(command, monkeypatch):
    monkeypatch.setenv("SMARTDC_NB_JOURNAL", "off")
    told = cli(*command)
    assert told.returncode == 2 and "Traceback" not in told.stderr
    assert "the journal is off ($SMARTDC_NB_JOURNAL says so); give --path FILE" in told.stderr
    assert "path=" not in told.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this platform")
@pytest.mark.parametrize("how", ["single", "bulk"])
def test_a_journal_that_cannot_take_a_record_says_nothing_was_sent(emu, connect, how):
    dc = connect(journal="/dev/full")  # opens, but every write fails: a full disk
    machine = fetched(dc, emu, name=f"ji-full-{how}")
    emu.clear_requests()
    with pytest.raises(JournalError, match=r"cannot write the journal at /dev/full \(.*space.*\); "
                                           r"nothing was sent\. Give a writable file.*journal=False"):
        if how == "single":
            machine.stop()
        else:
            MachineList([machine]).stop(confirm=True, **FAST)
    assert mutations(emu) == []
    assert machine.refresh().state == "running"


def test_a_bad_sync_mode_stops_writing_but_not_reading(emu, dc, journal_path, monkeypatch):
    fetched(dc, emu, name="ji-sync1").stop()
    monkeypatch.setenv("SMARTDC_NB_JOURNAL_SYNC", "sometimes")
    Journal._opened.clear()  # as a new process: the setting is read again
    listed = cli("journal")
    assert listed.returncode == 0, listed.stderr
    assert "stop by" in listed.stdout
    assert len(journal()) == 2
    machine = fetched(dc.clone(journal=str(journal_path)), emu, name="ji-sync2")
    emu.clear_requests()
    with pytest.raises(JournalError, match=r"sync mode must be one of background, full, none "
                                           r"\(\$SMARTDC_NB_JOURNAL_SYNC\), not 'sometimes'; "
                                           r"nothing was sent"):
        machine.stop()
    assert mutations(emu) == []
