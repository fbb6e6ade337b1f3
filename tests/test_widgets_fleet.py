"""The fleet panel's listing against the emulator's two datacenters: counts by state, filters,
selection, rows beyond max_rows, escaping, and a datacenter or cloud that fails or stops
answering. Its bulk actions are in test_widgets_fleet_actions."""

from __future__ import annotations

from test_machine_support import logged, put
from test_widgets_support import (HOSTILE, badges, click_while_not_answered, enabled, html_values,
                                  words)
from test_widgets_support import opened  # noqa: F401 (a fixture, used by name)
from widget_panels import list_with, names
from widget_panels import batch, panel_of  # noqa: F401 (fixtures, used by name)

from smartdc_nb.widgets.fleet import FleetPanel


def test_first_listing_shows_every_machine_counted_by_state(fleet, batch, panel_of):
    panel = panel_of(fleet)
    assert isinstance(panel, FleetPanel)
    total = len(panel.listing)
    assert total == len(fleet.machines())
    counts = words(panel.counts.value)
    assert f"{total} machines match" in counts and "all machines" in counts
    assert {"running", "stopped"} <= set(badges(panel.counts.value))  # the state columns
    assert "us-east-1" in counts and "us-west-1" in counts and "All" in counts
    assert len(panel.table.rows.children) == total  # fewer than max_rows: all have a row
    assert enabled(panel) == {"list"}  # nothing selected yet
    assert (panel.datacenter.label, panel.state.label) == ("all datacenters", "any state")


