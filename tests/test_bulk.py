"""Bulk actions: confirmation, plans, skips, concurrency, faults, Ctrl-C, rolling updates."""

from __future__ import annotations

import time

import pytest
from test_machine_support import FAST, ctrl_c_after, fetched, logged, mutations

from smartdc_nb.bulk import BulkInterrupted, BulkResult, run_bulk
from smartdc_nb.operations.outcomes import ACCEPTED_ONLY
from smartdc_nb.errors import (BulkActionError, InvalidInputError, ServerError, TransportError,
                               WaitFailed)
from smartdc_nb.machine import Machine
from smartdc_nb.machinelist import MachineList

WAIT = {"interval": FAST["interval"], "max_interval": FAST["max_interval"], "progress": False}


@pytest.fixture
def mixed(emu, dc, dc_west):
    """Running machines in both datacenters, plus a stopped, a failed and a deleted one."""
    machines = MachineList(
        [fetched(dc, emu, name=f"run-e{i}") for i in range(3)]
        + [fetched(dc_west, emu, name=f"run-w{i}") for i in range(2)]
        + [fetched(dc, emu, name="stopped-1", state="stopped"),
           fetched(dc, emu, name="failed-1", state="failed"),
           fetched(dc_west, emu, name="deleted-1", state="deleted")])
    emu.clear_requests()
    return machines


def rows(result: BulkResult) -> dict[str, dict]:
    return {row["name"]: row for row in result}


def test_destructive_actions_need_confirm(emu, mixed):
    for action in (mixed.stop, mixed.delete, lambda **o: mixed.delete_snapshot("s", **o),
                   lambda **o: mixed.start_from_snapshot("s", **o)):
        with pytest.raises(InvalidInputError, match="pass confirm=True.*dry_run=True"):
            action()
    assert emu.requests == []


def test_dry_run_is_the_plan_without_a_change(emu, mixed):
    plan = mixed.stop(dry_run=True, **WAIT)
    assert mutations(emu) == []
    by_name = rows(plan)
    for name in ("run-e0", "run-e1", "run-e2", "run-w0", "run-w1"):
        row = by_name[name]
        assert row["outcome"] == "planned"
        assert row["request"] == f"POST /demo/machines/{row['id']}?action=stop"
    assert by_name["stopped-1"]["outcome"] == "skipped"
    assert by_name["stopped-1"]["reason"] == "already stopped"
    assert "failed to provision" in by_name["failed-1"]["reason"]
    assert by_name["deleted-1"]["reason"] == "the machine is deleted"
    assert plan.dry_run and plan.counts["planned"] == 5 and plan.counts["skipped"] == 3
    assert plan.summary() == "plan for stop on 8 machines: 3 skipped, 5 planned"
    rolling = mixed.stop(dry_run=True, batch_size=2, **WAIT)
    assert rolling.summary() == \
        "plan for stop on 8 machines (would wait for stopped): 3 skipped, 5 planned"
    assert sorted(r["batch"] for r in rolling if r["outcome"] == "planned") == [1, 1, 2, 2, 3]
    assert mutations(emu) == []


def test_stop_and_wait_acts_once_per_running_machine(emu, mixed):
    result = mixed.stop(confirm=True, wait=True, **WAIT)
    by_name = rows(result)
    posts = logged(emu, "POST")
    assert sorted(r["path"] for r in posts) == sorted(m.path for m in mixed[:5])
    assert all(r["query"] == {"action": "stop"} and r["body"] is None for r in posts)
    for name in ("run-e0", "run-w1"):
        assert by_name[name]["outcome"] == "done" and by_name[name]["final_state"] == "stopped"
        assert by_name[name]["history"][-1][1] == "stopped" and by_name[name]["seconds"] > 0
    assert result.counts == {"done": 5, "failed": 0, "skipped": 3, "not reached": 0,
                             "planned": 0}
    assert result.ok and result.waited_for == "stopped"
    lists = logged(emu, "GET", "/demo/machines")
    assert all(r["query"]["tombstone"] == "true" for r in lists)  # listings, not GETs per machine


def test_skips_are_decided_on_fresh_states(emu, dc):
    m = fetched(dc, emu, state="stopped")
    m.raw["state"] = "running"  # stale
    result = MachineList([m]).stop(confirm=True, **WAIT)
    assert rows(result)[m.name]["reason"] == "already stopped" and logged(emu, "POST") == []
    m.raw["state"] = "running"
    result = MachineList([m]).stop(confirm=True, refresh=False, **WAIT)
    assert rows(result)[m.name]["outcome"] == "done" and len(logged(emu, "POST")) == 1


