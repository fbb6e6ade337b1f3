"""Waiting for many machines: one listing per datacenter per poll, and a table of outcomes."""

from __future__ import annotations

import math
import time

import pytest
from test_machine_support import FAST, ctrl_c_after, fetched, logged, put

import smartdc_nb
from smartdc_nb.emulator.testing import make_emulator
from smartdc_nb.errors import WaitFailed, WaitInterrupted
from smartdc_nb.machine import Machine
from smartdc_nb.machinelist import MachineList
from smartdc_nb.waiters import WaitResult, wait_machines


def fleet(emu, dc, dc_west, east=4, west=3, **fields) -> MachineList:
    return MachineList([fetched(dc, emu, **fields) for _ in range(east)] +
                       [fetched(dc_west, emu, **fields) for _ in range(west)])


class ClockBar:
    """A progress bar that ends all emulator jobs once every datacenter was listed ``polls`` times.

    A wait updates its bar only between two polls, never during one, so every machine
    changes state between the same two polls, however slowly the test sent its actions.
    """

    def __init__(self, emu, polls: int):
        self.emu, self.polls, self.n, self.moved = emu, polls, 0, False

    def __call__(self, total: int | None = None, **options) -> ClockBar:
        self.total = total
        return self

    def refresh(self) -> None:
        listed = [len(logged(self.emu, "GET", "/demo/machines", d)) for d in self.emu.urls]
        if not self.moved and min(listed) >= self.polls:
            self.moved = True
            self.emu.clock.advance(60)  # past every job's end

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_poll_is_one_listing_per_datacenter(emu, dc, dc_west):
    machines = fleet(emu, dc, dc_west)
    emu.clock.set_manual(True)  # every stop is "stopping" until the clock moves
    for m in machines:
        m.stop()
    emu.clear_requests()
    result = machines.wait_for("stopped", timeout=30,
                               **{**FAST, "progress": ClockBar(emu, polls=2)})
    assert result.ok and all(m.state == "stopped" for m in machines)
    gets = logged(emu, "GET")
    assert {r["path"] for r in gets} == {"/demo/machines"}  # no GET per machine, no audit
    assert all(r["query"] == {"tombstone": "true", "limit": "1000", "offset": "0"} for r in gets)
    east, west = (len([r for r in gets if r["datacenter"] == d]) for d in ("us-east-1",
                                                                          "us-west-1"))
    assert east == west == 3  # one request per datacenter per poll: two stopping, one stopped


def test_the_result_table(emu, dc, dc_west):
    machines = fleet(emu, dc, dc_west, east=2, west=1)
    for m in machines:
        m.stop()
    result = machines.wait_for("stopped", **FAST)
    assert isinstance(result, WaitResult) and len(result) == 3
    frame = result.frame
    assert list(frame.columns) == ["datacenter", "id", "name", "final_state", "reached",
                                   "outcome", "seconds", "error", "history", "audit"]
    assert str(frame["reached"].dtype) == "boolean" and str(frame["seconds"].dtype) == "Float64"
    assert frame["reached"].all() and (frame["final_state"] == "stopped").all()
    assert sorted(frame["datacenter"]) == ["us-east-1", "us-east-1", "us-west-1"]
    assert frame["error"].isna().all() and (frame["seconds"] > 0).all()
    assert all(h[-1][1] == "stopped" for h in frame["history"])
    assert result.counts == {"reached": 3, "failed": 0, "timed out": 0, "interrupted": 0}
    assert result.machines("reached") == machines
    assert repr(result).startswith("<WaitResult 3/3 reached stopped in ")
    assert "stopped" in result._repr_html_()


def test_failures_are_rows_not_exceptions(emu, dc, dc_west):
    ok = fetched(dc, emu, name="ok-1")
    failed = Machine(dc, put(emu, name="failed-1", state="failed"))
    deleted = fetched(dc_west, emu, name="deleted-1")
    ghost = Machine(dc, data={"id": "00000000-0000-4000-8000-0000000000ab", "name": "ghost",
                              "state": "running"})
    slow = fetched(dc_west, emu, name="slow-1")  # never stopped: it times out
    deleted.delete()
    ok.stop()
    result = MachineList([ok, failed, deleted, ghost, slow]).wait_for("stopped", timeout=1.5,
                                                                      **FAST)
    rows = {r["name"]: r for r in result}
    assert rows["ok-1"]["reached"] and rows["ok-1"]["outcome"] == "reached"
    assert rows["failed-1"]["outcome"] == "failed" and "failed-1" in rows["failed-1"]["error"]
    assert "was deleted" in rows["deleted-1"]["error"]
    assert "no longer exists (404)" in rows["ghost"]["error"]
    assert rows["slow-1"]["outcome"] == "timed out" and rows["slow-1"]["final_state"] == "running"
    assert "did not reach stopped within 1.5s" in rows["slow-1"]["error"]
    assert result.counts == {"reached": 1, "failed": 3, "timed out": 1, "interrupted": 0}
    assert not result.ok and len(result.errors) == 4

    with pytest.raises(WaitFailed) as info:
        MachineList([ok, failed]).wait_for("stopped", raise_on_failure=True, **FAST)
    assert info.value.resource is failed and info.value.result.counts["reached"] == 1
    # the failed machine's row explains it with its audit log (read here, where the wait ends
    # long before its deadline: after a timeout the reads share one interval, 0.05 s above)
    rows = {r["name"]: r for r in info.value.result}
    assert rows["failed-1"]["audit"] and rows["failed-1"]["audit"][0]["action"] == "provision"


