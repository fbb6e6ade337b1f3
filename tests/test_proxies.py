"""The proxy environment (HTTP_PROXY, NO_PROXY) is honoured, and read once per host
per connection: requests go through a small recording proxy in front of the emulator."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

_HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "transfer-encoding", "te",
               "trailer", "upgrade", "proxy-authorization"}


class _Forwarder(BaseHTTPRequestHandler):
    """An HTTP proxy: records each absolute-form request line and forwards the request."""

    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle client connection is dropped, so the test never hangs on it

    def _forward(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request(self.command, path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response_only(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def proxy():
    """``(url, seen)``: a recording forwarding proxy on loopback, stopped after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forwarder)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def environ(monkeypatch):
    """No proxy variable of the outer environment leaks in; ``environ(name=value)`` sets some."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return lambda **values: [monkeypatch.setenv(k, v) for k, v in values.items()]


def test_requests_go_through_the_proxy_named_by_http_proxy(emu, connect, proxy, environ):
    url, seen = proxy
    direct = connect().raw_machines()
    environ(HTTP_PROXY=url)
    dc = connect()
    listed = dc.raw_machines()
    assert listed and listed == direct
    host = emu.urls["us-east-1"]
    assert seen and all(line.startswith(f"GET {host}/demo/machines?") for line in seen)
    machine = dc.machine(listed[0]["id"])
    machine.add_tags(proxied="yes")  # a write goes through it too
    assert any(line.startswith(f"POST {host}/demo/machines/{machine.id}/tags") for line in seen)


def test_no_proxy_keeps_a_host_off_the_proxy(connect, proxy, environ):
    url, seen = proxy
    environ(HTTP_PROXY=url, NO_PROXY="localhost,127.0.0.1")
    assert connect().raw_machines()
    assert seen == []


def test_the_environment_is_read_once_per_host_per_connection(emu, connect, proxy, environ):
    url, seen = proxy
    environ(HTTP_PROXY=url)
    dc = connect()
    dc.raw_machines()
    asked = len(seen)
    environ(NO_PROXY="127.0.0.1")  # too late for this connection (documented) ...
    dc.raw_machines()
    assert len(seen) > asked
    asked = len(seen)
    connect().raw_machines()  # ... a new one reads it
    assert len(seen) == asked
