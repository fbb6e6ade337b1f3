"""State changes take time, computed from timestamps (timeline.py)."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

import pytest
from polling import eventually

from smartdc_nb.emulator import DEFAULT_DURATIONS
from smartdc_nb.emulator.timeline import Timing


def state_of(api, machine_id):
    return api.get(f"/my/machines/{machine_id}").json()["state"]


@pytest.fixture
def manual(emu):
    """The emulator's clock stopped: it moves only when the test says (no sleeping)."""
    emu.clock.set_manual(True)
    return emu.clock


def test_reboot_passes_through_stopping_and_ready(emu, api, machine_id, manual):
    emu.set_durations(reboot=0.6)
    api.post(f"/my/machines/{machine_id}", json={"action": "reboot"})
    seen = [state_of(api, machine_id)]
    for seconds in (0.25, 0.1, 0.2, 0.1):  # to 0.25, 0.35, 0.55 and 0.65 s after the request
        manual.advance(seconds)
        seen.append(state_of(api, machine_id))
    # phases: stopping for the first half, ready until the end, then running
    assert seen == ["stopping", "stopping", "ready", "ready", "running"]


def test_durations_and_speed(emu, api, machine_id, manual):
    emu.set_durations(stop=1.0)
    api.post(f"/my/machines/{machine_id}", json={"action": "stop"})
    manual.advance(0.999)
    assert state_of(api, machine_id) == "stopping"  # nothing visible before its time
    manual.advance(0.001)
    assert state_of(api, machine_id) == "stopped"
    emu.set_durations(start=None)  # back to the default, divided by the speed
    emu.set_speed(50)
    assert emu.state.timing.seconds("start") == pytest.approx(DEFAULT_DURATIONS["start"] / 50)
    api.post(f"/my/machines/{machine_id}", json={"action": "start"})
    manual.advance(DEFAULT_DURATIONS["start"] / 50 - 0.01)
    assert state_of(api, machine_id) == "ready"
    manual.advance(0.01)
    assert state_of(api, machine_id) == "running"


def test_step_finishes_one_job_at_a_time_and_dates_follow_the_clock(emu, api, machine_id,
                                                                    manual):
    path = f"/my/machines/{machine_id}"
    api.post(path, json={"action": "stop"})
    api.post(path, json={"action": "start"})
    assert state_of(api, machine_id) == "stopping"
    stopped_at = emu.step()
    assert [e["action"] for e in api.get(f"{path}/audit").json()][:1] == ["stop"]
    assert state_of(api, machine_id) == "ready"  # the start began as the stop ended
    assert emu.step() > stopped_at and state_of(api, machine_id) == "running"
    assert emu.step() is None  # nothing pending: the clock stays
    reply = api.get(path)
    assert parsedate_to_datetime(reply.header("Date")).timestamp() == int(manual.now())
    entry = api.get(f"{path}/audit").json()[0]
    stamped = datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
    assert (entry["action"], round(stamped, 3)) == ("start", round(manual.now(), 3))
    with pytest.raises(ValueError, match="only moves forward"):
        manual.advance(-1)


def test_the_clock_over_the_admin_api(emu, api, machine_id, manual):
    import json
    import urllib.request

    api.post(f"/my/machines/{machine_id}", json={"action": "stop"})

    def put(body):
        request = urllib.request.Request(emu.url + "/__emulator/clock", method="PUT",
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    status = put({"step": True})
    assert status["manual"] is True and status["next_event"] is None
    assert state_of(api, machine_id) == "stopped"
    assert put({"manual": False})["manual"] is False and not emu.clock.is_manual


def test_timing_validation():
    timing = Timing(speed=2, durations={"stop": 3})
    assert (timing.seconds("stop"), timing.seconds("start")) == (3, 2.5)
    with pytest.raises(ValueError, match="unknown duration 'stpo'"):
        timing.set_durations(stpo=1)
    with pytest.raises(ValueError, match="positive"):
        timing.set_speed(0)
    with pytest.raises(ValueError, match=">= 0"):
        timing.set_durations(stop=-1)


def test_jobs_of_a_machine_run_one_after_another(emu, api, machine_id):
    path = f"/my/machines/{machine_id}"
    api.post(path, json={"action": "stop"})
    api.post(path, json={"action": "start"})  # valid once the stop has finished
    api.post(f"{path}/tags", json={"after": "both"})
    eventually(lambda: api.get(f"{path}/tags").json().get("after") == "both")
    entries = api.get(f"{path}/audit").json()
    assert [(e["action"], e["success"]) for e in entries[:3]] == [
        ("set_tags", "yes"), ("start", "yes"), ("stop", "yes")]
    assert entries[0]["time"] > entries[1]["time"] > entries[2]["time"]
    assert state_of(api, machine_id) == "running"


def test_audit_time_is_stamped_at_completion(emu, api, machine_id, manual):
    emu.set_durations(metadata=0.4)
    api.post(f"/my/machines/{machine_id}/metadata", json={"k": "v"})
    sent = manual.now()
    manual.advance(0.5)
    entry = api.get(f"/my/machines/{machine_id}/audit").json()[0]
    stamped = datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
    assert entry["action"] == "set_metadata" and stamped == pytest.approx(sent + 0.4, abs=0.002)


def test_idle_machines_cost_nothing(emu):
    dc = emu.state.datacenters["us-east-1"]
    assert not dc.busy  # seeded machines have no pending jobs, nothing runs in the background
    import threading

    names = {t.name for t in threading.enumerate()}
    assert len([n for n in names if "emulator" in n]) == len(emu.urls)


def test_fail_next_and_forced_states(emu, api, machine_id):
    dc = emu.datacenter("us-east-1")
    dc.fail_next("stop")
    api.post(f"/my/machines/{machine_id}", json={"action": "stop"})
    eventually(lambda: api.get(f"/my/machines/{machine_id}/audit").json()[0]["action"] == "stop")
    assert api.get(f"/my/machines/{machine_id}/audit").json()[0]["success"] == "no"
    assert state_of(api, machine_id) == "running"
    dc.set_state(machine_id, "offline")
    assert state_of(api, machine_id) == "offline"
    with pytest.raises(ValueError, match="unknown action"):
        dc.fail_next("explode")
    with pytest.raises(KeyError):
        dc.set_state("nope", "failed")


def test_settling_is_safe_under_concurrent_requests(emu, triton_keys, machine_id):
    from concurrent.futures import ThreadPoolExecutor

    from emu_client import Client

    emu.set_durations(tags=0.02)

    def worker(i):
        client = Client(emu.url, triton_keys["rsa"])
        try:
            statuses = []
            for j in range(10):
                statuses.append(client.post(f"/my/machines/{machine_id}/tags", json={f"k{i}": j}).status)
                statuses.append(client.get("/my/machines?limit=50").status)
            return statuses
        finally:
            client.close()

    with ThreadPoolExecutor(8) as pool:
        results = [s for statuses in pool.map(worker, range(8)) for s in statuses]
    assert set(results) == {200}
    reader = Client(emu.url, triton_keys["rsa"])

    def finished():
        current = reader.get(f"/my/machines/{machine_id}/tags").json()
        return all(current.get(f"k{i}") == 9 for i in range(8)) and current

    assert len(eventually(finished, timeout=20)) == 9
    entries = reader.get(f"/my/machines/{machine_id}/audit").json()
    assert [e["action"] for e in entries].count("set_tags") == 80
