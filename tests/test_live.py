"""fleet.live(): the frame, the change log, the reprs and the widget, kept current by the feed."""

from __future__ import annotations

import time

import pytest
from polling import eventually

import smartdc_nb
from smartdc_nb.errors import InvalidInputError


@pytest.fixture
def fleet(connect):
    return smartdc_nb.Fleet([connect(changefeed=True), connect("us-west-1", changefeed=True)])


def listening(emu, live) -> bool:
    """Both feeds live and their registrations taken by the emulator (CloudAPI never
    acknowledges one: a change made before the server reads it is not sent)."""
    sockets = emu.changefeed.status()["sockets"]
    return live.healthy and len(sockets) == 2 and all(s["registered"] for s in sockets)


def listings(emu) -> int:
    return sum(r["path"].endswith("/machines") for r in emu.requests)


def test_live_fleet_follows_changes_without_polling(emu, fleet):
    east = emu.datacenter("us-east-1").put_machine(name="live-e1")
    with fleet.live(poll_interval=0.2, backoff=(0.05, 0.5)) as live:
        eventually(lambda: listening(emu, live), 10, "both feeds")
        frame = live.frame
        owned = {m.id for dc in emu.state.datacenters.values() for m in dc.machines.values()
                 if m.state not in ("deleted", "failed")}     # what ListMachines lists
        assert set(frame["id"]) == owned and set(frame["datacenter"]) == {"us-east-1", "us-west-1"}
        assert listings(emu) == 2                             # one per datacenter
        fleet["us-east-1"].machine(east).stop()
        eventually(lambda: live.frame.set_index("id").loc[east, "state"] == "stopped", 10,
                   "the frame to show the stop")
        log = live.changes
        assert list(log.columns) == ["time", "datacenter", "id", "name", "kinds", "state", "source"]
        mine = log[log["id"] == east]
        assert list(mine["state"]) == ["stopping", "stopped"] and set(mine["source"]) == {"feed"}
        assert str(log["time"].dtype).startswith("datetime64") and log["time"].dt.tz is not None
        time.sleep(0.8)                                       # several poll intervals
        assert listings(emu) == 2                             # healthy feed: no polling at all
        assert set(live.frame["id"]) == set(fleet.frames.machines()["id"])  # the same rows
        assert live.counts()["us-east-1"]["stopped"] >= 1
        assert "stopped" in repr(live) and "us-east-1: live" in repr(live)
    assert live.closed and live.status == {"us-east-1": "closed", "us-west-1": "closed"}
    eventually(lambda: not emu.changefeed.status()["sockets"], 5, "the sockets to close")


def test_live_html_and_widget_update_in_place(emu, fleet):
    hostile = emu.datacenter("us-west-1").put_machine(name="x<script>alert(1)</script>")
    with fleet.live(poll_interval=0.2, backoff=(0.05, 0.5)) as live:
        eventually(lambda: listening(emu, live), 10, "both feeds")
        widget = live.widget()
        before = widget.card.value
        emu.datacenter("us-west-1").set_state(hostile, "failed")
        eventually(lambda: "failed" in widget.card.value and widget.card.value != before, 10,
                   "the widget to update")
        html = live._repr_html_()
        assert "<script>alert" not in html and "&lt;script&gt;" in html
        assert "Live fleet" in html and "Recent changes" in html
        bundle = live._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle and "text/html" in bundle
        requests_before = len(emu.requests)
        live._repr_html_(), repr(live), live.frame, live.changes  # none of these asks the cloud
        assert len(emu.requests) == requests_before


def test_live_without_feed_polls(emu, fleet):
    emu.changefeed.configure(enabled=False)
    machine = emu.datacenter("us-east-1").put_machine(name="polled")
    with fleet.live(poll_interval=0.2, backoff=(0.05, 30)) as live:
        eventually(lambda: set(live.status.values()) == {"absent"}, 10, "the refusals")
        eventually(lambda: machine in set(live.frame["id"]), 5, "the first listings")
        assert not live.healthy
        emu.datacenter("us-east-1").set_state(machine, "stopped")
        eventually(lambda: live.frame.set_index("id").loc[machine, "state"] == "stopped", 5,
                   "a poll to see the change")
        assert "no feed (polling)" in live._repr_html_()


