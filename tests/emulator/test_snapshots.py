"""Snapshot states as real CloudAPI shows them (sdc-cloudapi lib/snapshots.js).

CloudAPI builds a snapshot's state from two sources: the snapshots VMAPI has on the
machine (``vm.snapshots``, which gets one once the compute node took it, partway through
the create job) and VMAPI's
snapshot-task jobs (create, rollback and delete, newest first), translated by
``translate()``: ``succeeded`` -> ``created``, any other execution verbatim.

* GetMachineSnapshot: no job for the name -> 404 ``Snapshot does not exist``; the machine
  lacks the snapshot -> ``deleted`` (not taken yet, its create job failed, or deleted);
  else the NEWEST job's execution (its create job, having taken it, or a rollback or
  delete in progress shows ``queued`` / ``running``; a failed one ``failed``).
* ListMachineSnapshots: only the snapshots the machine has; state from the OLDEST job
  (``forEach`` over newest-first jobs: the last write wins).
"""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def manual(emu):
    """Time stands still; ``emu.step()`` ends the next pending job."""
    emu.clock.set_manual(True)
    yield emu
    emu.clock.reset()


def get(api, machine_id, name):
    response = api.get(f"/my/machines/{machine_id}/snapshots/{name}")
    return response.status, response.json()


def state(api, machine_id, name):
    status, body = get(api, machine_id, name)
    assert status == 200, body
    return body.get("state")


def listed(api, machine_id):
    return {s["name"]: s.get("state") for s in
            api.get(f"/my/machines/{machine_id}/snapshots").json()}


def audit(api, machine_id):
    return api.get(f"/my/machines/{machine_id}/audit").json()


def test_a_snapshot_is_deleted_until_made_then_shows_its_newest_job(manual, api, machine_id):
    path = f"/my/machines/{machine_id}/snapshots"
    created = api.post(path, json={"name": "before"})
    assert (created.status, created.json()) == (201, {"name": "before", "state": "queued"})
    # the job is queued; VMAPI's machine has no such snapshot yet
    assert get(api, machine_id, "before") == (200, {"name": "before", "state": "deleted"})
    assert "before" not in listed(api, machine_id)
    manual.step()
    status, body = get(api, machine_id, "before")
    assert status == 200 and body["state"] == "created" and body["size"] > 0
    assert body["created"] == body["updated"]
    assert listed(api, machine_id) == {"before": "created"}
    # booting from it: the newest job on that name is the rollback, queued
    assert api.post(f"{path}/before").status == 202
    assert state(api, machine_id, "before") == "queued"
    assert listed(api, machine_id) == {"before": "created"}  # the oldest job: the create
    manual.step()
    assert state(api, machine_id, "before") == "created"
    assert api.delete(f"{path}/before").status == 204
    assert state(api, machine_id, "before") == "queued"
    manual.step()
    assert get(api, machine_id, "before") == (200, {"name": "before", "state": "deleted"})
    assert listed(api, machine_id) == {}
    assert api.delete(f"{path}/before").json() == {"code": "ResourceNotFound",
                                                   "message": "before not found"}
    assert get(api, machine_id, "never") == (404, {"code": "ResourceNotFound",
                                                   "message": "Snapshot does not exist"})
    # made again under the same name: deleted until the new job made it
    api.post(path, json={"name": "before"})
    assert state(api, machine_id, "before") == "deleted"
    manual.step()
    assert state(api, machine_id, "before") == "created"
    actions = [e["action"] for e in audit(api, machine_id)]
    assert actions[:4] == ["create_snapshot", "delete_snapshot", "rollback_snapshot",
                           "create_snapshot"]


def test_a_create_job_that_fails_leaves_no_snapshot_shown_deleted(manual, api, machine_id):
    path = f"/my/machines/{machine_id}/snapshots"
    assert api.post(path, json={"name": "bad name!"}).status == 201  # the compute node refuses
    manual.step()
    assert get(api, machine_id, "bad%20name!") == (200, {"name": "bad name!", "state": "deleted"})
    assert listed(api, machine_id) == {}
    latest = audit(api, machine_id)[0]
    assert (latest["action"], latest["success"]) == ("create_snapshot", "no")


def test_a_failed_job_on_an_existing_snapshot_shows_failed_but_lists_created(
        manual, api, machine_id):
    path = f"/my/machines/{machine_id}/snapshots"
    api.post(path, json={"name": "twice"})
    manual.step()
    assert api.post(path, json={"name": "twice"}).status == 201  # the name is taken: job fails
    manual.step()
    assert audit(api, machine_id)[0]["success"] == "no"
    assert state(api, machine_id, "twice") == "failed"
    assert listed(api, machine_id) == {"twice": "created"}
    manual.datacenter("us-east-1").fail_next("delete_snapshot")
    assert api.delete(f"{path}/twice").status == 204
    manual.step()
    assert state(api, machine_id, "twice") == "failed"
    assert listed(api, machine_id) == {"twice": "created"}  # still there


