"""Every wait ends: against a cloud that dies, hangs, or fails its audit reads.

The dead cloud is an emulator in its own process, killed with SIGKILL mid-wait; the
hung one is a local server that accepts and never answers (tests/hostile.py).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from hostile import HostileServer, silent
from polling import eventually
from test_machine_support import FAST, fetched, logged

import smartdc_nb
from smartdc_nb.errors import WaitTimeout, WaitUnanswered
from smartdc_nb.machine import Machine

#: a slower poll than FAST, so "deadline plus one poll" is a visible bound
POLL = {"interval": 0.5, "max_interval": 0.5, "progress": False}


def test_an_unreadable_audit_log_is_polled_through_not_a_crash(emu, connect):
    # the stop is refused (fail-next), so the wait reads the audit log, which answers 500:
    # before, catching (TRANSIENT, ...) - a tuple inside a tuple - raised TypeError
    dc = connect(retries=False)
    m = fetched(dc, emu, name="audit-500")
    emu.datacenter("us-east-1").fail_next("stop")
    emu.faults.add(path=r"/audit", method="GET", status=500)
    with pytest.raises(WaitTimeout) as info:
        m.stop().wait_for("stopped", timeout=1, **FAST)
    assert info.value.last_state == "running"
    assert [r["status"] for r in logged(emu, "GET", "/audit")][:1] == [500]


@pytest.fixture
def own_cloud(triton_keys, tmp_path):
    """An emulator in its own process, so a test can kill it: ``(process, DataCenter)``."""
    ready = tmp_path / "ready.json"
    key = triton_keys["rsa"]
    process = subprocess.Popen(
        [sys.executable, "-m", "smartdc_nb.emulator", "--key", str(key.public), "--machines", "2",
         "--ready-file", str(ready), "--parent-pid", str(os.getpid())],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(ready.exists, timeout=30, what="the emulator process to serve")
        url = next(iter(json.loads(ready.read_text())["urls"].values()))
        dc = smartdc_nb.connect(url=url, account="demo", key_id=key.md5,
                                key_path=str(key.private), rate_limit=False)
        yield process, dc
    finally:
        process.kill()
        process.wait(10)


def test_a_wait_whose_cloud_is_killed_ends_at_its_deadline_saying_so(own_cloud):
    process, dc = own_cloud
    m = dc.machines(state="running")[0]
    m.stop()  # 4 s at the emulator's default speed: longer than the wait
    threading.Timer(0.5, process.send_signal, (signal.SIGKILL,)).start()
    started = time.monotonic()
    with pytest.raises(WaitUnanswered) as info:
        m.wait_for("stopped", timeout=2, **POLL)
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 0.5 + 0.5  # the deadline, one poll, and a little slack
    error = info.value
    assert isinstance(error, WaitTimeout) and isinstance(error, TimeoutError)
    assert "the cloud stopped answering" in str(error)
    assert "the connection was refused" in str(error.cause)
    assert error.last_state in ("running", "stopping")
    assert "its last request got no answer" in str(error)


def test_a_wait_listening_to_a_frozen_clouds_feed_ends_at_its_deadline(own_cloud):
    # SIGSTOP: the feed's socket stays open and silent, requests get no answer; closing the
    # feed (a closing handshake nobody answers) must not hold the wait's end either
    process, dc = own_cloud
    m = dc.machines(state="running")[0]
    m.stop()
    threading.Timer(0.5, process.send_signal, (signal.SIGSTOP,)).start()
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        m.wait_for("stopped", timeout=2, **POLL)
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 0.5 + 0.5
    assert isinstance(info.value, WaitUnanswered)  # the explaining audit read got no answer
    assert "the cloud stopped answering" in str(info.value)


def test_a_wait_on_a_hung_cloud_ends_at_its_deadline_saying_so(dc, emu):
    payload = dc.raw_machines(state="running")[0]
    with HostileServer(silent) as server:
        dc.transport.url = server.url  # the cloud now accepts connections and never answers
        m = Machine(dc, data=payload)
        started = time.monotonic()
        with pytest.raises(WaitUnanswered) as info:
            m.wait_for("stopped", timeout=1.5, **POLL)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 0.5 + 0.5
    error = info.value
    assert "the cloud stopped answering" in str(error)
    assert "the wait's deadline" in str(error.cause)
    assert error.last_state == "running"


def test_many_machines_on_a_hung_cloud_end_at_the_deadline_with_their_table(dc, emu):
    payloads = dc.raw_machines(state="running")[:3]
    with HostileServer(silent) as server:
        dc.transport.url = server.url
        machines = smartdc_nb.MachineList(Machine(dc, data=p) for p in payloads)
        started = time.monotonic()
        result = machines.wait_for("stopped", timeout=1.5, **POLL)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 0.5 + 0.5
    assert result.counts["timed out"] == 3
    assert all("the cloud stopped answering" in row["error"] for row in result)


def test_a_many_machine_wait_on_a_hung_cloud_says_so_in_its_summary(dc, emu):
    """The summary line (the repr a notebook shows) must not read as machines that stayed
    "running": nothing was answered during the wait, so that state is only the last known."""
    payloads = dc.raw_machines(state="running")[:2]
    with HostileServer(silent) as server:
        dc.transport.url = server.url
        machines = smartdc_nb.MachineList(Machine(dc, data=p) for p in payloads)
        result = machines.wait_for("stopped", timeout=1, **POLL)
    summary = result.summary()
    assert "the cloud stopped answering" in summary and summary in repr(result)
    assert "running when last seen" in summary and ": running;" not in summary


def test_a_bulk_run_whose_cloud_goes_silent_after_accepting_says_so(dc, emu):
    """The cloud accepts the stops, then stops answering: each row must say the cloud went
    silent, not only that the wait ran out with the machine as it was before."""
    machines = dc.machines(state="running")[:2]

    def hang_after_the_posts() -> None:
        eventually(lambda: len(logged(emu, "POST", "")) >= 2, 5, "the stops")
        emu.faults.add(path=r"/demo/machines", method="GET", hold=True)

    watcher = threading.Thread(target=hang_after_the_posts)
    watcher.start()
    try:
        result = machines.stop(confirm=True, wait=True, timeout=1, **POLL)
    finally:
        watcher.join()
        emu.faults.clear()
    assert [row.outcome for row in result.outcomes] == ["failed", "failed"]
    for row in result.outcomes:
        assert "accepted" in row.reason and "stopped answering" in row.reason, row.reason
    assert "stopped answering" in result.summary()


def test_a_wait_on_a_silent_cloud_says_so_while_it_goes_on(dc, emu, monkeypatch, capsys):
    """A wait polls on through a cloud that stopped answering, up to its deadline (a bulk
    batch's: 15 minutes), and said nothing until then: a headless run looked hung. Every
    notice period of silence it now says since when, what it waits for, and until when."""
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.5")
    machines = dc.machines(state="running")[:2]
    emu.faults.add(path=r"/demo/machines", method="GET", drop=True)  # no answer, at once
    machines.wait_for("stopped", timeout=3, interval=0.2, max_interval=0.2, progress=False)
    notices = [line for line in capsys.readouterr().err.splitlines()
               if line.startswith("smartdc_nb: ")]
    assert len(notices) >= 2, notices
    assert notices[0].startswith("smartdc_nb: no answer from CloudAPI (us-east-1) since ")
    assert f"still waiting for 2 machines ({machines[0].label}, {machines[1].label}), until " \
        in notices[0]
    assert "may still be carried out" in notices[0]


def test_a_silent_cloud_is_said_on_the_bar_when_there_is_one(dc, emu, monkeypatch, capsys):
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.5")
    m = dc.machines(state="running")[0]
    shown = io.StringIO()
    emu.faults.add(path=r"/demo/machines/", method="GET", drop=True)
    with pytest.raises(WaitUnanswered):
        m.wait_for("stopped", timeout=3, interval=0.2, max_interval=0.2,
                   progress={"file": shown})
    assert "no answer from CloudAPI since" in shown.getvalue()  # a short form on a bar
    assert "; waiting until " in shown.getvalue()
    assert "smartdc_nb: " not in capsys.readouterr().err  # said once, on the bar


def test_a_cloud_that_answers_gets_no_notice(dc, emu, monkeypatch, capsys):
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.3")
    m = dc.machines(state="running")[0]
    with pytest.raises(WaitTimeout):  # it stays running: the wait runs out, the cloud answered
        m.wait_for("stopped", timeout=1.2, interval=0.2, max_interval=0.2, progress=False)
    assert "smartdc_nb: " not in capsys.readouterr().err


@pytest.mark.slow
def test_a_wait_on_a_hung_cloud_says_so_while_it_goes_on(dc, emu, monkeypatch, capsys):
    """A cloud that takes the connection and never answers (frozen, or a proxy holding it):
    the wait's one poll hung until the wait's deadline (or request_timeout, 180 s), so a
    headless run said nothing for all that time, not "every minute". Each request of a wait
    now ends within the notice period (5 s at least), so the notices come on time."""
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.5")
    payload = dc.raw_machines(state="running")[0]
    with HostileServer(silent) as server:
        dc.transport.url = server.url
        m = Machine(dc, data=payload)
        started = time.monotonic()
        with pytest.raises(WaitUnanswered) as info:
            m.wait_for("stopped", timeout=12, interval=0.2, max_interval=0.2, progress=False)
        elapsed = time.monotonic() - started
    assert elapsed < 12 + 0.2 + 0.5
    notices = [line for line in capsys.readouterr().err.splitlines()
               if line.startswith("smartdc_nb: ")]
    assert len(notices) >= 2, notices  # after each poll cut at 5 s, before the 12 s deadline
    assert notices[0].startswith("smartdc_nb: no answer from CloudAPI (")
    assert "the cloud stopped answering" in str(info.value)


def test_a_short_notice_period_does_not_cut_a_slow_answer(dc, emu, monkeypatch, capsys):
    """The bound a wait puts on its polls is never under 5 s: a notice period set short
    must not turn a cloud that answers in 1.5 s into one that never answers."""
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.3")
    m = fetched(dc, emu, name="slow-answers")
    emu.faults.add(path=r"/demo/machines/", method="GET", latency=1.5)
    try:
        m.stop().wait_for("stopped", timeout=30, interval=0.2, max_interval=0.2,
                          progress=False)
    finally:
        emu.faults.clear()
    assert m.state == "stopped"
    assert "smartdc_nb: " not in capsys.readouterr().err


def test_a_notice_period_that_is_no_number_is_said_once(dc, emu, monkeypatch, caplog):
    """SMARTDC_NB_SILENCE_NOTICE=30s (a unit, as one writes a time) was taken as the
    default, 60 s, without a word; $SMARTDC_NB_WAIT_INTERVAL refuses such a value. It is
    said, once, and the default is used: a wait of requests already sent goes on."""
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "30s")
    m = fetched(dc, emu, name="notice-typo")
    with caplog.at_level("WARNING", logger="smartdc_nb"):
        for _ in range(2):
            m.wait_for("running", timeout=5, interval=0.2, max_interval=0.2, progress=False)
    said = [r.getMessage() for r in caplog.records if "SMARTDC_NB_SILENCE_NOTICE" in r.getMessage()]
    assert said == ["SMARTDC_NB_SILENCE_NOTICE='30s' is not a number of seconds > 0 (such as 30): "
                    "the defaults are used: a wait that hears nothing from the cloud says so "
                    "every 60 s, a request the cloud does not answer every 20 s"], said