def test_filters_by_tag_datacenter_state_and_name(emu, fleet, batch, panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch")
    assert names(panel) == ["batch-e-run", "batch-e0", "batch-e1", "batch-w0", "batch-w1"]
    queries = [r["query"] for r in logged(emu, "GET", "/demo/machines")]
    assert all(q.get("tag.role") == "batch" for q in queries)  # filtered by CloudAPI
    assert {r["datacenter"] for r in emu.requests} == {"us-east-1", "us-west-1"}
    assert "tag role=batch" in words(panel.counts.value)

    emu.clear_requests()
    list_with(panel, datacenter="us-west-1")
    assert names(panel) == ["batch-w0", "batch-w1"]
    assert {r["datacenter"] for r in emu.requests} == {"us-west-1"}

    list_with(panel, datacenter="", state="running")
    assert names(panel) == ["batch-e-run"]
    list_with(panel, state="", name_pattern="batch-?0")
    assert names(panel) == ["batch-e0", "batch-w0"]
    list_with(panel, name_pattern="W1")  # plain text: anywhere in the name, any case
    assert names(panel) == ["batch-w1"]
    list_with(panel, name_pattern="", tag_key="tier", tag_value="")  # a key alone: tag is set
    assert names(panel) == ["batch-w0", "batch-w1"]
    list_with(panel, tag_value="2")  # a number tag matches its text
    assert names(panel) == ["batch-w0", "batch-w1"]


def test_a_tag_value_without_a_key_is_refused_before_listing(emu, fleet, panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_value="batch")
    assert emu.requests == []
    assert panel.log.entries[-1].word == "refused"
    assert "a tag value needs a tag key" in panel.log.entries[-1].message


def test_selection_rows_select_all_none_and_survives_a_new_listing(fleet, batch, panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch")
    table = panel.table
    assert "0 of 5 machines selected" in words(table.count.value)
    row_box = table.rows.children[0]
    checkbox, row = row_box.children
    checkbox.value = True  # a click on the first row's checkbox
    assert "1 of 5 machines selected" in words(table.count.value)
    assert "sdcnb-panel-selected" in row.value
    chosen = table.chosen[0]
    table.select_all()
    assert len(table.chosen) == 5 and all(b.children[0].value for b in table.rows.children)
    table.select_none()
    assert table.chosen == [] and not any(b.children[0].value for b in table.rows.children)
    table.toggle(("us-east-1", chosen.id))
    panel.buttons["list"].click()  # the same machines listed again keep their selection
    panel.wait()
    assert [m.id for m in table.chosen] == [chosen.id]
    assert table.rows.children[0].children[0].value is True


def test_rows_beyond_max_rows_are_counted_and_select_all_includes_them(fleet, batch, panel_of):
    panel = panel_of(fleet, max_rows=2)
    list_with(panel, tag_key="role", tag_value="batch")
    assert len(panel.table.rows.children) == 2
    assert "… and 3 more machines not listed here" in words(panel.table.more.value)
    panel.table.select_all()
    assert "5 of 5 machines selected" in words(panel.table.count.value)
    panel.buttons["stop"].click()
    assert "Stop: 5 machines in" in words(panel.confirm.message.value)
    panel.confirm.cancel()


def test_one_failing_datacenter_leaves_the_others_listed_and_says_so(emu, fleet, batch,
                                                                      panel_of):
    panel = panel_of(fleet)
    emu.faults.add(path="/demo/machines", method="GET", datacenter="us-west-1", status=500)
    list_with(panel, tag_key="role", tag_value="batch")
    assert names(panel) == ["batch-e-run", "batch-e0", "batch-e1"]
    failed = [e for e in panel.log.entries if e.word == "failed"]
    assert failed and failed[0].message.startswith("Listing the machines of us-west-1: ")
    assert "us-west-1 could not be listed" in panel.log.lines[-1]
    assert "1 datacenter(s) failed" in badges(panel.counts.value)


def test_a_datacenter_alone_gets_a_panel_too(dc, batch, panel_of):
    panel = panel_of(dc)
    assert {m.datacenter.name for m in panel.listing} == {"us-east-1"}
    assert [label for label, _value in panel.datacenter.options] == ["all datacenters",
                                                                      "us-east-1"]


def test_cloud_strings_in_rows_are_escaped(emu, fleet, panel_of):
    put(emu, "us-east-1", name="hostile-1", tags={"role": HOSTILE})
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value=HOSTILE)
    assert names(panel) == ["hostile-1"]
    for value in html_values(panel):
        assert "<img" not in value
    assert HOSTILE in words(panel.counts.value)


def test_a_listing_that_fails_everywhere_keeps_the_previous_one_and_says_so(emu, fleet, batch,
                                                                            panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch")
    panel.table.select_all()
    emu.faults.add(path="/demo/machines", method="GET", status=503)
    list_with(panel, state="stopped")
    last = panel.log.entries[-1]
    assert last.word == "failed" and "nothing could be listed: us-east-1 (" in last.message
    assert "us-west-1 (ServiceUnavailableError" in last.message
    assert "previous listing (tag role=batch) is still shown" in last.message
    assert names(panel) == ["batch-e-run", "batch-e0", "batch-e1", "batch-w0", "batch-w1"]
    assert len(panel.table.chosen) == 5  # the selection is not wiped either
    counts = words(panel.counts.value)
    assert "From the previous listing: listing state stopped, tag role=batch failed" in counts
    assert "no machine matches" not in counts and "2 datacenter(s) failed" in counts


def test_the_counts_say_when_the_machines_were_listed(fleet, batch, panel_of):
    """As the machine panel's header: the listing's time (UTC, to the second), which stays true
    however long the panel is left open (the machine panel said "just now" for hours)."""
    import re

    panel = panel_of(fleet)
    counts = words(panel.counts.value)
    assert re.search(r"listed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", counts), counts
    assert "just now" not in counts and " ago" not in counts


def test_list_on_a_cloud_that_stopped_answering_ends_within_the_panels_timeout(emu, fleet, batch,
                                                                              panel_of):
    """List machines waited out the socket's limits (60 s per read, retried) in every
    datacenter, whatever the panel's timeout=; now that bounds it, and the rows stay."""
    panel = panel_of(fleet, timeout=2)
    list_with(panel, tag_key="role", tag_value="batch")
    panel.state.value = "stopped"
    last, took = click_while_not_answered(emu, panel, "list", "/demo/machines")
    assert took < 20, took
    assert last.word == "failed" and "nothing could be listed" in last.message, last
    assert "the panel's timeout" in last.message
    assert names(panel) == ["batch-e-run", "batch-e0", "batch-e1", "batch-w0", "batch-w1"]
