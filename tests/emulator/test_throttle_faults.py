"""Throttling like CloudAPI's, fault injection, and the admin API."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request

import pytest
from emu_client import Client, sign


def admin(emu, method, path, body=None, datacenter=None):
    url = (emu.urls[datacenter] if datacenter else emu.url) + "/__emulator/" + path
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            raw = reply.read()
            return reply.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# ------------------------------------------------------------------ throttle


def test_throttle_burst_then_429_per_login(emu, api):
    emu.set_throttle({"burst": 5, "rate": 2})
    statuses = [api.get("/my/machines?limit=1").status for _ in range(8)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429] * 3
    refused = api.get("/my/machines?limit=1")
    assert refused.json() == {"code": "TooManyRequestsError",
                              "message": "You have exceeded your request rate of 2 r/s."}
    assert refused.header("Retry-After") is None and refused.header("X-RateLimit-Limit") is None
    assert api.get("/my/images").status == 200  # images have their own bucket
    time.sleep(0.6)
    assert api.get("/my/machines?limit=1").status == 200  # refilled at 2/s
    emu.set_throttle(None)
    assert all(api.get("/my").status == 200 for _ in range(10))


def test_throttle_default_is_cloudapis(emu, api):
    emu.set_throttle(True)
    assert emu.throttle.setting == {"burst": 30, "rate": 10}
    statuses = [api.get("/my/machines?limit=1").status for _ in range(40)]
    assert statuses.count(429) >= 5 and statuses[:30] == [200] * 30


def test_throttle_settings_are_checked(emu):
    with pytest.raises(ValueError, match="burst"):
        emu.set_throttle({"burst": 0})
    with pytest.raises(ValueError, match="unknown throttle"):
        emu.set_throttle({"rps": 1})


# -------------------------------------------------------------------- faults


def test_fault_status_with_count_and_retry_after(emu, api):
    fault = emu.faults.add(path=r"/machines$", method="GET", status=503, count=2, retry_after=3)
    first = api.get("/my/machines")
    assert (first.status, first.json()["code"], first.header("Retry-After")) == (503, "ServiceUnavailableError", "3")
    assert api.get("/my/machines").status == 503
    assert api.get("/my/machines").status == 200  # the count is used up
    assert not emu.faults.remove(fault)
    assert api.get("/my").status == 200


def test_fault_429_and_500_bodies(emu, api):
    emu.faults.add(path="/my$", status=429, count=1)
    emu.faults.add(path="/keys", status=500)
    assert api.get("/my").json()["code"] == "TooManyRequestsError"
    assert api.get("/my/keys").json() == {"code": "InternalError", "message": "Internal Error"}
    emu.faults.clear()
    assert api.get("/my/keys").status == 200


def test_fault_share_hits_about_that_fraction(emu, api):
    emu.faults.add(path="/my/packages", status=500, share=0.3)
    statuses = [api.get("/my/packages").status for _ in range(100)]
    assert 15 <= statuses.count(500) <= 45


def test_fault_latency_and_datacenter(emu, api, triton_keys):
    emu.faults.add(path="/my$", latency=0.3, datacenter="us-west-1")
    started = time.monotonic()
    assert api.get("/my").status == 200
    assert time.monotonic() - started < 0.25
    west = Client(emu.urls["us-west-1"], triton_keys["rsa"])
    started = time.monotonic()
    assert west.get("/my").status == 200
    assert time.monotonic() - started >= 0.3


def test_fault_drop_closes_the_connection(emu, api):
    import http.client

    emu.faults.add(path="/my/networks", drop=True, count=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        conn = http.client.HTTPConnection(emu.url.split("//")[1], timeout=5)
        conn.request("GET", "/my/networks")
        conn.getresponse()
    assert api.get("/my/networks").status == 200
    assert emu.requests[-2]["status"] == "dropped"


def test_fault_hold_keeps_a_request_until_it_is_released(emu, api, triton_keys):
    """A test lets a held request go when it is ready, however slow the machine is; a
    count=1 hold can still be released after its hit, by the API or by stopping the server."""
    def networks():  # a connection of its own: the api client's one is busy with the held one
        statuses.append(Client(emu.url, triton_keys["rsa"]).get("/my/networks").status)

    fault_id = emu.faults.add(path="/my/networks$", hold=True, count=1)
    statuses = []
    held = threading.Thread(target=networks)
    held.start()
    deadline = time.monotonic() + 10
    while emu.faults.list() and time.monotonic() < deadline:  # its one hit took it off the list
        time.sleep(0.01)
    assert api.get("/my/networks").status == 200  # count=1: the next request is not held
    held.join(timeout=0.5)
    assert held.is_alive() and statuses == []
    assert admin(emu, "DELETE", f"faults/{fault_id}")[0] == 204
    held.join(timeout=10)
    assert statuses == [200]
    assert admin(emu, "DELETE", f"faults/{fault_id}")[0] == 404

    emu.faults.add(path="/my/networks$", hold=True)  # no count: it holds every request
    held = [threading.Thread(target=networks) for _ in range(2)]
    for thread in held:
        thread.start()
    time.sleep(0.3)
    assert statuses[1:] == []
    emu.faults.clear()  # what every test's emu fixture does first
    for thread in held:
        thread.join(timeout=10)
    assert statuses == [200, 200, 200]


def test_a_stopping_emulator_does_not_wait_on_a_held_request():
    from smartdc_nb.emulator import Emulator

    own = Emulator(verify_signatures=False).start()
    own.faults.add(path="ping", hold=True)
    answers = []

    def ping():
        try:
            urllib.request.urlopen(own.url + "/--ping", timeout=10).read()
            answers.append("answered")
        except (OSError, http.client.HTTPException):
            answers.append("closed")

    held = threading.Thread(target=ping)
    held.start()
    deadline = time.monotonic() + 10
    while not own.faults.list()[0]["hits"] and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    own.close()
    held.join(timeout=10)
    assert not held.is_alive() and answers and time.monotonic() - started < 5


def test_fault_arguments_are_checked(emu):
    for bad in ({"status": 200}, {"share": 2, "status": 500}, {"path": "(", "status": 500}, {},
                {"hold": "yes"}):
        with pytest.raises(ValueError):
            emu.faults.add(**bad)


# ----------------------------------------------------------- log, counters


def test_request_log_and_counters(emu, api, machine_id):
    api.get("/my/machines?limit=2")
    api.post(f"/my/machines/{machine_id}/tags", json={"a": "b"})
    api.get("/nowhere/x/y/z/w")
    entries = emu.requests
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/my/machines", 200), ("POST", f"/my/machines/{machine_id}/tags", 200),
        ("GET", "/nowhere/x/y/z/w", 404)]
    assert entries[0]["query"] == {"limit": "2"} and entries[1]["body"] == {"a": "b"}
    assert entries[0]["account"] == "demo" and entries[0]["datacenter"] == "us-east-1"
    assert entries[0]["request_id"] and entries[0]["ms"] >= 0 and entries[0]["time"] <= time.time()
    counters = emu.counters()
    assert counters["total"] == 3 and counters["by_status"] == {"200": 2, "404": 1}
    assert counters["by_route"]["GET /:login/machines"] == 1
    assert counters["by_route"]["POST /:login/machines/:machine/tags"] == 1
    assert counters["by_datacenter"] == {"us-east-1": 3}
    emu.clear_requests()
    assert emu.requests == [] and emu.counters()["total"] == 0


def test_a_request_in_flight_when_the_log_is_cleared_stays_out_of_it(emu, api, triton_keys):
    """A test clears the log, then reads what it sent. A request from before the clear that
    answered after it (a slow listing the previous test had cut, answered 1 s later) was
    logged into the next test's log and failed its "sent nothing" (CI, 1 run in many)."""
    emu.faults.add(path="/my/networks$", latency=0.5, count=1)
    slow = threading.Thread(target=lambda: Client(emu.url, triton_keys["rsa"]).get("/my/networks"))
    slow.start()
    deadline = time.monotonic() + 10
    while emu.faults.list() and time.monotonic() < deadline:  # its one hit took it off the list
        time.sleep(0.01)
    emu.clear_requests()
    api.get("/my/images")
    slow.join(timeout=10)
    assert [(e["method"], e["path"]) for e in emu.requests] == [("GET", "/my/images")]
    assert emu.counters()["total"] == 1


