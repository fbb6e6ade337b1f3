"""DataFrame views of a datacenter and of a fleet, end to end against the emulator."""

from __future__ import annotations

import io
import json
import pickle
import threading
import warnings
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from clients import connect_to
from polling import eventually
from smartdc_nb import Fleet
from smartdc_nb.emulator.testing import make_emulator
from smartdc_nb.errors import InvalidInputError, MachineDeletedError, ServerError
from smartdc_nb.fleet import DatacenterWarning
from smartdc_nb.frames import (AUDIT_COLUMNS, MACHINE_COLUMNS, MACHINE_STATES, METADATA_COLUMNS,
                               SNAPSHOT_COLUMNS, SNAPSHOT_STATES, TAGS_COLUMNS, from_machines)

MACHINE_DTYPES = {
    "datacenter": "string", "id": "string", "name": "string", "state": "category",
    "type": "string", "brand": "string", "image": "string", "image_name": "string",
    "image_version": "string", "package": "string", "package_vcpus": "Int64",
    "package_memory": "Int64", "package_disk": "Int64", "package_swap": "Int64",
    "memory": "Int64", "disk": "Int64", "primary_ip": "string", "public_ips": "object",
    "private_ips": "object", "created": "datetime64[ns, UTC]", "updated": "datetime64[ns, UTC]",
    "age": "timedelta64[ns]", "firewall_enabled": "boolean", "deletion_protection": "boolean",
    "compute_node": "string", "docker": "boolean", "tag_count": "Int64", "tags": "object",
}


@pytest.fixture
def fleet(dc):
    return Fleet(dc)


def dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.dtypes.items()}


def row_of(frame: pd.DataFrame, machine_id: str) -> pd.Series:
    rows = frame[frame["id"] == machine_id]
    assert len(rows) == 1
    return rows.iloc[0]


def routes(emu) -> list[tuple[str, str]]:
    return sorted((r["datacenter"], r["path"]) for r in emu.requests)


# ------------------------------------------------------------------ machines


def test_machines_frame_columns_dtypes_and_values(emu, dc):
    raw = {m["id"]: m for m in dc.raw_machines()}
    emu.clear_requests()
    df = dc.frames.machines()
    assert tuple(df.columns) == (*MACHINE_COLUMNS, "tags")
    assert dtypes(df) == MACHINE_DTYPES
    assert list(df.state.cat.categories[:len(MACHINE_STATES)]) == list(MACHINE_STATES)
    assert sorted(df.id) == sorted(raw) and len(df) == len(raw)
    # one listing, the packages and every image, fetched once each
    assert routes(emu) == [("us-east-1", "/demo/images"), ("us-east-1", "/demo/machines"),
                           ("us-east-1", "/demo/packages")]
    images = {r["path"]: r["query"] for r in emu.requests}["/demo/images"]
    assert images == {"state": "all"}

    for machine_id, m in raw.items():
        row = row_of(df, machine_id)
        assert row.datacenter == "us-east-1"
        assert (row["name"], row.state, row.brand, row.type, row.image) == (
            m["name"], m["state"], m["brand"], m["type"], m["image"])
        assert (row.memory, row.disk) == (m["memory"], m["disk"])
        assert row.primary_ip == m["primaryIp"] if "primaryIp" in m else pd.isna(row.primary_ip)
        assert sorted(row.public_ips + row.private_ips) == sorted(m["ips"])
        assert all(not ip.startswith(("10.", "192.168.")) for ip in row.public_ips)
        assert all(ip.startswith(("10.", "192.168.")) for ip in row.private_ips)
        assert row.created == pd.Timestamp(m["created"]) and row.created.tzinfo is not None
        assert row.updated == pd.Timestamp(m["updated"])
        assert row.firewall_enabled == m["firewall_enabled"]
        assert row.deletion_protection == m["deletion_protection"]
        assert row.docker == bool(m.get("docker"))
        assert row.compute_node == m["compute_node"]
        assert row.tags == m["tags"] and row.tags is not m["tags"]
        assert row.tag_count == len(m["tags"])
    fetched = datetime.fromisoformat(df.attrs["fetched_at"])
    assert fetched.tzinfo is not None and abs(datetime.now(timezone.utc) - fetched) < timedelta(minutes=1)
    assert (df.age == pd.Timestamp(fetched) - df.created).all()
    assert df.attrs["kind"] == "machines" and df.attrs["datacenters"] == ["us-east-1"]
    assert df.attrs["errors"] == {}


