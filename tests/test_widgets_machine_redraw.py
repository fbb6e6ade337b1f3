"""The machine panel keeping what it shows true, driven against the emulator: the actions that
change the machine (resize, rename, firewall, snapshots) and the redraw after them, refresh
by hand and auto-refresh, loading and closing, requests off the calling thread, escaping, the
panel's options and timeout on a cloud that stops answering, and times said in UTC."""

from __future__ import annotations

import logging
import threading

import pytest
from test_machine_support import fetched, logged, until_held
from polling import eventually
from test_widgets_support import (FAST, HOSTILE, badges, click_while_not_answered, enabled,
                                  html_values, posts, words,
                                  yes_while_the_machine_is_not_answered)
from test_widgets_support import opened  # noqa: F401 (a fixture, used by name)
from widget_panels import panel_for  # noqa: F401 (a fixture, used by name)

from smartdc_nb.errors import InvalidInputError
from smartdc_nb.widgets import machine_panel


def header(panel) -> str:
    return words(panel.header.value)


# ---------------------------------------------------------------- the other actions


def test_resize_rename_and_firewall_wait_for_the_change_and_redraw(emu, panel_for):
    panel = panel_for(name="shape", package="g4-highcpu-1G")
    panel.package.value = "g4-highcpu-2G"
    panel.buttons["resize"].click()
    panel.wait()
    assert panel.machine.package == "g4-highcpu-2G"
    assert "g4-highcpu-2G" in header(panel) and "resize" not in enabled(panel)

    panel.new_name.value = "shape-2"
    panel.buttons["rename"].click()
    panel.wait()
    assert panel.machine.name == "shape-2" and header(panel).startswith("Machine shape-2")

    assert panel.buttons["firewall"].description == "Enable firewall"
    panel.buttons["firewall"].click()
    panel.wait()
    assert panel.machine.firewall_enabled is True
    assert panel.buttons["firewall"].description == "Disable firewall"
    queries = [r["query"] for r in posts(emu)]
    assert queries[0]["action"] == "resize" and queries[1] == {"action": "rename",
                                                                "name": "shape-2"}
    assert queries[2] == {"action": "enable_firewall"}
    assert [e.word for e in panel.log.entries].count("done") == 4  # load + three actions


def test_snapshots_create_boot_from_and_delete(emu, panel_for):
    panel = panel_for(name="snappy")
    name = panel.snapshot_name.value
    panel.buttons["create_snapshot"].click()
    panel.wait()
    assert panel.snapshot.value == name  # the new snapshot is chosen
    assert panel.snapshot_name.value != name  # and a fresh default is offered
    assert "Snapshots 1" in header(panel)

    before = len(emu.requests)
    panel.buttons["boot_snapshot"].click()
    question = words(panel.confirm.message.value)
    assert f"Boot snappy from snapshot {name}?" in question
    assert f"Plan {panel.plan.id}: act (POST {panel.machine.path}/snapshots/{name})" in question
    assert len(emu.requests) == before and panel.plan.action == "start_from_snapshot"
    panel.confirm.yes.click()
    panel.wait()
    assert panel.machine.state == "running"
    assert panel.log.entries[-1].message.startswith(f"Boot from snapshot {name}: snappy")

    panel.buttons["delete_snapshot"].click()
    assert f"Plan {panel.plan.id}: act (DELETE {panel.machine.path}/snapshots/{name})" in \
        words(panel.confirm.message.value)
    panel.confirm.yes.click()
    panel.wait()
    assert panel.snapshot.options == () and "Snapshots 0" in header(panel)
    sent = [(r["method"], r["path"].split(panel.machine.id)[1]) for r in posts(emu)]
    assert sent == [("POST", "/snapshots"), ("POST", f"/snapshots/{name}"),
                    ("DELETE", f"/snapshots/{name}")]


# ---------------------------------------------------------------- refreshing


def test_auto_refresh_is_off_by_default_follows_the_cloud_when_on_and_stops_on_close(
        emu, panel_for):
    panel = panel_for(name="watched", options={"refresh_every": 0.1})
    assert panel.auto_refresh.value is False and panel._ticker is None
    panel.auto_refresh.value = True
    assert "auto-refresh every 0.1 s" in header(panel)
    emu.datacenter("us-east-1").set_state(panel.machine.id, "stopped")
    eventually(lambda: badges(panel.header.value)[0] == "stopped", what="the header to follow")
    assert "start" in enabled(panel)
    ticker = panel._ticker
    panel.close()
    assert not ticker.is_alive()
    count = len(emu.requests)
    assert not threading.Event().wait(0.35)  # three periods later: no request was made
    assert len(emu.requests) == count