def test_a_request_held_across_a_reset_does_not_change_the_new_cloud(emu, api, triton_keys):
    """A stop delayed by a fault and let go after the cloud was reset (a new test's fixture)
    reached the reseeded machine of the same id and stopped it under the next test."""
    machine = api.get("/my/machines?limit=1&state=running").json()[0]
    answers = []

    def stop():  # one try: the test Client would send it again on a dropped connection
        target = f"/my/machines/{machine['id']}?action=stop"
        client = Client(emu.url, triton_keys["rsa"])
        conn = client.connection()
        try:
            conn.request("POST", target, headers={"Accept": "application/json",
                         "Accept-Version": client.accept_version,
                         **sign(client.key, "POST", target, key_id=client.key_id)})
            answers.append(conn.getresponse().status)
        except (http.client.HTTPException, ConnectionError) as exc:
            answers.append(type(exc).__name__)

    emu.faults.add(path=machine["id"], method="POST", hold=True)
    held = threading.Thread(target=stop)
    held.start()
    deadline = time.monotonic() + 10
    while not emu.faults.list()[0]["hits"] and time.monotonic() < deadline:
        time.sleep(0.01)
    emu.reset()
    emu.faults.clear()  # lets the held stop go, as the fixture does
    held.join(timeout=10)
    assert answers and answers[0] != 202, answers  # the connection is dropped: it never acted
    assert api.get(f"/my/machines/{machine['id']}").json()["state"] == "running"
    assert emu.requests[-1]["method"] == "GET"


