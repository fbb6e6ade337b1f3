"""The fleet panel's bulk actions against the emulator's two datacenters: the question and its
plan, the bulk engine with one progress bar, the tag and snapshot fields, the outcome table
and its failures, clicks while an action runs, closing mid-action, and a cloud that stops
answering the re-read or the sends."""

from __future__ import annotations

import ipywidgets
from test_machine_support import logged, until_held
from test_widgets_support import badges, enabled, posts, words, yes_while_not_answered
from test_widgets_support import opened  # noqa: F401 (a fixture, used by name)
from widget_panels import list_with, names
from widget_panels import batch, panel_of  # noqa: F401 (fixtures, used by name)

import smartdc_nb


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
    # while the plan re-reads the machines, then as it sends (test_widgets_notices)
    assert panel.buttons["start"].description in ("Checking 5 machines…", "Starting…")
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
