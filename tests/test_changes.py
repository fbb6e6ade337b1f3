"""dc.changes() / fleet.changes(): the changefeed client against the emulator's real feed."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from polling import eventually

import smartdc_nb

FAST = {"backoff": (0.05, 0.3)}


@pytest.fixture
def dc(connect):
    """us-east-1 with the changefeed on (the suite's connections have it off)."""
    return connect(changefeed=True)


@pytest.fixture
def dc_west(connect):
    return connect("us-west-1", changefeed=True)


@pytest.fixture
def machine_id(emu):
    return emu.datacenter("us-east-1").put_machine(name="fixture-vm")


def listening(emu, stream) -> bool:
    """The stream is live and the emulator took every socket's registration. CloudAPI does not
    acknowledge a registration, so a client's "live" can come first, and a change made before
    the server reads the registration is never sent (feed waits poll a quiet machine for that)."""
    sockets = emu.changefeed.status()["sockets"]
    return stream.live() and bool(sockets) and all(s["registered"] for s in sockets)


def next_change(stream, match=lambda c: True, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        change = stream.get(left)
        if change is not None and match(change):
            return change
    raise AssertionError(f"no matching change within {timeout}s; status {stream.status}")


def test_changes_of_one_datacenter(emu, dc, machine_id):
    with dc.changes(**FAST) as stream:
        eventually(lambda: listening(emu, stream), 10, "the feed")
        dc.machine(machine_id).stop()
        stopping = next_change(stream)
        assert (stopping.datacenter, stopping.machine_id, stopping.kinds) == \
            ("us-east-1", machine_id, ("state",))
        assert stopping.state == "stopping" and stopping.source == "feed"
        assert stopping.published.tzinfo is not None and stopping.name == "fixture-vm"
        assert next_change(stream).state == "stopped"
        assert stream.known("us-east-1", machine_id)["state"] == "stopped"
        assert stream.listings == 1
    assert stream.status == {"us-east-1": "closed"}
    eventually(lambda: not emu.changefeed.status()["sockets"], 5, "the server to see the close")
    upgrades = [r for r in emu.requests if r["path"] == "/demo/changefeed"]
    assert [r["status"] for r in upgrades] == [101]                # signed: 401 otherwise


def test_duplicates_are_dropped_and_delays_survived(emu, dc, machine_id):
    emu.changefeed.configure(duplicate=2, delay=0.3)
    with dc.changes(**FAST) as stream:
        eventually(lambda: listening(emu, stream), 10, "the feed")
        dc.machine(machine_id).stop()
        states = [next_change(stream).state, next_change(stream).state]
        assert states == ["stopping", "stopped"]
        assert stream.get(0.8) is None                       # the 4 extra copies were dropped
        assert stream.duplicates == 4


def test_dropped_socket_reconnects_and_reconciles(emu, dc, machine_id):
    handle = emu.datacenter("us-east-1")
    with dc.changes(**FAST) as stream:
        eventually(stream.live, 10, "the feed")
        emu.changefeed.configure(enabled=False)              # the feed goes and stays away
        emu.changefeed.drop(abrupt=True)
        eventually(lambda: stream.status["us-east-1"] in ("down", "absent"), 5, "the drop")
        handle.set_state(machine_id, "stopped")              # lost: nobody is connected
        assert stream.get(0.5) is None
        emu.changefeed.configure(enabled=True)               # the feed returns
        seen = next_change(stream, timeout=10)
        assert (seen.machine_id, seen.state, seen.source, seen.kinds) == \
            (machine_id, "stopped", "reconcile", ("state",))
        assert stream.live() and stream.listings == 2
        eventually(lambda: listening(emu, stream), 5, "the registration")
        handle.set_state(machine_id, "running")              # and the feed carries on
        assert next_change(stream).source == "feed"


def test_absent_feed_with_polling(emu, dc, machine_id):
    emu.changefeed.configure(enabled=False)
    with dc.changes(backoff=(0.05, 30), poll_interval=0.2) as stream:
        eventually(lambda: stream.status["us-east-1"] == "absent", 5, "the refusal")
        assert "404" in str(stream.errors["us-east-1"])
        eventually(lambda: stream.listings >= 1, 5, "the baseline listing")
        emu.datacenter("us-east-1").set_state(machine_id, "stopped")
        change = next_change(stream, timeout=5)
        assert (change.state, change.source) == ("stopped", "reconcile")
        assert not stream.live()


def test_fleet_changes_every_datacenter(emu, dc, dc_west):
    fleet = smartdc_nb.Fleet([dc, dc_west])
    east = emu.datacenter("us-east-1").put_machine(name="e1")
    west = emu.datacenter("us-west-1").put_machine(name="w1")
    with fleet.changes(**FAST) as stream:
        eventually(lambda: listening(emu, stream), 10, "both feeds")
        assert len(emu.changefeed.status()["sockets"]) == 2
        emu.datacenter("us-west-1").set_state(west, "stopped")
        emu.datacenter("us-east-1").set_state(east, "stopped")
        got = {}
        for _ in range(2):
            change = next_change(stream)
            got[change.datacenter] = change.machine_id
        assert got == {"us-east-1": east, "us-west-1": west}


def test_changefeed_opt_out_only_polls(emu, connect, machine_id):
    dc = connect(changefeed=False)
    assert dc.changefeed is False and dc.clone().changefeed is False
    with dc.changes(poll_interval=0.2) as stream:
        eventually(lambda: stream.listings >= 1, 5, "the first listing")
        assert stream.status == {"us-east-1": "off"}
        emu.datacenter("us-east-1").set_state(machine_id, "stopped")
        assert (next_change(stream).state, stream.live()) == ("stopped", False)
    assert not [r for r in emu.requests if r["path"].endswith("/changefeed")]  # never a socket


def test_a_clean_close_by_the_server_is_not_live(emu, dc):
    with dc.changes(backoff=(3.0, 3.0)) as stream:
        eventually(stream.live, 10, "the feed")
        assert emu.changefeed.drop() == 1                # a close frame, then the end
        eventually(lambda: not stream.live(), 1.5, "the stream to notice")
        assert "1001" in str(stream.errors["us-east-1"])


def listings(emu, agent: str | None = None) -> int:
    """Listings in the emulator's log; with ``agent``, only those that client sent (the
    emulator lives for the whole session: another test's thread may still be listing)."""
    return sum(r["path"] == "/demo/machines"
               and (agent is None or r["headers"].get("user-agent") == agent)
               for r in emu.requests)


def refused_upgrades(emu) -> int:
    return sum(r["path"] == "/demo/changefeed" and r["status"] == 503 for r in emu.requests)


def test_a_down_feed_is_retried_on_backoff_but_listed_once_per_poll_interval(emu, dc):
    agent = dc.transport.session.headers["User-Agent"] = f"smartdc-nb-test/{uuid.uuid4()}"
    with dc.changes(backoff=(0.02, 0.05), poll_interval=30.0) as stream:
        eventually(stream.live, 10, "the feed")
        assert listings(emu, agent) >= 1                      # the connect's (the filter sees it)
        emu.clear_requests()
        emu.faults.add(path=r"/changefeed", status=503)      # the feed cannot come back
        emu.changefeed.drop()
        eventually(lambda: refused_upgrades(emu) >= 8, 10, "eight reconnect attempts")
        # the listing made at the connect is not 30 s old: no reconnect attempt lists again
        assert listings(emu, agent) == 0 and stream.status["us-east-1"] == "down"


def test_a_down_feed_is_still_polled_every_poll_interval(emu, dc, machine_id):
    interval = 0.3
    with dc.changes(backoff=(0.02, 0.05), poll_interval=interval) as stream:
        eventually(stream.live, 10, "the feed")
        emu.faults.add(path=r"/changefeed", status=503)
        emu.changefeed.drop()
        eventually(lambda: stream.status["us-east-1"] == "down", 5, "the drop")
        emu.datacenter("us-east-1").set_state(machine_id, "stopped")
        change = next_change(stream, timeout=5)               # a poll saw it
        assert (change.state, change.source) == ("stopped", "reconcile")
        emu.clear_requests()
        start = time.monotonic()
        eventually(lambda: refused_upgrades(emu) >= 15, 10, "fifteen reconnect attempts")
        polls, spent = listings(emu), time.monotonic() - start
        # a bound on the count, not on time: a slow machine only lowers it
        assert polls <= spent / interval + 1, (polls, spent)


def test_machine_ids_register_what_real_cloudapi_matches(emu, dc, machine_id):
    """CloudAPI ignores a registration with a non-UUID in vms and matches the rest
    case-sensitively against lower-case ids (sdc-cloudapi lib/changefeed.js), so the client
    lower-cases ids, takes one id as a string, and refuses anything that is no UUID."""
    with pytest.raises(smartdc_nb.errors.InvalidInputError, match="fixture-vm"):
        dc.changes(machine_ids=["fixture-vm"])
    with dc.changes(machine_ids=machine_id.upper(), **FAST) as stream:
        eventually(lambda: listening(emu, stream), 10, "the feed")
        assert emu.changefeed.status()["sockets"][0]["vms"] == [machine_id]
        emu.datacenter("us-east-1").set_state(machine_id, "stopped")
        assert next_change(stream, lambda c: c.source == "feed").machine_id == machine_id


def test_a_stream_closed_while_its_feed_opens_stays_closed(emu, dc):
    """close() while the upgrade hangs; the cloud then answers it: the closed stream must not
    register, list the datacenter, or keep a socket and a thread (the flake that listed
    /machines in a later test of the same session came from here)."""
    agent = dc.transport.session.headers["User-Agent"] = f"smartdc-nb-test/{uuid.uuid4()}"
    fault = emu.faults.add(path=r"/changefeed", hold=True)
    stream = dc.changes(open_timeout=10.0)
    eventually(lambda: emu.faults.list()[0]["hits"] >= 1, 5, "the upgrade to be held")
    closer = threading.Thread(target=stream.close)         # close() joins the feed thread
    closer.start()
    eventually(lambda: stream.closed, 5, "close() to begin")
    emu.faults.release(fault)
    closer.join(10)
    thread = stream._feeds["us-east-1"].thread
    thread.join(5)
    assert not thread.is_alive(), "the closed stream's feed thread is still running"
    assert listings(emu, agent) == 0
    # the server's end closes too (its close frame may still be on the way: eventually)
    eventually(lambda: not emu.changefeed.status()["sockets"], 10, "the server's socket to close")


@pytest.mark.parametrize("empty", [[], (), set(), iter([])])
def test_an_empty_machine_ids_is_refused_not_every_machine(emu, dc, empty):
    """``machine_ids=[m.id for m in selection]`` of an empty selection heard every machine of
    the datacenter: code that filters and finds nothing must not get the whole fleet."""
    with pytest.raises(smartdc_nb.InvalidInputError, match="machine_ids=None"):
        dc.changes(machine_ids=empty)
    assert not [r for r in emu.requests if r["path"].endswith("/changefeed")]


def test_a_stream_nobody_reads_keeps_the_newest_changes_and_counts_the_lost(emu, dc, machine_id):
    """A full queue dropped the newest changes, so a reader that came back got the oldest and
    never the latest; now it drops the oldest and says how many (``stream.lost``)."""
    machine = dc.machine(machine_id)
    with dc.changes(queue_size=3, **FAST) as stream:
        eventually(lambda: listening(emu, stream), 10, "the feed")
        for i in range(8):
            machine.add_tags(n=str(i))
        eventually(lambda: (stream.known("us-east-1", machine_id) or {}).get("tags", {})
                   .get("n") == "7", 10, "the last tag change")
        waiting = stream.drain()
        assert len(waiting) == 3
        assert waiting[-1].machine["tags"]["n"] == "7"
        assert stream.lost >= 5 and "lost" in repr(stream)
