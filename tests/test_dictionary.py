"""The column dictionary knows every column of every frame the toolkit makes, with its dtype."""

from __future__ import annotations

import tempfile

import pytest

import smartdc_nb
from smartdc_nb import Fleet, dictionary
from smartdc_nb.display import render_html
from smartdc_nb.errors import InvalidInputError
from smartdc_nb.frames.cost import DEMO_PRICES

#: frame kinds built from typed converters: the dictionary's dtype is exactly the frame's
TYPED = ("machines", "tags", "metadata", "snapshots", "packages", "images", "networks", "audit",
         "history", "diff", "diff_counts", "cost")


def every_frame(emu, dc):
    """(kind, frame) for every frame kind the toolkit makes, built against the emulator."""
    fleet = Fleet(dc)
    frames = fleet.frames
    machines = frames.machines()
    running = machines[machines.state == "running"].head(2)
    query = fleet.query(state="running", name="web-*")
    yield "machines", machines
    yield "machines", frames.machines(tags_as="columns")
    yield "machines", query
    yield "tags", frames.tags()
    yield "metadata", frames.metadata()
    yield "snapshots", frames.snapshots(progress=False)
    yield "packages", frames.packages()
    yield "images", frames.images(state="all")
    yield "networks", frames.networks()
    yield "audit", frames.audit(dc.machine(machines.name.iloc[0]))
    yield "bulk", machines.head(4).triton.stop(dry_run=True).frame
    yield "wait", running.triton.machines().wait_for("running", timeout=10, progress=False).frame
    yield "query_steps", query.explain().steps
    yield "query_datacenters", query.explain().datacenters
    yield from extra_frames(emu, dc, fleet, machines)


def extra_frames(emu, dc, fleet, machines):
    """Frames of fleet history and diffs (and a loaded point's frames)."""
    with tempfile.TemporaryDirectory() as directory:
        before = fleet.snapshot(directory=directory, progress=False)
        dc.machines(state="running")[0].stop()
        emu.datacenter("us-west-1").put_machine(name="newcomer")
        yield "history", smartdc_nb.history(directory)
        loaded = smartdc_nb.load(-1, directory)
        for kind in ("machines", "tags", "metadata", "snapshots"):
            yield kind, getattr(loaded, kind)
        d = smartdc_nb.diff(before, fleet)
        assert len(d.changes) and len(d.appeared)
        yield "diff", d.frame
        yield "diff", d.changes
        yield "diff_counts", d.counts
        yield "machines", d.appeared
    yield from operations_frames(emu, dc, fleet, machines)
    priced = machines.triton.with_prices(DEMO_PRICES)
    yield "machines", priced
    yield "cost", priced.triton.cost_by("datacenter")
    yield "cost", priced.triton.cost_by("owner")
    yield "cost", priced.triton.cost_by(tag="team")


def operations_frames(emu, dc, fleet, machines):
    """Frames of plans, verdicts, the journal and its runs, and the live change log."""
    stopped = machines[machines.state == "stopped"].head(2)
    plan = fleet.plan("start", where={"state": "stopped"})
    yield "plan", plan.frame
    yield "verdicts", machines.head(5).triton.verdicts("stop")
    stopped.triton.start(confirm=True, wait=False)
    yield "journal", smartdc_nb.journal()
    runs = smartdc_nb.journal_runs()
    assert len(runs)
    yield "runs", runs.frame
    yield "run", smartdc_nb.journal_run(runs[0].run_id).frame
    with fleet.live() as live:
        dc.machines(state="running")[0].add_tags(touched="yes")
        yield "live_changes", live.changes


def test_every_frame_column_is_documented_with_its_dtype(emu, dc):
    seen = set()
    for kind, frame in every_frame(emu, dc):
        seen.add(kind)
        assert dictionary.undocumented(frame, kind) == [], kind
        described = frame.triton.columns() if kind != "cost" else dictionary.describe(frame, kind)
        assert described["documented"].all(), (kind, described[~described.documented].column)
        if kind in TYPED:
            for column, dtype in frame.dtypes.items():
                entry = dictionary.lookup(kind, column)
                if entry.name.startswith("tag."):
                    continue  # typed from the tag's values
                assert str(dtype) == entry.dtype, (kind, column, str(dtype), entry.dtype)
    assert {"machines", "tags", "metadata", "snapshots", "packages", "images", "networks",
            "audit", "bulk", "wait", "history", "diff", "diff_counts", "cost", "plan", "verdicts",
            "journal", "runs", "run", "live_changes"} <= seen


def test_an_unknown_column_is_reported(fleet_frame):
    frame = fleet_frame.assign(bogus=1)
    assert dictionary.undocumented(frame, "machines") == ["bogus"]
    described = frame.triton.columns()
    assert described.set_index("column").loc["bogus", "documented"] == False
    assert described.set_index("column").loc["state", "documented"] == True


@pytest.fixture
def fleet_frame(dc):
    return Fleet(dc).frames.machines()


def test_columns_lists_every_frame_with_sources_units_and_vocabularies():
    table = smartdc_nb.columns()
    assert list(table.columns) == list(dictionary.FIELDS)
    assert set(table.frame) >= {"machines", "snapshots", "bulk", "audit", "diff", "history", "cost"}
    state = table[(table.frame == "machines") & (table.column == "state")].iloc[0]
    assert "deleted" in state["values"] and "destroyed" in state["values"]
    assert state.returned_by == "ListMachines, GetMachine" and state.cloudapi_field == "state"
    memory = table[(table.frame == "machines") & (table.column == "memory")].iloc[0]
    assert memory.units == "MiB"
    assert len(smartdc_nb.columns("snapshots")) == len(dictionary.SNAPSHOTS)
    with pytest.raises(InvalidInputError, match="no frame kind 'machine'; kinds are: machines"):
        smartdc_nb.columns("machine")


def test_card_table_headers_carry_the_dictionary_as_tooltips(dc):
    machines = dc.machines()
    html = render_html(machines)
    assert 'title="Machine state. CloudAPI: state from ListMachines, GetMachine. Values: ' \
           'provisioning' in html
    assert 'title="Primary IP address' in html
    result = machines[:2].stop(dry_run=True)
    html = render_html(result)
    assert 'title="What happened to this machine. Values: done, failed' in html
    # a table not made of frame columns has plain headers
    assert dictionary.tip("Datacenter", None) == ""
