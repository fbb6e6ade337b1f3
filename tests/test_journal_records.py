"""How the journal writes its records: whole lines from concurrent writers and from a forked
child, fsync'd by default, every kind of value and argument as JSON reads it, the
per-request lines equal to the generic write, times in UTC to the microsecond and an
outcome's seconds to four places."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import sys
import textwrap
import warnings

import pytest

from smartdc_nb import journal_lines, journal_store
from smartdc_nb.journal_views import journal, journal_runs
from smartdc_nb.journaling import Journal, JournalError


def test_concurrent_writers_never_interleave(tmp_path):
    """Four processes of four threads append at once: every record whole, none lost."""
    path = tmp_path / "shared.jsonl"
    script = textwrap.dedent(f"""
        import sys, threading
        from smartdc_nb.journaling import Journal, to_json
        journal = Journal({str(path)!r})
        def write(thread):
            for i in range(50):
                tag = f"{{sys.argv[1]}}-{{thread}}-{{i}}"
                journal.write(kind="intent", run_id=tag, machine_id=tag,
                              arguments=to_json({{"tag": tag, "pad": "x" * 2000}}))
        threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(p)]) for p in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = journal(path=path)
    assert len(frame) == 4 * 4 * 50
    assert frame["run_id"].is_unique and frame["seq"].is_unique
    assert all(row["arguments"]["tag"] == row["run_id"] for row in frame.to_dict("records"))


def test_records_are_fsyncd_by_default_and_the_mode_is_checked(tmp_path, monkeypatch):
    """fsync is the one thing the emulator cannot show: it is observed where the OS gets it."""
    monkeypatch.delenv("SMARTDC_NB_JOURNAL_SYNC")
    synced: dict[int, list[int]] = {}
    real = os.fsync

    def fsync(fd):
        synced.setdefault(os.fstat(fd).st_ino, []).append(os.fstat(fd).st_size)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(journal_store, "SYNCER_IDLE", 0.2)
    default = Journal(tmp_path / "default.jsonl")
    assert default.sync == "background"
    for round_ in range(2):  # the second after the idle syncer ended: another one starts
        default.write(kind="run", run_id=f"r{round_}")
        size = default.path.stat().st_size
        deadline = time.monotonic() + 10
        # `or`: the syncer's first fsync may have made the list and not yet filled it
        while max(synced.get(default.path.stat().st_ino) or [0]) < size:
            assert time.monotonic() < deadline, "the record was never fsync'd"
            time.sleep(0.01)
        while default._syncer is not None:  # idle: it ends, no thread left behind
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name.startswith("journal fsync default")]
    full = Journal(tmp_path / "full.jsonl", sync="full")
    full.write(kind="run", run_id="f")
    assert synced[full.path.stat().st_ino] == [full.path.stat().st_size]  # before write returned
    never = Journal(tmp_path / "never.jsonl", sync="none")
    never.write(kind="run", run_id="n")
    time.sleep(0.3)
    assert never.path.stat().st_ino not in synced
    with pytest.raises(JournalError, match="background, full, none.*'often'"):
        Journal(tmp_path / "bad.jsonl", sync="often")  # an argument: refused at once
    monkeypatch.setenv("SMARTDC_NB_JOURNAL_SYNC", "sometimes")
    with pytest.raises(JournalError, match="background, full, none.*SMARTDC_NB_JOURNAL_SYNC.*"
                                           "'sometimes'; nothing was sent"):
        Journal(tmp_path / "bad.jsonl").open()  # the environment's: when writing


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_writes_its_own_records_even_if_a_thread_held_the_lock(tmp_path):
    """A child forked while another thread was writing opens its own file and lock."""
    journal_file = Journal(tmp_path / "forked.jsonl", sync="none")
    journal_file.write(kind="run", run_id="parent-0")
    held, release = threading.Event(), threading.Event()

    def hold():
        with journal_file._lock:  # a parent thread in the middle of a write at fork time
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    with warnings.catch_warnings():  # Python 3.12 warns about forking a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: its writes must neither wait for the parent's thread nor fail
        code = 1
        try:
            import signal

            signal.alarm(10)
            for i in range(50):
                journal_file.write(kind="intent", run_id=f"child-{i}")
            code = 0
        finally:
            os._exit(code)
    release.set()
    holder.join()
    for i in range(50):
        journal_file.write(kind="intent", run_id=f"parent-{i + 1}")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    runs = [row["run_id"] for row in journal_file.rows()]
    assert sorted(r for r in runs if r.startswith("child")) == sorted(
        f"child-{i}" for i in range(50))
    assert sum(r.startswith("parent") for r in runs) == 51


def test_a_record_keeps_every_kind_of_value_it_is_given(tmp_path):
    """Strings with quotes and non-ASCII, numbers, odd floats, JSON text: read back as given."""
    journal_file = Journal(tmp_path / "values.jsonl", sync="none")
    odd = 'a "quoted"\nname \\ with ünïcode ✓'
    journal_file.write(journal_lines.fragment({"machine_name": odd, "plan_id": None,
                                               "account": "demo"}),
                       kind="outcome", run_id="r", http_status=204, seconds=0.25, error=odd,
                       arguments=journal_lines.to_json({"body": {"k": odd}}),
                       detail=journal_lines.to_json({"values": [1, 2.5, None]}))
    journal_file.write(kind="run-end", run_id="r", seconds=float("nan"))
    first, second = journal_file.rows()
    assert (first["machine_name"], first["error"], first["account"]) == (odd, odd, "demo")
    assert (first["http_status"], first["seconds"], first["plan_id"]) == (204, 0.25, None)
    assert first["arguments"] == {"body": {"k": odd}}
    assert first["detail"] == {"values": [1, 2.5, None]}
    assert second["seconds"] != second["seconds"]  # NaN stays NaN, the line stays JSON