def test_rows_carry_the_datacenter_s_name_even_when_the_connection_did_not_know_it(
        emu, connect):
    unnamed = connect(name=None)
    df = unnamed.frames.machines()
    assert set(df.datacenter) == {"us-east-1"} and df.attrs["datacenters"] == ["us-east-1"]
    assert unnamed.name == "us-east-1"
    emu.clear_requests()
    unnamed.frames.packages()
    assert [r["path"] for r in emu.requests] == ["/demo/packages"]  # learnt once


def test_package_and_image_are_joined_from_the_datacenter_s_catalog(dc):
    df = dc.frames.machines()
    packages = {p["name"]: p for p in dc.packages()}
    images = {i["id"]: i for i in dc.images(state="all")}
    joined = 0
    for _, row in df.iterrows():
        package = packages.get(row.package)
        if package is not None:
            joined += 1
            assert (row.package_vcpus, row.package_memory, row.package_disk, row.package_swap) == (
                package["vcpus"], package["memory"], package["disk"], package["swap"])
        else:  # a retired package: CloudAPI names it but no longer lists it
            assert pd.isna(row.package_vcpus) and pd.isna(row.package_memory)
        image = images[row.image]
        assert (row.image_name, row.image_version) == (image["name"], image["version"])
    assert joined > len(df) // 2


def test_a_machine_whose_package_or_image_is_gone_keeps_its_row(emu, dc):
    before = dc.frames.machines()
    victim = before[before.package.notna() & before.image_name.notna()].iloc[0]
    same_image = before[before.image == victim.image].id
    same_package = before[before.package == victim.package].id
    emu.delete_package(victim.package)
    emu.delete_image(victim.image)
    dc.catalog.refresh()  # the catalog is reused while fresh: ask for the deletions now
    after = dc.frames.machines()
    assert sorted(after.id) == sorted(before.id)
    for machine_id in same_image:
        row = row_of(after, machine_id)
        assert row.image == victim.image  # the machine still says which image it was made from
        assert pd.isna(row.image_name) and pd.isna(row.image_version)
    for machine_id in same_package:
        row = row_of(after, machine_id)
        assert pd.isna(row.package) and pd.isna(row.package_vcpus) and pd.isna(row.package_disk)
    others = after[~after.id.isin(same_image)]
    assert others.image_name.notna().all()
    assert dtypes(after) == MACHINE_DTYPES


def test_tags_as_columns_are_typed_from_their_values(emu, dc):
    handle = emu.datacenter("us-east-1")
    flagged = handle.put_machine(name="flagged", tags={"flag": True, "count": 3, "mixed": "x"})
    handle.put_machine(name="other", tags={"mixed": 7})
    df = dc.frames.machines(tags_as="columns")
    assert tuple(df.columns[:len(MACHINE_COLUMNS)]) == MACHINE_COLUMNS and "tags" not in df
    tag_columns = [c for c in df.columns if c.startswith("tag.")]
    assert tag_columns == sorted(tag_columns) and "tag.role" in tag_columns
    assert str(df["tag.role"].dtype) == "string"
    assert str(df["tag.flag"].dtype) == "boolean"
    assert str(df["tag.count"].dtype) == "Int64"
    assert str(df["tag.mixed"].dtype) == "object"  # mixed types are kept as CloudAPI sent them
    row = row_of(df, flagged)
    assert row["tag.flag"] and row["tag.count"] == 3 and row["tag.mixed"] == "x"
    raw = {m["id"]: m["tags"] for m in dc.raw_machines()}
    for machine_id, tags in raw.items():
        row = row_of(df, machine_id) if machine_id in set(df.id) else None
        if row is None:
            continue
        for column in tag_columns:
            key = column[len("tag."):]
            assert (row[column] == tags[key]) if key in tags else pd.isna(row[column])
    plain = dc.frames.machines(tags_as=None)
    assert tuple(plain.columns) == MACHINE_COLUMNS


def test_bad_options_are_refused_before_any_request(emu, dc):
    emu.clear_requests()
    with pytest.raises(InvalidInputError, match="tags_as= must be 'dict' .* 'columns' .* or None"):
        dc.frames.machines(tags_as="wide")
    with pytest.raises(InvalidInputError, match="unknown machine filter 'colour'"):
        dc.frames.machines(colour="red")
    with pytest.raises(InvalidInputError, match="concurrency"):
        dc.frames.snapshots(concurrency=0)
    assert emu.requests == []
    with pytest.raises(InvalidInputError, match="DataCenter or a Fleet"):
        from smartdc_nb.frames import Frames
        Frames("us-east-1")


