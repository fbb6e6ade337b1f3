"""The df.triton accessor: from the selected rows of a frame back to machines and actions."""

from __future__ import annotations

import pandas as pd
import pytest

from smartdc_nb.errors import InvalidInputError
from smartdc_nb.frames import TritonAccessor


@pytest.fixture
def frame(fleet):
    return fleet.frames.machines()


def pairs(machines):
    return [(m.datacenter.name, m.id) for m in machines]


def rows(df, id_column="id"):
    return list(zip(df.datacenter, df[id_column]))


def test_machines_of_exactly_the_selected_rows_without_a_request(emu, fleet, frame):
    emu.clear_requests()
    running = frame[frame.state == "running"]
    machines = running.triton.machines()
    assert type(machines).__name__ == "MachineList"
    assert pairs(machines) == rows(running) and 0 < len(machines) < len(frame)
    for machine, (_, row) in zip(machines, running.iterrows()):
        assert machine.datacenter is fleet[row.datacenter]
        assert machine.name == row["name"] and machine.state == "running"
        assert machine.fetched_at.isoformat() == frame.attrs["fetched_at"]
    assert emu.requests == []


@pytest.mark.parametrize("select", [
    lambda df: df.head(3),
    lambda df: df.query("state == 'stopped' and memory >= 2048"),
    lambda df: df[df.datacenter == "us-west-1"].sort_values("created").tail(4),
    lambda df: df.loc[df.tag_count > 3, ["datacenter", "id", "name"]],
    lambda df: df.iloc[::5].copy(),
    lambda df: pd.concat([df.head(2), df.tail(2)]),
    lambda df: df.sample(frac=0.5, random_state=1).reset_index(drop=True),
])
def test_the_link_survives_pandas_selection(emu, frame, select):
    chosen = select(frame)
    assert len(chosen) and chosen.attrs["triton"] is frame.attrs["triton"]
    emu.clear_requests()
    assert pairs(chosen.triton.machines()) == rows(chosen)
    assert emu.requests == []


def test_long_frames_give_each_machine_once_in_row_order(fleet):
    tags = fleet.frames.tags()
    owned = tags[tags.key == "owner"]
    machines = owned.triton.machines()
    assert pairs(machines) == list(dict.fromkeys(rows(owned, "machine_id")))
    assert all("owner" in m.raw["tags"] for m in machines)
    assert owned.triton.keys() == pairs(machines)


def test_snapshots_metadata_and_audit_frames_lead_back_too(emu, dc):
    snaps = dc.frames.snapshots()
    assert pairs(snaps.triton.machines()) == list(dict.fromkeys(rows(snaps, "machine_id")))
    meta = dc.frames.metadata()
    scripted = meta[meta.key == "user-script"]
    assert len(scripted.triton.machines()) == scripted.machine_id.nunique()
    machine = dc.machines()[0]
    audit = dc.frames.audit(machine)
    emu.clear_requests()
    assert pairs(audit.head(1).triton.machines()) == [("us-east-1", machine.id)]
    assert emu.requests == []


def test_machines_are_copies_of_the_payloads(frame):
    first = frame.head(1).triton.machines()[0]
    first.raw["name"] = "changed"
    again = frame.head(1).triton.machines()[0]
    assert again.name == frame["name"].iloc[0] != "changed"


def test_a_frame_without_the_columns_says_which_are_missing(dc, frame):
    with pytest.raises(InvalidInputError, match="has no 'datacenter' column"):
        frame[["id", "name"]].triton.machines()
    with pytest.raises(InvalidInputError, match="no 'datacenter' and no 'machine_id \\(or id\\)'"):
        frame[["name"]].triton.machines()
    with pytest.raises(InvalidInputError, match="this is a packages frame"):
        dc.frames.packages().triton.machines()
    holes = frame.head(3).copy()
    holes.loc[holes.index[1], "id"] = pd.NA
    with pytest.raises(InvalidInputError, match="1 row.s. have no datacenter or machine id"):
        holes.triton.machines()
    assert isinstance(frame.triton, TritonAccessor)
    assert repr(frame.head(4).triton).startswith("<df.triton: 4 rows of a machines frame from us-east-1")


