"""The machine panel, driven by clicks against the emulator: enabling, confirmation, single
flight, errors, deletion protection, snapshots, auto-refresh, threads and escaping."""

from __future__ import annotations

import logging
import re
import threading

import pytest
from test_machine_support import fetched, logged, until_held
from polling import eventually
from test_widgets_support import (FAST, HOSTILE, badges, click_while_not_answered, enabled,
                                  html_values, posts, words,
                                  yes_while_the_machine_is_not_answered)
from test_widgets_support import opened  # noqa: F401 (a fixture, used by name)

from smartdc_nb.errors import InvalidInputError
from smartdc_nb.machine import Machine
from smartdc_nb.widgets import machine_panel

ALWAYS = {"refresh"}


@pytest.fixture
def panel_for(dc, emu, opened):
    """``panel_for(options=None, **machine fields)``: a loaded panel on a new machine."""
    return lambda options=None, **fields: opened(
        machine_panel(fetched(dc, emu, **fields), **{**FAST, **(options or {})}))


def header(panel) -> str:
    return words(panel.header.value)


# ---------------------------------------------------------------- enabling


@pytest.mark.parametrize("fields, expected", [
    ({"state": "running"}, {"stop", "reboot", "firewall", "delete", "create_snapshot",
                            "boot_snapshot", "delete_snapshot"}),
    ({"state": "stopped"}, {"start", "firewall", "delete", "create_snapshot", "boot_snapshot",
                            "delete_snapshot"}),
    ({"state": "stopping"}, {"delete"}),
    ({"state": "provisioning"}, {"delete"}),
    ({"state": "offline"}, {"delete"}),
    ({"state": "failed"}, {"delete"}),
    ({"state": "deleted"}, set()),
    ({"state": "running", "brand": "kvm"}, {"stop", "reboot", "firewall", "delete"}),
])
def test_each_button_is_enabled_only_when_its_action_applies(panel_for, fields, expected):
    panel = panel_for(name="state-check", snapshots=["s1"], **fields)
    assert enabled(panel) == expected | ALWAYS
    for name, button in panel.buttons.items():  # a disabled button says why
        assert bool(button.tooltip) == button.disabled, name
    if fields["state"] == "running" and "brand" not in fields:
        assert panel.buttons["start"].tooltip == "already running"  # the rules' words
        assert panel.buttons["resize"].tooltip.startswith("already on package")
        assert panel.buttons["rename"].tooltip == "already named state-check"


def test_choosers_enable_resize_rename_and_snapshot_buttons(panel_for):
    panel = panel_for(name="chooser", package="g4-highcpu-1G")
    assert panel.package.value == "g4-highcpu-1G" and "resize" not in enabled(panel)
    panel.package.value = "g4-highcpu-2G"
    assert "resize" in enabled(panel)
    panel.new_name.value = "chooser-2"
    assert "rename" in enabled(panel)
    panel.new_name.value = "  "
    assert panel.buttons["rename"].tooltip == "type a new name"
    assert re.fullmatch(r"snap-\d{8}-\d{6}", panel.snapshot_name.value)  # a sensible default
    panel.snapshot_name.value = ""
    assert panel.buttons["create_snapshot"].tooltip == "type a snapshot name"
    assert panel.buttons["boot_snapshot"].tooltip.startswith("this machine has no snapshots")


# ---------------------------------------------------------------- confirmation and single flight


def test_stop_asks_in_the_panel_cancel_sends_nothing_yes_stops_and_redraws(emu, panel_for):
    panel = panel_for(name="stop-me")
    panel.buttons["stop"].click()
    assert panel.confirm.armed and panel.confirm.widget.layout.display == "flex"
    assert "Stop stop-me?" in words(panel.confirm.message.value)
    assert panel.confirm.yes.description == "Yes, stop it"
    panel.confirm.no.click()
    assert not panel.confirm.armed and panel.confirm.widget.layout.display == "none"
    assert posts(emu) == [] and "cancelled, nothing was sent" in panel.log.lines[-1]

    panel.buttons["stop"].click()
    panel.confirm.yes.click()
    assert panel.busy and panel.buttons["stop"].description == "Stopping…"
    assert panel.progress.widget.layout.display == "flex"
    assert all(b.disabled for b in panel.buttons.values())  # one action at a time
    assert "Stopping…" in badges(panel.header.value)
    panel.wait()
    assert [r["query"] for r in posts(emu)] == [{"action": "stop"}]
    assert badges(panel.header.value)[0] == "stopped"
    assert panel.progress.widget.layout.display == "none"
    assert enabled(panel) >= {"start", "delete"} and "stop" not in enabled(panel)
    started, done = panel.log.entries[-2:]
    assert started.word == "started" and "accepted by CloudAPI" in started.message
    assert done.word == "done" and done.message.startswith("Stop stop-me (")
    assert re.search(r": stopped after \d+\.\d s$", done.message)


