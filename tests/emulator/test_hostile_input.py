"""The emulator under hostile input: never a 500, never a desynchronised
connection, never a traceback, never a secret in the log (issue 13, items 6-10, 13).

Raw-socket cases are bounded: every socket has a timeout and every read loop a deadline.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest
from emu_client import Client, sign

# ------------------------------------------------------------------ raw sockets


def address(emu) -> tuple[str, int]:
    host, port = emu.url.split("//")[1].split(":")
    return host, int(port)


def exchange(emu, raw: bytes, seconds: float = 5) -> tuple[bytes, bool]:
    """Send ``raw``; everything the server answers within ``seconds``, and whether it closed."""
    with socket.create_connection(address(emu), timeout=seconds) as sock:
        sock.sendall(raw)
        data, closed = b"", False
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
    return data, closed


def answers(data: bytes) -> list[tuple[int, dict]]:
    """(status, JSON body) of each HTTP/1.1 response in ``data``."""
    out = []
    while data.startswith(b"HTTP/1.1 "):
        head, _, rest = data.partition(b"\r\n\r\n")
        headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
        length = int(headers.get(b"Content-Length", b"0"))
        out.append((int(head[9:12]), json.loads(rest[:length]) if length else {}))
        data = rest[length:]
    return out


def chunked_post(triton_keys, chunks: bytes, then: bytes = b"",
                 machine: str = "00000000-0000-4000-8000-000000000000") -> bytes:
    path = f"/my/machines/{machine}/tags"
    headers = sign(triton_keys["rsa"], "POST", path)
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nAccept-Version: ~9\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + chunks + then


PING = b"GET /--ping HTTP/1.1\r\nHost: x\r\n\r\n"


# ------------------------------------------------------------ 6: deep JSON


@pytest.mark.parametrize("body", [b"[" * 5000, b'{"a":' * 5000, b"[" * 65 + b"]" * 65])
def test_deeply_nested_json_is_400_before_the_signature(emu, api, body):
    for signed in (False, True):
        response = api.post("/my/machines", body=body, signed=signed,
                            headers={"Content-Type": "application/json"})
        assert response.status == 400, response.text
        assert response.json() == {"code": "InvalidContent",
                                   "message": "Invalid JSON: nesting deeper than 64 levels"}


def test_nesting_within_the_limit_is_parsed(emu, api, machine_id):
    body = json.dumps({"deep": json.loads("[" * 60 + "]" * 60)}).encode()
    response = api.post(f"/my/machines/{machine_id}/tags", body=body,
                        headers={"Content-Type": "application/json"})
    assert response.status == 409 and response.json()["code"] == "ValidationFailed"  # a tag value, refused as such


# ------------------------------------------------------------ 7: chunked bodies


def test_chunk_extensions_are_accepted(emu, triton_keys, machine_id):
    chunks = b'c;name=value\r\n{"team":"a"}\r\n0;last\r\nX-Trailer: 1\r\n\r\n'
    data, _ = exchange(emu, chunked_post(triton_keys, chunks, PING, machine_id))
    (status, body), (ping, _) = answers(data)
    assert (status, body["team"], ping) == (200, "a", 200)
    assert Client(emu.url, triton_keys["rsa"]).get(f"/my/machines/{machine_id}/tags").json()["team"] == "a"


@pytest.mark.parametrize("chunks", [b"zz\r\n{}\r\n0\r\n\r\n", b"-2\r\n{}\r\n0\r\n\r\n",
                                    b"2\r\n{}XX0\r\n\r\n", b"2 3\r\n{}\r\n0\r\n\r\n",
                                    b"1" * 5000 + b"\r\n"])
def test_a_bad_chunk_is_400_and_the_connection_closes(emu, triton_keys, chunks):
    # The bytes after the bad chunk would be a second request if the server read on.
    data, closed = exchange(emu, chunked_post(triton_keys, chunks, PING))
    replies = answers(data)
    assert [status for status, _ in replies] == [400], data[:400]
    assert replies[0][1]["code"] == "BadRequestError"
    assert replies[0][1]["message"].startswith("Invalid chunked body: ")
    assert b"Connection: close" in data and closed


@pytest.mark.parametrize("framing", [b"Transfer-Encoding: gzip, chunked\r\n", b"Transfer-Encoding: bogus\r\n",
                                     b"Transfer-Encoding: chunked\r\nContent-Length: 7\r\n",
                                     b"Content-Length: 7\r\nContent-Length: 17\r\n",
                                     b"Transfer-Encoding : chunked\r\n", b"No colon here\r\n",
                                     b"X-Control: a\x00b\r\n"])
def test_a_body_framing_two_parties_could_read_differently_is_400_and_closes(emu, framing):
    # what a proxy and the server could split differently: the start of request smuggling
    raw = (b"POST /my/machines HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + framing
           + b"\r\n2\r\n{}\r\n0\r\n\r\n" + PING)
    data, closed = exchange(emu, raw)
    replies = answers(data)
    assert [status for status, _ in replies] == [400] and closed, data[:300]
    assert replies[0][1]["code"] == "BadRequestError"


# ------------------------------------------------- 8 and 13: request lines


@pytest.mark.parametrize("line", [b"GET /x\r\n\r\n", b"GET /--ping\r\n\r\n", b"POST /my\r\n\r\n",
                                  b"GET /--ping HTTP/0.9\r\n\r\n", b"GET /--ping HTTP/1.1 x\r\n\r\n",
                                  b"get /--ping HTTP/1.1\r\nHost: x\r\n\r\n",
                                  b"Delete /my/keys/x HTTP/1.1\r\nHost: x\r\n\r\n"])
def test_http_0_9_and_lower_case_methods_get_400_and_a_close(emu, line, capfd):
    data, closed = exchange(emu, line + PING)
    assert [status for status, _ in answers(data)] == [400], data[:300]
    assert closed
    assert "Traceback" not in capfd.readouterr().err


def test_a_lower_case_method_is_not_served_even_when_signed(emu, triton_keys):
    headers = sign(triton_keys["rsa"], "delete", "/my/keys/smartdc_nb-test-ed25519")
    raw = ("delete /my/keys/smartdc_nb-test-ed25519 HTTP/1.1\r\nHost: x\r\nAccept-Version: ~9\r\n"
           + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    data, _ = exchange(emu, raw)
    assert [status for status, _ in answers(data)] == [400]
    keys = Client(emu.url, triton_keys["rsa"]).get("/my/keys").json()
    assert "smartdc_nb-test-ed25519" in {k["name"] for k in keys}


# ------------------------------------------------------------ 9: NaN and Infinity


@pytest.mark.parametrize("text", ['{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}', '{"x": 1e999}',
                                  '{"x": [1, NaN]}'])
def test_nan_and_infinity_are_refused(emu, api, machine_id, text):
    for path in ("tags", "metadata"):
        response = api.post(f"/my/machines/{machine_id}/{path}", body=text.encode(),
                            headers={"Content-Type": "application/json"})
        assert response.status == 400 and response.json()["code"] == "InvalidContent", response.text
    listing = api.get("/my/machines")
    json.loads(listing.body, parse_constant=lambda name: pytest.fail(f"{name} in a listing"))


def test_listings_stay_strict_json_whatever_was_stored(emu, api):
    emu.datacenter("us-east-1").put_machine(name="nan", tags={"x": float("nan")},
                                            metadata={"y": float("inf")})
    listing = api.get("/my/machines?name=nan")
    body = json.loads(listing.body, parse_constant=lambda name: pytest.fail(f"{name} written"))
    assert (body[0]["tags"]["x"], body[0]["metadata"]["y"]) == (None, None)


# ------------------------------------------------------------ 10: the admin API


def admin_request(emu, method, path, data=None, content_type=None, origin=None):
    headers = {k: v for k, v in (("Content-Type", content_type), ("Origin", origin)) if v}
    request = urllib.request.Request(emu.url + "/__emulator/" + path, data=data, method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_admin_answers_carry_no_cors_headers(emu, api):
    status, headers, _ = admin_request(emu, "GET", "requests", origin="http://evil.example")
    assert status == 200
    assert not [name for name in headers if name.lower().startswith("access-control-")]
    assert api.get("/my").header("Access-Control-Allow-Origin") == "*"  # CloudAPI's own routes keep them


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_admin_posts_need_a_json_content_type(emu, content_type):
    before = len(emu.faults)
    status, _, body = admin_request(emu, "POST", "faults", b'{"path": ".*", "status": 503}',
                                    content_type)
    assert status == 415 and json.loads(body)["code"] == "UnsupportedMediaTypeError"
    assert len(emu.faults) == before
    assert admin_request(emu, "POST", "reset", b"", content_type)[0] == 415


def test_admin_bodies_are_strict_json_too(emu):
    status, _, body = admin_request(emu, "POST", "faults", b"[" * 5000, "application/json")
    assert status == 400 and json.loads(body)["code"] == "InvalidContent"
    status, _, body = admin_request(emu, "POST", "faults", b'{"path": ".*", "latency": NaN}',
                                    "application/json")
    assert status == 400 and json.loads(body)["code"] == "InvalidContent"
    # a string the body may carry, that would have slept forever (OverflowError -> 500)
    assert admin_request(emu, "POST", "faults", b'{"path": ".*", "latency": "inf"}',
                         "application/json")[0] == 400


def test_the_request_log_keeps_no_secrets(emu, api):
    image = api.get("/my/images").json()[0]["id"]
    api.post("/my/machines", json={"image": image, "package": "g4-highcpu-1G", "name": "pw",
                                   "metadata.root_pw": "hunter2-root", "password": "hunter2-admin",
                                   "metadata.credentials": '{"root": "hunter2-cred"}',
                                   "administrator_pw": "hunter2-pw"})
    api.get("/my/machines?credentials=true&metadata.admin_pw=hunter2-query")
    status, _, raw = admin_request(emu, "GET", "requests")
    assert status == 200 and b"hunter2" not in raw
    logged = [r for r in json.loads(raw) if r["method"] == "POST"][-1]["body"]
    assert logged["metadata.root_pw"] == "********" and logged["name"] == "pw"
    assert json.loads(raw)[-1]["query"]["credentials"] == "true"
    assert not any("hunter2" in json.dumps(r) for r in emu.requests)



def test_the_request_log_keeps_no_value_the_clients_rule_calls_secret(emu, api, machine_id):
    # the log masked only keys ending in its own words: api_key, aws_secret_access_key or
    # db_password_prod, which the client's card and journal never show, were kept in clear
    from smartdc_nb import masking
    from smartdc_nb.emulator import requestlog

    keys = ("api_key", "aws_secret_access_key", "db_password_prod", "credential", "apikey")
    assert all(masking.is_secret(k) for k in keys)
    api.post(f"/my/machines/{machine_id}/metadata",
             json={k: f"hunter2-{k}" for k in keys} | {"note": "kept"})
    image = api.get("/my/images").json()[0]["id"]
    api.post("/my/machines", json={"image": image, "package": "g4-highcpu-1G", "name": "keys",
                                   "metadata.api_key": "hunter2-created"})
    status, _, raw = admin_request(emu, "GET", "requests")
    assert status == 200 and b"hunter2" not in raw
    assert not any("hunter2" in json.dumps(r) for r in emu.requests)
    posted = [r["body"] for r in emu.requests if r["path"].endswith("/metadata")][-1]
    assert posted["note"] == "kept" and posted["api_key"] == "********"
    assert (requestlog._SECRET.pattern, requestlog._SECRET.flags) == \
        (masking.SECRET_KEY.pattern, masking.SECRET_KEY.flags)  # one rule, written twice

# ------------------------------------------------------------ 13: sub-users


def new_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " mine"


def test_a_sub_user_without_roles_may_do_nothing(triton_keys):
    from smartdc_nb.emulator.testing import make_emulator

    ops = triton_keys["ops_ed25519"]
    accounts = {"demo": {"keys": [triton_keys["rsa"].public_line], "users": {"ops": [ops.public_line]}}}
    with make_emulator(triton_keys, accounts=accounts, machines=1, datacenters=["dc1"]) as emu:
        sub = Client(emu.url, ops, key_id=f"/demo/users/ops/keys/{ops.md5}")
        for method, path in (("GET", "/my"), ("GET", "/my/machines"), ("GET", "/demo/keys")):
            response = sub.request(method, path)
            assert (response.status, response.json()["code"]) == (403, "NotAuthorized"), path
        assert sub.get("/my/keys").json()["message"] == \
            "You do not have permission to access /my/keys (listkeys)"


def test_a_sub_user_cannot_add_or_delete_the_owners_keys(emu, triton_keys):
    ops = triton_keys["ops_ed25519"]
    sub = Client(emu.url, ops, key_id=f"/demo/users/ops/keys/{ops.md5}")
    assert sub.get("/my/machines?limit=1").status == 200  # what its roles allow (testing.OPS_CAN)
    added = sub.post("/my/keys", json={"name": "mine", "key": new_public_key()})
    assert (added.status, added.json()) == (403, {
        "code": "NotAuthorized", "message": "You do not have permission to access /my/keys (createkey)"})
    deleted = sub.delete("/my/keys/smartdc_nb-test-rsa")
    assert (deleted.status, deleted.json()["code"]) == (403, "NotAuthorized")
    names = {k["name"] for k in Client(emu.url, triton_keys["rsa"]).get("/my/keys").json()}
    assert "smartdc_nb-test-rsa" in names and "mine" not in names