def test_a_frame_read_back_from_csv_takes_the_connection(emu, fleet, frame, tmp_path, dc):
    path = tmp_path / "fleet.csv"
    frame.to_csv(path, index=False)
    back = pd.read_csv(path)
    with pytest.raises(InvalidInputError, match=r"does not know its DataCenters.*machines\(fleet\)"):
        back.triton.machines()
    # the advice for a start must not be a stop to copy (it said .stop(confirm=True) always)
    with pytest.raises(InvalidInputError, match=r"machines\(fleet\)") as info:
        back.head(2).triton.start(dry_run=True)
    assert "stop" not in str(info.value)
    few = back[back.datacenter == "us-east-1"].head(3)
    emu.clear_requests()
    machines = few.triton.machines(fleet)
    assert pairs(machines) == rows(few)
    assert sorted(r["path"] for r in emu.requests) == sorted(f"/demo/machines/{i}" for i in few.id)
    emu.clear_requests()  # more than 10 machines of a datacenter: one listing instead
    assert pairs(back.triton.machines(fleet)) == rows(back)
    assert (back.datacenter.value_counts() > 10).all()
    assert sorted((r["datacenter"], r["path"], r["query"].get("tombstone")) for r in emu.requests) \
        == [("us-east-1", "/demo/machines", "true"), ("us-west-1", "/demo/machines", "true")]
    assert pairs(few.triton.machines(dc)) == rows(few)
    with pytest.raises(InvalidInputError, match=r"'us-west-1'.*does not reach"):
        back.triton.machines(dc)
    with pytest.raises(InvalidInputError, match="takes a Fleet or a DataCenter"):
        few.triton.machines("us-east-1")


def test_a_single_datacenter_whose_name_is_not_known_yet(connect, dc):
    unnamed = connect(name=None)
    df = dc.frames.machines().head(2)
    plain = pd.DataFrame({"datacenter": df.datacenter, "id": df.id})
    machines = plain.triton.machines(unnamed)
    assert [m.id for m in machines] == list(df.id)
    assert all(m.datacenter is unnamed for m in machines)


def test_machines_gone_since_the_file_was_written(emu, dc, tmp_path):
    handle = emu.datacenter("us-east-1")
    doomed = handle.put_machine(name="doomed")
    plain = pd.DataFrame({"datacenter": ["us-east-1"], "id": [doomed]})
    handle.set_state(doomed, "deleted")
    machine = plain.triton.machines(dc)[0]
    assert machine.state == "deleted"  # a deleted machine is reported as such, not dropped
    ghost = pd.DataFrame({"datacenter": ["us-east-1"],
                          "id": ["00000000-0000-4000-8000-000000000000"]})
    with pytest.raises(InvalidInputError, match="1 machine.s. of the frame no longer exist"):
        ghost.triton.machines(dc)


# ------------------------------------------------------------------ bulk actions


def posted(emu):
    return sorted((r["datacenter"], r["path"].split("/")[3]) for r in emu.requests
                  if r["method"] == "POST")


def test_bulk_action_on_exactly_the_selected_rows(emu, fleet, frame):
    chosen = frame[(frame.state == "running") & frame.deletion_protection.eq(False)]
    chosen = chosen.groupby("datacenter").head(1)
    assert set(chosen.datacenter) == {"us-east-1", "us-west-1"}
    emu.clear_requests()
    result = chosen.triton.stop(confirm=True, wait=True, interval=0.1, progress=False)
    assert result.counts["done"] == len(chosen) == len(result.frame)
    assert sorted(zip(result.frame.datacenter, result.frame.id)) == sorted(rows(chosen))
    assert posted(emu) == sorted(rows(chosen))
    after = fleet.frames.machines()
    stopped = after.set_index(["datacenter", "id"]).loc[rows(chosen), "state"]
    assert (stopped == "stopped").all()
    untouched = after[~after.id.isin(chosen.id)].set_index("id").state
    assert (untouched == frame.set_index("id").state.loc[untouched.index]).all()


def test_bulk_tagging_from_a_long_frame_and_a_dry_run(emu, dc):
    tags = dc.frames.tags()
    web = tags[(tags.key == "role") & (tags.value == "web")]
    emu.clear_requests()
    plan = web.triton.stop(dry_run=True, progress=False)
    assert set(plan.frame.outcome) <= {"planned", "skipped"}
    assert sorted(plan.frame.id) == sorted(set(web.machine_id))
    assert posted(emu) == []
    result = web.triton.add_tags({"reviewed": "yes"}, wait=True, interval=0.1, progress=False)
    assert result.ok and len(result.frame) == web.machine_id.nunique()
    after = dc.frames.tags()
    reviewed = set(after[(after.key == "reviewed") & (after.value == "yes")].machine_id)
    assert reviewed == set(web.machine_id)


def test_destructive_bulk_needs_confirm_and_sends_nothing(emu, frame):
    emu.clear_requests()
    with pytest.raises(InvalidInputError, match="stop is destructive"):
        frame.head(2).triton.stop()
    assert posted(emu) == []
