"""The machines frame of a datacenter and of a fleet, end to end against the emulator: its
columns, dtypes and values, the catalog joined in, tags as columns, filters, a failing
datacenter or catalog, paging, empty frames and hostile strings kept as data.

The long and catalog frames are in test_frames_long, export and from_machines in
test_frames_export."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from clients import connect_to
from smartdc_nb import Fleet
from smartdc_nb.emulator.testing import make_emulator
from smartdc_nb.errors import InvalidInputError, ServerError
from smartdc_nb.fleet import DatacenterWarning
from smartdc_nb.frames import (MACHINE_COLUMNS, MACHINE_STATES, METADATA_COLUMNS,
                               SNAPSHOT_COLUMNS, TAGS_COLUMNS)
from test_frames_support import MACHINE_DTYPES, dtypes, row_of


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
