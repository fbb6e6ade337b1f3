"""Every bulk action: what it sends, what it skips, and what wait=True waits for."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from test_machine_support import FAST, fetched, logged, mutations

from smartdc_nb.bulk import BulkActions
from smartdc_nb.errors import InvalidInputError
from smartdc_nb.machinelist import MachineList

WAIT = {"interval": FAST["interval"], "max_interval": FAST["max_interval"], "progress": False}


def outcome(result, machine) -> dict:
    return next(row for row in result if row["id"] == machine.id)


@pytest.fixture
def pair(emu, dc):
    machines = MachineList([fetched(dc, emu, name="web-a", tags={"role": "web"}),
                            fetched(dc, emu, name="web-b", tags={"role": "web", "old": "x"})])
    emu.clear_requests()
    return machines


def test_start(emu, dc, pair):
    stopped = fetched(dc, emu, state="stopped")
    emu.clear_requests()
    result = MachineList([*pair, stopped]).start(wait=True, **WAIT)
    assert outcome(result, pair[0])["reason"] == "already running"
    assert outcome(result, stopped)["outcome"] == "done" and stopped.state == "running"
    assert [(r["path"], r["query"]) for r in logged(emu, "POST")] == [
        (stopped.path, {"action": "start"})]


def test_reboot_waits_for_each_audit_entry(emu, pair):
    result = pair.reboot(wait=True, **WAIT)
    assert result.counts["done"] == 2
    for m in pair:
        assert m.audit()[0]["action"] == "reboot"


def test_resize(emu, dc, pair):
    kvm = fetched(dc, emu, brand="kvm", package="k4-highcpu-kvm-3.75G")
    on_it = fetched(dc, emu, package="g4-highcpu-2G")
    emu.clear_requests()
    result = MachineList([*pair, kvm, on_it]).resize("g4-highcpu-2G", wait=True, **WAIT)
    package = dc.known_package("g4-highcpu-2G")
    assert outcome(result, kvm)["reason"] == "kvm machines cannot be resized"
    assert outcome(result, on_it)["reason"] == "already on package g4-highcpu-2G"
    assert all(m.package == "g4-highcpu-2G" for m in pair)
    posts = logged(emu, "POST")
    assert [r["query"] for r in posts] == [{"action": "resize", "package": package["id"]}] * 2
    assert len(logged(emu, "GET", "/packages/g4-highcpu-2G")) == 1  # looked up once per DC

    emu.clear_requests()
    bad = pair.resize("g9-nope", **WAIT)
    assert bad.counts["failed"] == 2 and "no package 'g9-nope'" in bad.rows[0]["error"]
    assert mutations(emu) == []


def test_rename_by_template_and_by_callable(emu, dc, pair):
    result = pair.rename("{name}-old", wait=True, **WAIT)
    assert [m.name for m in pair] == ["web-a-old", "web-b-old"]
    assert sorted(r["query"]["name"] for r in logged(emu, "POST")) == ["web-a-old", "web-b-old"]
    assert all(r["query"]["action"] == "rename" for r in logged(emu, "POST"))
    assert result.waited_for == "the new names"
    emu.clear_requests()

    result = pair.rename(lambda m: m.name.replace("-old", ""), wait=True, **WAIT)
    assert [m.name for m in pair] == ["web-a", "web-b"]
    emu.clear_requests()

    same = pair.rename("{name}", **WAIT)
    assert same.counts["skipped"] == 2 and "already named" in same.rows[0]["reason"]
    clash = pair.rename("web-x", **WAIT)
    assert clash.counts == {"done": 1, "failed": 1, "skipped": 0, "not reached": 0,
                            "planned": 0}
    assert "would also be given to" in next(r["error"] for r in clash if r["error"])
    bad = pair.rename("bad name {name}", **WAIT)
    assert bad.counts["failed"] == 2 and "invalid machine name" in bad.rows[0]["error"]
    with pytest.raises(InvalidInputError, match="bad pattern template '{nope}'.*{short_id}"):
        pair.rename("{nope}", **WAIT)
    assert len(logged(emu, "POST")) == 1  # only the clash's first machine was renamed


def test_create_snapshot_by_template_and_wait_for_created(emu, dc, pair):
    kvm = fetched(dc, emu, brand="kvm")
    emu.clear_requests()
    result = MachineList([*pair, kvm]).create_snapshot("pre-{date}-{short_id}", wait=True, **WAIT)
    today = datetime.now(timezone.utc).strftime("%Y%m%d")
    bodies = sorted(r["body"]["name"] for r in logged(emu, "POST"))
    assert bodies == sorted(f"pre-{today}-{m.id[:8]}" for m in pair)
    assert outcome(result, kvm)["reason"].startswith("kvm machines cannot be snapshotted")
    assert result.counts["done"] == 2 and outcome(result, pair[0])["final_state"] == "running"
    assert outcome(result, pair[0])["history"][-1][1] == "created"
    assert [s.state for m in pair for s in m.snapshots()] == ["created", "created"]
    default = pair.create_snapshot(**WAIT)
    assert default.counts["done"] == 2
    assert all(len(r["body"]["name"]) == 16 for r in logged(emu, "POST")[-2:])


def test_a_snapshot_name_a_machine_has_is_skipped_by_the_bulk_run_as_the_plan_refuses_it(
        emu, dc):
    """On Machines that never listed their snapshots, the bulk method's dry run said "planned"
    for a machine that has a 'nightly' and its run said "failed" (the machine's own check, a
    GET each) while the plan refused it: the run now lists them first, as planning does, and
    all three give the rules' words."""
    has = fetched(dc, emu, name="b-taken", snapshots=["nightly"])
    free = fetched(dc, emu, name="b-free")

    def fresh():  # as a notebook has them from dc.machines(): snapshots never listed
        return MachineList([dc.machine(has.id), dc.machine(free.id)])

    plan = fresh().plan("create_snapshot", "nightly")
    reason = outcome(plan.frame.to_dict("records"), has)["reason"]
    assert "already has a snapshot 'nightly' (created)" in reason
    dry = fresh().create_snapshot("nightly", dry_run=True, progress=False)
    assert (outcome(dry, has)["outcome"], outcome(dry, has)["reason"]) == ("skipped", reason)
    emu.clear_requests()
    run = fresh().create_snapshot("nightly", progress=False)
    assert (outcome(run, has)["outcome"], outcome(run, has)["reason"]) == ("skipped", reason)
    assert [r["path"] for r in logged(emu, "POST")] == [f"{free.path}/snapshots"]