def test_a_second_click_never_sends_a_second_request(emu, panel_for):
    panel = panel_for(name="twice", state="stopped")
    panel.buttons["start"].click()
    panel.buttons["start"].click()  # a click queued before the browser disabled the button
    panel.buttons["reboot"].click()
    panel.wait()
    assert [r["query"] for r in posts(emu)] == [{"action": "start"}]
    ignored = [e for e in panel.log.entries if e.word == "ignored"]
    assert len(ignored) == 2 and "one action at a time" in ignored[0].message

    panel.buttons["stop"].click()
    panel.confirm.yes.click()
    panel.confirm.yes.click()  # a double click on Yes: the question was answered
    panel.wait()
    assert [r["query"] for r in posts(emu)] == [{"action": "start"}, {"action": "stop"}]


def test_a_click_that_no_longer_applies_is_refused_without_a_request(emu, panel_for):
    panel = panel_for(name="late-click")  # running: Start is disabled in the browser...
    panel.buttons["start"].click()  # ...but a click queued earlier still arrives
    assert posts(emu) == []
    assert panel.log.entries[-1].word == "refused"
    assert "already running; nothing was sent" in \
        panel.log.entries[-1].message
    # the state changes while a question is open: Yes re-checks before sending
    panel.buttons["stop"].click()
    emu.datacenter("us-east-1").set_state(panel.machine.id, "stopped")
    panel.machine.refresh()
    panel.confirm.yes.click()
    assert posts(emu) == [] and "already stopped; nothing was sent" in panel.log.lines[-1]


def test_the_question_shows_the_plan_and_yes_applies_exactly_it(emu, panel_for):
    panel = panel_for(name="planned")
    emu.clear_requests()
    panel.buttons["stop"].click()
    assert emu.requests == []  # the plan is made from the state the panel holds
    plan = panel.plan
    assert plan.action == "stop" and [r.machine for r in plan.rows] == [panel.machine]
    question = words(panel.confirm.message.value)
    assert f"us-east-1 · plan {plan.id}" in question
    assert f"Plan {plan.id}: act (POST {panel.machine.path}?action=stop)" in question
    assert "(it is running now)" in question
    panel.confirm.yes.click()
    panel.wait()
    assert [r["query"] for r in posts(emu)] == [{"action": "stop"}]
    assert panel.machine.state == "stopped" and panel.log.entries[-1].word == "done"


def test_a_machine_changed_between_question_and_yes_is_not_acted_on(emu, panel_for):
    panel = panel_for(name="moved-on")
    panel.buttons["stop"].click()
    plan = panel.plan
    emu.datacenter("us-east-1").set_state(panel.machine.id, "stopped")  # stopped elsewhere
    panel.confirm.yes.click()  # the panel has not seen it: Yes goes ahead, the plan checks
    panel.wait()
    assert posts(emu) == []
    entry = panel.log.entries[-1]
    assert entry.word == "skipped" and entry.message.startswith("Stop moved-on (")
    assert "changed since the plan (was running, now stopped" in entry.message
    assert entry.message.endswith(f"nothing was sent (plan {plan.id})")
    assert badges(panel.header.value)[0] == "stopped"  # the re-read is what the header shows
    assert panel.last_error is None


def test_a_planned_request_the_server_fails_is_logged_as_failed(emu, panel_for):
    panel = panel_for(name="planned-flaky")
    emu.faults.add(path=panel.machine.id, method="POST", status=500, count=1)
    panel.buttons["stop"].click()
    panel.confirm.yes.click()
    panel.wait()
    entry = panel.log.entries[-1]
    assert entry.word == "failed" and entry.message.startswith("Stop planned-flaky (")
    assert "ServerError" in entry.message and "[500" in entry.message
    assert badges(panel.header.value)[0] == "running"


# ---------------------------------------------------------------- errors


def test_a_refused_action_is_logged_in_words_and_the_header_says_it_failed(emu, panel_for):
    panel = panel_for(name="stubborn")
    emu.datacenter("us-east-1").fail_next("stop")
    panel.buttons["stop"].click()
    panel.confirm.yes.click()
    panel.wait()
    failed = panel.log.entries[-1]
    assert failed.word == "failed" and failed.detail is None  # our own error: no traceback
    assert failed.message.startswith("Stop stubborn (")
    assert "WaitFailed" in failed.message and "stop" in failed.message
    assert "Stop stubborn" in " ".join(badges(panel.header.value))  # "... failed" badge
    assert badges(panel.header.value)[0] == "running"
    assert "stop" in enabled(panel)  # the machine is running again: Stop applies
    # the next action that works clears the failure badge
    panel.buttons["reboot"].click()
    panel.wait()
    assert not any("failed" in b for b in badges(panel.header.value))