def test_live_frame_carries_the_machines_attrs_and_says_when_it_is_partial(emu, fleet):
    west_listing = emu.faults.add(path=r"/demo/machines(\?|$)", datacenter="us-west-1",
                                  status=500)
    with fleet.live(poll_interval=0.2, backoff=(0.05, 0.5)) as live:
        eventually(lambda: live.status == {"us-east-1": "live", "us-west-1": "down"}, 10,
                   "us-east-1 live, us-west-1 down")
        frame = live.frame
        assert (frame.attrs["kind"], frame.attrs["datacenters"]) == ("machines", ["us-east-1"])
        assert set(frame["datacenter"]) == {"us-east-1"}
        assert list(frame.attrs["errors"]) == ["us-west-1"]       # partial, and says so
        assert "not listed yet" in frame.attrs["errors"]["us-west-1"]
        assert "500" in frame.attrs["errors"]["us-west-1"]
        assert frame.attrs["fetched_at"].endswith("+00:00")
        running = frame[frame["state"] == "running"]
        machines = running.triton.machines()
        assert [m.id for m in machines] == list(running["id"]) and len(machines) > 0
        # from the live payloads (a machine fetched again would carry no fetched_at of the frame)
        assert {m.fetched_at for m in machines} == {frame.attrs["triton"].fetched_at}

        emu.faults.remove(west_listing)                          # us-west-1 comes back
        eventually(live.stream.live, 10, "both feeds")
        assert live.frame.attrs["errors"] == {}
        assert live.frame.attrs["datacenters"] == ["us-east-1", "us-west-1"]

        # us-east-1 can be neither followed nor listed: its rows stay, named as stale
        emu.faults.add(path=r"/demo/machines(\?|$)", datacenter="us-east-1", status=500)
        emu.faults.add(path=r"/changefeed", datacenter="us-east-1", status=503)
        emu.changefeed.drop()
        # us-west-1's feed dropped too: it is named until its reconnect lists it again
        eventually(lambda: list(live.frame.attrs["errors"]) == ["us-east-1"], 10,
                   "the stale rows")
        frame = live.frame
        assert set(frame["datacenter"]) == {"us-east-1", "us-west-1"}
        assert frame.attrs["errors"]["us-east-1"].startswith("stale")


def test_a_machine_gone_from_the_cloud_while_the_feed_was_down_leaves_the_frame(emu, fleet):
    """The cloud restarted without a machine (its state lost, or the machine purged after its
    tombstone time): no message says so, and the reconnect's listing no longer has it. The
    frame must not keep it, as it was, for the rest of the kernel's life."""
    gone = emu.datacenter("us-east-1").put_machine(name="purged-later")
    with fleet.live(poll_interval=None, backoff=(0.05, 0.5)) as live:
        eventually(lambda: listening(emu, live), 10, "both feeds")
        assert gone in set(live.frame["id"])
        emu.reset()                       # ends every socket; the seeded fleet, without it
        eventually(lambda: live.healthy and live.stream.listings >= 4, 10, "the reconnects' listings")
        owned = {m.id for dc in emu.state.datacenters.values() for m in dc.machines.values()
                 if m.state not in ("deleted", "failed")}
        assert set(live.frame["id"]) == owned and gone not in owned
        last = live.changes[live.changes["id"] == gone]
        assert list(last["state"])[-1] == "deleted" and list(last["source"])[-1] == "reconcile"


def test_after_a_reconnect_a_server_clock_that_went_back_does_not_silence_changes(emu, fleet):
    """``published`` is the server's clock. A cloud that comes back with its clock behind
    (a clock stepped back, another instance) publishes older stamps than the last socket's:
    they are not "late" messages of the old socket, and must not be dropped as such."""
    east = emu.datacenter("us-east-1").put_machine(name="skewed", state="running")
    with fleet.live(poll_interval=None, backoff=(0.05, 0.5)) as live:
        eventually(lambda: listening(emu, live), 10, "both feeds")
        emu.clock.advance(3600)           # the server's clock an hour ahead...
        fleet["us-east-1"].machine(east).stop()
        eventually(lambda: live.frame.set_index("id").loc[east, "state"] == "stopped", 10,
                   "the stop, stamped an hour ahead")
        emu.clock.reset()                 # ...then set right, with the cloud restarted
        emu.reset()
        east = emu.datacenter("us-east-1").put_machine(id=east, name="skewed", state="running")
        eventually(lambda: listening(emu, live) and live.stream.listings >= 4, 10, "the reconnects")
        fleet["us-east-1"].machine(east).stop()
        eventually(lambda: live.frame.set_index("id").loc[east, "state"] == "stopped", 10,
                   "the stop after the reconnect")
        assert live.stream.stale == 0