def test_refusals_and_reboots_read_the_audit_of_those_machines_only(emu, dc, dc_west):
    machines = fleet(emu, dc, dc_west, east=3, west=2)
    stopped = machines[0]
    stopped.stop().wait_for("stopped", **FAST)
    stopped.raw["state"] = "running"  # stale: the reboot will be refused by the cloud
    for m in machines:
        m.reboot()
    emu.clear_requests()
    result = machines.wait_for("running", timeout=20, **FAST)
    rows = {r["id"]: r for r in result}
    assert "refused 'reboot'" in rows[stopped.id]["error"]
    assert all(rows[m.id]["reached"] for m in machines[1:])
    audits = [r["path"] for r in logged(emu, "GET", "/audit")]
    assert set(audits) == {m.path + "/audit" for m in machines}  # each confirms its own reboot
    for m in machines[1:]:
        assert m.audit()[0]["action"] == "reboot"


def test_transient_listing_errors_are_polled_through(emu, dc, dc_west):
    machines = fleet(emu, dc, dc_west, east=2, west=2)
    for m in machines:
        m.stop()
    emu.faults.add(path="/demo/machines\\?", datacenter="us-west-1", status=500, count=2)
    emu.clear_requests()
    result = machines.wait_for("stopped", timeout=30, **FAST)
    assert result.ok
    assert [r["status"] for r in logged(emu, "GET", datacenter="us-west-1")][:2] == [500, 500]


def test_ctrl_c_raises_with_the_table(emu, dc, dc_west):
    machines = fleet(emu, dc, dc_west, east=2, west=1)
    started = time.monotonic()
    with ctrl_c_after(0.4), pytest.raises(WaitInterrupted) as info:
        machines.wait_for("stopped", timeout=60, interval=5, progress=False)
    assert time.monotonic() - started < 1.5
    result = info.value.result
    assert result.interrupted and result.counts["interrupted"] == 3
    assert all(row["final_state"] == "running" for row in result)


def test_duplicates_and_empty_lists(emu, dc):
    m = fetched(dc, emu)
    m.stop()
    assert len(wait_machines([m, m], "stopped", **FAST)) == 1
    empty = MachineList().wait_for("running", **FAST)
    assert empty.ok and len(empty) == 0 and empty.frame.empty
    with pytest.raises(smartdc_nb.InvalidInputError, match="Machine objects"):
        wait_machines(["not a machine"], "running")


@pytest.fixture(scope="module")
def big(triton_keys):
    """A datacenter of 1,100 machines: its listing has two pages."""
    emu = make_emulator(triton_keys, datacenters=("big-1",), machines=1100).start()
    key = triton_keys["rsa"]
    dc = smartdc_nb.connect(url=emu.url, account="demo", key_id=key.md5,
                            key_path=str(key.private), rate_limit=False, name="big-1",
                            changefeed=False)  # the polling costs are measured here
    yield emu, dc
    emu.close()


def test_paging_costs_ceil_machines_over_1000_and_stops_early(big):
    emu, dc = big
    raws = dc.raw_machines(tombstone=True)
    assert len(raws) >= 1100
    running = [i for i, r in enumerate(raws) if r["state"] == "running"]
    first = [Machine(dc, data=raws[i]) for i in running if i < 1000][:3]
    last = [Machine(dc, data=raws[i]) for i in running if i >= 1000][:3]

    emu.clear_requests()
    MachineList(last).wait_for("running", **FAST)
    pages = logged(emu, "GET", "/demo/machines")
    assert len(pages) == math.ceil(len(raws) / 1000) == 2
    assert [r["query"]["offset"] for r in pages] == ["0", "1000"]

    emu.clear_requests()
    MachineList(first).wait_for("running", **FAST)
    assert len(logged(emu, "GET")) == 1  # every awaited machine was on the first page

    # once only one machine is left waiting, fetching it costs less than two pages
    emu.set_durations(stop=0.6)
    last[0].stop()
    emu.clear_requests()
    MachineList(last).wait_for(["stopped", "running"], **FAST)
    paths = [r["path"] for r in logged(emu, "GET")]
    assert paths[:2] == ["/demo/machines"] * 2 and len(paths) > 2
    assert set(paths[2:]) == {last[0].path}


def test_fewer_machines_than_pages_are_fetched_one_by_one(big):
    emu, dc = big
    raws = dc.raw_machines(tombstone=True)
    one = Machine(dc, data=next(r for r in raws[1000:] if r["state"] == "running"))
    one.stop()
    emu.clear_requests()
    MachineList([one]).wait_for("stopped", **FAST)
    assert {r["path"] for r in logged(emu, "GET")} == {one.path}
