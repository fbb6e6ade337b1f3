"""A panel says, where it shows its state, what it waits for while the cloud does not answer.

A panel's requests run on its own thread and print nothing (a line on stderr from a thread
lands in whatever cell happens to be running), so a panel whose request the cloud held showed
its busy text and a bar, and nothing about how long the cloud had been silent, for up to its
timeout. Its progress line now says it, in the words of the notice printed for a request made
in a notebook's main thread (smartdc_nb.call_notices), and goes back to the action's own words
when the answer comes. And an action that re-reads the machine before sending (a plan's
re-check) says "Checking …" until it sends, not "Stopping…" from the click.
"""

from __future__ import annotations

import pytest
from polling import eventually
from test_machine_support import fetched, held, until_held
from test_widgets_support import FAST, posts, words
from test_widgets_support import opened  # noqa: F401 (a fixture, used by name)
from widget_panels import list_with
from widget_panels import batch, panel_of  # noqa: F401 (fixtures, used by name)

from smartdc_nb.widgets import machine_panel

PREFIX = "smartdc_nb: "
SILENT = "has had no full answer since"


def note(panel) -> str:
    return words(panel.progress.note.value)


@pytest.fixture
def held_panel(dc, emu, opened):
    """A loaded machine panel (timeout 30 s) on a new running machine with a snapshot; its
    held requests are let go after the test."""
    panel = opened(machine_panel(fetched(dc, emu, name="web-01", snapshots=["s1"]), **FAST))
    yield panel
    emu.faults.release_all()
    emu.faults.clear()


def test_a_held_re_read_says_checking_and_the_silence_then_the_action(emu, held_panel,
                                                                      monkeypatch, capsys):
    """Stop's Yes re-reads the machine first (the plan's re-check); the cloud holds that GET,
    then the POST. While the GET is held the button says "Checking web-01…" (not
    "Stopping…": nothing is sent yet) and, after the notice period, the progress line says
    what it waits for, since when and until when; once answered, the button and the line say
    "Stopping" and the silence is gone. Nothing of it is printed on stderr."""
    panel = held_panel
    machine_id = panel.machine.id
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.5")
    read = emu.faults.add(path=machine_id + "$", method="GET", hold=True)
    send = emu.faults.add(path=machine_id, method="POST", hold=True)
    capsys.readouterr()
    panel.buttons["stop"].click()
    panel.confirm.yes.click()
    until_held(emu, read, what="the plan's re-read of the machine")
    assert panel.busy_text == "Checking web-01", panel.busy_text
    assert panel.buttons["stop"].description == "Checking web-01…"
    assert "Checking web-01" in note(panel)

    eventually(lambda: SILENT in note(panel), 10, "the silence said on the progress line")
    said = note(panel)
    assert f"GET /demo/machines/{machine_id} to CloudAPI at {emu.urls['us-east-1']} " \
           f"{SILENT} " in said, said
    assert "; still waiting, at the latest until " in said, said
    assert " UTC (the panel's timeout)." in said, said  # the bound as its user gave it
    assert "Checking web-01" in said, said  # and still what the panel is doing
    assert posts(emu) == [] and held(emu, send) == 0  # nothing sent yet

    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "60")  # the held POST: no notice now
    emu.faults.release(read)
    until_held(emu, send, what="the stop request, sent after the re-read")
    assert panel.busy_text == "Stopping", panel.busy_text
    assert panel.buttons["stop"].description == "Stopping…"
    assert note(panel) == "Stopping", note(panel)  # the action's own words, the silence gone

    emu.faults.release(send)
    panel.wait(timeout=30)
    assert [r["query"] for r in posts(emu)] == [{"action": "stop"}]
    assert panel.log.entries[-1].word == "done", panel.log.lines
    assert capsys.readouterr().err.count(PREFIX) == 0  # nothing from the panel's threads


def test_a_held_listing_says_its_silence_and_goes_back_when_answered(emu, held_panel,
                                                                     monkeypatch, capsys):
    """Refresh, the cloud holding the machine's GET: the line says the silence, and the
    action's text when the answer came (the snapshots' listing, held too, then under way)."""
    panel = held_panel
    machine_id = panel.machine.id
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.5")
    read = emu.faults.add(path=machine_id + "$", method="GET", hold=True)
    more = emu.faults.add(path=machine_id + "/snapshots", method="GET", hold=True)
    capsys.readouterr()
    panel.buttons["refresh"].click()
    until_held(emu, read)
    eventually(lambda: SILENT in note(panel), 10, "the silence said on the progress line")
    assert note(panel).startswith("Refreshing "), note(panel)
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "60")
    emu.faults.release(read)
    until_held(emu, more, what="the snapshots' listing after the machine's GET")
    eventually(lambda: note(panel) == "Refreshing", 5, "the action's own words again")
    emu.faults.release(more)
    panel.wait(timeout=30)
    assert panel.progress.widget.layout.display == "none"
    assert capsys.readouterr().err.count(PREFIX) == 0



