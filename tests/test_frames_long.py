"""The long frames of a datacenter and of a fleet (tags, metadata, snapshots, audit) and the
catalog frames (packages, images, networks), end to end against the emulator: their columns
and dtypes, what they never show (secrets, boot scripts), bounded concurrency, failures named."""

from __future__ import annotations

import io
import threading

import pandas as pd
import pytest

from polling import eventually
from smartdc_nb import Fleet
from smartdc_nb.errors import InvalidInputError, MachineDeletedError
from smartdc_nb.fleet import DatacenterWarning
from smartdc_nb.frames import (AUDIT_COLUMNS, METADATA_COLUMNS, SNAPSHOT_COLUMNS, SNAPSHOT_STATES,
                               TAGS_COLUMNS)
from test_frames_support import dtypes


# ------------------------------------------------------------------ long frames


def test_tags_frame_is_long(dc):
    raw = dc.raw_machines()
    df = dc.frames.tags()
    assert tuple(df.columns) == TAGS_COLUMNS
    assert dtypes(df) == {"datacenter": "string", "machine_id": "string", "machine_name": "string",
                          "key": "string", "value": "object"}
    expected = {(m["id"], m["name"], k, repr(v)) for m in raw for k, v in m["tags"].items()}
    assert {(r.machine_id, r.machine_name, r.key, repr(r.value)) for r in df.itertuples()} == expected
    assert len(df) == len(expected)
    assert df.attrs["kind"] == "tags"


def test_metadata_frame_shows_user_script_as_its_size_and_never_a_secret(emu, dc):
    script = "#!/bin/sh\necho héllo\n"
    secret = "S3cret-pw-value"
    machine = emu.datacenter("us-east-1").put_machine(
        name="scripted", metadata={"user-script": script, "answer": 42, "on": True,
                                   "db_password": "hunter2", "API_TOKEN": "tok-123"},
        credentials={"root": secret})
    df = dc.frames.metadata(credentials=True)  # even when the listing carries credentials
    assert any(m.get("metadata", {}).get("credentials") for m in dc.raw_machines(credentials=True))
    assert tuple(df.columns) == METADATA_COLUMNS
    assert str(df["size"].dtype) == "Int64" and str(df.value.dtype) == "object"
    mine = df[df.machine_id == machine].set_index("key")
    assert pd.isna(mine.loc["user-script", "value"])
    assert mine.loc["user-script", "size"] == len(script.encode())
    assert mine.loc["answer", "value"] == 42 and mine.loc["answer", "size"] == 2
    assert mine.loc["on", "value"] is True and mine.loc["on", "size"] == 4
    # a secret's key is there (which machines carry one) with its size, as in a history
    # point, its value never: the card masks db_password, and the frame showed "hunter2"
    for key in ("db_password", "API_TOKEN", "credentials"):
        assert pd.isna(mine.loc[key, "value"]), key
    assert mine.loc["db_password", "size"] == len("hunter2")
    text = df.to_csv()
    assert secret not in text and "hunter2" not in text and "tok-123" not in text
    assert df[df.key.str.endswith("_pw")].value.isna().all()


def test_metadata_frame_shows_every_boot_script_and_injected_key_by_size(emu, dc):
    """The card and a history point show user-data and root_authorized_keys by size only
    (masking.SCRIPT_KEYS); the frame hid only user-script, so a cloud-config's password
    showed in frames.metadata()."""
    config = "#cloud-config\npassword: hunter2-in-user-data\n"
    keys = "ssh-ed25519 AAAAC3Nza... ops@example"
    machine = emu.datacenter("us-east-1").put_machine(
        name="cloud-config", metadata={"user-data": config, "root_authorized_keys": keys,
                                       "role": "db"})
    df = dc.frames.metadata()
    mine = df[df.machine_id == machine].set_index("key")
    for key, value in (("user-data", config), ("root_authorized_keys", keys)):
        assert pd.isna(mine.loc[key, "value"]), key
        assert mine.loc[key, "size"] == len(value.encode()), key
    assert mine.loc["role", "value"] == "db"