def test_machines_gone_since_are_skipped(emu, dc):
    ghost = Machine(dc, data={"id": "00000000-0000-4000-8000-0000000000cd", "name": "ghost",
                              "state": "running"})
    result = MachineList([ghost, fetched(dc, emu)]).reboot(**WAIT)
    assert rows(result)["ghost"]["reason"] == "the machine no longer exists (404)"
    assert result.counts["done"] == 1


def test_one_failure_never_stops_the_others_and_nothing_is_sent_twice(emu, mixed):
    victim = mixed[1]
    emu.faults.add(path=victim.id, method="POST", status=500, count=1)
    result = mixed.reboot(**WAIT)
    by_name = rows(result)
    assert by_name[victim.name]["outcome"] == "failed"
    assert "500" in by_name[victim.name]["error"]
    assert isinstance(result.errors[0], ServerError)
    assert result.counts["done"] == 4 and not result.ok
    posts = logged(emu, "POST")
    assert sorted(r["path"] for r in posts) == sorted(m.path for m in mixed[:5])  # once each


def test_throttling_bursts_are_waited_out_without_doing_anything_twice(emu, mixed):
    emu.faults.add(path="/demo/machines/", method="POST", status=429, count=6)
    result = mixed.reboot(wait=True, **WAIT)
    assert result.counts["done"] == 5 and result.ok
    accepted = [r["path"] for r in logged(emu, "POST") if r["status"] == 202]
    assert sorted(accepted) == sorted(m.path for m in mixed[:5])
    assert sum(r["status"] == 429 for r in logged(emu, "POST")) == 6


def test_a_dropped_connection_fails_that_machine_and_changes_nothing(emu, mixed):
    victim = mixed[0]
    emu.faults.add(path=victim.id, method="POST", drop=True, count=1)
    result = mixed.stop(confirm=True, wait=True, **WAIT)
    row = rows(result)[victim.name]
    assert row["outcome"] == "failed" and isinstance(result.errors[0], TransportError)
    assert victim.status() == "running"  # the request never reached CloudAPI's handler
    assert result.counts["done"] == 4


def test_concurrency_is_bounded(emu, dc):
    machines = MachineList([fetched(dc, emu) for _ in range(6)])
    emu.faults.add(path="/demo/machines/", method="POST", latency=0.3)
    emu.clear_requests()
    machines.reboot(concurrency=2, **WAIT)
    spans = [(r["time"], r["time"] + r["ms"] / 1000) for r in logged(emu, "POST")]
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert len(spans) == 6 and overlap == 2


def test_ctrl_c_finishes_what_is_in_flight_and_reports_every_machine(emu, dc):
    machines = MachineList([fetched(dc, emu) for _ in range(6)])
    emu.faults.add(path="/demo/machines/", method="POST", latency=0.6)
    emu.clear_requests()
    started = time.monotonic()
    with ctrl_c_after(0.3), pytest.raises(BulkInterrupted) as info:
        machines.reboot(concurrency=2, **WAIT)
    assert time.monotonic() - started < 2
    result = info.value.result
    assert isinstance(info.value, KeyboardInterrupt) and info.value.outcomes is result
    assert result.interrupted and len(result) == 6
    assert result.counts["done"] == 2 and result.counts["not reached"] == 4
    assert all("interrupted" in r["reason"] for r in result if r["outcome"] == "not reached")
    assert len(logged(emu, "POST")) == 2  # nothing sent after Ctrl-C


def test_ctrl_c_while_waiting(emu, dc):
    machines = MachineList([fetched(dc, emu) for _ in range(2)])
    emu.set_durations(stop=5)
    with ctrl_c_after(0.5), pytest.raises(BulkInterrupted) as info:
        machines.stop(confirm=True, wait=True, **WAIT)
    result = info.value.result
    assert result.counts["not reached"] == 2
    assert all("the request was sent" in r["reason"] for r in result)


def test_ctrl_c_says_how_many_not_reached_were_sent(emu, dc):
    """Ctrl-C in a rolling reboot's first batch said "12 not reached": read as nothing done,
    while the cloud had rebooted two machines (the journal said "2 accepted")."""
    machines = MachineList([fetched(dc, emu) for _ in range(4)])
    emu.set_durations(stop=5)
    with ctrl_c_after(0.5), pytest.raises(BulkInterrupted) as info:
        machines.stop(confirm=True, batch_size=2, **WAIT)
    summary = info.value.result.summary()
    assert ": 4 not reached (2 of them sent, not seen done) in " in summary
    assert summary in str(info.value)


