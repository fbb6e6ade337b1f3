"""Refused actions are said, in words: nothing is reported done that the cloud did not do.

CloudAPI accepts most actions with 202 and checks them in a job, recording a refusal only in
the machine's audit log (``success: "no"``). What the client can know, it says before sending
(a snapshot name already taken, a machine already in the wanted state); what only the job can
know, the wait reports from the audit log, naming the entry.
"""

from __future__ import annotations

import warnings

import pytest
from test_machine_support import FAST, fetched, mutations

from smartdc_nb.errors import (ActionSkippedWarning, ConflictError, InvalidArgumentError,
                               NotFoundError, WaitFailed)


@pytest.fixture
def m(emu, dc):
    machine = fetched(dc, emu, name="refuse-01", snapshots=["nightly"])
    emu.clear_requests()
    return machine


def audit_of(emu, machine) -> list[dict]:
    return emu.state.datacenters["us-east-1"].machines[machine.id].audit


# ------------------------------------------------------------ snapshots


def test_a_snapshot_name_taken_is_refused_before_sending(emu, m):
    first = m.create_snapshot("before-upgrade").wait_for("created", **FAST)
    emu.clear_requests()
    with pytest.raises(ConflictError, match="already has a snapshot 'before-upgrade'.*nothing "
                                            "was sent"):
        m.create_snapshot("before-upgrade").wait_for("created", **FAST)
    assert mutations(emu) == []
    assert first.state == "created"
    assert [e["action"] for e in audit_of(emu, m)].count("create_snapshot") == 1


def test_a_snapshot_name_freed_elsewhere_is_checked_before_refusing(emu, m, dc):
    assert [s.name for s in m.snapshots()] == ["nightly"]  # listed: m knows 'nightly'
    elsewhere = dc.machine(m.id)
    elsewhere.snapshot("nightly").delete().wait_for("deleted", **FAST)
    emu.clear_requests()
    # m's list is stale: the fresh one says the name is free (it refused, advising to delete a
    # snapshot that no longer exists)
    m.create_snapshot("nightly").wait_for("created", **FAST)
    assert [r["path"] for r in mutations(emu)] == [f"/demo/machines/{m.id}/snapshots"]


def test_a_snapshot_the_job_refuses_ends_the_wait_with_the_audit_entry(emu, m, dc):
    m.snapshots()  # known: only "nightly"
    machine = emu.state.datacenters["us-east-1"].machines[m.id]
    with emu.state.lock:  # another client took the name a minute ago
        created = emu.state.clock.now() - 60
        machine.snapshots["taken"] = {"name": "taken", "state": "created", "created": created,
                                      "size": 10}
    with pytest.raises(WaitFailed) as err:
        m.create_snapshot("taken").wait_for("created", **FAST)
    text = str(err.value)
    assert "refused 'create_snapshot'" in text and 'success "no"' in text
    assert "already existed" in text
    entry = audit_of(emu, m)[-1]
    assert (entry["action"], entry["success"]) == ("create_snapshot", "no") and entry["time"] in text


def test_booting_from_a_missing_snapshot_says_so(emu, m):
    with pytest.raises(NotFoundError, match="refuse-01 .* has no snapshot 'never-made'"):
        m.start_from_snapshot("never-made")
    m.snapshots()
    emu.clear_requests()
    # the same class whether the server said it or the listing did: except NotFoundError works
    with pytest.raises(NotFoundError, match="no snapshot 'gone-too'.*nothing was sent") as info:
        m.start_from_snapshot("gone-too")
    assert info.value.status == 404 and str(info.value).count("as of") == 1
    assert mutations(emu) == []


def test_booting_from_a_snapshot_the_job_refuses_ends_the_wait(emu, m):
    emu.datacenter("us-east-1").fail_next("rollback_snapshot")
    with pytest.raises(WaitFailed, match="refused 'rollback_snapshot'.*success \"no\""):
        m.start_from_snapshot("nightly").wait_for("running", **FAST)


# ------------------------------------------------------------ machine actions


def test_stop_of_a_stopped_machine_is_said_and_sends_nothing(emu, m):
    m.stop().wait_for("stopped", **FAST)
    emu.clear_requests()
    with pytest.warns(ActionSkippedWarning, match="stop of refuse-01 .* skipped: already "
                                                  "stopped.*nothing was sent"):
        assert m.stop() is m
    assert mutations(emu) == [] and m.pending_action is None
    assert m.wait_for("stopped", **FAST) is m


def test_start_of_a_running_machine_is_said_and_sends_nothing(emu, m):
    with pytest.warns(ActionSkippedWarning, match="already running"):
        m.start()
    assert mutations(emu) == []
    assert [e["action"] for e in audit_of(emu, m)] == ["provision"]


def test_a_stale_payload_is_checked_before_skipping(emu, m, dc):
    dc.machine(m.id).stop().wait_for("stopped", **FAST)  # stopped elsewhere; m still says running
    emu.clear_requests()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.start().wait_for("running", **FAST)  # the fresh state says stopped: start is sent
    assert [r["method"] for r in mutations(emu)] == ["POST"]


def test_an_action_right_after_another_is_sent(emu, m):
    # the state may not show the first action yet: the cloud decides, the wait reports
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.stop()
        m.start()
    assert [r["query"]["action"] for r in mutations(emu)] == ["stop", "start"]
    m.wait_for("running", **FAST)


def test_reboot_of_a_stopped_machine_is_refused_before_sending(emu, m):
    m.stop().wait_for("stopped", **FAST)
    emu.clear_requests()
    with pytest.raises(ConflictError, match="reboot needs a running machine; it is stopped"):
        m.reboot()
    assert mutations(emu) == []


def test_a_resize_the_job_refuses_ends_the_wait_with_the_audit_entry(emu, m, dc):
    pkg = next(p for p in dc.packages() if p["name"] != m.package and p["memory"] >= m.memory)
    emu.datacenter("us-east-1").fail_next("resize")
    with pytest.raises(WaitFailed, match="refused 'resize'.*success \"no\" at"):
        m.resize(pkg["name"]).wait_for("running", **FAST)


def test_rename_to_a_taken_name_says_which_machine_has_it(emu, m, dc):
    fetched(dc, emu, name="taken-name")
    with pytest.raises(InvalidArgumentError, match="another machine .* is already named "
                                                   "'taken-name'"):
        m.rename("taken-name")
    assert m.refresh().name == "refuse-01"
    with pytest.warns(ActionSkippedWarning, match="already named refuse-01"):
        m.rename("refuse-01")


@pytest.mark.parametrize("toggle, flag", [("enable_firewall", "firewall_enabled")])
def test_a_firewall_change_the_job_refused_ends_the_wait_as_refused_not_timed_out(emu, m,
                                                                                    toggle, flag):
    # CloudAPI's audit log names a firewall change "unknown"; its success "no" is the refusal
    emu.datacenter("us-east-1").fail_next(toggle)
    refused = r"refused .unknown.*success \"no\".*firewall change"
    with pytest.raises(WaitFailed, match=refused) as caught:
        getattr(m, toggle)().wait_until(lambda machine: machine.raw.get(flag), "firewall on",
                                        timeout=5, **FAST)
    assert type(caught.value) is WaitFailed  # was: WaitTimeout after the whole timeout
    assert not m.refresh().raw.get(flag)