def test_filters_reach_cloudapi(emu, dc):
    df = dc.frames.machines(state="stopped", tags={"env": "dev"})
    assert len(df) and (df.state == "stopped").all()
    assert all(t["env"] == "dev" for t in df.tags)
    query = [r["query"] for r in emu.requests if r["path"] == "/demo/machines"][-1]
    assert query["state"] == "stopped" and query["tag.env"] == "dev"
    assert df.attrs["filters"] == {"state": "stopped", "tags": {"env": "dev"}}


def test_tombstones_show_deleted_and_failed_states(dc):
    df = dc.frames.machines(tombstone=True)
    assert {"deleted", "failed"} & set(df.state.astype(str))
    assert df.state.isna().sum() == 0


def test_an_unknown_state_is_kept_not_lost(emu, dc):
    odd = emu.datacenter("us-east-1").put_machine(name="odd", state="hibernating")
    df = dc.frames.machines()
    assert row_of(df, odd).state == "hibernating"
    assert list(df.state.cat.categories) == [*MACHINE_STATES, "hibernating"]


def test_fleet_frame_has_every_datacenter(emu, fleet, dc, dc_west):
    df = fleet.frames.machines()
    assert df.attrs["datacenters"] == ["us-east-1", "us-west-1"]
    counts = df.datacenter.value_counts().to_dict()
    assert counts == {"us-east-1": len(dc.raw_machines()), "us-west-1": len(dc_west.raw_machines())}
    assert list(df.datacenter.drop_duplicates()) == ["us-east-1", "us-west-1"]
    assert df.image_name.notna().all()
    assert "us-east-1 (" in repr(fleet) and "machines)" in repr(fleet)


def test_one_failing_datacenter_leaves_the_others_in_the_frame(emu, fleet, dc):
    emu.faults.add(path=r"/machines", datacenter="us-west-1", status=500)
    with pytest.warns(DatacenterWarning, match="us-west-1: listing machines failed"):
        df = fleet.frames.machines()
    assert set(df.datacenter) == {"us-east-1"} and len(df) == len(dc.raw_machines())
    assert df.attrs["datacenters"] == ["us-east-1"]
    assert df.attrs["errors"]["us-west-1"].startswith("ServerError")
    assert isinstance(fleet.errors["us-west-1"], ServerError)
    assert dtypes(df) == MACHINE_DTYPES


def test_a_failing_catalog_leaves_only_its_join_columns_missing(emu, fleet):
    emu.faults.add(path=r"/images", datacenter="us-east-1", status=500)
    with pytest.warns(DatacenterWarning, match="us-east-1: images could not be fetched"):
        df = fleet.frames.machines()
    east, west = df[df.datacenter == "us-east-1"], df[df.datacenter == "us-west-1"]
    assert len(east) and east.image_name.isna().all() and east.package_vcpus.notna().any()
    assert west.image_name.notna().all()
    assert list(df.attrs["join_errors"]) == ["us-east-1"]
    assert fleet.errors == {}


def test_paging_past_1000_machines(emu, fleet, dc_west):
    handle = emu.datacenter("us-west-1")
    for i in range(1100):
        handle.put_machine(name=f"bulk-{i:04d}", tags={"batch": "b"})
    emu.clear_requests()
    df = fleet.frames.machines()
    pages = [r["query"]["offset"] for r in emu.requests
             if r["path"] == "/demo/machines" and r["datacenter"] == "us-west-1"]
    # the first page alone, then pages overlapping by 25 rows, several at once
    assert pages[0] == "0" and "975" in pages and set(pages) <= {"0", "975", "1950", "2925",
                                                                 "3900", "4875"}
    west = df[df.datacenter == "us-west-1"]
    assert len(west) == len(dc_west.raw_machines()) > 1100
    assert west.id.is_unique and (west["name"].str.startswith("bulk-")).sum() == 1100


def test_an_empty_fleet_gives_typed_frames_without_rows(triton_keys):
    with make_emulator(triton_keys, machines=0) as empty:
        fleet = Fleet(connect_to(empty, triton_keys))
        df = fleet.frames.machines()
        assert len(df) == 0 and dtypes(df) == MACHINE_DTYPES
        wide = fleet.frames.machines(tags_as="columns")
        assert tuple(wide.columns) == MACHINE_COLUMNS
        assert {k: v for k, v in dtypes(wide).items()} == {
            k: v for k, v in MACHINE_DTYPES.items() if k != "tags"}
        for frame, columns in ((fleet.frames.tags(), TAGS_COLUMNS),
                               (fleet.frames.metadata(), METADATA_COLUMNS),
                               (fleet.frames.snapshots(), SNAPSHOT_COLUMNS)):
            assert tuple(frame.columns) == columns and len(frame) == 0
        assert str(fleet.frames.snapshots().created.dtype) == "datetime64[ns, UTC]"
        assert df.attrs["datacenters"] == ["us-east-1", "us-west-1"]
        fleet.close()


