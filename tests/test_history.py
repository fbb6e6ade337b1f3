"""Fleet history against the emulator: points saved as Parquet, listed, loaded with live dtypes,
diffed; smartdc-nb snapshot from the command line; damaged points refused clearly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from notebook_runs import profile_env

import smartdc_nb
from smartdc_nb.errors import InvalidInputError
from smartdc_nb.frames.history import history_dir


def test_a_point_is_saved_listed_and_loaded_with_live_dtypes(emu, fleet, dc, store):
    east = emu.datacenter("us-east-1")
    secret = east.put_machine(name="holder", metadata={"db_password": "hunter2", "api_token": "t0k",
                                                       "plain": "visible", "user-script": "#!/bin/sh"})
    point = fleet.snapshot(progress=False)
    assert point.path.parent == store and point.path.is_dir()
    assert sorted(p.name for p in point.path.iterdir()) == [
        "machines.parquet", "metadata.parquet", "snapshots.parquet", "tags.parquet"]
    live = fleet.frames.machines()
    assert len(point.machines) == len(live) and point.account == "demo"
    assert point.datacenters == ["us-east-1", "us-west-1"]

    listed = smartdc_nb.history()
    assert listed["point"].tolist() == [point.name]
    row = listed.iloc[0]
    assert row.machines == len(live) and row.snapshots == len(point.snapshots) > 0
    assert row.datacenters == ["us-east-1", "us-west-1"] and row.account == "demo"

    loaded = smartdc_nb.load(point.name)
    assert dict(loaded.machines.dtypes) == dict(live.dtypes)
    assert list(loaded.machines.columns) == list(live.columns)
    for kind in ("tags", "metadata", "snapshots"):
        assert dict(getattr(loaded, kind).dtypes) == dict(getattr(fleet.frames, kind)(
            **({"progress": False} if kind == "snapshots" else {})).dtypes), kind
    assert loaded.machines.set_index("id").loc[secret, "tags"] == {}
    first = live.iloc[0]
    again = loaded.machines.set_index("id").loc[first["id"]]
    assert again["tags"] == first["tags"] and again["public_ips"] == first["public_ips"]
    assert again["state"] == first["state"] and again["created"] == first["created"]
    assert smartdc_nb.load(-1).name == smartdc_nb.load(str(point.path)).name == point.name

    # masked metadata keys are kept with their size, never their value, not even on disk
    meta = loaded.metadata[loaded.metadata.machine_id == secret].set_index("key")
    assert meta.loc["plain", "value"] == "visible"
    assert meta.loc["db_password", "value"] is None and meta.loc["db_password", "size"] == 7
    assert meta.loc["api_token", "value"] is None and meta.loc["user-script", "value"] is None
    on_disk = b"".join(p.read_bytes() for p in point.path.iterdir())
    assert b"hunter2" not in on_disk and b"t0k" not in on_disk


def test_the_default_directory_is_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("SMARTDC_NB_HISTORY_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert history_dir() == tmp_path / "data" / "smartdc_nb" / "history"


def test_diff_of_two_points(emu, fleet, dc, dc_west, store):
    before = fleet.snapshot(progress=False)
    running = dc.machines(state="running")
    stopped, tagged, renamed = running[0], running[1], running[2]
    stopped.stop().wait_for("stopped", timeout=30, progress=False)
    tagged.add_tags(env="qa")
    tagged.create_snapshot("s1").wait_for("created", timeout=30, progress=False)
    renamed.rename("renamed-x").wait_for("running", timeout=30, progress=False)
    gone = dc_west.machines(state="stopped")[0]
    gone.delete().wait_for("deleted", timeout=30, progress=False)
    new = emu.datacenter("us-west-1").put_machine(name="newcomer")
    after = fleet.snapshot(progress=False)

    d = smartdc_nb.diff(before.name, -1)
    assert d.before_label == before.name and d.after_label == after.name
    assert d.appeared["id"].tolist() == [new] and d.vanished["id"].tolist() == [gone.id]
    changes = {(r.machine_id, r.column): (r.before if isinstance(r.before, str) else None,
                                           r.after if isinstance(r.after, str) else None)
               for r in d.changes.itertuples()}
    old_env = before.machines.set_index("id").loc[tagged.id, "tags"].get("env")
    assert changes[stopped.id, "state"] == ("running", "stopped")
    assert changes[tagged.id, "tag.env"] == (old_env, "qa")
    assert changes[tagged.id, "snapshot.s1"] == (None, "created")
    assert changes[renamed.id, "name"][1] == "renamed-x"
    assert {mid for mid, _ in changes} == {stopped.id, tagged.id, renamed.id}
    counts = d.counts.set_index("datacenter")
    assert counts.pop("not_read").isna().all() and d.frame.attrs["partial"] == []
    assert counts.loc["us-east-1"].tolist() == [0, 0, 3, len(d.changes)]
    assert counts.loc["us-west-1"].tolist() == [1, 1, 0, 0]
    assert d.frame["change"].value_counts().to_dict() == {"appeared": 1, "vanished": 1,
                                                          "changed": len(d.changes)}
    html = d._repr_html_()
    assert "renamed-x" in html and "Fleet diff" in html and "3 changed" in html
    assert "1 appeared, 1 vanished, 3 changed" in d.summary()
    # a point against the fleet now, and a frame against a frame
    assert not smartdc_nb.diff(after, fleet).changes["machine_id"].isin([stopped.id]).any()
    frames = smartdc_nb.diff(before.machines, after.machines)
    assert not frames.compared_snapshots and "snapshot.s1" not in set(frames.changes.column)


def test_a_hostile_name_is_escaped_in_the_diff(emu, fleet, store):
    before = fleet.snapshot(progress=False, snapshots=False)
    emu.datacenter("us-east-1").put_machine(name="<script>alert(1)</script>")
    html = smartdc_nb.diff(before, fleet)._repr_html_()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_bad_points_are_refused_clearly(fleet, store, tmp_path):
    point = fleet.snapshot(progress=False, snapshots=False)
    assert point.snapshots is None and smartdc_nb.load(point.name).snapshots is None
    damaged = store / "20200101T000000.000000Z-demo"
    damaged.mkdir()
    (damaged / "machines.parquet").write_bytes(b"PAR1 this is not parquet at all")
    with pytest.warns(UserWarning, match="not a readable history point"):
        assert smartdc_nb.history()["point"].tolist() == [point.name]
    with pytest.raises(InvalidInputError, match=r"machines.parquet is not a readable history "
                                                r"point .*damaged: remove it, or load another"):
        smartdc_nb.load(str(damaged))
    # by its name, as history()'s warning names it: the point is there, and damaged (it was
    # "no saved point '...'", since history() leaves damaged points out)
    with pytest.warns(UserWarning), pytest.raises(InvalidInputError, match=r"not a readable "
                                                  r"history point .*damaged: remove it"):
        smartdc_nb.load(damaged.name)
    shutil.rmtree(damaged)
    # a valid header with a damaged body
    torn = store / "torn"
    torn.mkdir()
    for name in ("machines", "tags", "metadata"):
        data = (point.path / f"{name}.parquet").read_bytes()
        (torn / f"{name}.parquet").write_bytes(data if name == "machines" else data[:40] + data[-200:])
    with pytest.raises(InvalidInputError, match=r"tags.parquet is not a readable history point"):
        smartdc_nb.load(str(torn))
    with pytest.raises(InvalidInputError, match="not a history point: it has no machines.parquet"):
        smartdc_nb.load(str(tmp_path))
    with pytest.raises(InvalidInputError, match=r"no saved point 'nope'.*smartdc_nb.history\(\)"):
        smartdc_nb.load("nope")
    with pytest.raises(InvalidInputError, match="there are 2 saved points .*no point #5"):
        smartdc_nb.load(5)
    with pytest.raises(InvalidInputError, match="exists already"):
        fleet.snapshot(point.path)
    other = pq.read_table(point.path / "machines.parquet")
    meta = dict(other.schema.metadata)
    meta[b"smartdc_nb"] = json.dumps({"format": 99}).encode()
    future = store / "future"
    future.mkdir()
    pq.write_table(other.replace_schema_metadata(meta), future / "machines.parquet")
    with pytest.raises(InvalidInputError, match="point format 99; this version reads format 1"):
        smartdc_nb.load(str(future))
    assert not [p for p in store.iterdir() if p.name.startswith(".partial")]


def lab_env(emu, triton_keys, tmp_path) -> dict:
    """An environment for ``smartdc-nb`` with one triton CLI profile, "lab", for the emulator,
    and nothing of the caller's (no TRITON_*, SDC_*, SMARTDC_NB_* or ssh-agent)."""
    return profile_env(emu, triton_keys, tmp_path, ("TRITON_", "SDC_", "SMARTDC_NB_"))


