"""The snapshot panel against the emulator: listing per machine or fleet, the age filter,
deleting through the bulk engine (confirmed) and booting from a snapshot."""

from __future__ import annotations

import time
from datetime import timezone

import pytest
from test_machine_support import fetched, logged, put, until_held
from test_widgets_support import (FAST, HOSTILE, badges, click_while_not_answered, enabled,
                                  html_values, posts, words, yes_while_the_machine_is_not_answered)
from test_widgets_support import opened  # noqa: F401 (a fixture, used by name)

import smartdc_nb
from smartdc_nb.errors import InvalidInputError
from smartdc_nb.widgets import snapshot_panel

DAY = 86400


@pytest.fixture
def aged(emu):
    """Snapshots 40 days old (two machines, one in each datacenter) and 2 days old."""
    now = time.time()
    return {
        "old-e": put(emu, "us-east-1", name="old-e", created=now - 40 * DAY,
                     snapshots=["nightly-1", "nightly-2"]),
        "old-w": put(emu, "us-west-1", name="old-w", created=now - 40 * DAY,
                     snapshots=["nightly-1"]),
        "new-e": put(emu, "us-east-1", name="new-e", created=now - 2 * DAY,
                     snapshots=["fresh"]),
    }


@pytest.fixture
def panel_of(opened):
    return lambda subject, **options: opened(snapshot_panel(subject, **{**FAST, **options}))


def rows(panel) -> list[tuple[str, str]]:
    return sorted((s.machine.name, s.name) for s in panel.table.items.values() for s in [s[0]])


def row_html(panel, key) -> str:
    """The HTML of the row showing ``key`` (its checkbox is beside it)."""
    return panel.table.rows.children[panel.table._shown.index(key)].children[1].value


def test_a_fleet_lists_every_machines_snapshots_and_filters_by_age(emu, dc, aged, panel_of):
    fleet = smartdc_nb.Fleet(dc)
    panel = panel_of(fleet)
    ours = [r for r in rows(panel) if r[0] in ("old-e", "old-w", "new-e")]
    assert ours == [("new-e", "fresh"), ("old-e", "nightly-1"), ("old-e", "nightly-2"),
                    ("old-w", "nightly-1")]
    assert panel.log.entries[-1].message.startswith(f"{len(panel.snapshots)} snapshots on ")
    panel.older_than.value = 30
    assert emu.requests == []  # the filter needs no request
    assert [r for r in rows(panel) if r[0] in ("old-e", "old-w", "new-e")] == ours[1:]
    counts = words(panel.counts.value)
    assert "older than 30 days (of " in counts and "created" in badges(panel.counts.value)[0]
    row = words(row_html(panel, ("us-east-1", aged["old-e"], "nightly-1")))
    assert row.startswith("old-e us-east-1 nightly-1 created ") and " 40 days " in row


def test_kvm_and_deleted_machines_are_not_asked(emu, dc, panel_of):
    kvm = put(emu, "us-east-1", name="vm-1", brand="kvm")
    gone = put(emu, "us-east-1", name="gone-1", state="deleted")
    live = put(emu, "us-east-1", name="live-1", snapshots=["s"])
    machines = [smartdc_nb.Machine(dc, i) for i in (kvm, gone, live)]
    panel = snapshot_panel(machines, **FAST)
    panel.wait()
    asked = [r["path"] for r in logged(emu, "GET", "/snapshots")]
    assert asked == [f"/demo/machines/{live}/snapshots"]
    assert rows(panel) == [("live-1", "s")]
    panel.close()


def test_closing_the_panel_mid_listing_asks_no_machine_for_its_snapshots(emu, dc):
    """Closed while the machines are being listed, the panel asks none of them for its
    snapshots, and keeps no half listing."""
    for i in range(3):
        put(emu, "us-east-1", name=f"close-{i}", snapshots=["s"])
    held = emu.faults.add(path=r"/demo/machines\?", method="GET", hold=True)
    emu.clear_requests()
    panel = snapshot_panel(smartdc_nb.Fleet(dc), **FAST)
    until_held(emu, held, what="the listing on its way")
    panel.close()
    emu.faults.release(held)
    panel.wait()
    assert logged(emu, "GET", "/snapshots") == []
    assert panel.snapshots is None
    assert "closed" in panel.log.entries[-1].message