def test_snapshots_frame(emu, dc):
    raw = dc.raw_machines()
    expected = {}
    for m in raw:
        if m["brand"] != "kvm":
            for snap in dc.request("GET", "machines", m["id"], "snapshots").data:
                expected[m["id"], snap["name"]] = snap
    emu.clear_requests()
    df = dc.frames.snapshots()
    assert tuple(df.columns) == SNAPSHOT_COLUMNS
    assert dtypes(df) == {"datacenter": "string", "machine_id": "string", "machine_name": "string",
                          "name": "string", "state": "category", "size": "Int64",
                          "created": "datetime64[ns, UTC]", "updated": "datetime64[ns, UTC]",
                          "age": "timedelta64[ns]"}
    assert list(df.state.cat.categories) == list(SNAPSHOT_STATES)
    assert len(df) == len(expected) > 0
    for row in df.itertuples():
        snap = expected[row.machine_id, row.name]
        assert row.state == snap["state"] and row.size == snap.get("size")
        assert row.created == pd.Timestamp(snap["created"])
    asked = {r["path"].split("/")[3] for r in emu.requests if r["path"].endswith("/snapshots")}
    kvm = {m["id"] for m in raw if m["brand"] == "kvm"}
    assert asked == {m["id"] for m in raw} - kvm and kvm


def test_snapshots_are_fetched_with_bounded_concurrency(emu, dc):
    emu.faults.add(path=r"/snapshots", latency=0.15)
    emu.clear_requests()
    bar = io.StringIO()
    dc.frames.snapshots(concurrency=3, progress={"file": bar})
    asked = sum(1 for r in emu.requests if r["path"].endswith("/snapshots"))
    assert "listing snapshots" in bar.getvalue() and f"{asked}/{asked}" in bar.getvalue()
    spans = sorted((r["time"], r["time"] + r["ms"] / 1000) for r in emu.requests
                   if r["path"].endswith("/snapshots"))
    assert len(spans) > 6
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most == 3


def test_a_fleet_lists_each_datacenter_s_snapshots_side_by_side(emu, dc, dc_west):
    fleet = Fleet([dc, dc_west])
    machines = fleet.frames.machines()                   # us-east-1's rows first
    held = {name: emu.faults.add(path=r"/snapshots(\?|$)", datacenter=name, hold=True)
            for name in ("us-east-1", "us-west-1")}

    def holding(name: str) -> int:
        return next(f["hits"] for f in emu.faults.list() if f["id"] == held[name])

    done: dict = {}
    worker = threading.Thread(target=lambda: done.update(df=fleet.frames.snapshots(
        machines, concurrency=2)))
    worker.start()
    try:
        # each datacenter's login has its own rate limit: one queue would hold us-west-1's
        # requests behind every one of us-east-1's while us-west-1's budget sat unused
        eventually(lambda: holding("us-east-1") == holding("us-west-1") == 2, 5,
                   "two requests in flight in each datacenter at once")
    finally:
        for fault in held.values():
            emu.faults.release(fault)
        worker.join(30)
    for name in ("us-east-1", "us-west-1"):                 # concurrency= bounds each one
        spans = [(r["time"], r["time"] + r["ms"] / 1000) for r in emu.requests
                 if r["datacenter"] == name and r["path"].endswith("/snapshots")]
        assert max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans) == 2
    df = done["df"]
    assert set(df["datacenter"]) == {"us-east-1", "us-west-1"} and not df.attrs["snapshot_errors"]


def test_snapshots_of_chosen_machines_only(emu, dc):
    machines = dc.frames.machines()
    chosen = machines[machines.brand != "kvm"].head(3)
    emu.clear_requests()
    df = dc.frames.snapshots(chosen)
    asked = sorted(r["path"].split("/")[3] for r in emu.requests)
    assert asked == sorted(chosen.id)
    assert set(df.machine_id) <= set(chosen.id)
    with pytest.raises(InvalidInputError, match="not both"):
        dc.frames.snapshots(chosen, state="running")


