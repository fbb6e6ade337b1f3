"""Ctrl-C in a listing returns at once, even while the cloud holds one of its requests.

A Fleet (or a frame) lists its datacenters in threads. On Ctrl-C it waited for the requests
in flight before the interrupt went on: with one datacenter frozen, the cell stayed busy
until that request's timeout (60 s with the defaults, or ``request_timeout``). A listing
only reads, so nothing is lost by not waiting: the requests in flight are cut, their
threads end, and the interrupt goes on. Gathers that write still let a sent request finish,
so that its outcome is recorded.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from polling import eventually
from test_machine_support import connect_source, ctrl_c_when, held, put, until_held

from smartdc_nb import Fleet
from smartdc_nb.call_groups import Abandoned, CallGroup, within
from smartdc_nb.parallel import gather

LISTING = r"/demo/machines(\?|$)"
#: each request's own bound in these tests: an interrupt that waited for it would take this
HELD_FOR = 30.0


def workers() -> list[str]:
    """The names of the listing threads still alive (gather's and paging's)."""
    return [t.name for t in threading.enumerate()
            if t.name.startswith(("smartdc_nb_", "smartdc_nb-page"))]


def interrupted(emu, fault: int, call) -> float:
    """The seconds ``call()`` took to give up on Ctrl-C, sent once the cloud holds a request."""
    started = time.monotonic()
    with ctrl_c_when(lambda: held(emu, fault) >= 1, settle=0.2):
        with pytest.raises(KeyboardInterrupt):
            call()
    return time.monotonic() - started


def test_ctrl_c_in_a_fleet_listing_one_datacenter_holds_returns_at_once(dc, emu):
    fleet = Fleet(dc)
    for member in fleet.datacenters.values():
        member.transport.request_timeout = HELD_FOR
    put(emu, "us-east-1", name="east-one")
    fault = emu.faults.add(path=LISTING, method="GET", hold=True, datacenter="us-west-1")
    try:
        took = interrupted(emu, fault, fleet.machines)
        assert took < 5, f"Ctrl-C took {took:.1f} s: it waited for the held request"
        # the held request was cut, not left running until its timeout
        eventually(lambda: not workers(), 5, "the listing's threads to end")
    finally:
        emu.faults.clear()
    # the connection the cut request used is not reused broken: the next listing works
    assert "east-one" in {m.name for m in fleet.machines()}


def test_ctrl_c_in_a_paged_listing_cuts_the_pages_in_flight(dc, emu):
    dc.transport.request_timeout = HELD_FOR
    for i in range(30):
        put(emu, name=f"paged-{i:02d}", tags={"fleet": "cut"})
    # the second page is held; the first is answered, so the listing is under way
    fault = emu.faults.add(path=r"/demo/machines\?.*offset=[1-9]", method="GET", hold=True)
    try:
        took = interrupted(emu, fault, lambda: [
            m for page in dc.transport.paginate("/demo/machines", {"tag.fleet": "cut"},
                                                limit=10, concurrency=3) for m in page])
        assert took < 5, f"Ctrl-C took {took:.1f} s"
        eventually(lambda: not workers(), 5, "the pages' threads to end")
    finally:
        emu.faults.clear()
    assert len(dc.machines(tags={"fleet": "cut"})) == 30


def test_a_gather_that_writes_lets_a_sent_request_finish_before_the_interrupt():
    """The tasks may send writes (a panel's snapshot deletes): a sent write's outcome must
    be recorded, so a running task ends before the interrupt goes on."""
    ended = []

    def task(i):
        time.sleep(0.05 if i == 0 else 0.5)
        ended.append(i)
        return i

    def interrupt(done):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gather({i: (lambda i=i: task(i)) for i in range(2)}, 2, interrupt)
    assert sorted(ended) == [0, 1]


def test_a_request_of_a_listing_already_given_up_is_not_sent(dc, emu):
    """A task of a gather that was given up may still reach its next page or retry: it sends
    nothing more."""
    calls = CallGroup()
    calls.abandon()
    emu.clear_requests()
    with within(calls), pytest.raises(Abandoned, match="stopped waiting"):
        dc.machines()
    assert not emu.requests


def test_a_script_that_ends_does_not_wait_for_a_read_still_on_its_way(emu, triton_keys):
    """A read still in flight when a script ends has no one left to read its answer, but
    Python joins a thread pool's threads before it exits: a listing the cloud held (in a
    user's own pool, or one a Ctrl-C did not reach) kept the script alive until its timeout."""
    fault = emu.faults.add(path=r"/demo/machines(\?|$)", method="GET", hold=True)
    key = triton_keys["rsa"]
    script = "\n".join([
        "import concurrent.futures, time, smartdc_nb", connect_source(emu, key, request_timeout=40),
        "pool = concurrent.futures.ThreadPoolExecutor(1)", "pool.submit(dc.machines)",
        "time.sleep(0.5)  # the listing on its way", "print('listing', flush=True)"])
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        until_held(emu, fault, what="the script's listing")
        started = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        proc.kill()
        emu.faults.clear()
        emu.faults.release_all()
    assert out.startswith("listing"), err
    assert took < 8, f"the script took {took:.1f} s to exit after its last line"
