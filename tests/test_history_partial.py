"""Partial points and frames against the emulator: what could not be read is recorded, listed and
said, never turned into vanished machines, deleted snapshots or "no tag changes"."""

from __future__ import annotations

import warnings
from collections import Counter

import pandas as pd
import pytest

import smartdc_nb
from smartdc_nb.fleet import DatacenterWarning, Fleet

LISTING = r"/demo/machines(\?|$)"


def _card_body(d) -> str:
    return d._repr_html_().split("</style>")[-1]


def test_a_datacenter_that_could_not_be_read_is_unknown_not_vanished(emu, fleet, dc_west, store):
    before = fleet.snapshot(progress=False, snapshots=False)
    gone = dc_west.machines(state="stopped")[0]
    gone.delete().wait_for("deleted", timeout=30, progress=False)
    new = emu.datacenter("us-east-1").put_machine(name="east-newcomer")
    fault = emu.faults.add(path=LISTING, datacenter="us-west-1", status=500)
    with pytest.warns(DatacenterWarning, match="us-west-1"):
        after = fleet.snapshot(progress=False, snapshots=False)
    emu.faults.remove(fault)
    assert list(after.errors) == ["us-west-1"] and "ServerError" in after.errors["us-west-1"]

    d = smartdc_nb.diff(before.name, after.name)
    # us-west-1 was not read at `after`: its machines are unknown there, not vanished (even the
    # one that really went: nothing at `after` says so)
    assert d.vanished.empty and d.appeared["id"].tolist() == [new]
    summary = d.summary()
    assert "1 appeared, 0 vanished" in summary
    assert "partial" in summary and "us-west-1" in summary and after.name in summary
    counts = d.counts.set_index("datacenter")
    assert counts.loc["us-west-1", "not_read"] == after.name
    assert counts.loc["us-west-1", ["appeared", "vanished", "changed", "changes"]].isna().all()
    assert counts.loc["us-east-1"].tolist() == [1, 0, 0, 0, pd.NA]
    assert d.frame.attrs["partial"] == d.changes.attrs["partial"] == d.counts.attrs["partial"]
    assert any("us-west-1" in note and after.name in note for note in d.frame.attrs["partial"])
    body = _card_body(d)
    assert "partial" in body and "us-west-1" in body and "500 InternalError" in body
    assert after.name in body and "18 vanished" not in body

    # the other way round: the machines of us-west-1 did not appear either
    back = smartdc_nb.diff(after.name, before.name)
    assert back.appeared.empty and back.vanished["id"].tolist() == [new]
    assert back.counts.set_index("datacenter").loc["us-west-1", "not_read"] == after.name

    listed = smartdc_nb.history().set_index("point")
    assert listed.loc[before.name, "errors"] == {}
    assert list(listed.loc[after.name, "errors"]) == ["us-west-1"]
    assert "ServerError" in listed.loc[after.name, "errors"]["us-west-1"]


def test_a_snapshot_listing_that_failed_is_recorded_not_a_deletion(emu, fleet, store):
    before = fleet.snapshot(progress=False)
    snap = before.snapshots.iloc[0]
    emu.faults.add(path=f"{snap.machine_id}/snapshots", status=500)
    with pytest.warns(DatacenterWarning, match="snapshots of 1 machine"):
        after = fleet.snapshot(progress=False)

    d = smartdc_nb.diff(before.name, after.name)
    assert not d.changes["column"].str.startswith("snapshot.").any()
    assert d.summary().endswith(f"partial: snapshots of 1 machine could not be listed at "
                                f"{after.name} ({snap.machine_name} in {snap.datacenter}), "
                                "not compared")
    body = _card_body(d)
    assert "snapshots could not be listed" in body and "500 InternalError" in body
    key = f"{snap.datacenter}/{snap.machine_id}"
    assert list(after.snapshot_errors) == [key] and after.errors == {}
    assert smartdc_nb.load(after.name).snapshot_errors == after.snapshot_errors
    listed = smartdc_nb.history().set_index("point")
    assert list(listed.loc[after.name, "errors"]) == [key]
    assert listed.loc[after.name, "errors"][key].startswith("snapshots could not be listed: ")


def test_a_point_lists_machines_once_so_its_metadata_covers_what_its_machines_do(emu, fleet,
                                                                               store):
    emu.datacenter("us-west-1").put_machine(name="holder", metadata={"role": "db"})
    emu.clear_requests()
    point = fleet.snapshot(progress=False, snapshots=False)
    listings = Counter(r["datacenter"] for r in emu.requests
                       if r["method"] == "GET" and r["path"] == "/demo/machines")
    # a second listing for the metadata could fail (or see other machines) on its own, and the
    # point would silently lack that datacenter's metadata: one listing feeds every table
    assert listings == {"us-east-1": 1, "us-west-1": 1}
    assert set(point.metadata["machine_id"]) <= set(point.machines["id"])
    assert "db" in point.metadata.loc[point.metadata.key == "role", "value"].tolist()