def test_a_filter_matching_nothing_gives_the_same_columns(dc):
    df = dc.frames.machines(name="no-such-machine")
    assert len(df) == 0 and dtypes(df) == MACHINE_DTYPES


HOSTILE = ["<script>alert(1)</script>", "$x^2$ & 'q' \"dq\"", "tab\tnew\nline", "ü😀 \\u0000",
           "=cmd|' /C calc'!A0"]


def test_hostile_strings_survive_as_data(emu, dc, tmp_path):
    handle = emu.datacenter("us-east-1")
    ids = [handle.put_machine(name=value, tags={value: value, "plain": value},
                              metadata={value: value}) for value in HOSTILE]
    df = dc.frames.machines()
    for machine_id, value in zip(ids, HOSTILE):
        row = row_of(df, machine_id)
        assert row["name"] == value and row.tags == {value: value, "plain": value}
    html = df._repr_html_()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    wide = dc.frames.machines(tags_as="columns")
    assert row_of(wide, ids[0])[f"tag.{HOSTILE[0]}"] == HOSTILE[0]
    tags = dc.frames.tags()
    mine = tags[tags.machine_id.isin(ids)]
    assert set(zip(mine.machine_name, mine.key, mine.value)) >= {(v, v, v) for v in HOSTILE}
    meta = dc.frames.metadata()
    assert set(zip(meta.key, meta.value)) >= {(v, v) for v in HOSTILE}
    df.to_csv(tmp_path / "m.csv", index=False)
    back = pd.read_csv(tmp_path / "m.csv", keep_default_na=False)
    assert set(back["name"]) >= set(HOSTILE)


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


# ------------------------------------------------------------------ export and attrs


def test_export_is_plain_pandas(dc, tmp_path):
    df = dc.frames.machines()
    path = tmp_path / "m.parquet"
    df.to_parquet(path)
    back = pd.read_parquet(path)
    assert list(back.id) == list(df.id) and list(back.memory) == list(df.memory)
    assert back.attrs["fetched_at"] == df.attrs["fetched_at"]
    assert back.attrs["triton"] == str(df.attrs["triton"])
    json.dumps(df.attrs)  # attrs stay plain data
    text = df.drop(columns=["tags", "public_ips", "private_ips"]).to_csv(index=False)
    assert pd.read_csv(io.StringIO(text)).shape == (len(df), len(df.columns) - 3)
    clone = pickle.loads(pickle.dumps(df))
    assert clone.attrs["triton"] == str(df.attrs["triton"])
    assert type(clone.attrs["triton"]) is str


def test_from_machines_uses_only_what_is_known(emu, dc):
    from smartdc_nb.machine import Machine

    # Machines made from listed dicts: nothing has fetched the catalog (dc.machine() would,
    # for the cards' image names)
    machines = [Machine(dc, data=r) for r in dc.raw_machines()[:5]]
    emu.clear_requests()
    bare = from_machines(machines)
    assert emu.requests == []
    assert tuple(bare.columns) == (*MACHINE_COLUMNS, "tags") and dtypes(bare) == MACHINE_DTYPES
    assert list(bare.id) == [m.id for m in machines] and bare.image_name.isna().all()
    dc.packages()
    dc.images(state="all")
    emu.clear_requests()
    joined = from_machines(machines, tags_as="columns")
    assert emu.requests == [] and joined.image_name.notna().all()
    with pytest.raises(InvalidInputError, match="expected Machine objects"):
        from_machines([{"id": "x"}])


def test_ips_are_split_as_machine_splits_them(emu, dc):
    odd = ["10.0.0.5", "8.8.8.8", "100.64.1.1", "fd00::1", "2001:4860::1", "dhcp",
           "169.254.1.1", "10.1.2.300", "172.16.0.1", "172.32.0.1", "192.168.1.1", "192.0.0.8",
           "192.0.0.9", "8.8.8.9", 42, "10.0.0.07", "\u0661\u0660.0.0.1", "8.8.8.256"]
    handle = emu.datacenter("us-east-1")
    mixed = handle.put_machine(name="mixed", ips=odd)
    private_only = handle.put_machine(name="private-only", ips=["10.9.8.7", "192.168.0.2"])
    df = dc.frames.machines()
    for machine in dc.machines():
        row = row_of(df, machine.id)
        assert (row.public_ips, row.private_ips) == (machine.public_ips, machine.private_ips)
    row = row_of(df, mixed)
    assert {"8.8.8.8", "2001:4860::1", "172.32.0.1", "8.8.8.9"} <= set(row.public_ips)
    assert "dhcp" not in row.private_ips and "10.1.2.300" not in row.private_ips
    assert row_of(df, private_only).private_ips == ["10.9.8.7", "192.168.0.2"]