def test_auto_refresh_errors_are_logged_once_and_recovery_is_said(emu, connect, opened):
    # no transport retries (a 500 on a read is retried): each tick is one failed refresh
    machine = fetched(connect(retries=False), emu, name="wobbly")
    panel = opened(machine_panel(machine, **{**FAST, "refresh_every": 0.05}))
    fault = emu.faults.add(path=panel.machine.id, method="GET", status=500)
    panel.auto_refresh.value = True
    eventually(lambda: len(logged(emu, "GET")) >= 4, what="several failed refreshes")
    failures = [e for e in panel.log.entries if e.word == "failed"]
    assert len(failures) == 1 and failures[0].message.startswith("Auto-refresh: ServerError")
    emu.faults.remove(fault)
    eventually(lambda: panel.log.entries[-1].message == "Auto-refresh works again")
    panel.auto_refresh.value = False
    assert panel._ticker is None and panel.log.entries[-1].message == "Auto-refresh off"


def test_refresh_button_fetches_the_machine(emu, panel_for):
    panel = panel_for(name="manual")
    emu.datacenter("us-east-1").set_state(panel.machine.id, "stopped")
    panel.buttons["refresh"].click()
    panel.wait()
    assert badges(panel.header.value)[0] == "stopped"
    assert logged(emu, "GET")[0]["path"] == panel.machine.path


def test_a_list_that_fails_to_load_is_said_and_the_rest_loads(emu, dc, opened):
    machine = fetched(dc, emu, name="half-loaded", snapshots=["s1"])
    emu.faults.add(path="/demo/packages", method="GET", status=500)
    panel = opened(machine_panel(machine, **FAST))
    failed, loaded = panel.log.entries
    assert failed.word == "failed"
    assert failed.message.startswith("Listing the packages of us-east-1: ServerError")
    assert loaded.message.startswith("Loaded half-loaded (") and "1 snapshot" in loaded.message
    assert panel.package.options == () and "packages are not loaded" in \
        panel.buttons["resize"].tooltip
    assert "boot_snapshot" in enabled(panel)


# ---------------------------------------------------------------- threads, escaping, input


def test_no_request_is_made_on_the_calling_thread(emu, dc, caplog):
    caplog.set_level(logging.DEBUG, logger="smartdc_nb")
    machine = fetched(dc, emu, name="threads", state="stopped")
    caplog.clear()
    panel = machine_panel(machine, **FAST)
    panel.wait()  # the first load
    panel.buttons["start"].click()
    panel.wait()
    panel.close()
    sent = [r for r in caplog.records if " -> " in r.getMessage()]  # the transport's lines
    assert len(sent) >= 4
    assert {r.threadName for r in sent} == {"smartdc_nb-machine-panel_0"}


def test_cloud_strings_are_escaped_everywhere_in_the_panel(emu, panel_for):
    panel = panel_for(name="ok-name", tags={"x": HOSTILE}, snapshots=["s1"])
    emu.datacenter("us-east-1").fail_next("stop")
    panel.machine.raw["name"] = HOSTILE  # as if CloudAPI had sent it
    panel.buttons["stop"].click()
    panel.confirm.yes.click()
    panel.wait()
    panel.machine.raw["name"] = HOSTILE
    panel.refresh_view()
    for value in html_values(panel):
        assert "<img" not in value
    assert "&lt;img src=x onerror=alert(1)&gt;$x^2$&amp;amp;" in panel.header.value
    assert HOSTILE in words(panel.header.value) and "tex2jax_ignore" in panel.header.value


def test_closing_a_panel_mid_load_asks_for_nothing_more(dc, emu):
    """A panel closed while its first load waits on the machine's GET sends no more of that
    load (the snapshots, the packages): closing stops what the panel was going to ask."""
    machine = fetched(dc, emu, name="closing", snapshots=["s1"])
    held = emu.faults.add(path=rf"/machines/{machine.id}$", method="GET", hold=True)
    emu.clear_requests()
    panel = machine_panel(machine, **FAST)
    until_held(emu, held, what="the machine's GET on its way")
    panel.close()
    emu.faults.release(held)
    panel.wait()
    assert [r["path"] for r in emu.requests] == [f"/demo/machines/{machine.id}"]
    assert "closed" in panel.log.entries[-1].message


