"""One request is bounded: a total deadline, a largest answer, and no redirect followed.

Each case is a small local server (tests/hostile.py) doing what a broken proxy or a
hung cloud does; the emulator speaks CloudAPI correctly and never does these.
"""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
import zlib

import pytest
from hostile import HostileServer, silent, trickle

from smartdc_nb.errors import (AnswerTooLargeError, InvalidInputError, RedirectError,
                               RequestTimeoutError, TransportError)
from smartdc_nb.limits import DEFAULT_MAX_ANSWER_BYTES, DEFAULT_REQUEST_TIMEOUT
from smartdc_nb.machine import Machine

MACHINE_ID = "00000000-0000-4000-8000-000000000001"


@pytest.fixture
def against(connect):
    """``against(server, **options)``: a DataCenter whose requests go to ``server``."""
    def make(server, **options):
        dc = connect(**options)
        dc.transport.url = server.url
        return dc
    return make


def timed(call):
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        call()
    return info.value, time.monotonic() - started


# --------------------------------------------------------------------------- total time


def test_defaults_are_generous_and_reported(connect):
    dc = connect()
    assert dc.transport.request_timeout == DEFAULT_REQUEST_TIMEOUT >= 120
    assert dc.transport.max_answer_bytes == DEFAULT_MAX_ANSWER_BYTES >= 32 * 2**20


def test_a_server_that_never_answers_ends_at_the_request_timeout(against):
    with HostileServer(silent) as server:
        dc = against(server, request_timeout=1)
        error, elapsed = timed(dc.packages)
    assert isinstance(error, RequestTimeoutError) and isinstance(error, TransportError)
    assert isinstance(error, TimeoutError)
    assert elapsed < 2.5  # the 60 s read timeout and the retries do not apply past the deadline
    assert error.limit == "request_timeout=1s"
    assert "no complete answer within request_timeout=1s" in str(error)
    assert "connect(..., request_timeout=SECONDS)" in str(error)