def test_a_server_error_is_logged_with_its_status_and_request_id(emu, panel_for):
    panel = panel_for(name="flaky")
    emu.faults.add(path=panel.machine.id, method="POST", status=500, count=1)
    panel.buttons["reboot"].click()
    panel.wait()
    message = panel.log.entries[-1].message
    assert message.startswith("Reboot flaky (") and "ServerError" in message
    assert "[500" in message and "request id" in message
    assert panel.last_error[0].startswith("Reboot flaky")


def test_bad_input_is_refused_before_sending(emu, panel_for):
    panel = panel_for(name="named-ok")
    panel.new_name.value = "bad name!"
    panel.buttons["rename"].click()  # a click that arrives anyway is refused in the log
    panel.wait()
    assert posts(emu) == []
    assert panel.log.entries[-1].word == "refused"
    assert "invalid machine name 'bad name!'" in panel.log.lines[-1]
    assert panel.busy is None and panel.progress.widget.layout.display == "none"
    assert (panel.buttons["rename"].description, panel.buttons["rename"].icon) == \
        ("Rename", "pencil")
    assert "stop" in enabled(panel) and "rename" not in enabled(panel)


def test_names_the_click_would_only_refuse_disable_their_buttons(emu, panel_for):
    panel = panel_for(name="named-ok", snapshots=["nightly"])
    panel.new_name.value = "bad name!"
    assert panel.buttons["rename"].disabled
    assert panel.buttons["rename"].tooltip.startswith("invalid machine name 'bad name!'")
    panel.new_name.value = "good-name"
    assert "rename" in enabled(panel)
    panel.snapshot_name.value = "bad/snap"
    assert panel.buttons["create_snapshot"].tooltip.startswith("invalid snapshot name")
    panel.snapshot_name.value = "nightly"  # the panel lists one by that name already
    assert panel.buttons["create_snapshot"].disabled
    assert "already has a snapshot 'nightly' (created)" in panel.buttons["create_snapshot"].tooltip
    panel.buttons["create_snapshot"].click()
    panel.wait()
    assert posts(emu) == [] and panel.log.entries[-1].word == "refused"
    panel.snapshot_name.value = "nightly-2"
    assert "create_snapshot" in enabled(panel)


def test_unexpected_errors_keep_their_traceback_in_the_log(panel_for, monkeypatch):
    panel = panel_for(name="buggy")

    def broken(*_args, **_kwargs):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(panel.machine, "reboot", broken)  # a bug, not a cloud condition
    panel.buttons["reboot"].click()
    panel.wait()
    entry = panel.log.entries[-1]
    assert entry.message.endswith("RuntimeError: something nobody expected")
    assert "Traceback (most recent call last)" in entry.detail
    assert "Traceback of the error at" in words(panel.log.widget.value)


# ---------------------------------------------------------------- delete


def test_delete_refuses_under_deletion_protection_and_says_why(emu, panel_for):
    panel = panel_for(name="precious", deletion_protection=True)
    assert "delete" in enabled(panel)  # clickable, so that it can say why not
    panel.buttons["delete"].click()
    assert not panel.confirm.armed
    entry = panel.log.entries[-1]
    assert entry.word == "refused" and "deletion protection is on" in entry.message
    assert "m.disable_deletion_protection()" in entry.message
    assert posts(emu) == [] and "protected" in words(panel.header.value)


def test_deletion_protection_turned_on_elsewhere_stops_the_planned_delete(emu, dc, panel_for):
    panel = panel_for(name="protected-later")
    other = Machine(dc, panel.machine.id).enable_deletion_protection()
    other.wait_until(lambda m: m.deletion_protection, "protection on", **{
        k: FAST[k] for k in ("interval", "max_interval")}, progress=False)
    emu.clear_requests()
    panel.buttons["delete"].click()  # the panel still believes protection is off
    assert "Plan" in words(panel.confirm.message.value) and ": act (DELETE" in \
        words(panel.confirm.message.value)
    panel.confirm.yes.click()
    panel.wait()
    assert posts(emu) == []  # the plan reads the machine again before sending
    entry = panel.log.entries[-1]
    assert entry.word == "skipped" and "changed since the plan" in entry.message
    assert "deletion protection is on" in entry.message and "nothing was sent" in entry.message
    assert "protected" in words(panel.header.value)  # the re-read is what the header shows


def test_delete_asks_then_deletes_and_leaves_only_refresh(emu, panel_for):
    panel = panel_for(name="goner")
    panel.buttons["delete"].click()
    assert "cannot be undone" in words(panel.confirm.message.value)
    panel.confirm.yes.click()
    panel.wait()
    assert [r["method"] for r in posts(emu)] == ["DELETE"]
    assert badges(panel.header.value)[0] == "deleted"
    assert enabled(panel) == ALWAYS


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
