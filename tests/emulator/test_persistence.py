"""SQLite write-through: acknowledged changes survive a kill -9 and a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from emu_client import Client
from polling import eventually

from smartdc_nb.emulator.seed import stable_uuid
from smartdc_nb.emulator.testing import make_emulator

BASE_IMAGE = stable_uuid("image", "base-64-lts", "23.4.0")


def start_process(tmp_path: Path, key, state: Path, *extra: str) -> tuple[subprocess.Popen, dict]:
    ready = tmp_path / f"ready-{time.monotonic_ns()}.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartdc_nb.emulator", "--port", "0", "--key", str(key.public),
         "--machines", "5", "--datacenters", "east,west", "--state", str(state),
         "--ready-file", str(ready), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    eventually(lambda: ready.exists() or proc.poll() is not None, timeout=30)
    if proc.poll() is not None:
        raise AssertionError(proc.communicate()[1])
    return proc, json.loads(ready.read_text())["urls"]


def finish(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[int, str]:
    """Signal ``proc`` (if alive) and collect its exit code and stderr."""
    if proc.poll() is None:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    return proc.returncode, err


def test_kill_9_after_an_acknowledged_change(tmp_path, triton_keys):
    key = triton_keys["rsa"]
    state = tmp_path / "cloud.sqlite"
    proc, urls = start_process(tmp_path, key, state, "--speed", "4")
    try:
        east = Client(urls["east"], key)
        seeded = east.get("/my/machines").json()
        created = east.post("/my/machines", json={"image": BASE_IMAGE, "package": "g4-highcpu-1G",
                                                  "name": "survivor", "tag.keep": "yes"})
        assert created.status == 201
        machine = created.json()["id"]
        assert east.post(f"/my/machines/{seeded[0]['id']}/tags", json={"after": "crash"}).status == 200
        assert east.delete(f"/my/keys/{triton_keys['ed25519'].md5}").status in (204, 404)
        east.close()
    finally:
        finish(proc, signal.SIGKILL)
    proc, urls = start_process(tmp_path, key, state)
    try:
        east = Client(urls["east"], key)
        again = east.get(f"/my/machines/{machine}").json()
        assert again["name"] == "survivor" and again["tags"] == {"keep": "yes"}
        # the provision job (2 s at speed 4) went on while the process was dead
        eventually(lambda: east.get(f"/my/machines/{machine}").json()["state"] == "running", timeout=15)
        tags = east.get(f"/my/machines/{seeded[0]['id']}/tags").json()
        assert tags["after"] == "crash"
        assert {m["id"] for m in east.get("/my/machines").json()} == {m["id"] for m in seeded} | {machine}
        east.close()
    finally:
        code, err = finish(proc)
    assert code == 0 and "Traceback" not in err


def test_reset_reseeds_the_state_file(tmp_path, triton_keys):
    key = triton_keys["rsa"]
    state = tmp_path / "cloud.sqlite"
    with make_emulator(triton_keys, state=str(state), machines=3, datacenters=["east"]) as emu:
        emu.datacenter("east").put_machine(name="extra")
        assert len(emu.state.datacenters["east"].machines) == 4
    with make_emulator(triton_keys, state=str(state), machines=3, datacenters=["east", "north"]) as emu:
        assert len(emu.state.datacenters["east"].machines) == 4  # kept
        assert len(emu.state.datacenters["north"].machines) == 3  # a new datacenter is seeded
        emu.reset()
        assert len(emu.state.datacenters["east"].machines) == 3
    proc, urls = start_process(tmp_path, key, state, "--reset")
    try:
        assert len(Client(urls["east"], key).get("/my/machines?tombstone=1").json()) == 5
    finally:
        finish(proc)


def test_catalog_and_account_changes_persist(tmp_path, triton_keys):
    state = tmp_path / "cloud.sqlite"
    with make_emulator(triton_keys, state=str(state), machines=1, datacenters=["east"]) as emu:
        emu.add_package(name="custom-2G", memory=2048, disk=51200)
        emu.delete_image(BASE_IMAGE)
        api = Client(emu.url, triton_keys["rsa"])
        api.post("/my", json={"companyName": "Persisted Inc"})
        api.put("/my/config", json={"default_network": api.get("/my/networks").json()[2]["id"]})
    with make_emulator(triton_keys, state=str(state), machines=1, datacenters=["east"]) as emu:
        api = Client(emu.url, triton_keys["rsa"])
        assert "custom-2G" in {p["name"] for p in api.get("/my/packages").json()}
        assert BASE_IMAGE not in {i["id"] for i in api.get("/my/images").json()}
        assert api.get("/my").json()["companyName"] == "Persisted Inc"
        assert api.get("/my/config").json()["default_network"] == api.get("/my/networks").json()[2]["id"]


@pytest.mark.skipif(not hasattr(os, "getppid"), reason="needs process ids")
def test_parent_pid_ends_the_emulator(tmp_path, triton_keys):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc, _ = start_process(tmp_path, triton_keys["rsa"], tmp_path / "s.sqlite", "--parent-pid",
                            str(parent.pid))
    parent.kill()
    parent.wait()
    proc.wait(10)
    assert finish(proc)[0] == 0


# ------------------------------------------------- a damaged state file (issue 13 item 11)


def valid_state(path: Path, triton_keys) -> Path:
    from smartdc_nb.emulator import Emulator

    Emulator(accounts={"demo": [triton_keys["rsa"].public_line]}, machines=3, state=str(path)).close()
    return path


def damage(kind: str, path: Path, triton_keys) -> None:
    import sqlite3

    if kind == "directory":
        path.mkdir()
    elif kind == "random bytes":
        path.write_bytes(os.urandom(8192))
    elif kind == "another program's database":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE notes (id INTEGER, text TEXT)")
            db.execute("INSERT INTO notes VALUES (1, 'x')")
        db.close()
    else:
        valid_state(path, triton_keys)
        if kind == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[:len(data) // 2])
            return
        db = sqlite3.connect(path)
        with db:
            db.execute({"missing table": "DROP TABLE machines",
                        "damaged row": "UPDATE machines SET doc = '{\"id\": 1' WHERE rowid = 1",
                        "other schema version": "UPDATE meta SET value = '7' WHERE key = 'schema'",
                        "no meta": "DELETE FROM meta"}[kind])
        db.close()


@pytest.mark.parametrize("kind, says", [
    ("directory", "is a directory"),
    ("random bytes", "is not a usable SQLite database (file is not a database)"),
    ("truncated", "is not a usable SQLite database (database disk image is malformed)"),
    ("another program's database", "has no table 'meta'"),
    ("missing table", "has no table 'machines'"),
    ("damaged row", "holds a row that cannot be read back"),
    ("other schema version", "has schema version 7"),
    ("no meta", "holds data but no meta table rows"),
])
def test_a_damaged_state_file_is_one_line_and_exit_2(tmp_path, triton_keys, capsys, kind, says):
    import argparse

    from smartdc_nb.emulator.cli import add_arguments, run

    state = tmp_path / "state.db"
    damage(kind, state, triton_keys)
    before = sorted(p.name for p in tmp_path.iterdir())
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()  # a parent that is gone: should the file be accepted, the emulator stops at once
    args = ["--state", str(state), "--key", str(triton_keys["rsa"].public), "--parent-pid", str(gone.pid)]
    assert run(parser.parse_args(args)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"smartdc-nb emulator: state file {state} ") and says in err, err
    assert "move it away or give another --state file" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # refused, and nothing written


def test_an_empty_state_file_is_seeded(tmp_path, triton_keys):
    state = tmp_path / "state.db"
    state.touch()
    with make_emulator(triton_keys, machines=2, datacenters=["dc1"], state=str(state)) as emu:
        assert len(emu.datacenter("dc1").machine_ids()) == 2


def test_unexpected_errors_reach_stderr_with_the_request_id(tmp_path, triton_keys):
    import sqlite3

    state = tmp_path / "state.db"
    proc, urls = start_process(tmp_path, triton_keys["rsa"], state)
    try:
        client = Client(urls["east"], triton_keys["rsa"])
        machine = client.get("/my/machines?limit=1").json()[0]["id"]
        locker = sqlite3.connect(state, timeout=1)
        locker.execute("BEGIN EXCLUSIVE")  # the disk stops taking writes (SQLite waits 5 s, then fails)
        try:
            response = client.post(f"/my/machines/{machine}/tags", json={"a": "1"},
                                   headers={"Request-Id": "req-13-12"})
        finally:
            locker.rollback()
            locker.close()
        assert (response.status, response.json()) == (500, {"code": "InternalError", "message": "Internal Error"})
        assert client.get("/my/machines?limit=1").status == 200
    finally:
        code, err = finish(proc)
    assert code == 0
    assert "smartdc-nb emulator: ERROR: unexpected error serving POST" in err
    assert "(request id req-13-12)" in err and "database is locked" in err


def test_a_state_file_from_before_snapshot_jobs_still_shows_its_deleted_snapshots(
        tmp_path, triton_keys):
    """Files written before the emulator kept snapshot jobs kept the names of deleted
    snapshots only (``deleted_snapshots``). Loaded again, such a snapshot is what CloudAPI
    shows for one the machine had and deleted: GET says ``deleted`` (not a 404, which is for a
    name no job ever touched), and the list leaves it out."""
    import sqlite3

    from smartdc_nb.emulator import Emulator

    path = valid_state(tmp_path / "old.sqlite", triton_keys)
    db = sqlite3.connect(path)
    with db:
        dc, machine_id, doc = db.execute("SELECT dc, id, doc FROM machines LIMIT 1").fetchone()
        old = json.loads(doc)
        old.pop("snapshot_jobs")
        old["deleted_snapshots"] = ["gone-before"]
        db.execute("UPDATE machines SET doc = ? WHERE dc = ? AND id = ?",
                   (json.dumps(old), dc, machine_id))
    db.close()
    with Emulator(accounts={"demo": [triton_keys["rsa"].public_line]}, state=str(path)) as emu:
        api = Client(emu.urls[dc], triton_keys["rsa"])
        got = api.get(f"/my/machines/{machine_id}/snapshots/gone-before")
        assert got.status == 200 and got.json()["state"] == "deleted", got.json()
        listed = api.get(f"/my/machines/{machine_id}/snapshots").json()
        assert "gone-before" not in {s["name"] for s in listed}
        assert api.get(f"/my/machines/{machine_id}/snapshots/never-made").status == 404