def test_ip_split_rows_of_every_shape_and_networks_known_from_an_earlier_frame(emu, dc):
    """Rows of one, two and more addresses, texts that are no single address (a line
    break, a prefix length, empty), and a second frame that finds its networks already
    classified: each row as Machine splits it."""
    rows = [["8.8.4.4", "10.0.0.9"], ["10.0.0.9", "8.8.4.4"], ["8.8.4.5", "8.8.4.6"],
            ["10.1.1.1", "10.1.1.2"], ["dhcp", 7], ["10.2.2.2\n8.8.8.8", "8.8.8.8/24"],
            ["", "192.0.0.10", "192.0.0.11", "fe80::1"], [None], ["1.1.1.1", "1.1.1.1", "x"]]
    handle = emu.datacenter("us-east-1")
    ids = [handle.put_machine(name=f"shape-{i}", ips=ips) for i, ips in enumerate(rows)]
    for frame in range(2):  # the second frame reuses what the first learnt of each /24
        df = dc.frames.machines()
        by_id = {m.id: m for m in dc.machines()}
        for machine_id in ids:
            row, machine = row_of(df, machine_id), by_id[machine_id]
            assert (row.public_ips, row.private_ips) == (machine.public_ips, machine.private_ips)
        if frame == 0:
            ids.append(handle.put_machine(name="same-nets-later",
                                          ips=["8.8.4.200", "10.0.0.200", "192.0.0.8"]))
    later = row_of(df, ids[-1])
    assert "8.8.4.200" in later.public_ips and "10.0.0.200" in later.private_ips
    assert row_of(df, ids[5]).public_ips == ["8.8.8.8/24"]  # as ipaddress reads "8.8.8.8"


def test_frames_namespace_makes_no_request(emu, dc, fleet):
    emu.clear_requests()
    assert repr(dc.frames).startswith("<Frames of <DataCenter us-east-1")
    assert repr(fleet.frames).startswith("<Frames of <Fleet demo")
    assert emu.requests == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fleet.frames.machines()


def test_values_of_the_wrong_type_are_missing_not_errors(emu, dc):
    """A payload CloudAPI would not send (a proxy's, another version's) still gives its row:
    each value of the wrong type is missing in its typed column."""
    handle = emu.datacenter("us-east-1")
    odd = handle.put_machine(name="odd", memory="lots", disk=1.5, ips="10.0.0.1", primaryIp=7,
                             state={"not": "a state"}, type=None)
    raw = next(m for m in dc.raw_machines() if m["id"] == odd)
    assert (raw["memory"], raw["state"], raw["ips"]) == ("lots", {"not": "a state"}, "10.0.0.1")
    df = dc.frames.machines()
    row = row_of(df, odd)
    assert pd.isna(row.memory) and pd.isna(row.disk) and pd.isna(row.state)
    assert row.public_ips == [] and row.private_ips == [] and pd.isna(row.type)
    assert row.primary_ip == "7"  # text columns keep a value's text
    assert dtypes(df) == MACHINE_DTYPES
    others = df[df.id != odd]
    assert others.memory.notna().all() and others.state.notna().all()


def test_fields_reads_each_record_whatever_its_first_record_holds():
    """fields() looks keys up with the first record's own key objects (a speed-up): a record
    without a key, with keys in another order, or with equal keys that are other objects
    reads the same; the first record lacking a key, or not being a dict, changes nothing."""
    from smartdc_nb.frames.columns import fields

    other = "".join(["na", "me"])  # equal to "name", another object
    records = [{"id": "a"}, {"name": "b-name", "id": "b"}, {other: "c-name", "id": "c"},
               {"state": "running", "id": "d", "name": "d-name"}]
    for first in (records, [{"zzz": 1}] + records):
        got = fields(first, ["id", "name", "state"])
        tail = slice(len(first) - 4, None)
        assert list(got["id"][tail]) == ["a", "b", "c", "d"]
        assert [v if isinstance(v, str) else None for v in got["name"][tail]] == [
            None, "b-name", "c-name", "d-name"]
        assert [v if isinstance(v, str) else None for v in got["state"][tail]] == [
            None, None, None, "running"]