def test_tag_columns_are_compared_as_tags(emu, fleet, dc):
    dicts = fleet.frames.machines()
    a = fleet.frames.machines(tags_as="columns")
    m = dc.machines(state="running")[0]
    old = m.tags.get("owner")
    m.add_tags(owner="mallory", ticket="T-1")  # a new key: a column only the second frame has
    emu.clock.advance(60)  # the tag job has run
    b = fleet.frames.machines(tags_as="columns")
    assert b.set_index("id").loc[m.id, "tag.owner"] == "mallory"
    d = smartdc_nb.diff(a, b)
    rows = sorted((r.machine_id, r.column, None if pd.isna(r.before) else r.before, r.after)
                  for r in d.changes.itertuples())
    assert rows == [(m.id, "tag.owner", old, "mallory"), (m.id, "tag.ticket", None, "T-1")]
    assert "partial" not in d.summary()
    # the same rows as from the dict column, and a dict frame against a columns frame
    same = smartdc_nb.diff(dicts, fleet.frames.machines())
    assert same.changes.reset_index(drop=True).equals(d.changes.reset_index(drop=True))
    mixed = smartdc_nb.diff(dicts, b)
    assert mixed.changes.reset_index(drop=True).equals(d.changes.reset_index(drop=True))


def test_a_frame_without_tags_says_tags_were_not_compared(emu, fleet, dc):
    bare = fleet.frames.machines(tags_as=None)
    dc.machines(state="running")[0].add_tags(owner="mallory")
    emu.clock.advance(60)  # the tag job has run
    d = smartdc_nb.diff(bare, fleet.frames.machines())
    assert d.changes.empty
    assert "tags not compared" in d.summary() and "tags_as=" in d.summary()
    assert any("tags not compared" in note for note in d.frame.attrs["partial"])
    assert "tags not compared" in _card_body(d)


def test_a_complete_diff_says_nothing_of_partial(fleet, store):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatacenterWarning)
        before = fleet.snapshot(progress=False)
        d = smartdc_nb.diff(before, fleet)
    assert "partial" not in d.summary() and d.frame.attrs["partial"] == []
    assert d.counts["not_read"].isna().all()
    assert smartdc_nb.history()["errors"].tolist() == [{}]


def test_a_datacenter_one_point_did_not_cover_is_not_read_there_not_vanished(emu, fleet, dc,
                                                                              store):
    # `smartdc-nb snapshot --datacenters us-east-1`, or Fleet(["us-east-1"]): that point never
    # read us-west-1, so a diff against a point of both says nothing of us-west-1's machines
    # (README: "a diff compares only what both sides read").
    both = fleet.snapshot(progress=False, snapshots=False)
    east_only = Fleet(["us-east-1"], dc=dc).snapshot(progress=False, snapshots=False)
    assert east_only.datacenters == ["us-east-1"]

    for d, missing_at in ((smartdc_nb.diff(both.name, east_only.name), east_only.name),
                          (smartdc_nb.diff(east_only.name, both.name), east_only.name),
                          (smartdc_nb.diff(both.name, Fleet(["us-east-1"], dc=dc)), "now")):
        assert d.vanished.empty and d.appeared.empty, d.summary()
        counts = d.counts.set_index("datacenter")
        assert counts.loc["us-west-1", "not_read"].startswith(missing_at)
        assert counts.loc["us-west-1", ["appeared", "vanished"]].isna().all()
        assert counts.loc["us-east-1"].tolist() == [0, 0, 0, 0, pd.NA]
        assert "partial" in d.summary() and "us-west-1" in d.summary()


def test_a_point_saved_without_snapshots_says_snapshots_were_not_compared(emu, fleet, store):
    before = fleet.snapshot(progress=False)
    assert len(before.snapshots)
    after = fleet.snapshot(progress=False, snapshots=False)  # smartdc-nb snapshot --no-snapshots
    assert after.snapshots is None

    for d, label in ((smartdc_nb.diff(before.name, after.name), after.name),
                     (smartdc_nb.diff(after.name, before.name), after.name)):
        assert not d.changes["column"].str.startswith("snapshot.").any()
        # nothing was compared for snapshots, and the diff must not read as complete
        assert "partial" in d.summary() and "snapshots not compared" in d.summary(), d.summary()
        assert label in d.summary()
        assert any("snapshots not compared" in note for note in d.frame.attrs["partial"])
        assert "snapshots not compared" in _card_body(d) and "partial" in _card_body(d)
