"""Waiting for one machine: targets, failure, disappearance, refusals, reboots, faults, Ctrl-C."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from test_machine_support import FAST, ctrl_c_after, fetched, logged, put

from smartdc_nb.errors import (InvalidInputError, WaitFailed, WaitInterrupted, WaitTimeout,
                               WaitUnanswered)
from smartdc_nb.machine import Machine, parse_time


@pytest.fixture
def m(emu, dc):
    machine = fetched(dc, emu, name="wait-01")
    emu.clear_requests()
    return machine


def test_stop_then_wait_polls_the_machine_until_stopped(emu, m):
    assert m.stop().wait_for("stopped", **FAST) is m
    assert m.state == "stopped" and m.pending_action is None
    paths = {r["path"] for r in logged(emu, "GET")}
    assert paths == {m.path}  # state changes pass by without any audit read


def test_several_target_states_and_the_seed_names(emu, m):
    m.stop()
    assert m.poll_while("running", 0.05, progress=False) is m
    assert m.state in ("stopping", "stopped")
    assert m.poll_until("stopped", 0.05, progress=False).state == "stopped"
    m.start().wait_for(["running", "offline"], **FAST)
    assert m.state == "running"


def test_failed_ends_the_wait_unless_awaited(emu, dc):
    failing = Machine(dc, put(emu, state="provisioning"))
    threading.Timer(0.2, emu.datacenter("us-east-1").set_state, (failing.id, "failed")).start()
    with pytest.raises(WaitFailed, match="is failed \\(waiting for running\\)") as info:
        failing.wait_for("running", **FAST)
    error = info.value
    assert error.last_state == "failed" and error.targets == ("running",)
    assert [s for _, s in error.history] == ["provisioning", "failed"]
    assert all(isinstance(t, datetime) and t.tzinfo for t, _ in error.history)
    assert 0.15 < error.elapsed < 5 and error.resource is failing
    assert error.audit and {"action", "success", "time"} <= set(error.audit[0])
    assert failing.wait_for("failed", **FAST).state == "failed"


def test_fail_on_is_configurable(emu, dc):
    offline = Machine(dc, put(emu, state="offline"))
    with pytest.raises(WaitFailed, match="is offline"):
        offline.wait_for("running", fail_on=("failed", "offline"), **FAST)
    with pytest.raises(WaitTimeout):
        offline.wait_for("running", fail_on=(), timeout=0.3, **FAST)


def test_fail_on_takes_one_state_as_a_string(emu, dc):
    """fail_on="offline" is the state offline, as wait_for("running") is the state running;
    it used to be split into letters, so the wait ran to its timeout instead of failing."""
    offline = Machine(dc, put(emu, state="offline"))
    with pytest.raises(WaitFailed, match="is offline"):
        offline.wait_for("running", fail_on="offline", timeout=5, **FAST)
    with pytest.raises(WaitFailed, match="is offline"):
        offline.poll_until("running", fail_on="offline", timeout=5, **FAST)
    with pytest.raises(InvalidInputError, match="'ofline' is not a machine state"):
        offline.wait_for("running", fail_on="ofline", **FAST)


def test_poll_while_takes_several_states(emu, dc, m):
    """poll_while(("stopping", "stopped")) waits while the machine is in either (it raised
    "too many values to unpack")."""
    m.stop()
    assert m.poll_while(("running", "stopping"), timeout=10, **FAST).state == "stopped"
    assert m.poll_while(["provisioning"], timeout=10, **FAST).state == "stopped"


def test_disappearance_fails_unless_deleted_is_awaited(emu, dc, m):
    m.delete()
    with pytest.raises(WaitFailed, match="wait-01 .* was deleted"):
        m.wait_for("stopped", timeout=10, **FAST)
    assert m.state == "deleted"
    assert m.wait_for("deleted", **FAST) is m  # the 410 tombstone is success

    ghost = Machine(dc, data={"id": "00000000-0000-4000-8000-0000000000aa", "name": "ghost",
                              "state": "running"})
    with pytest.raises(WaitFailed, match="no longer exists \\(404\\)"):
        ghost.wait_for("running", **FAST)
    assert ghost.wait_for("deleted", **FAST) is ghost


def test_a_refused_action_ends_the_wait_naming_it(emu, m):
    m.stop().wait_for("stopped", **FAST)
    m.raw["state"] = "running"  # a stale payload: the client thinks a reboot makes sense
    started = time.monotonic()
    with pytest.raises(WaitFailed, match="refused 'reboot'.*success \"no\"") as info:
        m.reboot().wait_for("running", timeout=30, **FAST)
    assert time.monotonic() - started < 5  # not the deadline
    error = info.value
    assert "reboot needs a running machine and it was stopped" in str(error)
    assert error.audit[0]["action"] == "reboot" and error.audit[0]["success"] == "no"
    assert error.last_state == "stopped"


def test_fail_next_job_is_reported_from_the_audit_log(emu, m):
    emu.datacenter("us-east-1").fail_next("stop")
    with pytest.raises(WaitFailed, match="refused 'stop'"):
        m.stop().wait_for("stopped", timeout=30, **FAST)


def test_reboot_wait_returns_only_after_the_reboot(emu, m):
    emu.set_durations(reboot=0.6)
    m.reboot()
    date = m.pending_action.date
    # a poll slower than the reboot: the state may never be seen leaving running
    m.wait_for("running", interval=1.0, max_interval=1.0, progress=False)
    newest = m.audit()[0]
    assert newest["action"] == "reboot" and newest["success"] == "yes"
    assert parse_time(newest["time"]) > date
    assert any(r["path"].endswith("/audit") for r in logged(emu, "GET"))


def test_back_to_back_reboots_each_wait_for_their_own(emu, m):
    m.reboot().wait_for("running", **FAST)
    emu.datacenter("us-east-1").fail_next("reboot")
    with pytest.raises(WaitFailed, match="refused 'reboot'"):
        m.reboot().wait_for("running", timeout=10, **FAST)
    m.reboot()
    m.reboot()  # two queued: the wait is for the second one's audit entry
    m.wait_for("running", **FAST)
    reboots = [e for e in m.audit() if e["action"] == "reboot"]
    assert [e["success"] for e in reboots[:2]] == ["yes", "yes"]


def test_timeout_says_where_it_stood(emu, m):
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match="did not reach stopped within 0.4s; it is running") \
            as info:
        m.wait_for("stopped", timeout=0.4, **FAST)
    assert 0.35 < time.monotonic() - started < 2
    assert isinstance(info.value, TimeoutError)
    assert info.value.last_state == "running" and 0.35 < info.value.elapsed < 2
    assert [s for _, s in info.value.history] == ["running"]


def test_no_deadline_only_when_asked(emu, m):
    assert m.stop().wait_for("stopped", timeout=None, **FAST).state == "stopped"


def test_interval_backs_off_to_the_cap(emu, m):
    with pytest.raises(WaitTimeout):
        m.wait_for("stopped", timeout=1.6, interval=0.05, max_interval=0.2, progress=False)
    polls = len(logged(emu, "GET", m.id))
    # fixed 0.05 s would be ~32 polls, fixed 0.2 s ~8; backing off from 0.05 to 0.2 is between
    assert 8 < polls < 20


def test_transient_errors_are_polled_through(emu, m):
    emu.faults.add(path=m.id + "$", method="GET", status=500, count=3)
    emu.faults.add(path=m.id + "$", method="GET", status=429, count=2)
    m.stop().wait_for("stopped", timeout=30, **FAST)
    statuses = [r["status"] for r in logged(emu, "GET", m.id)]
    assert statuses.count(500) == 3 and statuses.count(429) == 2 and statuses[-1] == 200


def test_dropped_connections_are_polled_through(emu, connect):
    dc = connect(retries=False)  # no transport retries: the waiter itself must go on
    m = Machine(dc, put(emu))
    emu.faults.add(path=m.id + "$", method="GET", drop=True, count=3)
    m.stop().wait_for("stopped", timeout=30, **FAST)
    assert [r["status"] for r in logged(emu, "GET", m.id)].count("dropped") == 3


def test_errors_until_the_deadline_are_a_timeout_that_says_so(emu, m):
    emu.faults.add(path=m.id + "$", method="GET", status=500)
    with pytest.raises(WaitTimeout, match="last error: .*500.*Internal Error") as info:
        m.wait_for("stopped", timeout=0.5, **FAST)
    assert "500" in str(info.value.cause)


def test_a_poll_cut_off_by_the_deadline_keeps_the_error_the_cloud_gave(emu, m):
    """The last poll started just before the deadline and was cut by it: that says nothing
    about the cloud, which had answered 500; the wait says so, not "stopped answering"."""
    emu.faults.add(path=m.id + "$", method="GET", status=500, count=9)  # a poll and its retries
    emu.faults.add(path=m.id + "$", method="GET", latency=30)  # later polls: cut at the deadline
    with pytest.raises(WaitTimeout, match="last error: .*500.*Internal Error") as info:
        m.wait_for("stopped", timeout=1.0, **FAST)
    assert not isinstance(info.value, WaitUnanswered)


def test_a_slow_clouds_last_poll_cut_by_the_deadline_is_not_called_no_answer(emu, m):
    """Every poll answered, each in 1 s; the last one began 0.2 s before the wait's end and
    was cut there. The cloud did not stop answering: the wait ran out. It said "the cloud
    stopped answering" (WaitUnanswered); it now says the machine did not get there in time,
    and that the last poll was cut short."""
    emu.faults.add(path=m.id + "$", method="GET", latency=1.0)
    with pytest.raises(WaitTimeout) as info:
        m.wait_for("stopped", timeout=1.2, **FAST)  # polls at 0 (answered at 1.0) and 1.1
    error = info.value
    assert not isinstance(error, WaitUnanswered), str(error)
    assert "stopped answering" not in str(error)
    assert "did not reach stopped within 1.2s; it is running" in str(error)
    assert "Its last poll was cut off by the wait's end before an answer" in str(error)
    assert error.last_state == "running"


def test_ctrl_c_stops_promptly_with_what_was_seen(emu, m):
    started = time.monotonic()
    with ctrl_c_after(0.4), pytest.raises(WaitInterrupted) as info:
        m.wait_for("stopped", timeout=60, interval=5, progress=False)
    assert time.monotonic() - started < 1.5  # not the 5 s poll interval
    error = info.value
    assert isinstance(error, KeyboardInterrupt)
    assert error.last_state == "running" and [s for _, s in error.history] == ["running"]
    assert "interrupted after" in str(error)


def test_wait_until_a_condition(emu, m):
    m.add_tags(stage="blue")
    m.wait_until(lambda x: x.tags.get("stage") == "blue", "tag stage=blue", **FAST)
    with pytest.raises(WaitTimeout, match="did not reach tag stage=green"):
        m.wait_until(lambda x: x.tags.get("stage") == "green", "tag stage=green", timeout=0.3,
                     **FAST)


def test_the_environment_sets_the_interval_a_wait_starts_at(emu, m, monkeypatch):
    """SMARTDC_NB_WAIT_INTERVAL is the first interval of a wait given none; 2 s without it."""
    def polls(**options) -> int:
        emu.clear_requests()
        with pytest.raises(WaitTimeout):
            m.wait_for("stopped", timeout=0.6, progress=False, **options)
        return len(logged(emu, "GET", m.id))

    monkeypatch.delenv("SMARTDC_NB_WAIT_INTERVAL")
    assert polls() == 2  # at the start, then at the deadline: the next poll was 2 s away
    monkeypatch.setenv("SMARTDC_NB_WAIT_INTERVAL", "0.05")
    assert polls() >= 4  # 0.05 s growing by half each quiet poll: about 6 in 0.6 s
    assert polls(interval=2) == 2  # an interval given wins


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf"])
def test_a_bad_interval_in_the_environment_says_what_to_set(emu, m, monkeypatch, value):
    monkeypatch.setenv("SMARTDC_NB_WAIT_INTERVAL", value)
    emu.clear_requests()
    with pytest.raises(InvalidInputError, match=r"SMARTDC_NB_WAIT_INTERVAL='.*' is not a number "
                                                r"of seconds > 0: set it to .* or unset it"):
        m.wait_for("stopped", timeout=5, progress=False)
    assert m.wait_for("running", timeout=5, interval=0.05, progress=False) is m  # given: fine


def test_bad_timing_is_refused(m):
    with pytest.raises(InvalidInputError):
        m.wait_for("running", timeout=-1)