def test_a_job_shows_running_once_started(manual, api, machine_id):
    path = f"/my/machines/{machine_id}/snapshots"
    api.post(path, json={"name": "s"})
    manual.step()
    manual.set_durations(delete_snapshot=3.0)
    api.delete(f"{path}/s")
    assert state(api, machine_id, "s") == "queued"
    manual.clock.advance(2.0)
    assert state(api, machine_id, "s") == "running"
    manual.step()
    assert state(api, machine_id, "s") == "deleted"


def test_seeded_snapshots_list_and_show_created(emu, api):
    machine_id = emu.datacenter("us-east-1").put_machine(name="seeded", snapshots=["nightly"])
    assert listed(api, machine_id) == {"nightly": "created"}
    assert state(api, machine_id, "nightly") == "created"


def test_a_canceled_job_shows_canceled(manual, api, machine_id):
    path = f"/my/machines/{machine_id}/snapshots"
    api.post(path, json={"name": "c"})
    manual.step()
    manual.datacenter("us-east-1").fail_next("rollback_snapshot", canceled=True)
    assert api.post(f"{path}/c").status == 202
    manual.step()
    assert state(api, machine_id, "c") == "canceled"
    assert listed(api, machine_id) == {"c": "created"}
    latest = audit(api, machine_id)[0]
    assert (latest["action"], latest["success"]) == ("rollback_snapshot", "no")


def test_the_admin_api_cancels_the_next_job_too(manual, api, machine_id):
    """``fail_next(..., canceled=True)`` had no HTTP form: a test or a demo driving the
    emulator from another process (the triton CLI's, a notebook's) could fail a job but not
    cancel one. ``POST /__emulator/fail-next`` takes ``"canceled": true``."""
    from test_throttle_faults import admin

    path = f"/my/machines/{machine_id}/snapshots"
    api.post(path, json={"name": "c"})
    manual.step()
    status, body = admin(manual, "POST", "fail-next",
                         {"action": "rollback_snapshot", "canceled": True})
    assert status == 200 and body["cancel_next"] == {"rollback_snapshot": 1}, body
    assert body["fail_next"] == {}
    assert api.post(f"{path}/c").status == 202
    manual.step()
    assert state(api, machine_id, "c") == "canceled"
    status, body = admin(manual, "POST", "fail-next", {"action": "stop", "canceled": "yes"})
    assert status == 400 and "canceled" in json.dumps(body), body


def test_a_create_jobs_snapshot_is_on_the_machine_partway_through(manual, api, machine_id):
    """VMAPI's snapshot job waits for the machine's ticket, then the compute node takes the
    zfs snapshot and the machine has it (vm-agent; CloudAPI's GET of the machine syncs) while
    the job still polls the task, refreshes the VM and releases the ticket. So, with the job
    still running, GET shows its execution instead of ``deleted``, the list has it (its job's
    execution as state), and CloudAPI deletes it (it loads the machine's snapshots)."""
    manual.set_durations(create_snapshot=3.0, delete_snapshot=3.0)
    path = f"/my/machines/{machine_id}/snapshots"
    api.post(path, json={"name": "mid"})
    manual.clock.advance(1.5)  # running: ticket held, the compute node not done yet
    assert get(api, machine_id, "mid") == (200, {"name": "mid", "state": "deleted"})
    assert listed(api, machine_id) == {}
    manual.clock.advance(1.0)  # the zfs snapshot is taken; the job still runs
    status, body = get(api, machine_id, "mid")
    assert status == 200 and body["state"] == "running" and body["size"] > 0, body
    assert body["created"] == body["updated"]
    assert listed(api, machine_id) == {"mid": "running"}
    taken = body["created"]
    manual.step()
    status, body = get(api, machine_id, "mid")
    assert (body["state"], body["created"]) == ("created", taken)  # made when taken, not later
    assert listed(api, machine_id) == {"mid": "created"}
    assert audit(api, machine_id)[0]["action"] == "create_snapshot"


def test_a_mid_job_snapshot_can_be_deleted_and_its_name_is_taken(manual, api, machine_id):
    manual.set_durations(create_snapshot=3.0)
    path = f"/my/machines/{machine_id}/snapshots"
    api.post(path, json={"name": "busy"})
    manual.clock.advance(2.5)
    assert api.post(path, json={"name": "busy"}).status == 201  # VMAPI's job will refuse it
    assert api.delete(f"{path}/busy").status == 204
    assert state(api, machine_id, "busy") == "queued"  # the newest job: the delete
    assert listed(api, machine_id) == {"busy": "running"}  # the oldest: the create
    manual.step()  # the create ends
    manual.step()  # the second create fails: the machine has it
    assert audit(api, machine_id)[0]["success"] == "no"
    assert state(api, machine_id, "busy") == "queued"
    manual.step()
    assert get(api, machine_id, "busy") == (200, {"name": "busy", "state": "deleted"})


