"""What every response looks like on the wire, and bad input that must never
crash the server or leak a traceback (cloudapi.md §0, §2, §3)."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
import uuid
from email.utils import parsedate_to_datetime

import pytest
from emu_client import Client, sign

STANDARD = ("Date", "Server", "Api-Version", "Request-Id", "Response-Time")


def assert_standard_headers(response):
    for name in STANDARD:
        assert len(response.all(name)) == 1, (name, response.all(name))
    assert response.header("Api-Version") == "9.0.0"
    assert response.header("Server").startswith("cloudapi/")
    assert int(response.header("Response-Time")) >= 0
    assert abs(parsedate_to_datetime(response.header("Date")).timestamp() - time.time()) < 5
    assert "Traceback" not in response.text


def assert_body_headers(response):
    assert int(response.header("Content-Length")) == len(response.body)
    digest = base64.b64encode(hashlib.md5(response.body).digest()).decode()
    assert response.header("Content-MD5") == digest
    assert response.header("Content-Type") == "application/json"


def test_standard_headers_on_success_and_error(emu, api):
    for response in (api.get("/my"), api.get("/my/machines/" + str(uuid.uuid4())),
                     api.get("/my/nothing/here"), api.get("/my", signed=False)):
        assert_standard_headers(response)
        assert_body_headers(response)
        assert set(response.json()) >= ({"code", "message"} if response.status >= 400 else set())


def test_request_id_is_echoed_or_made(emu, api):
    mine = str(uuid.uuid4())
    assert api.get("/my", headers={"Request-Id": mine}).header("Request-Id") == mine
    assert api.get("/my", headers={"X-Request-Id": mine}).header("Request-Id") == mine
    made = api.get("/my").header("Request-Id")
    assert uuid.UUID(made) and made != mine


def test_no_content_has_no_body(emu, api, machine_id):
    response = api.delete(f"/my/machines/{machine_id}/tags/role")
    assert response.status == 204
    assert response.body == b""
    assert response.header("Content-Length") is None and response.header("Content-MD5") is None
    assert response.header("Content-Type") is None
    assert_standard_headers(response)
    assert api.get("/my").status == 200  # the connection is still in sync


def test_unknown_paths_are_404_before_auth(emu, api):
    for path in ("/my/nothing", "/a/b/c/d/e/f/g", "/my/machines/x/y/z"):
        response = api.get(path, signed=False)
        assert (response.status, response.json()) == (
            404, {"code": "ResourceNotFound", "message": f"{path} does not exist"})


def test_wrong_method_is_405_with_allow(emu, api):
    response = api.request("PATCH", "/my/machines", signed=False)
    assert response.status == 405
    assert response.json() == {"code": "MethodNotAllowedError", "message": "PATCH is not allowed"}
    assert response.header("Allow") == "GET, HEAD, POST"
    response = api.post("/my/machines/00000000-0000-0000-0000-000000000000/nics", json={})
    assert response.status == 405
    assert response.header("Allow") == "GET, HEAD"


@pytest.mark.parametrize("version, ok", [("~9||~8", True), ("*", True), ("~7.2", True), ("9.0.0", True),
                                         ("^8", True), (">=7.0.0 <9", True), ("~10", False),
                                         ("6.5.0", False), ("garbage", False)])
def test_accept_version_negotiation(emu, api, version, ok):
    response = api.get("/my", headers={"Accept-Version": version})
    assert response.header("Api-Version") == "9.0.0"
    if ok:
        assert response.status == 200
    else:
        assert (response.status, response.json()) == (
            400, {"code": "InvalidVersion", "message": f"{version} is not supported by GET /my"})


def test_networks_left_out_for_api_7_0(emu, triton_keys, machine_id):
    old = Client(emu.url, triton_keys["rsa"], accept_version="~7.0").get(f"/my/machines/{machine_id}")
    new = Client(emu.url, triton_keys["rsa"]).get(f"/my/machines/{machine_id}")
    assert "networks" not in old.json() and "networks" in new.json()


def test_accept_header(emu, api, machine_id):
    assert api.get("/my", headers={"Accept": "*/*"}).status == 200
    refused = api.get("/my", headers={"Accept": "image/png"})
    assert refused.status == 406 and refused.json()["code"] == "NotAcceptableError"
    text = api.get(f"/my/machines/{machine_id}/tags/role", headers={"Accept": "text/plain"})
    assert (text.status, text.body, text.header("Content-Type")) == (200, b"web", "text/plain")
    assert api.get(f"/my/machines/{machine_id}/tags/role").body == b'"web"'


def test_head_has_headers_but_no_body(emu, api):
    get = api.get("/my/machines?limit=5")
    head = api.head("/my/machines?limit=5")
    assert head.status == 200 and head.body == b""
    assert head.header("Content-Length") == get.header("Content-Length")
    assert head.header("x-resource-count") == "5"
    assert api.get("/my").status == 200


def test_keep_alive_serves_many_requests_on_one_connection(emu, api):
    api.get("/my")
    conn = api.connection()
    sock = conn.sock
    for _ in range(5):
        assert api.get("/my/machines?limit=1").header("Connection") == "keep-alive"
    assert conn.sock is sock


def test_pipelined_requests_on_a_raw_socket(emu, triton_keys):
    host, port = emu.url.split("//")[1].split(":")
    raw = b""
    for path in ("/my", "/my/keys"):
        headers = sign(triton_keys["rsa"], "GET", path)
        raw += (f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Version: ~9\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        deadline = time.monotonic() + 10
        while data.count(b"HTTP/1.1 200") < 2 and time.monotonic() < deadline:
            data += sock.recv(65536)
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.lower().count(b"\r\ndate: ") == 2


@pytest.mark.parametrize("raw, status, code", [
    (b"GET /my HTTP/9.9\r\n\r\n", 505, "HttpVersionNotSupportedError"),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "UriTooLongError"),
    (b"GET /my HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431, "RequestHeaderFieldsTooLargeError"),
])
def test_malformed_requests_get_json_too(emu, raw, status, code):
    host, port = emu.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while not data.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status}".encode()) and head.lower().count(b"\r\ndate: ") == 1
    assert json.loads(body)["code"] == code


def test_redirect_to_the_docs_and_ping(emu, api):
    root = api.get("/", signed=False)
    assert root.status == 302 and root.header("Location").startswith("https://")
    ping = api.get("/--ping", signed=False)
    assert ping.json()["cloudapi"]["versions"][-1] == "9.0.0"


# ------------------------------------------------------------------ bodies


def test_malformed_json(emu, api):
    response = api.post("/my/machines", body=b'{"image": ', headers={"Content-Type": "application/json"})
    assert response.status == 400 and response.json()["code"] == "InvalidContent"
    assert response.json()["message"].startswith("Invalid JSON: ")
    bad_utf8 = api.post("/my/machines", body=b'{"name": "\xff"}', headers={"Content-Type": "application/json"})
    assert bad_utf8.status == 400 and bad_utf8.json()["code"] == "InvalidContent"


def test_oversized_body_is_413(emu, api):
    body = json.dumps({"x": "a" * 100_001}).encode()
    response = api.post("/my/machines", body=body, headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert response.json() == {"code": "PayloadTooLargeError", "message": "Request body size exceeds 100000"}
    assert api.get("/my").status == 200  # a new connection works


def test_content_md5_of_the_request_is_checked(emu, api, machine_id):
    body = b'{"a": "1"}'
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    path = f"/my/machines/{machine_id}/tags"
    ok = api.post(path, body=body, headers={"Content-Type": "application/json", "Content-MD5": good})
    assert ok.status == 200
    bad = api.post(path, body=body, headers={"Content-Type": "application/json", "Content-MD5": "AAAA"})
    assert bad.status == 400 and bad.json()["code"] == "BadDigest"


def test_query_and_form_bodies_are_parameters_too(emu, api, machine_id):
    assert api.post(f"/my/machines/{machine_id}?action=stop").status == 202
    form = api.post(f"/my/machines/{machine_id}/tags", body=b"team=data&env=prod",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status == 200 and form.json()["team"] == "data"
    # the body wins over the query string
    clash = api.post(f"/my/machines/{machine_id}?action=bogus", json={"action": "start"})
    assert clash.status == 202


def test_trailing_slash_and_encoded_login(emu, api):
    assert api.get("/my/machines/?limit=1").status == 200
    assert api.get("/de%6Do/machines?limit=1").status == 200
    assert api.get("/demo/").json()["login"] == "demo"


def test_unknown_parameters_are_ignored(emu, api, machine_id):
    assert api.get(f"/my/machines/{machine_id}?id=1&name=x&frobnicate=yes").status == 200
    assert api.get("/my/packages?colour=blue").status == 200
    assert api.get(f"/my/machines/{machine_id}/metadata?id={machine_id}").status == 200


@pytest.mark.parametrize("bad", ["not-a-uuid", "12345", "%00", "..", "'%20OR%201=1%20--", "x" * 300])
def test_bad_uuids(emu, api, bad):
    response = api.get(f"/my/machines/{bad}")
    assert response.status == 409, response.text
    assert response.json() == {"code": "ValidationFailed", "message": "Invalid Parameters",
                               "errors": [{"field": "uuid", "code": "Invalid", "message": "Invalid UUID"}]}


HOSTILE = ["<script>alert(1)</script>", "'; DROP TABLE machines; --", "\u202eevil", "😀" * 50,
           "a\x00b", "\ud800", "${jndi:ldap://x}", "../../etc/passwd", "%s%s%n", "\r\nX-Injected: 1"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_round_trip_as_data(emu, api, value):
    machine = emu.datacenter("us-east-1").put_machine(name="hostile", tags={"evil": value},
                                                      metadata={"evil": value})
    body = api.get(f"/my/machines/{machine}").json()
    assert body["tags"]["evil"] == value and body["metadata"]["evil"] == value
    response = api.post(f"/my/machines/{machine}/tags", json={"again": value})
    assert response.status == 200 and response.json()["again"] == value
    listed = api.get("/my/machines?name=hostile").json()
    assert listed[0]["tags"]["evil"] == value


@pytest.mark.parametrize("path", ["/my/machines/%ZZ", "/my/%00/machines", "/my/machines?limit=%ff",
                                  "/my/machines?tag.%ZZ=1", "/%F0%9F%98%80", "/my/keys/%2F..%2F"])
def test_odd_paths_never_crash(emu, api, path):
    response = api.get(path)
    assert response.status < 500, response.text
    assert "Traceback" not in response.text and set(response.json()) >= {"code", "message"} \
        if response.status >= 400 else True


def test_an_unexpected_error_is_a_clean_500(emu, api, monkeypatch):
    from smartdc_nb.emulator.routes import account

    def explode(ctx):
        raise RuntimeError("secret internals")

    monkeypatch.setitem(account.ROUTES[0][2], "GET", explode)
    response = api.get("/my")
    assert (response.status, response.json()) == (500, {"code": "InternalError", "message": "Internal Error"})
    assert "secret" not in response.text and "Traceback" not in response.text
    assert_standard_headers(response)
