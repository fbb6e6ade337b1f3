"""Waits on the changefeed: no polling while it is live, polling while it is not."""

from __future__ import annotations

import threading
import time

import pytest
from polling import eventually
from test_machine_support import FAST, logged, put
from test_widgets_support import FAST as PANEL_FAST
from test_widgets_support import badges
from test_widgets_support import opened  # noqa: F401 (a fixture, used by name)

from smartdc_nb.errors import WaitFailed, WaitTimeout, WaitUnanswered
from smartdc_nb.machine import Machine
from smartdc_nb.machinelist import MachineList


@pytest.fixture
def fdc(connect):
    """us-east-1 with the changefeed on (the suite's default is off)."""
    return connect(changefeed=True)


def polls(emu, datacenter: str = "us-east-1") -> list[str]:
    """The GETs of machines (listings and single machines), in order."""
    return [r["path"] + ("?list" if r["path"].endswith("/machines") else "")
            for r in logged(emu, "GET", datacenter=datacenter) if "/machines" in r["path"]]


def test_one_machine_waits_on_the_feed(emu, fdc):
    emu.set_durations(stop=0.6)
    m = Machine(fdc, put(emu, name="feed-1"))
    emu.clear_requests()
    assert m.stop().wait_for("stopped", timeout=30) is m
    assert m.state == "stopped" and m.raw["state"] == "stopped"
    upgrades = [r["status"] for r in logged(emu, "GET", "/changefeed")]
    assert upgrades == [101]
    assert polls(emu) == [m.path]  # the reconcile GET; the feed brought stopping and stopped


def test_many_machines_cost_one_listing_per_datacenter(emu, connect):
    emu.set_durations(stop=0.8)
    east, west = connect(changefeed=True), connect("us-west-1", changefeed=True)
    machines = MachineList([Machine(east, put(emu, name=f"e{i}")) for i in range(12)]
                           + [Machine(west, put(emu, "us-west-1", name=f"w{i}")) for i in range(12)])
    for machine in machines:
        machine.stop()
    emu.clear_requests()
    result = machines.wait_for("stopped", timeout=30, interval=0.05, max_interval=0.2)
    assert result.ok and len(result) == 24
    for name in ("us-east-1", "us-west-1"):
        assert polls(emu, name) == ["/demo/machines?list"]
        assert [r["status"] for r in logged(emu, "GET", "/changefeed", name)] == [101]
    assert not [r for r in emu.requests if r["path"].endswith("/audit")]


def test_absent_feed_falls_back_to_polling(emu, fdc):
    emu.changefeed.configure(enabled=False)
    m = Machine(fdc, put(emu, name="nofeed"))
    emu.clear_requests()
    m.stop().wait_for("stopped", timeout=30, **FAST)
    assert [r["status"] for r in logged(emu, "GET", "/changefeed")] == [404]
    assert polls(emu) and set(polls(emu)) == {m.path}
    m.start().wait_for("running", timeout=30, **FAST)      # the refusal is remembered
    assert [r["status"] for r in logged(emu, "GET", "/changefeed")] == [404]


def test_feed_dropped_mid_wait_then_back(emu, fdc, monkeypatch):
    monkeypatch.setattr("smartdc_nb.feedwait.BACKOFF", (0.05, 0.3))  # retry the feed soon
    emu.set_durations(stop=3.0)
    m = Machine(fdc, put(emu, name="flaky"))
    emu.clear_requests()
    marks: dict[str, float] = {}

    def break_and_heal():
        time.sleep(0.6)
        emu.changefeed.configure(enabled=False)
        emu.changefeed.drop(abrupt=True)
        marks["down"] = time.time()
        time.sleep(1.2)
        marks["up"] = time.time()
        emu.changefeed.configure(enabled=True)

    chaos = threading.Thread(target=break_and_heal)
    chaos.start()
    try:
        m.stop().wait_for("stopped", timeout=30, interval=0.1, max_interval=0.2)
    finally:
        chaos.join()
    assert m.state == "stopped"
    upgrades = [(r["status"], r["time"]) for r in logged(emu, "GET", "/changefeed")]
    assert upgrades[0][0] == 101 and upgrades[-1][0] == 101 and 404 in {s for s, _ in upgrades}
    gets = [r["time"] for r in logged(emu, "GET", "/machines/" + m.id) if r["path"] == m.path]
    polled_while_down = [t for t in gets if marks["down"] < t < marks["up"]]
    assert len(polled_while_down) >= 2                  # polling took over while the feed was away
    back = next(t for s, t in upgrades if s == 101 and t > marks["up"])
    after = [t for t in gets if t > back + 0.05]
    assert len(after) <= 1                              # the reconcile GET; then the feed again