def test_the_per_request_lines_read_back_as_the_generic_write_would(tmp_path):
    """intent_line and outcome_line (written by hand for speed) say what write() would."""
    by_hand = Journal(tmp_path / "by-hand.jsonl", sync="none")
    generic = Journal(tmp_path / "generic.jsonl", sync="none")
    shared = journal_lines.fragment({"run_id": "r-1", "machine_name": 'we"b ✓', "plan_id": None})
    when, arguments = journal_lines.now_text(), journal_lines.to_json({"body": {"a": "ü"}})
    for state, request_id in (("running", "req-1"), (None, None)):
        by_hand.append(journal_lines.intent_line(shared, when, "ref1", "POST", "/a/\"b\"",
                                                 arguments, state))
        generic.write(shared, time=when, kind="intent", ref="ref1", method="POST",
                      path="/a/\"b\"", arguments=arguments, state_before=state)
        by_hand.append(journal_lines.outcome_line(shared, "ref1", 202, request_id, 12_500_000))
        generic.write(shared, kind="outcome", intent="ref1", http_status=202,
                      request_id=request_id, outcome="accepted", seconds=0.0125)
    mine, theirs = by_hand.rows(), generic.rows()
    for row in mine + theirs:
        assert row.pop("time")
    assert mine == theirs and len(mine) == 4
    assert mine[1]["intent"] == 1 and mine[1]["machine_name"] == 'we"b ✓'


@pytest.mark.parametrize("encoder", ["orjson", "json"])
def test_arguments_of_every_kind_are_recorded_as_json_reads_them(monkeypatch, encoder):
    """to_json (orjson first, json for what orjson refuses or without orjson) writes what
    json.loads reads back as the values given: keys sorted, big integers, keys that are not
    text, objects JSON has no form for, and long strings cut with their length said."""
    import datetime

    if encoder == "json":
        monkeypatch.setattr(journal_lines, "_orjson_dumps", None)
    import json

    class Opaque:
        def __repr__(self):
            return "<opaque>"

    cases = [
        ({"b": 1, "a": [1, 2.5, None, True]}, {"a": [1, 2.5, None, True], "b": 1}),
        ({"n": 2 ** 70}, {"n": 2 ** 70}),
        ({3: "x", "a": 2}, {"3": "x", "a": 2}),
        ({(1, 2): 3}, {"(1, 2)": 3}),
        ({"o": Opaque(), "t": (1, "ü\n")}, {"o": "<opaque>", "t": [1, "ü\n"]}),
        ({"when": datetime.date(2026, 11, 30)}, {"when": "2026-11-30"}),
    ]
    for value, expected in cases:
        text = journal_lines.to_json(value)
        assert json.loads(text) == expected, text
        assert "\n" not in text  # one record, one line
    assert list(json.loads(journal_lines.to_json({"b": 1, "a": 2}))) == ["a", "b"]
    long = json.loads(journal_lines.to_json({"script": "x" * 2000}))["script"]
    assert long == "x" * journal_lines.MAX_VALUE + "… (2000 characters)"
    assert journal_lines.to_json(None) is None


def test_a_records_time_is_the_utc_time_now_to_the_microsecond():
    """now_text (integer arithmetic, the second's text made once a second) reads back as an
    aware UTC datetime between the clock's readings before and after it."""
    import datetime

    for _ in range(200):  # across a change of second too, now and then
        before = datetime.datetime.now(datetime.timezone.utc)
        text = journal_lines.now_text()
        after = datetime.datetime.now(datetime.timezone.utc)
        when = datetime.datetime.fromisoformat(text)
        assert len(text) == len("2026-11-30T18:45:18.624181+00:00") and text.endswith("+00:00")
        assert when.utcoffset() == datetime.timedelta(0)
        assert before - datetime.timedelta(microseconds=1) <= when <= after
        time.sleep(0.005)


def test_an_outcomes_seconds_are_its_nanoseconds_to_four_places(tmp_path):
    """outcome_line writes the request's time from integer nanoseconds, rounded as round()
    would to four places, and JSON reads it back as that number."""
    journal = Journal(tmp_path / "seconds.jsonl", sync="none")
    cases = {12_345_678: 0.0123, 12_350_001: 0.0124, 2_500_000_000: 2.5, 0: 0.0,
             61_999_960_000: 62.0}
    for nanos in cases:
        journal.append(journal_lines.outcome_line("", "ref1", 200, None, nanos))
    lines = (tmp_path / "seconds.jsonl").read_text().splitlines()
    assert [json.loads(line)["seconds"] for line in lines] == list(cases.values())


def test_since_and_until_compare_times_not_their_text(tmp_path):
    """Records written by hand (or by another tool) may carry another offset than UTC, or no
    fractions of a second: the bounds compared the text, so 05:00+02:00 (03:00 UTC) came
    after 03:30 UTC, and a record at exactly the bound's second fell outside it."""
    path = tmp_path / "journal.jsonl"
    records = [("early", "2026-12-02T05:00:00+02:00"),   # 03:00 UTC
               ("exact", "2026-12-02T03:30:00+00:00"),   # the bound itself, without fractions
               ("late", "2026-12-02T03:45:00.250+00:00")]  # milliseconds only
    path.write_text("".join(json.dumps({"time": when, "kind": "intent", "run_id": name}) + "\n"
                            for name, when in records))
    assert list(journal(path=path, since="2026-12-02T03:30")["run_id"]) == ["exact", "late"]
    assert list(journal(path=path, until="2026-12-02T03:30")["run_id"]) == ["early", "exact"]
    assert [run.run_id for run in journal_runs(path=path, since="2026-12-02T03:30")] == [
        "late", "exact"]