def test_rolling_update_stops_at_the_first_failing_batch(emu, dc):
    machines = MachineList([fetched(dc, emu, name=f"roll-{i}") for i in range(6)])
    emu.clear_requests()
    checked = []

    def healthy(machine):
        checked.append(machine.name)
        assert machine.state == "running"  # the health check sees the batch back up
        return machine.name != "roll-3"

    result = machines.reboot(batch_size=2, health_check=healthy, **WAIT)
    by_name = rows(result)
    assert [by_name[f"roll-{i}"]["batch"] for i in range(6)] == [1, 1, 2, 2, 3, 3]
    assert [by_name[f"roll-{i}"]["outcome"] for i in range(6)] == \
        ["done", "done", "done", "failed", "not reached", "not reached"]
    assert "returned False" in by_name["roll-3"]["error"]
    assert "the roll stopped after batch 2" in by_name["roll-4"]["reason"]
    assert checked == ["roll-0", "roll-1", "roll-2", "roll-3"]
    posts = logged(emu, "POST")
    assert len(posts) == 4
    second_batch_sent = min(r["time"] for r in posts[2:])
    first_batch_confirmed = [r["time"] for r in logged(emu, "GET", "/audit")][:2]
    assert max(first_batch_confirmed) <= second_batch_sent  # batch 2 waited for batch 1


def test_a_health_check_that_raises_is_unhealthy(emu, dc):
    machines = MachineList([fetched(dc, emu) for _ in range(2)])

    def broken(machine):
        raise ConnectionError("port 443 closed")

    result = machines.reboot(health_check=broken, **WAIT)  # implies wait
    assert result.counts["failed"] == 2
    assert all(r["error"] == "port 443 closed" for r in result)


def test_a_failed_wait_is_a_failed_outcome(emu, dc):
    machines = MachineList([fetched(dc, emu) for _ in range(2)])
    emu.datacenter("us-east-1").fail_next("stop")
    result = machines.stop(confirm=True, wait=True, timeout=20, **WAIT)
    assert result.counts == {"done": 1, "failed": 1, "skipped": 0, "not reached": 0,
                             "planned": 0}
    failed = next(r for r in result if r["outcome"] == "failed")
    assert "refused 'stop'" in failed["error"] and isinstance(result.errors[0], WaitFailed)


def test_raise_on_failure(emu, dc):
    machines = MachineList([fetched(dc, emu) for _ in range(2)])
    emu.faults.add(path=machines[0].id, method="POST", status=500, count=1)
    with pytest.raises(BulkActionError) as info:
        machines.reboot(raise_on_failure=True, **WAIT)
    assert isinstance(info.value.outcomes, BulkResult)
    assert info.value.outcomes.counts["failed"] == 1 and info.value.outcomes.counts["done"] == 1


def test_the_result_table(emu, mixed):
    result = mixed.stop(confirm=True, wait="stopped", **WAIT)
    frame = result.frame
    # what a person reads first, first; typed, so nothing shows as 'None' or a tuple
    assert list(frame.columns) == ["datacenter", "name", "id", "action", "outcome", "final_state",
                                   "reason", "error", "seconds", "batch", "request", "history"]
    assert {str(frame[c].dtype) for c in ("datacenter", "name", "id", "action", "final_state",
                                          "reason", "error", "request", "history")} == {"string"}
    assert frame["error"].isna().all()
    done = frame[frame.outcome == "done"]
    assert done["history"].str.endswith("stopped").all()
    assert all(" → " in h for h in done["history"] if h.count("→"))
    assert result.outcomes[0].history and isinstance(result.outcomes[0].history[0], tuple)
    assert str(frame["outcome"].dtype) == "category"
    assert list(frame["outcome"].cat.categories) == ["done", "failed", "skipped", "not reached",
                                                     "planned"]
    assert str(frame["seconds"].dtype) == "Float64" and str(frame["batch"].dtype) == "Int64"
    assert set(frame["datacenter"]) == {"us-east-1", "us-west-1"}
    assert (frame["action"] == "stop").all() and len(frame) == 8
    assert frame.loc[frame.outcome == "skipped", "seconds"].isna().all()
    summary = result.summary()
    assert summary.startswith("stop on 8 machines (waited for stopped): 5 done, 3 skipped in ")
    assert repr(result) == f"<BulkResult {summary}>"
    assert result.machines("done") == mixed[:5]
    page = result._repr_html_()
    assert "stopped-1" in page and "<script" not in page
    # the card leaves the request line to .frame and the journal: short ids fit a notebook
    assert "?action=stop" not in page and mixed[0].id[:8] in page


