"""A bulk call under a failing cloud returns its whole table; it never raises it away."""

from __future__ import annotations

import pytest
from test_machine_support import ctrl_c_after, fetched, logged, mutations

from smartdc_nb.bulk import BulkInterrupted
from smartdc_nb.errors import ServerError, TooManyRequestsError
from smartdc_nb.machinelist import MachineList

WAIT = {"interval": 0.05, "max_interval": 0.2, "progress": False}


@pytest.fixture
def trio(emu, connect):
    """Three running machines, on a connection that gives up retrying quickly."""
    dc = connect(retry_budget=1)
    machines = MachineList(fetched(dc, emu, name=f"bulk-{i}") for i in range(3))
    emu.clear_requests()
    return machines


def test_one_500_on_the_first_listing_is_retried_like_a_503(emu, trio):
    emu.faults.add(path=r"/machines\?", method="GET", status=500, count=1)
    result = trio.stop(confirm=True, **WAIT)
    assert result.counts["done"] == 3
    assert [r["status"] for r in logged(emu, "GET", "/machines")] == [500, 200]


def test_a_listing_that_keeps_failing_leaves_every_machine_not_reached(emu, trio):
    emu.faults.add(path=r"/machines\?", method="GET", status=500)
    result = trio.stop(confirm=True, **WAIT)
    assert result.counts["not reached"] == 3
    for row in result:
        assert row["reason"] == "could not re-fetch the machine before acting; nothing was sent"
        assert "500 InternalError" in row["error"]
    assert all(isinstance(e, ServerError) for e in result.errors)
    assert mutations(emu) == []
    assert not result.ok


def test_a_429_burst_longer_than_the_retry_budget_keeps_the_table(emu, trio):
    # another client on the same login can cause this; CloudAPI sends no Retry-After
    emu.faults.add(path=r"/machines\?", method="GET", status=429)
    result = trio.stop(confirm=True, **WAIT)
    assert result.counts["not reached"] == 3
    assert all(isinstance(e, TooManyRequestsError) for e in result.errors)

    emu.faults.clear()
    emu.faults.add(path=r"/machines/", method="POST", status=429)
    result = trio.stop(confirm=True, refresh=False, **WAIT)
    assert result.counts["not reached"] == 3
    for row in result:
        assert row["reason"] == ("throttled (429) beyond the retry budget: the cloud did not "
                                 "apply that request")
    assert {r["status"] for r in mutations(emu)} == {429}


def test_refused_stops_with_an_unreadable_audit_log_keep_the_table(emu, connect):
    dc = connect(retries=1)
    machines = MachineList(fetched(dc, emu, name=f"refused-{i}") for i in range(3))
    emu.datacenter("us-east-1").fail_next("stop", count=3)
    emu.faults.add(path=r"/audit", method="GET", status=500)
    result = machines.stop(confirm=True, wait=True, timeout=1, **WAIT)
    assert result.counts["failed"] == 3  # the waits timed out: the refusal could not be read
    assert all("did not reach stopped within 1s" in row["error"] for row in result)
    assert any(r["status"] == 500 for r in logged(emu, "GET", "/audit"))


def test_ctrl_c_while_re_fetching_still_reports_every_machine(emu, trio):
    emu.faults.add(path=r"/machines\?", method="GET", latency=1.0)
    with ctrl_c_after(0.3), pytest.raises(BulkInterrupted) as info:
        trio.stop(confirm=True, **WAIT)
    result = info.value.result
    assert result.interrupted and result.counts["not reached"] == 3
    assert all(r["reason"] == "interrupted (Ctrl-C) before it was sent" for r in result)
    assert mutations(emu) == []


def test_applying_a_plan_when_the_listing_keeps_failing_keeps_the_table(emu, trio):
    plan = trio.plan("stop")
    emu.faults.add(path=r"/machines\?", method="GET", status=500)
    result = plan.apply(plan.id, **WAIT)
    assert result.counts["not reached"] == 3
    assert all(r["reason"] == "could not re-fetch the machine before acting; nothing was sent"
               for r in result)
    assert mutations(emu) == []
