"""A request the cloud does not answer says so while it waits, not only when it ends.

A listing (``dc.machines()``, a Fleet's, a frame's) on a cloud that took the connection and
never answered said nothing until ``request_timeout`` (180 s by default) ended it: a notebook
cell or a headless run looked hung. Waits had such notices (smartdc_nb.operations.silence);
one request now has them too, on stderr, every notice period (``$SMARTDC_NB_SILENCE_NOTICE``),
said by the watchdog that ends it at its deadline.
"""

from __future__ import annotations

import re
import time

import pytest

from smartdc_nb import Fleet
from smartdc_nb.errors import RequestTimeoutError, TransportError

PREFIX = "smartdc_nb: "


def notices(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(PREFIX)]


LISTING = r"/demo/machines(\?|$)"


def held(emu, capsys, call, path=LISTING, method="GET", error=TransportError, match=None):
    """The notices ``call()`` printed while the cloud held its ``method`` requests to
    ``path`` until ``error`` ended it, and the seconds it took."""
    emu.faults.add(path=path, method=method, hold=True)
    try:
        started = time.monotonic()
        with pytest.raises(error, match=match):
            call()
        took = time.monotonic() - started
    finally:
        emu.faults.clear()
    return notices(capsys.readouterr().err), took


def test_a_listing_the_cloud_does_not_answer_says_so_while_it_waits(connect, emu, monkeypatch,
                                                                   capsys):
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.5")
    dc = connect(request_timeout=2.2)
    said, took = held(emu, capsys, dc.machines, error=RequestTimeoutError)
    assert took < 2.2 + 1.5, took
    assert 3 <= len(said) <= 4, said  # at 0.5, 1, 1.5 and 2 s: before the 2.2 s deadline
    first = said[0]
    assert f"GET /demo/machines to CloudAPI at {emu.urls['us-east-1']}" in first, first
    assert "has had no full answer since " in first, first
    assert "still waiting, at the latest until " in first and " UTC (request_timeout=2.2s)" in first, first
    # how long it has been silent, as said: 0.5 s, 1.0 s, ... (not "0 s", rounded down)
    lengths = [float(re.search(r"since \d\d:\d\d:\d\d UTC \(([\d.]+) s\)", line)[1])
               for line in said]
    assert lengths[0] >= 0.5 and lengths == sorted(lengths) and len(set(lengths)) == len(lengths), said


def test_a_listing_of_many_datacenters_says_which_one_is_silent(dc, emu, monkeypatch, capsys):
    """A Fleet lists its datacenters in threads: the notice comes from the silent one's."""
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.5")
    dc.transport.request_timeout = 1.8
    emu.faults.add(path=LISTING, method="GET", hold=True, datacenter="us-west-1")
    try:
        fleet = Fleet(dc)
        for member in fleet.datacenters.values():
            member.transport.request_timeout = 1.8
        with pytest.warns(UserWarning):
            fleet.machines()
    finally:
        emu.faults.clear()
    said = notices(capsys.readouterr().err)
    assert said and all(emu.urls["us-west-1"] in line for line in said), said
    assert not any(emu.urls["us-east-1"] in line for line in said), said


def test_a_request_answered_in_time_and_a_waits_polls_say_nothing(connect, emu, monkeypatch,
                                                                 capsys):
    """A slow answer within the period, and a wait's polls (the wait says it itself, once)."""
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.6")
    dc = connect()
    emu.faults.add(path=LISTING, method="GET", latency=0.3)
    try:
        assert dc.machines()
    finally:
        emu.faults.clear()
    assert notices(capsys.readouterr().err) == []


def test_a_panels_request_prints_no_notice(dc, emu, monkeypatch, capsys):
    """A panel works in its own threads and says what it waits for on its progress line
    (test_widgets_notices): a line on stderr would land in whatever cell happens to be
    running."""
    from smartdc_nb.widgets import fleet_panel

    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.3")
    panel = fleet_panel(dc, timeout=1.5)
    panel.wait(timeout=30)
    capsys.readouterr()
    emu.faults.add(path=LISTING, method="GET", hold=True)
    try:
        panel.buttons["list"].click()
        panel.wait(timeout=30)
    finally:
        emu.faults.clear()
        panel.close()
    assert "failed" in panel.log.entries[-1].word or "not" in panel.log.entries[-1].message
    assert notices(capsys.readouterr().err) == []


def test_a_mutating_request_says_it_may_still_be_carried_out(dc, emu, monkeypatch, capsys):
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.5")
    machine = next(m for m in dc.machines() if m.state == "running")
    dc.transport.request_timeout = 1.2
    said, _ = held(emu, capsys, machine.stop, r"/demo/machines/[^/?]+(\?|$)", "POST")
    assert said and "POST /demo/machines/" in said[0], said
    assert "the cloud may carry it out" in said[0], said


def test_the_deadline_a_notice_gives_is_a_bound_not_a_promise(connect, emu, monkeypatch,
                                                              capsys):
    """With the defaults, a silent cloud's first notice (at 60 s) said 'still waiting, until'
    request_timeout's end (3 min away), and the read timeout (60 s) ended the request half a
    second later: the line promised minutes it did not wait. Reads, retries and their budget
    can end a request sooner; its deadline is said as the latest it may wait."""
    monkeypatch.setenv("SMARTDC_NB_SILENCE_NOTICE", "0.4")
    dc = connect(timeout=(5, 1.0), retries=0, request_timeout=30)
    said, took = held(emu, capsys, dc.machines, match="timed out")
    assert took < 5, took  # the read timeout ended it, long before request_timeout
    assert said, said
    assert all("; still waiting, at the latest until " in line and
               " UTC (request_timeout=30s)." in line for line in said), said


def test_with_the_defaults_a_request_speaks_before_its_read_timeout_ends_it(
        connect, emu, monkeypatch, capsys):
    """The notice period (a minute) equals the default read timeout (60 s), which with the
    default retry budget (60 s from the start) ends a silent request: the first notice came
    at 60.0 s, half a second before the error, or not at all. A request says so after
    REQUEST_NOTICE seconds (a third of the read timeout) unless the period is shorter; here
    the read timeout is scaled down with it."""
    from smartdc_nb import call_notices
    from smartdc_nb.transport import DEFAULT_TIMEOUT

    monkeypatch.delenv("SMARTDC_NB_SILENCE_NOTICE", raising=False)
    assert call_notices.REQUEST_NOTICE * 3 <= DEFAULT_TIMEOUT[1] < call_notices.NOTICE_PERIOD * 1.5
    scale = 60  # 20 s and 60 s as 1/3 s and 1 s
    monkeypatch.setattr(call_notices, "REQUEST_NOTICE", call_notices.REQUEST_NOTICE / scale)
    monkeypatch.setattr(call_notices, "NOTICE_PERIOD", call_notices.NOTICE_PERIOD / scale)
    dc = connect(timeout=(10, DEFAULT_TIMEOUT[1] / scale), retries=0)
    said, _ = held(emu, capsys, dc.machines)
    # at 1/3 s and 2/3 s, before the read timeout at 1 s (a third may race it)
    assert 2 <= len(said) <= 3, said
