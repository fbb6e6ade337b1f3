"""The emulator's changefeed over a real WebSocket (the ``websockets`` client library)."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from emu_client import sign
from polling import eventually
from test_machines import BASE_IMAGE
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

ALL = ["alias", "customer_metadata", "destroyed", "nics", "owner_uuid", "server_uuid", "state",
       "tags"]


@pytest.fixture
def open_feed(emu, triton_keys):
    """``open_feed(registration=None, datacenter=None)`` -> a signed feed socket, closed after."""
    opened = []
    stack = contextlib.ExitStack()

    def open_one(registration=None, datacenter=None, signed=True):
        url = emu.urls[datacenter] if datacenter else emu.url
        headers = sign(triton_keys["rsa"], "GET", "/demo/changefeed") if signed else {}
        ws = stack.enter_context(connect(url.replace("http://", "ws://") + "/demo/changefeed",
                                         additional_headers=headers, open_timeout=10))
        opened.append(ws)
        if registration is not None:
            count = lambda: sum(s["registered"] for s in emu.changefeed.status()["sockets"])
            before = count()
            ws.send(json.dumps(registration))
            eventually(lambda: count() > before, 10, "the registration")
        return ws

    with stack:
        yield open_one


def take(ws, count: int, timeout: float = 5.0) -> list[dict]:
    return [json.loads(ws.recv(timeout=timeout)) for _ in range(count)]


def quiet(ws, seconds: float = 0.6) -> bool:
    try:
        ws.recv(timeout=seconds)
    except TimeoutError:
        return True
    return False


def test_upgrade_is_signed_and_answers_101(emu, api, open_feed):
    with pytest.raises(InvalidStatus) as refused:
        open_feed(signed=False)
    assert refused.value.response.status_code == 401
    ws = open_feed()
    assert ws.response.status_code == 101
    assert ws.response.headers["Connection"] == "Upgrade"
    plain = api.get("/demo/changefeed")
    assert plain.status == 500
    assert plain.json() == {"code": "InternalError", "message": "Connection Must Upgrade For WebSockets"}
    codes = [r["status"] for r in emu.requests if r["path"] == "/demo/changefeed"]
    assert codes == [401, 101, 500]


def test_invalid_registrations_are_ignored(emu, api, open_feed, machine_id):
    ws = open_feed()
    for bad in ({"resource": "snapshot", "subResources": ["state"]},
                {"resource": "vm", "subResources": ["state", "cpu"]},
                {"resource": "vm", "subResources": "state"},
                {"resource": "vm", "subResources": ["state"], "vms": ["not-a-uuid"]}):
        ws.send(json.dumps(bad))
    ws.send("{not json")
    emu.datacenter("us-east-1").set_state(machine_id, "stopped")
    assert quiet(ws)
    assert emu.changefeed.status()["sockets"][0]["registered"] is False
    ws.send(json.dumps({"resource": "vm", "subResources": ["state"], "vms": [machine_id]}))
    eventually(lambda: emu.changefeed.status()["sockets"][0]["registered"], 5)
    emu.datacenter("us-east-1").set_state(machine_id, "running")
    assert take(ws, 1)[0]["resourceState"] == "running"


def test_vms_as_javascript_sees_them(emu, open_feed, machine_id):
    """sdc-cloudapi lib/changefeed.js: ``[]`` is truthy and an array, so it is a filter that
    matches nothing; ``{}`` is truthy and no array, so the registration is ignored (the
    socket stays open, unregistered); an upper-case UUID passes the /i UUID_RE but
    ``indexOf`` against the lower-case id never finds it; a falsy vms is no filter."""
    state = {"resource": "vm", "subResources": ["state"]}
    empty = open_feed({**state, "vms": []})
    upper = open_feed({**state, "vms": [machine_id.upper()]})
    unfiltered = open_feed({**state, "vms": None})
    braces = open_feed()
    braces.send(json.dumps({**state, "vms": {}}))
    assert braces.ping().wait(5)    # the server reads frames in order: the registration was read
    registered = lambda: [s["registered"] for s in emu.changefeed.status()["sockets"]]
    assert registered() == [True, True, True, False]
    emu.datacenter("us-east-1").set_state(machine_id, "stopped")
    assert take(unfiltered, 1)[0]["changedResourceId"] == machine_id
    assert quiet(empty) and quiet(upper, 0.1) and quiet(braces, 0.1)
    assert registered() == [True, True, True, False]    # none of them was closed


def test_every_timeline_step_and_subresource(emu, api, open_feed, machine_id):
    ws = open_feed({"resource": "vm", "subResources": ALL})
    assert api.post(f"/my/machines/{machine_id}?action=reboot").status == 202
    steps = take(ws, 3)
    assert [m["resourceState"] for m in steps] == ["stopping", "ready", "running"]
    assert all(m["changeKind"] == {"resource": "vm", "subResources": ["state"]} for m in steps)
    assert api.post(f"/my/machines/{machine_id}/metadata", json={"colour": "blue"}).status == 200
    meta = take(ws, 1)[0]
    assert meta["changeKind"]["subResources"] == ["customer_metadata"]
    assert meta["resourceObject"]["metadata"]["colour"] == "blue"
    assert api.post(f"/my/machines/{machine_id}?action=rename&name=new-name").status == 202
    assert take(ws, 1)[0]["changeKind"]["subResources"] == ["alias"]
    assert api.delete(f"/my/machines/{machine_id}").status == 204
    gone = take(ws, 2)
    assert [m["resourceState"] for m in gone] == ["stopping", "destroyed"]
    assert gone[1]["changeKind"]["subResources"] == ["destroyed", "state"]
    assert gone[1]["resourceObject"]["state"] == "deleted"


def test_provision_and_filters(emu, api, open_feed, machine_id):
    tags_only = open_feed({"resource": "vm", "subResources": ["tags"]})
    west = open_feed({"resource": "vm", "subResources": ALL}, datacenter="us-west-1")
    everything = open_feed({"resource": "vm", "subResources": ALL})
    created = api.post("/my/machines", json={"image": BASE_IMAGE, "package": "g4-highcpu-1G",
                                             "name": "fresh"}).json()
    first, second = take(everything, 2)
    assert first["changedResourceId"] == created["id"] and first["resourceState"] == "provisioning"
    assert {"alias", "state", "owner_uuid"} <= set(first["changeKind"]["subResources"])
    assert second["resourceState"] == "running" and "nics" in second["changeKind"]["subResources"]
    assert quiet(west) and quiet(tags_only, 0.1)          # other datacenter; not a tag change
    assert api.post(f"/my/machines/{machine_id}/tags", json={"env": "dev"}).status == 200
    assert take(tags_only, 1)[0]["resourceObject"]["tags"]["env"] == "dev"


def test_duplicates_delay_and_drops(emu, open_feed, machine_id):
    dc = emu.datacenter("us-east-1")
    ws = open_feed({"resource": "vm", "subResources": ["state"]})
    emu.changefeed.configure(duplicate=1)
    dc.set_state(machine_id, "stopped")
    twice = take(ws, 2)
    assert twice[0] == twice[1]
    emu.changefeed.configure(duplicate=0, delay=0.5)
    started = time.monotonic()
    dc.set_state(machine_id, "running")
    assert take(ws, 1)[0]["resourceState"] == "running" and time.monotonic() - started >= 0.45
    assert emu.changefeed.drop() == 1
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    abrupt = open_feed({"resource": "vm", "subResources": ["state"]})
    assert emu.changefeed.drop(abrupt=True) == 1
    with pytest.raises(ConnectionClosed) as cut:
        abrupt.recv(timeout=5)
    assert cut.value.rcvd is None                         # no close frame: the TCP connection ended


def test_no_feed_refuses_the_upgrade(emu, open_feed):
    emu.changefeed.configure(enabled=False)
    with pytest.raises(InvalidStatus) as refused:
        open_feed()
    assert refused.value.response.status_code == 404
    emu.changefeed.configure(enabled=True)
    assert open_feed().response.status_code == 101


@pytest.mark.parametrize("flag, status", [("--no-changefeed", 404), (None, 101)])
def test_command_line_without_a_feed(flag, status):
    import re

    from test_command import finish, first_lines, spawn

    proc = spawn(*["--no-verify", "--machines", "1", *([flag] if flag else [])])
    try:
        url = re.search(r"(http://\S+)", "\n".join(first_lines(proc, "Ctrl-C"))).group(1)
        ws_url = url.replace("http://", "ws://") + "/demo/changefeed"
        if status == 101:
            with connect(ws_url, open_timeout=10) as ws:
                assert ws.response.status_code == 101
        else:
            with pytest.raises(InvalidStatus) as refused:
                connect(ws_url, open_timeout=10)
            assert refused.value.response.status_code == 404
    finally:
        assert finish(proc)[0] == 0


def test_a_socket_only_sees_its_own_accounts_machines(triton_keys):
    from smartdc_nb.emulator.testing import make_emulator

    keys = triton_keys
    emu = make_emulator(keys, datacenters=("solo-1",), machines=0,
                        accounts={"demo": [keys["rsa"].public_line],
                                  "other": [keys["ed25519"].public_line]}).start()
    try:
        handle = emu.datacenter("solo-1")
        mine = handle.put_machine(name="mine", owner="other")
        theirs = handle.put_machine(name="theirs", owner="demo")
        base = emu.url.replace("http://", "ws://")
        headers = sign(keys["ed25519"], "GET", "/other/changefeed",
                       key_id=f"/other/keys/{keys['ed25519'].md5}")
        with connect(base + "/other/changefeed", additional_headers=headers,
                     open_timeout=10) as ws:
            ws.send(json.dumps({"resource": "vm", "subResources": ALL}))
            eventually(lambda: emu.changefeed.status()["sockets"][0]["registered"], 5)
            handle.set_state(theirs, "stopped")
            handle.set_state(mine, "stopped")
            got = take(ws, 1)[0]
            assert got["changedResourceId"] == mine and quiet(ws, 0.4)
    finally:
        emu.close()