def test_a_refused_action_is_still_found_on_the_feed(emu, fdc):
    m = Machine(fdc, put(emu, name="refuse", state="stopped"))
    m.raw["state"] = "running"  # a stale payload: the client thinks a reboot makes sense
    started = time.monotonic()
    with pytest.raises(WaitFailed, match="refused 'reboot'"):
        m.reboot().wait_for("running", timeout=30, **FAST)
    assert time.monotonic() - started < 10                # found in the audit, not at the deadline
    assert [r["status"] for r in logged(emu, "GET", "/changefeed")] == [101]


def test_bulk_wait_uses_the_feed(emu, fdc):
    emu.set_durations(stop=0.5)
    machines = MachineList(Machine(fdc, put(emu, name=f"b{i}")) for i in range(6))
    emu.clear_requests()
    result = machines.stop(confirm=True, wait=True, interval=0.05, max_interval=0.2)
    assert result.ok, result.summary()
    order = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in emu.requests
             if r["method"] == "POST" or r["path"].endswith(("/machines", "/changefeed"))]
    last_action = max(i for i, (method, _) in enumerate(order) if method == "POST")
    assert order[:1] == [("GET", "machines")]            # the bulk run's own refresh
    assert order[last_action + 1:] == [("GET", "changefeed"), ("GET", "machines")]  # reconcile


def test_a_panel_action_waits_on_the_feed(emu, fdc, opened):
    from smartdc_nb.widgets import machine_panel

    emu.set_durations(stop=0.6)
    panel = opened(machine_panel(Machine(fdc, put(emu, name="panel-feed")), **PANEL_FAST))
    panel.buttons["stop"].click()
    panel.confirm.yes.click()
    panel.wait()
    assert badges(panel.header.value)[0] == "stopped"
    assert [r["status"] for r in logged(emu, "GET", "/changefeed")] == [101]
    order = [r["method"] for r in emu.requests if r["method"] == "POST" or (
        "/machines" in r["path"] and not r["path"].endswith(("/audit", "/snapshots",
                                                             "/changefeed")))]
    # the plan's re-read before the stop (Yes applies the question's plan), the stop, then
    # only the reconcile GET of the machine: no polling
    assert order == ["GET", "POST", "GET"]


def test_a_change_before_the_server_took_the_registration_is_found_by_a_poll(emu, fdc):
    """CloudAPI never acknowledges a registration: a change between the reconcile and the
    server taking it is never sent, so a quiet machine is polled soon, not after a minute."""
    emu.changefeed.configure(register_delay=1.0)
    emu.set_durations(stop=0.3)  # stopped while the server has not taken the registration yet
    m = Machine(fdc, put(emu, name="gap"))
    emu.clear_requests()
    assert m.stop().wait_for("stopped", timeout=20, **FAST) is m
    assert [r["status"] for r in logged(emu, "GET", "/changefeed")] == [101]
    assert polls(emu) == [m.path, m.path]  # the reconcile GET, then the quiet machine's poll


def test_a_slow_clouds_last_poll_cut_by_the_deadline_is_not_called_no_answer_on_the_feed(emu, fdc):
    """The feed is live and its reconcile GET was answered, in 0.6 s; the wait's last poll,
    sent at its deadline, was cut after its 0.5 s of grace. The cloud did not stop answering:
    the wait ran out. The feed's answers were not timed, so the wait said "the cloud stopped
    answering" (WaitUnanswered), as a polled wait no longer does."""
    emu.set_durations(stop=30)
    m = Machine(fdc, put(emu, name="feed-slow"))
    m.stop()
    fault = emu.faults.add(path=m.id + "$", method="GET", latency=0.6)
    with pytest.raises(WaitTimeout) as info:
        m.wait_for("stopped", timeout=1.0, interval=0.5, progress=False)
    # the feed closes in the background and the emulator still answers the cut poll: let
    # both end in this test, not in the next one's request log
    eventually(lambda: not any(t.name.startswith("smartdc_nb-changes")
                               for t in threading.enumerate()), 5, "the feed's thread to end")
    eventually(lambda: len(logged(emu, "GET", m.id)) >= next(
        f["hits"] for f in emu.faults.list() if f["id"] == fault), 5, "the cut poll's answer")
    error = info.value
    assert not isinstance(error, WaitUnanswered), str(error)
    assert "stopped answering" not in str(error)
    assert "did not reach stopped within 1s; it is stopping" in str(error)
    assert "Its last poll was cut off by the wait's end before an answer; the cloud had been " \
           "answering, in up to 0.6s." in str(error)