# --------------------------------------------------------------- admin API


def test_admin_api(emu, api, machine_id):
    status, body = admin(emu, "GET", "")
    assert status == 200 and body["datacenters"] == emu.urls and body["machines"]["us-east-1"] == 21
    assert admin(emu, "POST", "faults", {"path": "/my$", "status": 503, "count": 1})[0] == 201
    assert api.get("/my").status == 503
    fault_id = admin(emu, "POST", "faults", {"path": "/keys", "status": 500})[1]["id"]
    assert admin(emu, "GET", "faults")[1][0]["id"] == fault_id
    assert admin(emu, "DELETE", f"faults/{fault_id}")[0] == 204
    assert admin(emu, "DELETE", f"faults/{fault_id}")[0] == 404
    assert admin(emu, "PUT", "speed", {"speed": 4})[1] == {"speed": 4.0}
    assert admin(emu, "PUT", "durations", {"stop": 0.05})[1]["effective"]["stop"] == 0.05
    assert admin(emu, "PUT", "durations", {"nope": 1})[0] == 400
    assert admin(emu, "PUT", "throttle", {"burst": 3, "rate": 1})[1]["throttle"] == {"burst": 3.0, "rate": 1.0}
    assert admin(emu, "PUT", "throttle", None)[1]["throttle"] is None
    assert admin(emu, "GET", "counters")[1]["total"] >= 1
    assert len(admin(emu, "GET", "requests?limit=1")[1]) == 1
    status, body = admin(emu, "POST", "machines", {"name": "injected", "state": "stopped"}, "us-west-1")
    assert status == 201
    assert admin(emu, "PUT", f"machines/{body['id']}/state?datacenter=us-west-1", {"state": "failed"})[0] == 200
    assert emu.state.datacenters["us-west-1"].machines[body["id"]].state == "failed"
    assert admin(emu, "POST", "fail-next", {"action": "reboot"})[1]["fail_next"] == {"reboot": 1}
    assert admin(emu, "POST", "fail-next", {"action": "nope"})[0] == 400
    pkg = admin(emu, "POST", "packages", {"name": "tiny", "memory": 128, "disk": 1024})[1]
    assert "tiny" in {p["name"] for p in api.get("/my/packages").json()}
    assert admin(emu, "DELETE", f"packages/{pkg['id']}")[0] == 204
    assert admin(emu, "POST", "nonsense")[0] == 404
    assert admin(emu, "POST", "reset")[0] == 200
    assert api.get(f"/my/machines/{machine_id}").status == 404  # reset dropped the injected machine
    assert admin(emu, "DELETE", "requests")[0] == 204 and emu.requests == []
    assert admin(emu, "POST", "faults", "not an object")[0] == 400