def test_a_fleet_action_says_checking_until_its_plan_sends(emu, fleet, batch, panel_of,
                                                          monkeypatch, capsys):
    """The fleet panel's Yes applies its plan, which re-reads the machines (one listing per
    datacenter) first: "Checking 4 machines" while the cloud holds that listing, with the
    silence on the progress line, then "Starting" once the starts are sent."""
    panel = panel_of(fleet)
    list_with(panel, tag_key="role", tag_value="batch", state="stopped")
    panel.table.select_all()
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.5")
    read = emu.faults.add(path=r"/demo/machines\?", method="GET", hold=True,
                          datacenter="us-west-1")
    send = emu.faults.add(path="/demo/machines/", method="POST", hold=True)
    capsys.readouterr()
    try:
        panel.buttons["start"].click()
        panel.confirm.yes.click()
        until_held(emu, read, what="the plan's re-read of us-west-1's machines")
        assert panel.busy_text == "Checking 4 machines", panel.busy_text
        eventually(lambda: SILENT in note(panel), 10, "the silence said on the progress line")
        assert f"GET /demo/machines to CloudAPI at {emu.urls['us-west-1']} " in note(panel)
        assert held(emu, send) == 0  # nothing sent yet
        monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "60")
        emu.faults.release(read)
        until_held(emu, send, what="a start, sent after the re-read")
        assert panel.busy_text == "Starting", panel.busy_text
        assert panel.buttons["start"].description == "Starting…"
    finally:
        emu.faults.release_all()
        emu.faults.clear()
    panel.wait(timeout=30)
    assert panel.result.counts["done"] == 4
    assert capsys.readouterr().err.count(PREFIX) == 0


@pytest.mark.parametrize("button, method, checking, doing, line", [
    # boot applies a one-machine plan, as the machine panel's Stop
    ("boot", "POST", "Checking the-machine", "Booting", None),
    # Delete applies one plan per name, side by side, each re-reading its machines; it said
    # "Deleting…" and "deleting snapshots 0/1" from the click
    ("delete", "DELETE", "Checking 1 machine", "Deleting", "deleting snapshots 0/1"),
])
def test_a_snapshot_action_says_checking_until_its_plan_sends(dc, emu, opened, button, method,
                                                               checking, doing, line):
    from smartdc_nb.widgets import snapshot_panel

    machine = fetched(dc, emu, name="the-machine", snapshots=["s"])
    panel = opened(snapshot_panel(machine, **FAST))
    panel.table.select_all()
    read = emu.faults.add(path=machine.id + "$", method="GET", hold=True)
    send = emu.faults.add(path=machine.id + "/snapshots/s", method=method, hold=True)
    try:
        panel.buttons[button].click()
        panel.confirm.yes.click()
        until_held(emu, read, what="the plan's re-read of the machine")
        assert panel.busy_text == checking, panel.busy_text
        assert note(panel).startswith(checking), note(panel)
        emu.faults.release(read)
        until_held(emu, send, what="the request, sent after the re-read")
        assert panel.busy_text == doing, panel.busy_text
        assert note(panel).startswith(line or doing), note(panel)
    finally:
        emu.faults.release_all()
        emu.faults.clear()
    panel.wait(timeout=30)
    assert panel.log.entries[-1].word == "done", panel.log.lines


def test_the_bar_shows_only_while_it_measures_something(emu, held_panel):
    """While the plan re-reads the machine there is nothing to measure: the bar sat at 0, an
    empty grey box beside "Checking web-01". It shows once the wait for the state begins."""
    panel = held_panel
    read = emu.faults.add(path=panel.machine.id + "$", method="GET", hold=True)
    emu.clock.set_manual(True)  # the stop stays under way: the wait's bar can be seen
    try:
        panel.buttons["stop"].click()
        panel.confirm.yes.click()
        until_held(emu, read, what="the plan's re-read of the machine")
        assert panel.progress.bar.layout.display == "none"
        emu.faults.release(read)
        eventually(lambda: panel.progress.bar.layout.display != "none", 10,
                   "the bar of the wait for stopped")
        assert panel.progress.bar.max > 1  # seconds towards the wait's deadline
    finally:
        emu.clock.set_manual(False)
    panel.wait(timeout=30)
    assert panel.log.entries[-1].word == "done", panel.log.lines