def test_smartdc_nb_snapshot_from_the_command_line(emu, triton_keys, tmp_path):
    env = lab_env(emu, triton_keys, tmp_path)
    run = lambda *args: subprocess.run(
        [sys.executable, "-m", "smartdc_nb.cli", "snapshot", *args], capture_output=True,
        text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    proc = run("--profile", "lab", "--dir", str(tmp_path / "h"), "--no-snapshots")
    assert proc.returncode == 0, proc.stderr
    listed = smartdc_nb.history(tmp_path / "h")
    assert len(listed) == 1 and listed.snapshots.isna().all()
    machines = sum(len(emu.datacenter(n).machine_ids()) for n in emu.urls)
    assert proc.stdout.startswith(f"saved point {listed.point[0]}: ")
    assert 0 < listed.machines[0] <= machines and "in us-east-1, us-west-1 to " in proc.stdout
    # a configuration to fix exits 2, as every other command's does (resume, journal, run,
    # argparse's own); 1 is kept for a cloud that could not be read, which cron retries
    proc = run("--profile", "nosuch", "--dir", str(tmp_path / "h"))
    assert proc.returncode == 2 and proc.stderr.startswith("smartdc-nb snapshot: ")
    assert "nosuch" in proc.stderr and "Traceback" not in proc.stderr
    profiles = Path(env["TRITONTEST_CLI_CONFIG_DIR"]) / "profiles.d"
    (profiles / "badkey.json").write_text(json.dumps(  # no key with that id anywhere
        {"url": emu.url, "account": "demo", "keyId": "SHA256:" + "A" * 43}))
    proc = run("--profile", "badkey", "--dir", str(tmp_path / "h"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr


def test_a_half_written_point_left_by_a_killed_process_is_cleared_later(fleet, store):
    """A save killed with kill -9 (or a power cut) leaves its hidden .partial-* folder, which
    nothing removed: history() skips it, but each one stayed on disk for ever. A later save
    removes those over an hour old; a younger one may be another process's save under way."""
    store.mkdir(parents=True, exist_ok=True)
    old, fresh = store / ".partial-killed", store / ".partial-running"
    for folder in (old, fresh):
        folder.mkdir()
        (folder / "machines.parquet").write_bytes(b"half")
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    fleet.snapshot(progress=False, snapshots=False)
    assert not old.exists() and fresh.exists()


def test_no_points_yet(store):
    listed = smartdc_nb.history()
    assert listed.empty and list(listed.columns) == ["point", "time", "account", "datacenters",
                                                     "machines", "snapshots", "errors",
                                                     "path"]
    with pytest.raises(InvalidInputError, match="there are 0 saved points"):
        smartdc_nb.load()


def test_a_datacenter_can_be_saved_and_diffed_too(emu, dc, store):
    point = smartdc_nb.Fleet([dc]).snapshot(snapshots=False)
    emu.datacenter("us-east-1").put_machine(name="later")
    d = smartdc_nb.diff(point, dc)
    assert d.appeared["name"].tolist() == ["later"] and d.counts["datacenter"].tolist() == [
        "us-east-1"]


@pytest.mark.parametrize("failure", ["disk full", "not a directory"])
def test_a_point_that_cannot_be_written_is_said_with_where_and_what_to_do(
        emu, triton_keys, tmp_path, failure):
    """A full disk (the kernel's EFBIG under a file-size limit: as ENOSPC) or a history
    directory under a file: cron got a bare traceback ("Error writing bytes to file", naming
    no file); it gets one line naming the point and what to do, exit 1, and no half point."""
    resource = pytest.importorskip("resource")
    env = lab_env(emu, triton_keys, tmp_path)
    directory = tmp_path / "h"
    if failure == "not a directory":
        directory.write_text("a file")
        directory = directory / "history"

    def small_files():  # in the child only: EFBIG, not death, past 2000 bytes
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    proc = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "snapshot", "--profile", "lab",
                           "--dir", str(directory), "--no-snapshots"], capture_output=True,
                          text=True, timeout=300, env=env, stdin=subprocess.DEVNULL,
                          preexec_fn=small_files if failure == "disk full" else None)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"smartdc-nb snapshot: cannot save the point in {directory}")
    assert ("File too large" if failure == "disk full" else "Not a directory") in proc.stderr
    assert "nothing was saved" in proc.stderr and "--dir" in proc.stderr
    if failure == "disk full":
        assert list(directory.iterdir()) == []  # no .partial- left behind


def test_one_changed_value_is_said_in_the_singular(fleet, store):
    """The summary said "1 changed (1 values)"."""
    before = fleet.frames.machines()
    after = before.copy()
    first = after.index[after["state"] != "stopped"][0]
    after.loc[first, "state"] = "stopped"
    assert smartdc_nb.diff(before, after).summary().endswith(": 0 appeared, 0 vanished, "
                                                             "1 changed (1 value)")
    after.loc[first, "name"] = "renamed-y"
    assert smartdc_nb.diff(before, after).summary().endswith("1 changed (2 values)")