def test_a_snapshot_listing_that_fails_is_named(emu, dc):
    victim = next(m for m in dc.raw_machines() if m["brand"] != "kvm")
    emu.faults.add(path=f"/machines/{victim['id']}/snapshots", status=500)
    with pytest.warns(DatacenterWarning, match="snapshots of 1 machine"):
        df = dc.frames.snapshots()
    assert list(df.attrs["snapshot_errors"]) == [f"us-east-1/{victim['id']}"]
    assert victim["id"] not in set(df.machine_id)


def test_audit_frame(emu, dc, fleet):
    machine = dc.raw_machines(state="stopped")[0]
    entries = dc.request("GET", "machines", machine["id"], "audit").data
    df = dc.frames.audit(machine["id"])
    assert tuple(df.columns) == AUDIT_COLUMNS
    assert dtypes(df) == {"datacenter": "string", "machine_id": "string", "machine_name": "string",
                          "action": "string", "success": "boolean", "time": "datetime64[ns, UTC]",
                          "caller_type": "string", "caller_ip": "string",
                          "caller_key_id": "string"}
    assert list(df.action) == [e["action"] for e in entries]
    assert list(df.success) == [e["success"] == "yes" for e in entries]
    assert (df.machine_name == machine["name"]).all() and df.time.is_monotonic_decreasing
    assert list(dc.frames.audit(machine["name"]).action) == list(df.action)
    with pytest.raises(InvalidInputError, match="say which with datacenter="):
        fleet.frames.audit(machine["id"])
    assert len(fleet.frames.audit(machine["id"], datacenter="us-east-1")) == len(entries)
    with pytest.raises(InvalidInputError, match="no datacenter 'mars'"):
        fleet.frames.audit(machine["id"], datacenter="mars")


def test_audit_of_a_deleted_machine(emu, dc):
    gone = dc.raw_machines(tombstone=True)
    victim = next(m for m in gone if m["state"] == "deleted")
    with pytest.raises(MachineDeletedError):
        dc.raw_machine_data(victim["id"])
    df = dc.frames.audit(victim["id"])
    assert "destroy" in set(df.action) and (df.machine_name == victim["name"]).all()


# ------------------------------------------------------------------ catalog


def test_catalog_frames(emu, fleet, dc, dc_west):
    packages = fleet.frames.packages()
    assert list(packages.columns[:5]) == ["datacenter", "id", "name", "version", "memory"]
    assert str(packages.memory.dtype) == "Int64" and str(packages["default"].dtype) == "boolean"
    assert len(packages) == len(dc.packages()) + len(dc_west.packages())
    assert packages.attrs["kind"] == "packages"

    emu.add_image(name="custom", version="1.0", eula="https://example.com/eula")
    images = fleet.frames.images(state="all")
    assert len(images) == 2 * len(dc.images(state="all"))
    assert str(images.published_at.dtype) == "datetime64[ns, UTC]"
    assert str(images.public.dtype) == "boolean"
    assert "eula" in images.columns  # a field outside the documented columns is kept
    custom = images[(images.datacenter == "us-west-1") & (images.name == "custom")]
    assert custom.eula.tolist() == ["https://example.com/eula"]
    raw_image = dc.images(state="all")[0]
    assert images.requirements.iloc[0] == raw_image["requirements"]
    assert images.requirements.iloc[0] is not raw_image["requirements"]

    networks = fleet.frames.networks()
    assert set(networks.datacenter) == {"us-east-1", "us-west-1"}
    assert str(networks.fabric.dtype) == "boolean" and networks.fabric.notna().all()
    assert networks.fabric.sum() == sum(bool(n.get("fabric")) for n in dc.networks()) * 2
    assert str(networks.vlan_id.dtype) == "Int64"


def test_catalog_frame_of_a_failing_datacenter(emu, fleet):
    emu.faults.add(path=r"/packages", datacenter="us-west-1", status=500)
    with pytest.warns(DatacenterWarning):
        packages = fleet.frames.packages()
    assert set(packages.datacenter) == {"us-east-1"}
    assert packages.attrs["datacenters"] == ["us-east-1"] and "us-west-1" in packages.attrs["errors"]
