"""Snapshot: the seed's proxy of one machine snapshot, fixed (B9, B13) and waitable."""

from __future__ import annotations

import copy
import html

import pytest
from test_machine_support import FAST, fetched

from smartdc_nb.errors import ConflictError, InvalidInputError, NotFoundError, WaitFailed
from smartdc_nb.machine import Snapshot


@pytest.fixture
def m(emu, dc):
    machine = fetched(dc, emu, name="snap-01", snapshots=["nightly"])
    emu.clear_requests()
    return machine


def test_by_name_fetches_and_by_payload_does_not(emu, m):
    snap = Snapshot(m, "nightly")
    assert [r["path"] for r in emu.requests] == [f"{m.path}/snapshots/nightly"]
    assert (snap.name, snap.state, snap.machine) == ("nightly", "created", m)
    assert snap.size and snap.created and snap.created.tzinfo is not None
    assert snap.path == f"{m.path}/snapshots/nightly"

    payload = {"name": "fresh", "state": "queued"}
    original = copy.deepcopy(payload)
    emu.clear_requests()
    bare = Snapshot(m, data=payload)
    assert emu.requests == [] and payload == original
    assert bare.updated is None and bare.created is None and bare.size is None  # py-smartdc B9
    assert Snapshot(m, "named", data={"state": "queued"}).name == "named"
    with pytest.raises(InvalidInputError):
        Snapshot(m)


def test_refresh_status_delete(emu, m):
    snap = Snapshot(m, data={"name": "nightly"})
    assert snap.refresh() is snap and snap.state == "created"
    assert snap.status() == "created"
    emu.clear_requests()
    assert snap.delete() is snap
    assert [(r["method"], r["path"]) for r in emu.requests] == [
        ("DELETE", f"{m.path}/snapshots/nightly")]
    snap.wait_for("deleted", **FAST)
    with pytest.raises(NotFoundError):
        Snapshot(m, "never-made")


def test_start_boots_the_machine_from_it_and_returns_the_snapshot(emu, m):
    snap = Snapshot(m, "nightly")
    emu.clear_requests()
    assert snap.start() is snap  # py-smartdc B13 returned the machine
    assert [(r["method"], r["path"], r["body"]) for r in emu.requests] == [
        ("POST", f"{m.path}/snapshots/nightly", None)]
    assert m.pending_action.action == "rollback_snapshot"
    m.wait_for("running", **FAST)


def test_wait_for_created(emu, m):
    snap = m.create_snapshot("pre-change")
    assert snap.state == "queued"
    assert snap.wait_for(**FAST) is snap
    assert snap.state == "created" and snap.size


def test_a_snapshot_is_deleted_until_its_job_made_it_and_the_wait_goes_on(emu, m):
    # CloudAPI's GetMachineSnapshot says "deleted" for a snapshot the machine lacks, even
    # while its create job is queued (sdc-cloudapi lib/snapshots.js get)
    emu.clock.set_manual(True)
    try:
        snap = m.create_snapshot("pending")
        assert snap.status() == "deleted"
        emu.step()
        assert snap.wait_for("created", **FAST) is snap and snap.state == "created"
    finally:
        emu.clock.reset()


def test_a_create_job_that_fails_ends_the_wait_with_its_audit_entry(emu, m):
    # the job never made the snapshot: CloudAPI shows it "deleted", only the audit log
    # says the job failed
    emu.datacenter("us-east-1").fail_next("create_snapshot")
    snap = m.create_snapshot("doomed")
    with pytest.raises(WaitFailed, match="the 'create_snapshot' job on snapshot doomed of "
                                         "snap-01 .* did not succeed: .*no snapshot doomed was "
                                         "made: its job failed or was canceled") as info:
        snap.wait_for("created", **FAST)
    assert info.value.last_state == "deleted"
    assert [s for _, s in info.value.history] == ["deleted"]
    assert info.value.audit and info.value.audit[0]["action"] == "create_snapshot"


def test_booting_from_a_snapshot_whose_create_job_failed_is_refused_before_sending(emu, dc, m):
    # the cloud shows it 'deleted' (the machine lacks it): a rollback would be taken with 202
    # and its job fail, so the Snapshot read from the cloud says so before sending, as a
    # plan or Machine.start_from_snapshot do, even on a Machine that never listed its snapshots
    emu.datacenter("us-east-1").fail_next("create_snapshot")
    with pytest.raises(WaitFailed):
        m.create_snapshot("doomed").wait_for("created", **FAST)
    snap = Snapshot(dc.machine(m.id), "doomed")
    assert snap.state == "deleted"
    emu.clear_requests()
    with pytest.raises(ConflictError, match="snapshot doomed is deleted: the machine does not "
                                            "have it"):
        snap.start()
    assert [r for r in emu.requests if r["method"] == "POST"] == []


def test_a_failed_job_on_a_snapshot_is_explained_and_leaves_it_bootable(emu, m):
    from smartdc_nb import rules

    emu.datacenter("us-east-1").fail_next("delete_snapshot")
    m.snapshot("nightly").delete()
    with pytest.raises(WaitFailed):
        m.snapshot("nightly").wait_for("deleted", timeout=10, **FAST)
    failed = m.snapshot("nightly")  # still on the machine; its newest job failed
    assert failed.state == "failed"
    with pytest.raises(WaitFailed, match="nightly of snap-01 .* is failed .*newest create, "
                                         "rollback or delete job"):
        failed.wait_for("created", timeout=10, **FAST)
    assert rules.why_not("start_from_snapshot", m, failed) is None
    assert failed.start() is failed
    m.wait_for("running", timeout=10, **FAST)
    assert m.audit()[0]["action"] == "rollback_snapshot" and m.audit()[0]["success"] == "yes"