def test_start_from_snapshot_and_delete_snapshot(emu, pair):
    pair.create_snapshot("golden", wait=True, **WAIT)
    emu.clear_requests()
    rolled = pair.start_from_snapshot("golden", confirm=True, wait=True, **WAIT)
    assert rolled.counts["done"] == 2 and rolled.waited_for == "the rollback done"
    assert sorted(r["path"] for r in logged(emu, "POST")) == sorted(
        f"{m.path}/snapshots/golden" for m in pair)
    assert all(m.audit()[0]["action"] == "rollback_snapshot" for m in pair)

    emu.clear_requests()
    deleted = pair.delete_snapshot("golden", confirm=True, wait=True, **WAIT)
    assert deleted.counts["done"] == 2
    assert sorted((r["method"], r["path"]) for r in mutations(emu)) == sorted(
        ("DELETE", f"{m.path}/snapshots/golden") for m in pair)
    assert all(m.snapshots() == [] for m in pair)
    again = pair.delete_snapshot("golden", confirm=True, **WAIT)
    assert again.counts["skipped"] == 2 and "has no snapshot 'golden'" in again.rows[0]["reason"]


def test_tags(emu, pair):
    added = pair.add_tags({"tier": "front"}, stage="blue", wait=True, **WAIT)
    assert [r["body"] for r in logged(emu, "POST")] == [{"tier": "front", "stage": "blue"}] * 2
    assert added.counts["done"] == 2 and all(m.tags["stage"] == "blue" for m in pair)
    again = pair.add_tags(stage="blue", **WAIT)
    assert again.counts["skipped"] == 2 and again.rows[0]["reason"] == "the tags are already set"
    emu.clear_requests()

    dropped = pair.delete_tags("old", "missing", wait=True, **WAIT)
    assert outcome(dropped, pair[0])["reason"] == "has none of these tags"
    assert [r["path"] for r in mutations(emu)] == [f"{pair[1].path}/tags/old"]
    assert "old" not in pair[1].tags
    emu.clear_requests()

    replaced = pair.replace_tags({"role": "api"}, wait=True, **WAIT)
    assert [(r["method"], r["body"]) for r in mutations(emu)] == [("PUT", {"role": "api"})] * 2
    assert replaced.counts["done"] == 2 and all(m.tags == {"role": "api"} for m in pair)
    with pytest.raises(InvalidInputError, match="unknown special tag"):
        pair.add_tags({"triton.bogus": "x"})


def test_update_metadata(emu, pair):
    result = pair.update_metadata({"app-version": "2.0"}, wait=True, **WAIT)
    assert [r["body"] for r in logged(emu, "POST")] == [{"app-version": "2.0"}] * 2
    assert result.counts["done"] == 2
    assert all(m.metadata["app-version"] == "2.0" for m in pair)
    with pytest.raises(InvalidInputError, match="metadata values are text"):
        pair.update_metadata(replicas=3)


def test_delete(emu, dc, pair):
    protected = fetched(dc, emu, deletion_protection=True)
    emu.clear_requests()
    result = MachineList([*pair, protected]).delete(confirm=True, wait=True, **WAIT)
    assert outcome(result, protected)["reason"].startswith("deletion protection is on")
    assert sorted((r["method"], r["path"]) for r in mutations(emu)) == sorted(
        ("DELETE", m.path) for m in pair)
    assert all(m.state == "deleted" for m in pair) and result.waited_for == "deleted"
    again = MachineList(pair).delete(confirm=True, **WAIT)
    assert again.rows[0]["reason"] == "already deleted"


def test_the_mixin_acts_over_any_selection(emu, dc, pair):
    class Tier(BulkActions):
        def __init__(self, machines):
            self.machines = machines

        def _bulk_targets(self):
            return [m for m in self.machines if m.name.endswith("-b")]

    result = Tier(pair).reboot(**WAIT)
    assert [r["name"] for r in result] == ["web-b"] and len(logged(emu, "POST")) == 1
    with pytest.raises(NotImplementedError):
        BulkActions().start()
