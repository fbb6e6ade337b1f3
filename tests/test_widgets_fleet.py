"""The fleet panel against the emulator's two datacenters: filters, selection, the question,
bulk actions through the bulk engine with one progress bar, and the outcome table."""

from __future__ import annotations

import ipywidgets
import pytest
from test_machine_support import logged, put, until_held
from test_widgets_support import (FAST, HOSTILE, badges, click_while_not_answered, enabled,
                                  html_values, posts, words, yes_while_not_answered)
from test_widgets_support import opened  # noqa: F401 (a fixture, used by name)

import smartdc_nb
from smartdc_nb.widgets import fleet_panel
from smartdc_nb.widgets.fleet import FleetPanel


@pytest.fixture
def batch(emu):
    """Machines tagged role=batch: two stopped in each datacenter, one running in us-east-1."""
    ids = {"east-stopped": [put(emu, "us-east-1", name=f"batch-e{i}", state="stopped",
                                tags={"role": "batch"}) for i in range(2)],
           "west-stopped": [put(emu, "us-west-1", name=f"batch-w{i}", state="stopped",
                                tags={"role": "batch", "tier": 2}) for i in range(2)],
           "east-running": [put(emu, "us-east-1", name="batch-e-run", tags={"role": "batch"})]}
    return ids


@pytest.fixture
def fleet(dc):
    return smartdc_nb.Fleet(dc)


@pytest.fixture
def panel_of(opened):
    return lambda fleet, **options: opened(fleet_panel(fleet, **{**FAST, **options}))


def list_with(panel, **fields) -> None:
    for name, value in fields.items():
        getattr(panel, name).value = value
    panel.buttons["list"].click()
    panel.wait()


def names(panel) -> list[str]:
    return sorted(m.name for m in panel.listing)


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