def _trickled_headers(server, sock):
    server.read(sock)
    server.send(sock, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    trickle(sock, server.stop, b"X-Slow: " + b"a" * 60000)  # one long header line


def _trickled_body(server, sock):
    server.read(sock)
    server.send(sock, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100000\r\n\r\n")
    trickle(sock, server.stop, b"[" + b" " * 99998 + b"]")


def _trickled_chunks(server, sock):
    server.read(sock)
    server.send(sock, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n1\r\n[\r\n")
    trickle(sock, server.stop, b"1\r\n \r\n")


@pytest.mark.parametrize("handler", [_trickled_headers, _trickled_body, _trickled_chunks],
                         ids=["headers", "body", "chunked-body"])
def test_a_trickling_server_ends_at_the_request_timeout(against, handler):
    # each byte comes well inside the read timeout, so only a total deadline ends it
    with HostileServer(handler) as server:
        dc = against(server, request_timeout=1, timeout=(5, 5))
        error, elapsed = timed(dc.packages)
    assert isinstance(error, RequestTimeoutError), error
    assert elapsed < 2.5
    assert "request_timeout=1s" in str(error)


def test_the_deadline_counts_retries_from_the_first_attempt(against):
    # a 503 every time: without a total deadline the retry budget (60 s) would start only
    # at the first failure, after a slow first answer
    def slow_503(server, sock):
        while not server.stop.is_set():
            if not server.read(sock):
                return
            if server.stop.wait(0.4):
                return
            server.send(sock, b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")

    with HostileServer(slow_503) as server:
        dc = against(server, request_timeout=1.5)
        error, elapsed = timed(dc.packages)
    assert elapsed < 2.5
    assert len(server.heads) >= 2  # it did retry, within the deadline
    assert getattr(error, "status", None) == 503 or isinstance(error, RequestTimeoutError)


# --------------------------------------------------------------------------- answer size


def test_an_announced_huge_body_is_refused_before_reading_it(against):
    def huge(server, sock):
        server.read(sock)
        server.send(sock, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 314572800\r\n\r\n[")
        block = b" " * 2**20
        while not server.stop.is_set():
            server.send(sock, block)

    with HostileServer(huge) as server:
        dc = against(server)
        with pytest.raises(AnswerTooLargeError) as info:
            dc.packages()
        sent = server.sent
    error = info.value
    assert error.limit == DEFAULT_MAX_ANSWER_BYTES
    assert "larger than max_answer_bytes=67,108,864" in str(error)
    assert "announces 314,572,800 bytes" in str(error)
    assert "connect(..., max_answer_bytes=BYTES)" in str(error)
    assert sent < 64 * 2**20  # not read whole: what the socket buffers took at most


def test_an_unannounced_huge_body_stops_at_the_limit(against):
    def endless(server, sock):
        server.read(sock)
        server.send(sock, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n")
        block = b" " * 2**20
        chunk = b"%x\r\n%s\r\n" % (len(block), block)
        while not server.stop.is_set() and server.sent < 300 * 2**20:
            server.send(sock, chunk)

    with HostileServer(endless) as server:
        dc = against(server, max_answer_bytes=4 * 2**20)
        with pytest.raises(AnswerTooLargeError, match="max_answer_bytes=4,194,304") as info:
            dc.packages()
        sent = server.sent
    assert info.value.limit == 4 * 2**20
    assert sent < 60 * 2**20  # 300 MB were on offer


@pytest.fixture(scope="module")
def gzip_bomb():
    """~250 KB of gzip that inflates to 256 MiB of zeros."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    block = bytes(2**20)
    data = b"".join(packer.compress(block) for _ in range(256)) + packer.flush()
    assert len(data) < 600_000
    return data


def test_a_gzip_bomb_is_inflated_only_up_to_the_limit(against, gzip_bomb):
    def bomb(server, sock):
        server.read(sock)
        server.send(sock, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Encoding: gzip\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(gzip_bomb) + gzip_bomb)
        server.stop.wait()

    with HostileServer(bomb) as server:
        dc = against(server, max_answer_bytes=4 * 2**20)
        tracemalloc.start()
        try:
            with pytest.raises(AnswerTooLargeError, match="it is larger"):
                dc.packages()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 48 * 2**20  # 256 MiB inflated whole before the fix


def test_a_normal_gzip_answer_still_decodes(against):
    body = gzip.compress(json.dumps([{"name": "g1", "id": "p1"}]).encode())

    def gzipped(server, sock):
        while server.read(sock):
            server.send(sock, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              b"Content-Encoding: gzip\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(body) + body)

    with HostileServer(gzipped) as server:
        dc = against(server, max_answer_bytes=1024)
        assert dc.request("GET", "packages").data == [{"name": "g1", "id": "p1"}]


# --------------------------------------------------------------------------- redirects


def _redirecting(status: bytes, location: bytes, body: bytes = b""):
    def handler(server, sock):
        while server.read(sock):
            server.send(sock, b"HTTP/1.1 " + status + b"\r\nLocation: " + location +
                        b"\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return handler


def test_a_redirect_with_no_body_is_an_error_not_an_empty_fleet(against):
    with HostileServer(silent) as elsewhere, HostileServer(
            _redirecting(b"302 Found", b"http://127.0.0.1:1/elsewhere")) as server:
        dc = against(server)
        with pytest.raises(RedirectError) as info:
            dc.machines()
        assert elsewhere.heads == []
        asked = len(server.heads)
    error = info.value
    assert asked == 1  # nothing followed, nothing retried
    assert error.status == 302 and error.location == "http://127.0.0.1:1/elsewhere"
    assert "to http://127.0.0.1:1/elsewhere" in str(error)
    assert "not followed" in str(error) and "Check the datacenter URL" in str(error)


def test_a_307_body_is_not_taken_as_the_answer(against):
    body = json.dumps([{"id": MACHINE_ID, "name": "impostor", "state": "running"}]).encode()
    with HostileServer(_redirecting(b"307 Temporary Redirect", b"https://evil.example/",
                                    body)) as server:
        dc = against(server)
        with pytest.raises(RedirectError, match="evil.example") as info:
            dc.raw_machines()
    assert info.value.status == 307


def test_a_redirect_on_one_machine_is_a_typed_error(against):
    with HostileServer(_redirecting(b"302 Found", b"/login")) as server:
        dc = against(server)
        with pytest.raises(RedirectError) as info:
            Machine(dc, MACHINE_ID)
    assert info.value.location == "/login"
    assert info.value.path.endswith(MACHINE_ID)


@pytest.mark.parametrize("option, value", [
    ("request_timeout", 0), ("request_timeout", -5), ("request_timeout", "60"),
    ("request_timeout", True), ("max_answer_bytes", 0), ("max_answer_bytes", 1.5),
    ("max_answer_bytes", "64MB")])
def test_bad_limits_are_refused_with_what_to_give(connect, option, value):
    with pytest.raises(InvalidInputError, match=f"{option} must be .* > 0, or None for no limit"):
        connect(**{option: value})


def test_no_limit_is_allowed(connect):
    dc = connect(request_timeout=None, max_answer_bytes=None)
    assert dc.transport.request_timeout is None and dc.transport.max_answer_bytes is None
    assert dc.packages()
