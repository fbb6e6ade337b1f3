"""Transport errors over loopback HTTP against the emulator: CloudAPI's error bodies mapped to
typed errors (with their field errors and a deleted machine's tombstone), credentials refused
or rotated, error pages and JSON that are not what CloudAPI sends, and a clock out of step."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import smartdc_nb

from smartdc_nb.errors import (APIError, InvalidArgumentError, InvalidCredentialsError,
                               MachineDeletedError, NotFoundError, ServerError)


# --------------------------------------------------------------------------- errors


def test_error_bodies_become_typed_errors(emu, dc):
    with pytest.raises(NotFoundError) as err:
        dc.raw_machine_data("00000000-0000-4000-8000-000000000000")
    assert err.value.code == "ResourceNotFound"
    assert err.value.status == 404
    with pytest.raises(InvalidArgumentError) as err:
        dc.raw_machines(type="bogus")
    assert err.value.status == 409
    assert "bogus is not a valid type" in str(err.value)


def test_validation_errors_keep_their_field_errors(emu, dc):
    image = dc.images()[0]["id"]
    package = dc.packages()[0]["name"]
    taken = dc.raw_machines()[0]["name"]
    with pytest.raises(InvalidArgumentError) as err:
        dc.request("POST", "machines", json={"image": image, "package": package, "name": taken})
    assert err.value.code == "ValidationFailed"
    assert any(e.get("field") == "alias" for e in err.value.errors)
    assert "alias" in str(err.value)


def test_unregistered_key_is_invalid_credentials(emu, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    import smartdc_nb

    key = tmp_path / "stranger"
    key.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption()))
    dc = smartdc_nb.connect(url=emu.url, account="demo", key_path=str(key), rate_limit=False)
    with pytest.raises(InvalidCredentialsError) as err:
        dc.account()
    assert err.value.status == 401
    assert err.value.code == "InvalidCredentials"
    # which key, which account, where the key came from, and what to check
    signer = dc.transport.session.auth.signer
    text = str(err.value)
    assert f"key {signer.md5_fingerprint}" in text and signer.sha256_fingerprint in text
    assert "account demo" in text and f"found in {key}" in text
    assert emu.url in text and "triton key list" in text


def test_a_401_after_the_key_file_was_rotated_says_the_file_changed(emu, triton_keys, tmp_path):
    """A kernel signs with the key its file held at connect(). Rotated on disk (the new key
    added to the account, the old one removed), the 401 must not say the key "was found in"
    a file that now holds an accepted key: it says the file changed and to connect again."""
    key = tmp_path / "id_work"
    key.write_bytes(triton_keys["rsa"].private.read_bytes())
    key.chmod(0o600)
    dc = smartdc_nb.connect(url=emu.url, account="demo", key_path=str(key), rate_limit=False,
                            changefeed=False)
    dc.account()
    key.write_bytes(triton_keys["rsa_openssh"].private.read_bytes())  # on the account
    dc.request("DELETE", "keys", triton_keys["rsa"].md5)
    with pytest.raises(InvalidCredentialsError) as err:
        dc.account()
    text = str(err.value)
    assert triton_keys["rsa"].md5 in text
    assert f"read from {key} at connect()" in text and "changed since" in text
    assert "connect again" in text and "found in" not in text
    again = smartdc_nb.connect(url=emu.url, account="demo", key_path=str(key), rate_limit=False,
                               changefeed=False)
    assert again.account()["login"] == "demo"


def test_deleted_machine_is_a_machine_deleted_error_with_its_tombstone(emu, dc):
    mid = emu.datacenter("us-east-1").put_machine(name="gone-soon", state="deleted")
    with pytest.raises(MachineDeletedError) as err:
        dc.raw_machine_data(mid)
    assert err.value.status == 410
    assert err.value.body["id"] == mid
    assert err.value.body["state"] == "deleted"
    assert "gone-soon" in str(err.value) and "deleted" in str(err.value)


@contextlib.contextmanager
def _answering(connect, status: int, content_type: str, body: bytes):
    """A DataCenter whose every GET gets this one answer, from a local server: for answers
    the emulator, which speaks CloudAPI, never gives."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dc = connect(retries=False)
        dc.transport.url = f"http://127.0.0.1:{server.server_address[1]}"
        yield dc
    finally:
        server.shutdown()
        server.server_close()


def test_non_json_error_page_still_becomes_a_typed_error(connect):
    # what a misconfigured proxy in front of CloudAPI answers: an HTML error page
    page = (b"<html><head><title>502 Bad Gateway</title><style>h1{}</style></head>"
            b"<body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>")
    with _answering(connect, 502, "text/html", page) as dc:
        with pytest.raises(ServerError) as err:
            dc.account()
    exc = err.value
    assert exc.status == 502 and exc.code is None
    assert "502 Bad Gateway nginx" in exc.message
    assert "<" not in exc.message  # an excerpt of the text, not the markup
    assert isinstance(exc, APIError)


@pytest.mark.parametrize("pad", [0, 100_000], ids=["small", "page-sized"])
def test_json_the_fast_decoder_refuses_is_still_read(connect, pad):
    # JSON that json reads and orjson (the fast decoder) refuses: an integer past 64 bits, NaN
    body = (b'{"login": "demo", "big": 123456789012345678901234567890, "odd": NaN, '
            b'"pad": "' + b"x" * pad + b'"}')
    with _answering(connect, 200, "application/json", body) as dc:
        answer = dc.transport.request("GET", "/demo")
    assert answer.data["big"] == 123456789012345678901234567890
    assert answer.data["odd"] != answer.data["odd"] and len(answer.data["pad"]) == pad


@pytest.mark.parametrize("skew, way", [(-600, "ahead of"), (900, "behind")])
def test_a_clock_out_of_step_with_the_cloud_says_which_clock_and_what_to_do(emu, dc, skew, way):
    """CloudAPI refuses a signature dated more than 300 s from its own clock with "clock skew of
    Ns was greater than 300s", which does not say whose clock is off or what to do."""
    emu.set_clock_skew(skew)
    with pytest.raises(smartdc_nb.APIError) as info:
        dc.machines()
    text = str(info.value)
    assert "clock skew" in text                           # CloudAPI's own words are kept
    assert f"This computer's clock is about {abs(skew)} s {way} the cloud's" in text, text
    assert "NTP" in text
    emu.set_clock_skew(0)
    assert dc.machines()                                   # nothing else was wrong