def test_a_canceled_job_ends_a_snapshot_wait_with_words(emu, m):
    emu.datacenter("us-east-1").fail_next("rollback_snapshot", canceled=True)
    m.snapshot("nightly").start()
    with pytest.raises(WaitFailed, match="nightly of snap-01 .* is canceled .*newest create, "
                                         "rollback or delete job"):
        Snapshot(m, data={"name": "nightly"}).wait_for("created", timeout=5, **FAST)


def test_a_canceled_delete_is_said_canceled_not_refused_by_the_wait_that_sent_it(emu, m):
    # the wait after .delete() reads the audit entry (success "no"); the snapshot itself shows
    # 'canceled' (an operator canceled the job): "the cloud refused" was not what happened
    emu.datacenter("us-east-1").fail_next("delete_snapshot", canceled=True)
    with pytest.raises(WaitFailed) as info:
        m.snapshot("nightly").delete().wait_for("deleted", timeout=10, **FAST)
    text = str(info.value)
    assert info.value.last_state == "canceled" and "refused" not in text
    assert text.startswith(f"the 'delete_snapshot' job on snapshot nightly of {m.label} was "
                           "canceled (its snapshot shows 'canceled')")
    assert 'the audit log records it with success "no"' in text


def test_a_refused_delete_ends_the_wait(emu, m):
    emu.datacenter("us-east-1").fail_next("delete_snapshot")
    snap = m.snapshot("nightly").delete()
    with pytest.raises(WaitFailed, match="refused 'delete_snapshot'"):
        snap.wait_for("deleted", timeout=10, **FAST)


def test_identity_and_reprs(emu, m):
    a, b = Snapshot(m, data={"name": "nightly"}), m.snapshot("nightly")
    assert a == b and hash(a) == hash(b) and a != Snapshot(m, data={"name": "other"})
    assert repr(b) == f"<Snapshot nightly created of snap-01 ({m.id})>"
    count = len(emu.requests)
    page = b._repr_html_()
    assert "nightly" in page and len(emu.requests) == count


def test_a_machines_snapshot_list_displays_as_a_table(emu, m):
    snapshots = m.snapshots()
    emu.clear_requests()
    page = snapshots._repr_html_()
    assert "nightly" in page and "<table" in page
    assert emu.requests == []  # displaying it asks nothing
    assert list(snapshots) == m.known_snapshots


def test_booting_a_stopped_machine_from_a_snapshot_starts_it(emu, m):
    # CloudAPI's rollback job skips the stop, rolls back and starts the machine
    m.stop().wait_for("stopped", **FAST)
    snap = Snapshot(m, "nightly")
    assert snap.start() is snap
    m.wait_for("running", timeout=10, **FAST)
    assert m.state == "running" and m.audit()[0]["action"] == "rollback_snapshot"


def test_a_snapshot_card_says_what_cloudapis_deleted_means(emu, m):
    """CloudAPI shows 'deleted' for a snapshot the machine does not have, including one its
    create job has not made yet: the card said only 'deleted', which reads as gone. It says
    the snapshot is not on the machine and why that can be, the create this object sent
    included, without a request."""
    emu.clock.set_manual(True)
    try:
        snap = m.create_snapshot("pending")
        snap.refresh()
        count = len(emu.requests)
        page = snap._repr_html_()
        assert len(emu.requests) == count
        assert "not made (CloudAPI: deleted)" in page
        assert "its create job was sent" in page and "s.wait_for()" in page
        other = m.snapshot("nightly")
        other.raw["state"] = "deleted"  # as GET shows one deleted since
        page = other._repr_html_()
        assert "not on the machine (CloudAPI: deleted)" in page and "create job was sent" not in page
        assert "not made" not in m.snapshot("nightly")._repr_html_()
    finally:
        emu.clock.reset()


def test_a_canceled_create_is_not_said_to_be_only_a_refusal(emu, m):
    """A create job an operator canceled leaves what a failed one leaves: the snapshot shown
    'deleted' and an audit entry with success "no". The wait said the cloud refused it, which
    for a cancel is wrong; CloudAPI gives nothing to tell the two apart, so it says both."""
    emu.datacenter("us-east-1").fail_next("create_snapshot", canceled=True)
    snap = m.create_snapshot("stopped-by-an-operator")
    with pytest.raises(WaitFailed) as info:
        snap.wait_for("created", **FAST)
    text = str(info.value)
    assert "no snapshot stopped-by-an-operator was made" in text, text
    assert "failed or was canceled" in text, text


def test_a_machine_without_snapshots_lists_them_as_no_snapshots(emu, dc):
    """m.snapshots() of a machine with none showed a card 'Machines: 0 machines, no
    machines' (an empty list was taken for a list of machines): it is 0 snapshots."""
    bare = fetched(dc, emu, name="snap-none")
    listed = bare.snapshots()
    assert listed == []
    page = listed._repr_html_()
    assert "0 snapshots" in page and "no snapshots" in page
    assert "0 machines" not in page and "no machines" not in page


def test_a_snapshot_whose_create_failed_says_so_on_its_card(emu, m):
    """After s.wait_for() named the create job's failure from the audit log, the card still
    said 'not made (CloudAPI: deleted)', that CloudAPI shows deleted 'until the job makes
    it' and that s.wait_for() waits for it: the failure the wait had just named was lost."""
    emu.datacenter("us-east-1").fail_next("create_snapshot")
    snap = m.create_snapshot("will-fail")
    with pytest.raises(WaitFailed, match="did not succeed"):
        snap.wait_for(timeout=10, **FAST)
    assert snap.state == "deleted"
    page = html.unescape(snap._repr_html_())
    assert "not made (its create job did not succeed)" in page
    assert 'success "no"' in page and "until the job makes it" not in page
    assert "s.wait_for() waits for it" not in page
