"""The machine panel, driven by clicks against the emulator: enabling, confirmation, single
flight, errors and deletion protection. The other actions, refreshing, threads, escaping and
a silent cloud are in test_widgets_machine_redraw."""

from __future__ import annotations

import re

import pytest
from test_widgets_support import FAST, badges, enabled, posts, words
from test_widgets_support import opened  # noqa: F401 (a fixture, used by name)
from widget_panels import panel_for  # noqa: F401 (a fixture, used by name)

from smartdc_nb.machine import Machine

ALWAYS = {"refresh"}


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
    # "Checking" while the plan re-reads the machine, then "Stopping" (test_widgets_notices)
    busy = ("Checking stop-me…", "Stopping…")
    assert panel.busy and panel.buttons["stop"].description in busy
    assert panel.progress.widget.layout.display == "flex"
    assert all(b.disabled for b in panel.buttons.values())  # one action at a time
    assert set(busy) & set(badges(panel.header.value))
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