def test_bad_panel_options_are_refused(dc, emu):
    machine = fetched(dc, emu, name="opts")
    with pytest.raises(InvalidInputError, match="refresh_every must be"):
        machine_panel(machine, refresh_every=0)
    with pytest.raises(InvalidInputError, match="interval must be"):
        machine_panel(machine, interval=-1)
    # without an interval, the panel's waits start at the environment's (tests: 0.1 s)
    panel = machine_panel(machine)
    assert panel.interval == 0.1
    panel.wait()  # its load would otherwise go on into the next test's request log
    panel.close()
    with pytest.raises(InvalidInputError, match="needs a Machine, not str"):
        machine_panel("web-1")


def test_yes_on_a_cloud_that_stopped_answering_ends_within_the_panels_timeout(emu, panel_for):
    """The plan re-reads the machine before it sends: on a frozen cloud that read waited out
    the 60 s socket timeout, twice, while the panel showed "Stopping…" for two minutes and
    its timeout= bounded only the wait after. It now bounds the re-read too, and the log
    says nothing was sent."""
    panel = panel_for(name="frozen-yes", options={"timeout": 2})
    panel.buttons["stop"].click()
    entry, took = yes_while_the_machine_is_not_answered(emu, panel, panel.machine.id)
    assert entry.word == "failed", entry
    assert "nothing was sent" in entry.message, entry.message
    assert took < 20, took  # the panel's 2 s, not two socket timeouts
    # said in the panel's words: its user gave timeout=2, not Plan.apply's send_timeout
    assert "the panel's timeout" in entry.message and "send_timeout" not in entry.message, entry


def test_the_header_says_when_the_machine_was_fetched_not_an_age_that_stops(panel_for):
    """The header said "fetched … (just now)", and still did an hour later: an age is true only
    when it is drawn, and a panel is redrawn only when something happens. The header and the
    snapshot chooser say the time (UTC, to the second for the fetch), which stays true."""
    from datetime import timezone

    panel = panel_for(name="as-of", snapshots=["s1"])
    at = panel.machine.fetched_at.astimezone(timezone.utc)
    assert f"fetched {at:%Y-%m-%d %H:%M:%S} UTC" in header(panel), header(panel)
    labels = [label for label, _name in panel.snapshot.options]
    assert labels and all("UTC" in label for label in labels), labels
    for said in [header(panel), *labels]:
        assert "just now" not in said and " ago" not in said, said


def test_refresh_on_a_cloud_that_stopped_answering_ends_within_the_panels_timeout(emu, panel_for):
    """Refresh read the machine (and its snapshots) with the socket's limits: on a frozen cloud
    "Refreshing…" stayed for minutes whatever the panel's timeout=; now that bounds it."""
    panel = panel_for(name="frozen-refresh", options={"timeout": 2}, snapshots=["s1"])
    last, took = click_while_not_answered(emu, panel, "refresh", "/demo/machines")
    assert took < 20, took
    assert last.word == "failed" and "the panel's timeout" in last.message, last


def test_a_request_not_answered_ends_within_the_panels_timeout_and_says_it_may_be_applied(
        emu, panel_for):
    """A rename the cloud took and never answered waited out the socket's 60 s under
    "Renaming…"; the panel's timeout now bounds it, and the log says the cloud may have
    applied it (the request went out)."""
    panel = panel_for(name="frozen-rename", options={"timeout": 2})
    panel.new_name.value = "frozen-rename-2"
    last, took = click_while_not_answered(emu, panel, "rename", "/demo/machines/", method="POST")
    assert took < 20, took
    assert last.word == "failed" and "may have applied it" in last.message, last


def test_the_log_says_its_times_in_utc_as_the_headers_do(panel_for, monkeypatch):
    """The header says when the machine was fetched in UTC, while the log's times were the
    kernel's local time with no zone: in a kernel not running in UTC the two disagreed by
    hours on one panel. The log says UTC too, and its column says so."""
    import time
    from datetime import datetime, timezone

    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        panel = panel_for(name="log-utc")
        before = datetime.now(timezone.utc)
        panel.refresh()
        panel.wait()
        entry = panel.log.entries[-1]
        assert entry.at.utcoffset().total_seconds() == 0, entry.at
        assert before.replace(microsecond=0) <= entry.at.replace(microsecond=0)
        assert str(entry).startswith(f"{entry.at:%H:%M:%S} UTC "), str(entry)
        card = panel.log.card()
        shown = str(card.blocks[0].rows[0][0])
        assert shown == f"{entry.at:%H:%M:%S}" and "UTC" in str(card.blocks[0].columns[0])
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
