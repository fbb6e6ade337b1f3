"""The journal: every mutating request recorded before and after, readable, damage-tolerant."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import sys
import textwrap
import warnings

import pandas as pd
import pytest
from test_machine_support import FAST, fetched, logged, mutations
from test_widgets_support import words

import smartdc_nb
from smartdc_nb.errors import DeletionProtectedError, NotFoundError
from smartdc_nb import journal_lines, journal_store
from smartdc_nb.journal_views import JournalWarning, journal, journal_run, journal_runs
from smartdc_nb.journaling import Journal, JournalError, default_path
from smartdc_nb.machinelist import MachineList


def records(**filters):
    return journal(**filters).to_dict("records")


def test_a_single_action_is_recorded_before_and_after(emu, dc, journal_path):
    machine = fetched(dc, emu, name="j-one", state="running")
    machine.stop()
    intent, outcome = records()
    sent = logged(emu, "POST")[-1]
    assert intent["kind"] == "intent" and outcome["kind"] == "outcome"
    assert intent["run_id"] == outcome["run_id"] and outcome["intent"] == intent["seq"]
    for record in (intent, outcome):
        assert record["machine_id"] == machine.id and record["machine_name"] == "j-one"
        assert record["action"] == "stop" and record["datacenter"] == "us-east-1"
        # no sub-user: missing, as in any str column (NaN), even when no record has one
        assert record["account"] == "demo" and pd.isna(record["user"])
        assert record["profile"]  # the connection's profile name
    assert intent["method"] == "POST" and intent["path"] == machine.path
    assert intent["arguments"] == {"params": {"action": "stop"}}
    assert intent["state_before"] == "running"
    assert intent["time"] <= outcome["time"]
    assert outcome["http_status"] == 202 and outcome["outcome"] == "accepted"
    assert outcome["request_id"] == sent["request_id"]  # the cloud's own id for the request
    assert outcome["seconds"] >= 0 and pd.isna(outcome["error"])
    assert journal_path.exists()


def test_a_refused_request_is_recorded_with_its_error(emu, dc):
    machine = fetched(dc, emu, name="j-refused")
    with emu.state.lock:  # the machine vanishes behind the client's back
        emu.state.datacenters["us-east-1"].machines.pop(machine.id)
    with pytest.raises(NotFoundError):
        machine.reboot()
    intent, outcome = records()
    assert outcome["outcome"] == "failed" and outcome["http_status"] == 404
    assert "NotFoundError" in outcome["error"]
    assert outcome["request_id"] == logged(emu, "POST")[-1]["request_id"]


def test_a_refusal_before_sending_is_not_a_request(emu, dc, journal_path):
    machine = fetched(dc, emu, name="j-protected", deletion_protection=True)
    with pytest.raises(DeletionProtectedError):
        machine.delete()
    assert mutations(emu) == []
    assert records() == []


def test_a_bulk_run_records_the_run_and_each_request(emu, dc, dc_west):
    machines = MachineList([fetched(dc, emu, name=f"j-e{i}") for i in range(3)]
                           + [fetched(dc_west, emu, name="j-w0"),
                              fetched(dc, emu, name="j-stopped", state="stopped")])
    result = machines.add_tags({"team": "ops"}, **FAST)
    assert result.counts["done"] == 5
    run = journal_runs()[0]
    assert run.action == "add_tags" and run.status == "ended"
    kinds = [r["kind"] for r in run.records]
    assert kinds[0] == "run" and kinds[-1] == "run-end"
    assert kinds.count("intent") == kinds.count("outcome") == 5
    detail = run.detail
    assert detail["arguments"]["args"] == [{"team": "ops"}]
    assert {m["name"] for m in detail["machines"]} == {"j-e0", "j-e1", "j-e2", "j-w0",
                                                       "j-stopped"}
    assert set(detail["connections"]) == {"us-east-1", "us-west-1"}
    assert "passphrase" not in str(detail)  # what a new process needs, never a secret
    assert set(run.frame["status"]) == {"accepted"}
    by_dc = {r["datacenter"] for r in run.records if r["kind"] == "intent"}
    assert by_dc == {"us-east-1", "us-west-1"}


def test_connect_journal_overrides_the_environment_and_false_turns_it_off(
        emu, connect, tmp_path, journal_path):
    mine = tmp_path / "mine.jsonl"
    dc = connect(journal=str(mine))
    fetched(dc, emu, name="j-own").stop()
    assert len(journal(path=mine)) == 2 and not journal_path.exists()
    off = connect(journal=False)
    fetched(off, emu, name="j-off").stop()
    assert len(journal(path=mine)) == 2 and not journal_path.exists()


def test_the_environment_can_turn_it_off_and_the_default_is_the_state_directory(
        emu, connect, monkeypatch, tmp_path):
    monkeypatch.setenv("SMARTDC_NB_JOURNAL", "off")
    assert default_path() is None
    fetched(connect(), emu, name="j-env-off").stop()
    monkeypatch.delenv("SMARTDC_NB_JOURNAL")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_path() == tmp_path / "state" / "smartdc_nb" / "journal.jsonl"


@pytest.mark.parametrize("how", ["single", "bulk"])
def test_an_unwritable_location_fails_before_any_request(emu, connect, tmp_path, how):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    dc = connect(journal=str(blocker / "journal.jsonl"))
    machine = fetched(dc, emu, name="j-unwritable")
    emu.clear_requests()
    with pytest.raises(JournalError, match="cannot write the journal at .*a-file.*nothing was "
                                           "sent.*journal=False"):
        if how == "single":
            machine.stop()
        else:
            MachineList([machine]).stop(confirm=True, **FAST)
    assert mutations(emu) == []
    assert machine.refresh().state == "running"


def test_a_damaged_record_is_skipped_with_a_warning_saying_where(emu, dc, journal_path):
    for i in range(3):
        fetched(dc, emu, name=f"j-dmg{i}").stop()
    lines = journal_path.read_text().splitlines(keepends=True)
    lines[2] = lines[2][:40] + "\n"  # a record cut short
    fifth = json.loads(lines[4])
    lines[4] = json.dumps({**fifth, "time": "not a time"}) + "\n"
    journal_path.write_text("".join(lines))
    with pytest.warns(JournalWarning) as caught:
        frame = journal()
    messages = [str(w.message) for w in caught]
    assert any(f"journal {journal_path}: record 3 is damaged" in m for m in messages)
    assert any("record 5 is damaged" in m for m in messages)
    assert list(frame["seq"]) == [1, 2, 4, 6]
    assert frame["intent"].iloc[1] == 1  # the outcome points at its intent


def test_a_torn_last_record_is_skipped_and_the_next_starts_its_own_line(emu, dc, journal_path):
    fetched(dc, emu, name="j-torn1").stop()
    with open(journal_path, "a") as file:  # a crash in the middle of a write
        file.write('{"kind":"intent","time":"2026-')
    Journal.at(journal_path).close()  # a new process: it checks the end of the file
    with pytest.warns(JournalWarning, match="record 3 is damaged"):
        assert len(journal()) == 2
    fetched(dc, emu, name="j-torn2").stop()
    with pytest.warns(JournalWarning, match="record 3 is damaged"):
        frame = journal()
    assert list(frame["machine_name"]) == ["j-torn1"] * 2 + ["j-torn2"] * 2
    assert list(frame["seq"]) == [1, 2, 4, 5] and frame["intent"].iloc[3] == 4
    assert oct(journal_path.stat().st_mode & 0o777) == oct(0o600)  # only its owner reads it


def test_a_place_that_is_not_a_file_is_said(tmp_path):
    path = tmp_path / "a-directory"
    path.mkdir()
    with pytest.raises(JournalError, match=f"cannot read the journal at {path}"):
        journal(path=path)
    with pytest.raises(JournalError, match=f"cannot write the journal at {path}.*nothing was "):
        Journal(path).open()
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"this is not a journal" * 100)
    with pytest.warns(JournalWarning, match=f"journal {garbage}: record 1 is damaged"):
        assert journal(path=garbage).empty


def test_filters_by_run_machine_and_time(emu, dc):
    first = fetched(dc, emu, name="j-f1")
    second = fetched(dc, emu, name="j-f2")
    first.stop()
    second.stop()
    by_name = journal(machine="j-f2")
    assert set(by_name["machine_id"]) == {second.id}
    assert len(journal(machine=first.id)) == 2
    run_id = by_name["run_id"].iloc[0]
    assert set(journal(run=run_id)["machine_name"]) == {"j-f2"}
    cut = by_name["time"].iloc[0]
    assert set(journal(since=cut)["machine_name"]) == {"j-f2"}
    assert set(journal(until=cut.isoformat())["machine_name"]) <= {"j-f1", "j-f2"}
    assert journal(since="2999-01-01").empty
    # CloudAPI's way of writing a time (a trailing Z), read on Python 3.10 as on 3.11
    zulu = cut.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert set(journal(since=zulu)["machine_name"]) == {"j-f2"}
    assert journal(since="2999-01-01T00:00Z").empty
    with pytest.raises(smartdc_nb.InvalidInputError, match="since/until"):
        journal(since="yesterday")


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


def test_runs_have_reprs_and_the_command_lists_them(emu, dc, journal_path):
    fetched(dc, emu, name="j-r<b>1").stop()
    machines = MachineList([fetched(dc, emu, name=f"j-run{i}") for i in range(2)])
    machines.reboot(**FAST)
    runs = journal_runs()
    assert [r.action for r in runs] == ["reboot", "stop"]
    assert all(r.status == "ended" for r in runs)
    run = journal_run(runs[0].run_id)
    text = repr(run)
    assert runs[0].run_id in text and "reboot" in text and "2 accepted" in text
    page = run._repr_html_()
    seen = words(page.split("</style>", 1)[1])
    assert "j-run0" in seen and "2 accepted" in seen and f"Run id {run.run_id}" in seen
    single = journal_run(runs[1].run_id)._repr_html_()
    assert "j-r&lt;b&gt;1" in single and "j-r<b>1" not in single  # cloud data is escaped
    out = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "journal"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert str(journal_path) in out.stdout and runs[0].run_id in out.stdout
    one = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "journal", runs[0].run_id],
                         capture_output=True, text=True, timeout=60)
    assert one.returncode == 0 and "j-run1" in one.stdout and "accepted" in one.stdout
    assert "NaN" not in one.stdout and "<NA>" not in one.stdout  # no error: blank, not NaN
    missing = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "journal", "nope"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr


def test_a_run_across_datacenters_names_them_all(emu, dc, dc_west, journal_path):
    """The run list and the run's card named only the first machine's datacenter, for a run
    that acted in two; the list was a bare pandas table (NaN for no plan)."""
    machines = MachineList([fetched(dc, emu, name="j-dc-e"), fetched(dc_west, emu, name="j-dc-w")])
    machines.add_tags({"team": "ops"}, **FAST)
    runs = journal_runs()
    assert runs[0].datacenters == ["us-east-1", "us-west-1"]
    assert runs.frame["datacenter"].tolist()[0] == "us-east-1, us-west-1"
    card = words(runs[0]._repr_html_().split("</style>", 1)[1])
    assert "Datacenters us-east-1, us-west-1" in card
    listing = runs._repr_html_()
    assert 'class="sdcnb' in listing and "NaN" not in listing
    seen = words(listing.split("</style>", 1)[1])
    assert runs[0].run_id in seen and "us-east-1, us-west-1" in seen and "2 accepted" in seen


def test_reading_an_absent_journal_is_empty_not_an_error(tmp_path):
    assert journal(path=tmp_path / "none.jsonl").empty
    assert list(journal_runs(path=tmp_path / "none.jsonl")) == []


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


def test_creating_a_machine_is_journalled_by_its_name(emu, dc):
    created = dc.create_machine(name="j-new", package="g4-highcpu-1G", image="base-64-lts")
    intent, outcome = records()
    assert intent["action"] == outcome["action"] == "create_machine"
    assert intent["arguments"]["body"]["name"] == "j-new"
    assert outcome["http_status"] == 201 and outcome["outcome"] == "accepted"
    assert created.name == "j-new"


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


def test_secret_metadata_values_are_not_kept_in_the_journal(emu, dc, journal_path):
    """update_metadata(db_password=...) wrote the password into the journal file in clear,
    and journal() showed it: the card, the frames and history never show a secret's value
    (smartdc_nb.masking). The journal keeps the key and the value's length, not the value."""
    machine = fetched(dc, emu, name="j-secret")
    machine.update_metadata(db_password="hunter2-hunter2", note="kept")
    MachineList([machine]).update_metadata({"api_token": "tok-123456"}, confirm=True, **FAST)
    text = journal_path.read_text()
    assert "hunter2" not in text and "tok-123456" not in text
    intent = [r for r in records() if r["kind"] == "intent"][0]
    body = intent["arguments"]["body"]
    assert body["note"] == "kept"
    assert body["db_password"] == "<secret, not kept: 15 characters>"
    run = [r for r in records() if r["kind"] == "run"][0]
    assert run["detail"]["arguments"]["args"] == [{"api_token": "<secret, not kept: 10 characters>"}]
    # what was sent is what was asked: the cloud has the value
    assert machine.get_metadata()["db_password"] == "hunter2-hunter2"
    # a new machine's metadata is in its create request's body
    dc.create_machine(name="j-secret-new", package="g4-highcpu-1G", image="base-64-lts",
                      metadata={"root_pw": "created-secret", "role": "db"})
    text = journal_path.read_text()
    assert "created-secret" not in text
    assert '"metadata.role":"db"' in text and '"metadata.root_pw":"<secret, not kept' in text


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