def test_a_name_made_again_lists_its_first_job_while_the_new_one_runs(manual, api, machine_id):
    path = f"/my/machines/{machine_id}/snapshots"
    api.post(path, json={"name": "again"})
    manual.step()
    api.delete(f"{path}/again")
    manual.step()
    manual.set_durations(create_snapshot=3.0)
    api.post(path, json={"name": "again"})
    manual.clock.advance(2.5)
    assert state(api, machine_id, "again") == "running"
    assert listed(api, machine_id) == {"again": "created"}  # CloudAPI keeps the oldest job's


def test_a_create_job_that_fails_never_shows_its_snapshot(manual, api, machine_id):
    """The emulator fails a job before the compute node's snapshot step (as a refused
    ``vmadm create-snapshot`` does): the machine never has it, mid-job or after."""
    manual.set_durations(failed_job=3.0)
    manual.datacenter("us-east-1").fail_next("create_snapshot")
    path = f"/my/machines/{machine_id}/snapshots"
    api.post(path, json={"name": "doomed"})
    manual.clock.advance(2.5)
    assert state(api, machine_id, "doomed") == "deleted" and listed(api, machine_id) == {}
    manual.step()
    assert state(api, machine_id, "doomed") == "deleted" and listed(api, machine_id) == {}


def test_a_mid_job_snapshot_survives_a_restart(tmp_path, triton_keys):
    """The snapshot taken mid-job is derived from the persisted job (its start and end)."""
    from emu_client import Client

    from smartdc_nb.emulator import Emulator

    path = tmp_path / "cloud.sqlite"
    accounts = {"demo": [triton_keys["rsa"].public_line]}
    with Emulator(accounts=accounts, state=str(path), machines=2) as emu:
        emu.clock.set_manual(True)
        start = emu.clock.now()
        emu.set_durations(create_snapshot=300.0)
        machine = emu.datacenter("us-east-1").put_machine(name="persisted")
        api = Client(emu.url, triton_keys["rsa"])
        assert api.post(f"/my/machines/{machine}/snapshots", json={"name": "p"}).status == 201
        emu.clock.advance(250.0)
        assert listed(api, machine) == {"p": "running"}
        api.close()
    with Emulator(accounts=accounts, state=str(path), machines=2) as emu:
        emu.clock.set_manual(True, start=start + 250.0)
        api = Client(emu.url, triton_keys["rsa"])
        assert listed(api, machine) == {"p": "running"}
        assert state(api, machine, "p") == "running"
        emu.clock.advance(100.0)
        assert listed(api, machine) == {"p": "created"}
        api.close()


def test_a_create_job_failing_after_its_snapshot_step_leaves_the_snapshot_failed(
        manual, api, machine_id):
    """VMAPI's snapshot job has nothing that undoes the compute node's snapshot (its onerror
    only releases the machine's ticket): a job failing after that step (refreshing the VM,
    releasing the ticket) leaves the snapshot on the machine, its job ``failed``."""
    from test_throttle_faults import admin

    manual.set_durations(create_snapshot=3.0)
    manual.datacenter("us-east-1").fail_next("create_snapshot", after_snapshot=True)
    path = f"/my/machines/{machine_id}/snapshots"
    api.post(path, json={"name": "half"})
    manual.clock.advance(2.5)
    assert (state(api, machine_id, "half"), listed(api, machine_id)) == \
        ("running", {"half": "running"})
    manual.step()
    assert (state(api, machine_id, "half"), listed(api, machine_id)) == \
        ("failed", {"half": "failed"})
    latest = audit(api, machine_id)[0]
    assert (latest["action"], latest["success"]) == ("create_snapshot", "no")
    assert api.delete(f"{path}/half").status == 204  # it is there to delete
    manual.step()
    assert get(api, machine_id, "half") == (200, {"name": "half", "state": "deleted"})
    status, body = admin(manual, "POST", "fail-next",
                         {"action": "create_snapshot", "after_snapshot": True})
    assert status == 200 and body["fail_after_snapshot"] == {"create_snapshot": 1}, body
    for wrong in ({"action": "stop", "after_snapshot": True},
                  {"action": "create_snapshot", "after_snapshot": "yes"},
                  {"action": "create_snapshot", "after_snapshot": True, "canceled": True}):
        status, body = admin(manual, "POST", "fail-next", wrong)
        assert status == 400 and "after_snapshot" in json.dumps(body), (wrong, body)
