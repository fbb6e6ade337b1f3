"""The changefeed's socket follows the DataCenter's TLS rules and signs like every request.

A small local wss:// server (``websockets``, a self-signed certificate made here)
stands in for a CloudAPI behind TLS: the emulator speaks plain HTTP only.
"""

from __future__ import annotations

import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from polling import eventually
from websockets.sync.server import serve

import smartdc_nb


@pytest.fixture
def tls_feed(tmp_path):
    """A wss:// server on 127.0.0.1 that records each upgrade's headers and first message."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    seen: list[dict] = []

    def handler(ws):
        seen.append({"path": ws.request.path,
                     "authorization": ws.request.headers.get("Authorization", ""),
                     "registration": ws.recv(timeout=5)})

    server = serve(handler, "127.0.0.1", 0, ssl=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.socket.getsockname()[1]}", seen
    server.shutdown()
    thread.join(5)


@pytest.fixture
def tls_api(tmp_path, tls_feed):
    """A plain HTTPS server on 127.0.0.1 (the same self-signed certificate) answering ``[]``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def stream_for(triton_keys, url, insecure):
    key = triton_keys["rsa"]
    with pytest.warns(UserWarning) if insecure else _nothing():
        dc = smartdc_nb.connect(url=url, account="demo", key_id=key.md5, key_path=str(key.private),
                                insecure=insecure, rate_limit=False, name="tls-1")
    return dc.changes(backoff=(0.05, 0.2))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_insecure_reaches_a_self_signed_feed_signed(triton_keys, tls_feed):
    url, seen = tls_feed
    with stream_for(triton_keys, url, insecure=True):
        eventually(lambda: seen, 30, "the upgrade")  # a TLS upgrade on a loaded 2-core CI box
    first = seen[0]
    assert first["path"] == "/demo/changefeed"
    assert first["authorization"].startswith(
        f'Signature keyId="/demo/keys/{triton_keys["rsa"].md5}",algorithm="rsa-sha256",'
        'headers="(request-target) date"')
    assert '"resource": "vm"' in first["registration"]


def test_verified_tls_refuses_a_self_signed_feed(triton_keys, tls_feed):
    url, seen = tls_feed
    with stream_for(triton_keys, url, insecure=False) as stream:
        eventually(lambda: stream.status["tls-1"] == "down", 30, "the refusal")
        assert "CERTIFICATE_VERIFY_FAILED" in str(stream.errors["tls-1"])
    assert not seen


def test_insecure_requests_hold_even_with_a_ca_bundle_in_the_environment(triton_keys, tls_api,
                                                                         monkeypatch):
    # requests lets REQUESTS_CA_BUNDLE override Session.verify=False (psf/requests#3829);
    # many hosts set it, and insecure=True must still mean insecure.
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    key = triton_keys["rsa"]
    with pytest.warns(UserWarning):
        dc = smartdc_nb.connect(url=tls_api, account="demo", key_id=key.md5,
                                key_path=str(key.private), insecure=True, rate_limit=False,
                                retries=0)
    assert dc.raw_machines() == []
    strict = dc.clone(insecure=False)
    with pytest.raises(smartdc_nb.TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        strict.raw_machines()


def test_insecure_is_said_once_even_when_connected_inside_catch_warnings(triton_keys, tls_api):
    """urllib3 warns on every unverified request; the connection was warned about once and
    silences that for its host. A ``warnings.catch_warnings()`` block around connect() (as
    pytest.warns is) drops that filter when it ends: the requests after it stay quiet."""
    import warnings

    from urllib3.exceptions import InsecureRequestWarning

    key = triton_keys["rsa"]
    with pytest.warns(UserWarning, match="TLS certificate verification is off"):
        dc = smartdc_nb.connect(url=tls_api, account="demo", key_id=key.md5,
                                key_path=str(key.private), insecure=True, rate_limit=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")  # each distinct warning shown, as in a notebook
        for _ in range(3):
            assert dc.raw_machines() == []
    assert [str(w.message) for w in seen if w.category is InsecureRequestWarning] == []
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        requests.get(tls_api.replace("127.0.0.1", "localhost"), verify=False, timeout=10)
    assert [w.category for w in seen] == [InsecureRequestWarning]  # another host: still said
