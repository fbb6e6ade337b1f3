"""The journal: every mutating request recorded before and after, readable, damage-tolerant.

How each record is written (concurrency, fsync, values, times) is in test_journal_records."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from test_machine_support import FAST, fetched, logged, mutations
from test_widgets_support import words

import smartdc_nb
from smartdc_nb.errors import DeletionProtectedError, NotFoundError
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


def test_creating_a_machine_is_journalled_by_its_name(emu, dc):
    created = dc.create_machine(name="j-new", package="g4-highcpu-1G", image="base-64-lts")
    intent, outcome = records()
    assert intent["action"] == outcome["action"] == "create_machine"
    assert intent["arguments"]["body"]["name"] == "j-new"
    assert outcome["http_status"] == 201 and outcome["outcome"] == "accepted"
    assert created.name == "j-new"


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