def test_bulk_start_asks_how_many_where_then_shows_the_outcome_table(emu, fleet, batch,
                                                                     panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch")
    emu.clear_requests()
    panel.table.select_all()
    assert {"start", "create_snapshot"} <= enabled(panel)
    assert "add_tags" not in enabled(panel)  # no tag key typed yet
    panel.buttons["start"].click()
    question = words(panel.confirm.message.value)
    assert "Start: 5 machines in us-east-1 (3), us-west-1 (2)?" in question
    assert "4 to act on as last listed" in question
    assert "1 will be skipped (already running)" in question
    assert panel.confirm.yes.description == "Yes, start 5 machines"
    panel.confirm.no.click()
    assert posts(emu) == []

    panel.buttons["start"].click()
    panel.confirm.yes.click()
    assert panel.buttons["start"].description == "Starting…"
    panel.wait()
    started = {r["path"].rsplit("/", 1)[1] for r in posts(emu, {"action": "start"})}
    assert started == set(batch["east-stopped"] + batch["west-stopped"])
    assert len(posts(emu)) == 4
    # through the bulk engine: states re-read with one listing per datacenter first, waits
    # polled through listings (tombstone=true), not a loop of GETs per machine
    listings = [r for r in logged(emu, "GET", "/demo/machines") if r["query"].get("tombstone")]
    assert {r["datacenter"] for r in listings} == {"us-east-1", "us-west-1"}
    assert panel.result.counts["done"] == 4 and panel.result.counts["skipped"] == 1
    outcome = panel.outcome.value
    assert "Bulk result" in words(outcome) and "start: 5 machines" in words(outcome)
    assert badges(outcome).count("done") == 4 and "already running" in words(outcome)
    assert panel.log.entries[-2].message.startswith("start on 5 machines (waited for running)")
    assert set(badges(panel.counts.value)) >= {"running"} and "stopped" not in \
        badges(panel.counts.value)  # listed again after the action
    assert [m.state for m in panel.table.chosen] == ["running"] * 5  # still selected


def test_one_progress_bar_follows_the_bulk_action(fleet, batch, panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch", state="stopped")
    bars = [w for w in [panel.widget, *panel._owned_widgets()]
            if isinstance(w, ipywidgets.FloatProgress)]
    assert bars == [panel.progress.bar]
    seen = []
    panel.progress.bar.observe(lambda change: seen.append(change["new"]), names="value")
    panel.table.select_all()
    panel.buttons["start"].click()
    panel.confirm.yes.click()
    panel.wait()
    assert seen and max(seen) == 4  # it counted to the four machines
    assert panel.progress.bar.bar_style == "success"
    assert panel.progress.widget.layout.display == "none"  # hidden once done


def test_add_tag_and_create_snapshot_use_the_fields(emu, fleet, batch, panel_of, dc):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch", datacenter="us-east-1")
    panel.table.select_all()
    panel.new_tag_key.value, panel.new_tag_value.value = "owner", "ops"
    panel.buttons["add_tags"].click()
    assert "Tag: owner=ops" in words(panel.confirm.message.value)
    panel.confirm.yes.click()
    panel.wait()
    assert {m.id: m.tags["owner"] for m in dc.machines(tags={"role": "batch"})} == \
        dict.fromkeys(batch["east-stopped"] + batch["east-running"], "ops")

    panel.snapshot_template.value = "pre-{name}"
    panel.buttons["create_snapshot"].click()
    panel.confirm.yes.click()
    panel.wait()
    made = sorted(r["body"]["name"] for r in posts(emu) if r["path"].endswith("/snapshots"))
    assert made == ["pre-batch-e-run", "pre-batch-e0", "pre-batch-e1"]
    assert panel.result.counts["done"] == 3


def test_bad_tag_input_disables_the_button_and_says_why(fleet, batch, panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch")
    panel.table.select_all()
    panel.new_tag_key.value, panel.new_tag_value.value = "triton.cns.disable", "maybe"
    assert panel.buttons["add_tags"].disabled
    assert "takes true or false" in panel.buttons["add_tags"].tooltip
    panel.new_tag_key.value = "triton.bogus"
    assert "unknown special tag" in panel.buttons["add_tags"].tooltip


def test_failures_are_rows_of_the_outcome_table_and_said_in_the_log(emu, fleet, batch,
                                                                    panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch", state="stopped")
    emu.datacenter("us-west-1").fail_next("start")
    panel.table.select_all()
    panel.buttons["start"].click()
    panel.confirm.yes.click()
    panel.wait()
    assert panel.result.counts["failed"] == 1 and panel.result.counts["done"] == 3
    assert "failed" in badges(panel.outcome.value)
    summary = [e for e in panel.log.entries if e.message.startswith("start on 4")][0]
    assert summary.word == "failed" and "1 failed" in summary.message


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


def test_the_question_shows_the_plan_and_yes_applies_exactly_it(emu, fleet, batch, panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch")
    panel.table.select_all()
    emu.clear_requests()
    panel.buttons["start"].click()
    plan = panel.plan
    question = words(panel.confirm.message.value)
    assert f"plan {plan.id}" in question and f"Plan {plan.id}: 4 act, 1 skip." in question
    assert posts(emu) == [] and [r for r in emu.requests if r["method"] == "GET"] == []
    changed = batch["west-stopped"][0]
    emu.datacenter("us-west-1").set_state(changed, "running")  # started elsewhere meanwhile
    panel.confirm.yes.click()
    panel.wait()
    started = {r["path"].rsplit("/", 1)[1] for r in posts(emu, {"action": "start"})}
    assert changed not in started and len(started) == 3
    row = next(r for r in panel.result if r["id"] == changed)
    assert row["outcome"] == "skipped" and row["reason"].startswith("changed since the plan")
    assert panel.result.plan_id == plan.id
    run = smartdc_nb.journal_runs()[0]  # journalled under the plan: resume(run_id) can go on
    assert run.action == "start" and run.start["plan_id"] == plan.id


def test_a_snapshot_name_the_api_refuses_disables_the_button_and_says_why(emu, fleet, batch,
                                                                          panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch")
    panel.table.select_all()
    panel.snapshot_template.value = "bad name!"  # what the plan refuses, the button refuses
    assert panel.buttons["create_snapshot"].disabled
    assert "invalid snapshot name 'bad name!'" in panel.buttons["create_snapshot"].tooltip
    panel.ask("create_snapshot")  # a click that arrives anyway asks nothing, sends nothing
    assert not panel.confirm.armed and posts(emu) == []
    assert panel.log.entries[-1].word == "refused"
    assert "invalid snapshot name" in panel.log.entries[-1].message


def test_a_run_in_which_no_machine_was_acted_on_is_not_logged_as_done(emu, fleet, batch,
                                                                      panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch", state="stopped")
    panel.table.select_all()
    panel.buttons["start"].click()
    for dc_name, ids in (("us-east-1", batch["east-stopped"]),
                         ("us-west-1", batch["west-stopped"])):
        for machine_id in ids:  # started elsewhere after the question: all skipped
            emu.datacenter(dc_name).set_state(machine_id, "running")
    panel.confirm.yes.click()
    panel.wait()
    assert posts(emu) == [] and panel.result.counts["skipped"] == 4
    summary = next(e for e in panel.log.entries if e.message.startswith("start on 4"))
    assert summary.word == "nothing was done" and "nothing to do (4 skipped)" in summary.message


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


def start_held(emu, panel) -> None:
    """Start every listed machine, the cloud holding the start: the panel is busy with it."""
    panel.table.select_all()
    held = emu.faults.add(path="/demo/machines/", method="POST", hold=True)
    panel.buttons["start"].click()
    panel.confirm.yes.click()
    until_held(emu, held, what="the start on its way")


def test_a_list_click_ignored_during_an_action_changes_nothing(emu, fleet, batch, panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch")
    start_held(emu, panel)
    panel.tag_key.value, panel.tag_value.value, panel.name_pattern.value = "", "", "batch-e0"
    panel.buttons["list"].click()  # busy: ignored, so not the filters of the relist either
    assert panel.log.entries[-1].word == "ignored"
    emu.faults.release_all()
    panel.wait()
    assert panel.result.counts["done"] == 4
    assert panel.listed_with == "tag role=batch"  # listed again with the filters it had
    assert names(panel) == ["batch-e-run", "batch-e0", "batch-e1", "batch-w0", "batch-w1"]
    assert len(panel.table.chosen) == 5


def test_closing_the_panel_mid_action_sends_no_listing_after_it(emu, fleet, batch, panel_of):
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch", state="stopped")
    start_held(emu, panel)
    panel.close()
    emu.clear_requests()
    emu.faults.release_all()
    panel.wait()  # the start already sent finishes its wait (tombstone listings)...
    listings = [r for r in logged(emu, "GET", "/demo/machines")
                if not r["query"].get("tombstone")]
    assert listings == []  # ...but the panel lists nothing more once closed
    assert panel.log.entries[-1].word == "stopped" and "closed" in panel.log.entries[-1].message


def test_yes_on_a_cloud_that_stopped_answering_ends_within_the_panels_timeout(emu, fleet, batch,
                                                                             panel_of):
    """The plan re-reads the machines before sending: on a frozen cloud that listing waited out
    the socket's 60 s, retried, and the listing after it again, under "Starting…"; the panel's
    timeout= bounded only the wait. The re-read is now bounded by it, the log says that nothing
    was sent to which machines, and the frozen cloud is not listed again."""
    panel = panel_of(fleet, timeout=2)
    list_with(panel, tag_key="role", tag_value="batch", state="stopped")
    panel.table.select_all()
    panel.buttons["start"].click()
    _, took = yes_while_not_answered(emu, panel, "/demo/machines")  # no read is answered
    assert took < 20, took  # the panel's 2 s, not the socket's timeouts
    assert panel.result is not None, panel.log.lines
    assert panel.result.counts["not reached"] == 4
    summary = next(e for e in panel.log.entries if e.message.startswith("start on 4"))
    assert summary.word == "failed", summary
    assert "nothing was sent for 4 machines" in summary.message, summary.message
    assert "batch-e0" in summary.message and "could not re-fetch" in summary.message
    assert names(panel) == ["batch-e0", "batch-e1", "batch-w0", "batch-w1"]  # as listed before


def test_yes_whose_requests_get_no_answer_ends_within_the_panels_timeout(emu, fleet, batch,
                                                                        panel_of):
    """The machines were re-read, then the starts got no answer: each waited out the socket's
    60 s under "Starting…" (timeout=2). The sends are bounded by the panel's timeout too, and
    the log says the cloud may have applied them."""
    import time

    panel = panel_of(fleet, timeout=2)
    list_with(panel, tag_key="role", tag_value="batch", state="stopped")
    panel.table.select_all()
    panel.buttons["start"].click()
    emu.faults.add(path="/demo/machines/", method="POST", hold=True)  # no start is answered
    started = time.monotonic()
    panel.confirm.yes.click()
    panel.wait(timeout=150)
    took = time.monotonic() - started
    emu.faults.clear()
    assert took < 20, took  # the panel's 2 s, not the socket's 60
    assert panel.result is not None and panel.result.counts["failed"] == 4, panel.log.lines
    assert all("may have applied" in o.reason for o in panel.result.outcomes)
    for row in panel.result.outcomes:  # the panel's words: its user never gave send_timeout
        assert "the panel's timeout" in str(row.error) and "send_timeout" not in str(row.error)


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