def test_bad_calls(emu, mixed):
    with pytest.raises(InvalidInputError, match="unknown bulk action 'explode'"):
        run_bulk(mixed, "explode")
    with pytest.raises(InvalidInputError, match="concurrency"):
        mixed.reboot(concurrency=0)
    with pytest.raises(InvalidInputError, match="batch_size"):
        mixed.reboot(batch_size="2")
    with pytest.raises(InvalidInputError, match="health_check"):
        mixed.reboot(health_check="yes")
    with pytest.raises(InvalidInputError, match="takes no arguments"):
        run_bulk(mixed, "start", "now")
    with pytest.raises(InvalidInputError, match="Machine objects"):
        run_bulk(["web-01"], "start")
    with pytest.raises(InvalidInputError, match="not a machine state"):
        mixed.stop(confirm=True, wait="halted", **WAIT)
    assert mutations(emu) == []


def test_an_empty_selection(emu):
    result = MachineList().stop(confirm=True, wait=True, **WAIT)
    assert len(result) == 0 and result.ok and emu.requests == []


def test_nothing_to_do_is_said_in_words_without_an_empty_bar(emu, dc, capsys):
    import io

    stopped = MachineList([fetched(dc, emu, state="stopped") for _ in range(3)])
    emu.clear_requests()
    shown = io.StringIO()
    result = stopped.stop(confirm=True, wait=True, progress={"file": shown}, interval=0.1)
    assert result.summary() == "stop on 3 machines: nothing to do (3 skipped)"
    assert result.counts["skipped"] == 3 and result.ok
    one = MachineList(stopped[:1]).stop(confirm=True, progress=False)
    assert one.summary() == "stop on 1 machine: nothing to do (1 skipped)"
    assert mutations(emu) == []
    printed = shown.getvalue() + capsys.readouterr().out
    assert "nothing to do" in printed and "0/0" not in printed and "sending" not in printed


def test_run_bulk_takes_any_iterable_and_dedupes(emu, dc):
    m = fetched(dc, emu)
    result = run_bulk(iter([m, m]), "reboot", wait=True, **WAIT)
    assert len(result) == 1 and result.counts["done"] == 1


def test_an_empty_result_displays(emu):
    result = MachineList().stop(confirm=True, **WAIT)
    page = result._repr_html_()
    assert "0 machines" in page and "no machines" in page
    assert result.frame.empty and list(result.frame.columns) == list(BulkResult.COLUMNS)


def test_a_wait_that_ran_out_says_the_request_was_accepted_and_may_still_finish(emu, dc):
    """A bulk stop whose wait ran out: the cloud accepted every stop and is still stopping, and
    the rows said only "failed" with an empty reason."""
    machines = MachineList(fetched(dc, emu, name=f"slow-{i}") for i in range(2))
    emu.set_durations(stop=30)
    result = machines.stop(confirm=True, wait=True, timeout=1, interval=0.1, progress=False)
    frame = result.frame
    assert list(frame.outcome) == ["failed", "failed"]
    for reason in frame.reason:
        assert "accepted" in reason and "stopping" in reason and "may still" in reason, reason
    assert "accepted" in result.summary()


def test_done_without_a_wait_says_the_cloud_only_accepted_it(emu, dc):
    """Without wait, "done" means the cloud accepted the request; a job that fails later does
    not show. The summary said "2 done", as if the machines had stopped."""
    machines = MachineList(fetched(dc, emu, name=f"nowait-{i}") for i in range(2))
    quick = machines.stop(confirm=True, progress=False)
    assert quick.counts["done"] == 2
    assert "2 done (accepted, not waited for)" in quick.summary(), quick.summary()
    # each row says so too: a frame filtered on outcome == "done" showed machines still
    # running, with an empty reason
    for row in quick:
        assert row["reason"] == ACCEPTED_ONLY and row["final_state"] == "running", row
    assert "not waited for" in quick._repr_html_()
    assert machines.wait_for("stopped", interval=0.05, progress=False).ok
    waited = machines.start(confirm=True, wait=True, interval=0.05, progress=False)
    assert waited.counts["done"] == 2 and "not waited for" not in waited.summary()
    assert all(row["reason"] is None for row in waited), [row["reason"] for row in waited]