def test_delete_selected_asks_then_deletes_through_the_bulk_engine(emu, dc, aged, panel_of):
    machine = smartdc_nb.Machine(dc, aged["old-e"])
    panel = panel_of(machine)
    assert rows(panel) == [("old-e", "nightly-1"), ("old-e", "nightly-2")]
    assert enabled(panel) == {"list"}
    panel.table.select_all()
    assert enabled(panel) == {"list", "delete"}
    assert "select exactly one snapshot" in panel.buttons["boot"].tooltip
    panel.buttons["delete"].click()
    question = words(panel.confirm.message.value)
    assert "Delete 2 snapshots of 1 machine in us-east-1 (2)?" in question
    assert "Names: nightly-1, nightly-2" in question
    plans = panel.plans
    assert sorted(plans) == ["nightly-1", "nightly-2"]
    for name, plan in plans.items():  # the question shows each name's plan, Yes applies it
        assert f"{name}: plan {plan.id} (1 act)" in question
    panel.confirm.yes.click()
    panel.wait()
    deleted = sorted(r["path"].rsplit("/", 1)[1] for r in posts(emu))
    assert deleted == ["nightly-1", "nightly-2"] and len(posts(emu)) == 2
    assert panel.result.counts["done"] == 2
    assert badges(panel.outcome.value).count("done") == 2
    assert panel.log.entries[-2].message.startswith("Delete 2 snapshots: 2 done in ")
    assert rows(panel) == [] and machine.snapshots() == []


def test_boot_from_one_snapshot_asks_and_waits_for_the_machine(emu, dc, aged, panel_of):
    machine = smartdc_nb.Machine(dc, aged["new-e"])
    panel = panel_of(machine)
    panel.table.select_all()
    panel.buttons["boot"].click()
    assert "Boot new-e from snapshot fresh?" in words(panel.confirm.message.value)
    panel.confirm.yes.click()
    panel.wait()
    assert [r["path"].rsplit("/", 2)[1:] for r in posts(emu)] == [["snapshots", "fresh"]]
    assert machine.state == "running"
    assert panel.log.entries[-1].message.startswith("Boot new-e (")
    assert "rollback_snapshot" in [e["action"] for e in machine.audit()]


def test_boot_asks_with_a_plan_and_a_machine_changed_since_is_not_rolled_back(emu, dc, panel_of):
    """Boot from snapshot asked a plain question and sent the rollback whatever happened
    between the question and Yes; like every other question of the panels, it now shows
    the plan, and Yes applies exactly it: a machine that changed since is left alone."""
    machine = fetched(dc, emu, name="boot-plan", snapshots=["s"])
    panel = panel_of(machine)
    panel.table.select_all()
    panel.buttons["boot"].click()
    plan = panel.plan
    assert f"plan {plan.id}" in words(panel.confirm.message.value)
    emu.datacenter("us-east-1").set_state(machine.id, "stopped")  # someone stops it meanwhile
    emu.clear_requests()
    panel.confirm.yes.click()
    panel.wait()
    assert posts(emu) == []
    last = panel.log.entries[-1]
    assert last.word == "skipped" and "changed since the plan (was running, now stopped" in \
        last.message and f"nothing was sent (plan {plan.id})" in last.message


def test_boot_needs_one_created_snapshot_on_a_running_or_stopped_machine(emu, dc, panel_of):
    machine = fetched(dc, emu, name="busy-1", snapshots=["s"])
    panel = panel_of(machine)
    panel.table.select_all()
    assert "boot" in enabled(panel)
    emu.datacenter("us-east-1").set_state(machine.id, "stopping")
    machine.refresh()  # as a background refresh would, after the button was drawn enabled
    panel.buttons["boot"].click()
    assert not panel.confirm.armed and posts(emu) == []
    assert "busy-1: the machine is stopping" in panel.log.entries[-1].message


