"""The column dictionary knows every column of every frame the toolkit makes, with its dtype."""

from __future__ import annotations

import contextlib
import tempfile
import warnings

import pandas as pd
import pytest

import smartdc_nb
from smartdc_nb import Fleet, dictionary
from smartdc_nb.display import render_html
from smartdc_nb.errors import InvalidInputError
from smartdc_nb.frames.cost import DEMO_PRICES
from polling import eventually

#: the dtypes a tag.<key> column may take (typed from its values; missing tags: <NA>/None)
TAG_DTYPES = {"string", "Int64", "boolean", "object"}


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
    yield "machines", fleet.query(name="web-*", tags_as="columns")
    yield "tags", frames.tags()
    yield "metadata", frames.metadata()
    yield "snapshots", frames.snapshots(progress=False)
    yield "packages", frames.packages()
    yield "images", frames.images(state="all")
    yield "networks", frames.networks()
    yield "audit", frames.audit(dc.machine(machines.name.iloc[0]))
    yield "bulk", machines.head(4).triton.stop(dry_run=True).frame
    yield "wait", running.triton.machines().wait_for("running", timeout=10, progress=False).frame
    yield "query_steps", query.explain().steps  # a server step: rows_removed missing
    yield "query_steps", fleet.query(name="/^web/").explain().steps  # pandas steps only
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
    with fleet.live(poll_interval=0.2, backoff=(0.05, 0.5)) as live:
        yield "live_changes", live.changes  # empty: no change seen yet
        dc.machines(state="running")[0].stop()
        # the change arrives on the live fleet's own thread (feed, or a listing after a gap)
        eventually(lambda: len(live.changes), 10, "a change in the log")
        yield "live_changes", live.changes


@contextlib.contextmanager
def text_inference(inferred: bool):
    """pandas inferring ``str`` for text (pandas 3's default) or ``object`` (pandas 2.3's, the
    one on Python 3.10: there a column the toolkit leaves to inference is object, not str).
    pandas 3 still takes the option (deprecated; when a pandas drops it, the case is skipped)."""
    if inferred:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infer_string")  # pandas 3's deprecation
        try:
            pd.get_option("future.infer_string")
        except (KeyError, pd.errors.OptionError):
            pytest.skip("this pandas always infers str for text")
        with pd.option_context("future.infer_string", False):
            yield


@pytest.mark.parametrize("inferred", [True, False], ids=["str-inferred", "object-inferred"])
def test_every_frame_column_is_documented_with_its_dtype(emu, dc, inferred):
    """Every frame kind, built over HTTP, has exactly the dtypes the dictionary says, whatever
    pandas infers for text (pandas 3 or 2.3): the mismatches are gathered so one run names
    all of them."""
    seen, wrong = set(), []
    with text_inference(inferred):
        frames = list(every_frame(emu, dc))
    for kind, frame in frames:
        seen.add(kind)
        assert dictionary.undocumented(frame, kind) == [], kind
        described = frame.triton.columns() if kind != "cost" else dictionary.describe(frame, kind)
        assert described["documented"].all(), (kind, described[~described.documented].column)
        for column, dtype in frame.dtypes.items():
            entry = dictionary.lookup(kind, column)
            if kind == "machines" and str(column).startswith("tag."):
                if str(dtype) not in TAG_DTYPES:
                    wrong.append((kind, column, str(dtype), "|".join(sorted(TAG_DTYPES))))
            elif str(dtype) != entry.dtype:
                wrong.append((kind, column, str(dtype), entry.dtype))
    assert not wrong, "\n".join(map(str, sorted(set(wrong))))
    assert set(dictionary.FRAMES) <= seen, set(dictionary.FRAMES) - seen


@pytest.mark.parametrize("build", ["frames", "query"])
def test_a_missing_tag_is_missing_in_every_tag_column_type(emu, dc, build):
    """With tags_as="columns" a machine without the tag has <NA> (typed columns) or None
    (a column of mixed value types), never NaN, which would read as a float tag value."""
    east = emu.datacenter("us-east-1")
    ids = [east.put_machine(name="mixed-1", tags={"mixed": 3, "number": 1, "flag": True,
                                                   "text": "a"}),
           east.put_machine(name="mixed-2", tags={"mixed": "three", "number": 2, "flag": False,
                                                   "text": "b"})]
    fleet = Fleet(dc)
    frame = (fleet.frames.machines(tags_as="columns") if build == "frames"
             else fleet.query(tags_as="columns"))
    frame = frame.sort_values("name", ignore_index=True)
    tagged = frame.id.isin(ids)
    assert len(frame[~tagged])
    expected = {"tag.mixed": "object", "tag.number": "Int64", "tag.flag": "boolean",
                "tag.text": "string"}
    assert {c: str(frame[c].dtype) for c in expected} == expected
    assert frame.loc[tagged, "tag.mixed"].tolist() == [3, "three"]
    for column in expected:
        missing = frame.loc[~tagged, column].tolist()
        assert all(v is None or v is pd.NA for v in missing), (column, missing)


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