def test_a_dropped_feed_whose_listing_hangs_is_named_stale(emu, fleet):
    """A frozen cloud: the feed drops and the poll that should replace it never answers.
    The frame must not present the rows as current while nothing has confirmed them."""
    with fleet.live(poll_interval=0.2, backoff=(0.05, 0.5)) as live:
        eventually(lambda: listening(emu, live), 10, "both feeds")
        assert live.frame.attrs["errors"] == {}
        emu.faults.add(path=r"/demo/machines(\?|$)", datacenter="us-east-1", hold=True)
        emu.faults.add(path=r"/changefeed", datacenter="us-east-1", status=503)
        emu.changefeed.drop()
        eventually(lambda: live.status["us-east-1"] != "live", 10, "the drop")
        eventually(lambda: "us-east-1" in live.frame.attrs["errors"], 3, "the stale rows")
        why = live.frame.attrs["errors"]["us-east-1"]
        assert why.startswith("stale") and "no listing has answered" in why
        emu.faults.clear()
        emu.faults.release_all()                                  # the cloud answers again
        eventually(lambda: live.frame.attrs["errors"] == {}, 10, "the rows current again")


def test_the_card_and_widget_say_which_datacenter_is_out_of_date_and_why(emu, fleet):
    """Both feeds down and the listings refused: the card must not call the fleet "live"
    with counts of unknown age; it names the datacenters out of date and the reason."""
    from test_widgets_support import words

    with fleet.live(poll_interval=0.2, backoff=(0.05, 0.5)) as live:
        eventually(lambda: listening(emu, live), 10, "both feeds")
        widget = live.widget()
        assert "out of date" not in words(widget.card.value)
        emu.faults.add(path=r"/demo/machines(\?|$)", status=500)
        emu.faults.add(path=r"/changefeed", status=503)
        emu.changefeed.drop()
        eventually(lambda: "listing failed" in words(widget.card.value), 10, "the widget to say")
        text = words(live._repr_html_())
        assert "2 datacenters, 2 out of date" in text and "2 datacenters, live" not in text
        assert "us-east-1" in text and "500" in text
        emu.faults.clear()
        eventually(lambda: "out of date" not in words(widget.card.value), 10, "the card current")
        assert "2 datacenters, live" in words(live._repr_html_())


def test_a_hung_cloud_is_not_called_live(emu, fleet):
    """A CloudAPI that hangs keeps its feed sockets open and answers nothing. The fleet stayed
    "live" until websockets' keepalive (a ping every 20 s, 20 s for its pong) gave up: up to
    40 s of rows called current that nothing confirmed. ``keepalive`` bounds that: a feed
    whose ping gets no pong within ``keepalive`` seconds is down (10 s by default)."""
    with fleet.live(poll_interval=0.2, backoff=(0.05, 0.5), keepalive=0.5) as live:
        eventually(lambda: listening(emu, live), 10, "both feeds")
        emu.faults.add(path=r"/demo/machines(\?|$)", datacenter="us-east-1", hold=True)
        emu.faults.add(path=r"/changefeed", datacenter="us-east-1", hold=True)
        emu.changefeed.configure(frozen=True)
        try:
            started = time.monotonic()
            eventually(lambda: live.status["us-east-1"] != "live", 10, "the hung feed found")
            assert time.monotonic() - started < 3
            eventually(lambda: "us-east-1" in live.frame.attrs["errors"], 3, "the stale rows")
        finally:
            emu.changefeed.configure(frozen=False)
            emu.faults.clear()
            emu.faults.release_all()
        eventually(lambda: live.status["us-east-1"] == "live", 10, "the feed back")


def test_keepalive_takes_positive_seconds(fleet):
    with pytest.raises(InvalidInputError, match="keepalive must be positive seconds"):
        fleet.changes(keepalive=0)