def test_failures_while_listing_are_said_and_the_rest_is_shown(emu, dc, aged, panel_of):
    fleet = smartdc_nb.Fleet(dc)
    emu.faults.add(path=aged["old-w"] + "/snapshots", method="GET", status=500)
    panel = panel_of(fleet)
    assert ("old-e", "nightly-1") in rows(panel) and not any(r[0] == "old-w"
                                                             for r in rows(panel))
    failed = [e for e in panel.log.entries if e.word == "failed"]
    assert len(failed) == 1 and failed[0].message.startswith("Listing old-w (")
    assert "1 listing(s) failed" in badges(panel.counts.value)


def test_cloud_strings_are_escaped(emu, dc, panel_of):
    machine = fetched(dc, emu, name=HOSTILE, snapshots=[HOSTILE])
    panel = panel_of(machine)
    assert rows(panel) == [(HOSTILE, HOSTILE)]
    panel.table.select_all()
    panel.buttons["delete"].click()
    for value in html_values(panel):
        assert "<img" not in value
    assert words(row_html(panel, ("us-east-1", machine.id, HOSTILE))).count(HOSTILE) == 2
    assert HOSTILE in words(panel.confirm.message.value)
    panel.confirm.cancel()


def test_what_a_snapshot_panel_takes(dc):
    with pytest.raises(InvalidInputError, match="needs a Machine, a Fleet, a DataCenter"):
        snapshot_panel("web-1")
    with pytest.raises(InvalidInputError, match="max_rows must be a whole number"):
        snapshot_panel(dc, max_rows=0)


def test_a_snapshot_that_cannot_be_planned_is_a_failed_row_of_the_result(emu, dc, panel_of):
    # a name the API cannot address, as the cloud may hold one: the question says it cannot
    # be planned; after Yes it must be a failed row, not only a line of the log
    machine = fetched(dc, emu, name="db-1", snapshots=["good", "bad name/x"])
    panel = panel_of(machine)
    panel.table.select_all()
    panel.buttons["delete"].click()
    assert "bad name/x: cannot be planned" in words(panel.confirm.message.value)
    panel.confirm.yes.click()
    panel.wait()
    assert [r["path"].rsplit("/", 1)[1] for r in posts(emu)] == ["good"]
    result = panel.result
    assert not result.ok and (result.counts["done"], result.counts["failed"]) == (1, 1)
    failed = next(r for r in result if r["outcome"] == "failed")
    assert failed["reason"].startswith("snapshot 'bad name/x' could not be planned (")
    assert failed["reason"].endswith("nothing was sent")
    assert badges(panel.outcome.value).count("failed") == 1
    summary = next(e for e in panel.log.entries if e.message.startswith("Delete 2 snapshots:"))
    assert summary.word == "failed" and summary.message.startswith(
        "Delete 2 snapshots: 1 done, 1 failed in ")


def test_failed_listings_are_in_the_summary_and_a_total_failure_keeps_the_rows(emu, dc, aged,
                                                                               panel_of):
    panel = panel_of(smartdc_nb.Fleet(dc))
    before = rows(panel)
    panel.table.select_all()
    west = emu.faults.add(path="/demo/machines", method="GET", datacenter="us-west-1",
                          status=503)
    panel.buttons["list"].click()
    panel.wait()
    last = panel.log.entries[-1]
    assert last.word == "done" and last.message.endswith("; us-west-1 could not be listed")
    assert ("old-w", "nightly-1") not in rows(panel)
    emu.faults.remove(west)
    emu.faults.add(path="/demo/machines", method="GET", status=503)
    shown, chosen = rows(panel), len(panel.table.chosen)
    panel.buttons["list"].click()
    panel.wait()
    last = panel.log.entries[-1]
    assert last.word == "failed" and "nothing could be listed: us-east-1 (" in last.message
    assert rows(panel) == shown and len(panel.table.chosen) == chosen and shown != before
    assert "From the previous listing" in words(panel.counts.value)


def test_closing_the_panel_mid_delete_sends_no_listing_after_it(emu, dc, aged):
    panel = snapshot_panel(smartdc_nb.Fleet(dc), **FAST)
    panel.wait()
    key = ("us-east-1", aged["new-e"], "fresh")
    panel.table.toggle(key)
    held = emu.faults.add(path="/snapshots/fresh", method="DELETE", hold=True)
    panel.buttons["delete"].click()
    panel.confirm.yes.click()
    until_held(emu, held, what="the delete on its way")
    panel.close()
    emu.clear_requests()
    emu.faults.release_all()
    panel.wait()
    assert [r for r in logged(emu, "GET", "/demo/machines") if r["path"] == "/demo/machines"
            and not r["query"].get("tombstone")] == []
    # only the delete's own wait asks about new-e; no other machine is asked for its snapshots
    assert not any(aged["old-e"] in r["path"] or aged["old-w"] in r["path"] for r in emu.requests)
    assert panel.log.entries[-1].word == "stopped" and "closed" in panel.log.entries[-1].message


def test_boot_on_a_cloud_that_stopped_answering_ends_within_the_panels_timeout(emu, dc, panel_of):
    """As on the machine panel: the plan's re-read before the rollback waited out the socket's
    60 s, twice, under "Booting…"; it is now bounded by the panel's timeout, and the log says
    nothing was sent."""
    machine = fetched(dc, emu, name="boot-frozen", snapshots=["s"])
    panel = panel_of(machine, timeout=2)
    panel.table.select_all()
    panel.buttons["boot"].click()
    last, took = yes_while_the_machine_is_not_answered(emu, panel, machine.id)
    assert last.word == "failed" and "nothing was sent" in last.message, last
    assert took < 20, took  # the panel's 2 s, not two socket timeouts


def test_delete_on_a_cloud_that_stopped_answering_ends_within_the_panels_timeout(emu, dc,
                                                                                panel_of):
    """The delete's plans re-read the machine before sending: on a frozen cloud each waited out
    the socket's 60 s, retried, and the listing after them again, under "Deleting…". Now the
    panel's timeout bounds the re-read, and the log says what was not sent, and why."""
    machine = fetched(dc, emu, name="delete-frozen", snapshots=["a", "b"])
    panel = panel_of(machine, timeout=2)
    panel.table.select_all()
    panel.buttons["delete"].click()
    last, took = yes_while_the_machine_is_not_answered(emu, panel, machine.id)
    assert took < 20, took  # the panel's 2 s, not the socket's timeouts
    summary = next(e for e in panel.log.entries if e.message.startswith("Delete 2 snapshots:"))
    assert summary.word == "failed", summary
    assert "nothing was sent for 2 snapshots" in summary.message, summary.message
    assert "could not re-fetch the machine before acting" in summary.message
    assert rows(panel) == [("delete-frozen", "a"), ("delete-frozen", "b")], last


def test_the_counts_say_when_the_snapshots_were_listed(emu, dc, aged, panel_of):
    """The Age column is each snapshot's age when listed: the card says when that was (UTC, to
    the second), as the other panels do."""
    import re

    panel = panel_of(smartdc_nb.Machine(dc, aged["old-e"]))
    counts = words(panel.counts.value)
    assert re.search(r"listed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", counts), counts


def test_list_on_a_cloud_that_stopped_answering_ends_within_the_panels_timeout(emu, dc, aged,
                                                                              panel_of):
    """Listing the snapshots read each machine with the socket's limits, whatever the panel's
    timeout=; now that bounds the listing, and the rows stay."""
    panel = panel_of(smartdc_nb.Fleet(dc), timeout=2)
    before = rows(panel)
    last, took = click_while_not_answered(emu, panel, "list", "/demo/machines")
    assert took < 20, took
    assert last.word == "failed" and "the panel's timeout" in last.message, last
    assert rows(panel) == before


def test_the_created_column_says_its_times_are_utc(emu, dc, aged, panel_of, monkeypatch):
    """The Created column showed '2026-12-01 22:14' (UTC) with no zone, under a log headed
    'Time (UTC)' and beside cards that say UTC: in a kernel not running in UTC it read as
    local time. Its heading says UTC, and the times are UTC whatever the kernel's zone."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        panel = panel_of(smartdc_nb.Machine(dc, aged["old-e"]))
        assert "Created (UTC)" in words(panel.table.heading.children[1].value)
        snap = panel.table.items[("us-east-1", aged["old-e"], "nightly-1")][0]
        row = words(row_html(panel, ("us-east-1", aged["old-e"], "nightly-1")))
        assert f" {snap.created.astimezone(timezone.utc):%Y-%m-%d %H:%M} " in row, row
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
