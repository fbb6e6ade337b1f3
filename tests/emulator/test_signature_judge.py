"""The emulator's signature parsing against the judge: http-signature 1.4.0, the
package and version CloudAPI verifies with (tests/node/verify-server.js).

Each hostile Authorization header goes to both; the emulator must accept
exactly what the judge accepts (issue 13 item 13: never looser, and no
stricter than CloudAPI either, or real clients would be refused).
"""

from __future__ import annotations

import base64
import http.client
import time
from email.utils import formatdate
from urllib.parse import urlsplit

import pytest
from emu_client import load_private, raw_sign
from test_auth_support import start_node_verifier, stop_process

TARGET = "/demo/machines?limit=1"


@pytest.fixture(scope="module")
def judge(triton_keys, tmp_path_factory):
    verifier = start_node_verifier([triton_keys["rsa"].public_line], tmp_path_factory.mktemp("judge"))
    yield verifier
    stop_process(verifier.process)


def status(url: str, authorization: str, date: str) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", TARGET, headers={"Authorization": authorization, "Date": date,
                                             "Accept-Version": "~9"})
        reply = conn.getresponse()
        reply.read()
        return reply.status
    finally:
        conn.close()


def good_parts(key) -> tuple[str, str, str]:
    """(date, keyId, base64 signature) of a correct request for TARGET."""
    date = formatdate(time.time(), usegmt=True)
    signing = f"(request-target): get {TARGET}\ndate: {date}".encode()
    signature = base64.b64encode(raw_sign(load_private(key), signing, "rsa-sha256")).decode()
    return date, f"/demo/keys/{key.md5}", signature


def header(*params: tuple[str, str]) -> str:
    return "Signature " + ",".join(f'{name}="{value}"' for name, value in params)


HEADERS = "(request-target) date"

VARIANTS = {
    "as node-triton sends it": lambda k, s: header(("keyId", k), ("algorithm", "rsa-sha256"),
                                                   ("headers", HEADERS), ("signature", s)),
    "keyId twice, the real one last": lambda k, s: header(
        ("keyId", "/other/keys/00"), ("keyId", k), ("algorithm", "rsa-sha256"), ("headers", HEADERS),
        ("signature", s)),
    "keyId twice, the real one first": lambda k, s: header(
        ("keyId", k), ("keyId", "/other/keys/00"), ("algorithm", "rsa-sha256"), ("headers", HEADERS),
        ("signature", s)),
    "signature twice, a forged one last": lambda k, s: header(
        ("keyId", k), ("algorithm", "rsa-sha256"), ("headers", HEADERS), ("signature", s),
        ("signature", "AAAA" + s[4:])),
    "headers twice, date only last": lambda k, s: header(
        ("keyId", k), ("algorithm", "rsa-sha256"), ("headers", HEADERS), ("headers", "date"),
        ("signature", s)),
    "algorithm in capitals": lambda k, s: header(("keyId", k), ("algorithm", "RSA-SHA256"),
                                                 ("headers", HEADERS), ("signature", s)),
    "algorithm with a space": lambda k, s: header(("keyId", k), ("algorithm", "rsa-sha256 "),
                                                  ("headers", HEADERS), ("signature", s)),
    "hmac algorithm": lambda k, s: header(("keyId", k), ("algorithm", "hmac-sha256"),
                                          ("headers", HEADERS), ("signature", s)),
    "junk after the base64 padding": lambda k, s: header(
        ("keyId", k), ("algorithm", "rsa-sha256"), ("headers", HEADERS), ("signature", s + "junk")),
    "junk inside the base64": lambda k, s: header(
        ("keyId", k), ("algorithm", "rsa-sha256"), ("headers", HEADERS),
        ("signature", s[:40] + "!*" + s[40:])),
    "base64 without its padding": lambda k, s: header(
        ("keyId", k), ("algorithm", "rsa-sha256"), ("headers", HEADERS), ("signature", s.rstrip("="))),
    "the URL-safe base64 alphabet": lambda k, s: header(
        ("keyId", k), ("algorithm", "rsa-sha256"), ("headers", HEADERS),
        ("signature", s.replace("+", "-").replace("/", "_"))),
    "base64 broken by spaces": lambda k, s: header(
        ("keyId", k), ("algorithm", "rsa-sha256"), ("headers", HEADERS), ("signature", " ".join(s))),
    "a signature cut short": lambda k, s: header(
        ("keyId", k), ("algorithm", "rsa-sha256"), ("headers", HEADERS), ("signature", s[:-8])),
    "a trailing comma": lambda k, s: header(("keyId", k), ("algorithm", "rsa-sha256"),
                                            ("headers", HEADERS), ("signature", s)) + ",",
    "scheme in lower case": lambda k, s: header(("keyId", k), ("algorithm", "rsa-sha256"),
                                                ("headers", HEADERS), ("signature", s)).lower()[:10]
    + header(("keyId", k), ("algorithm", "rsa-sha256"), ("headers", HEADERS), ("signature", s))[10:],
    "param names in other case": lambda k, s: header(("KeyId", k), ("algorithm", "rsa-sha256"),
                                                     ("headers", HEADERS), ("signature", s)),
    "a number where a string goes": lambda k, s: header(("keyId", k), ("algorithm", "rsa-sha256"),
                                                        ("headers", HEADERS), ("signature", s))
    .replace('algorithm="rsa-sha256"', "created=1,algorithm=\"rsa-sha256\""),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_emulator_accepts_exactly_what_http_signature_accepts(emu, judge, triton_keys, variant):
    date, key_id, signature = good_parts(triton_keys["rsa"])
    authorization = VARIANTS[variant](key_id, signature)
    verdict = status(judge.url, authorization, date) == 200
    answer = status(emu.url, authorization, date)
    assert answer in (200, 400, 401), answer
    said = "accepts" if verdict else "refuses"
    assert (answer == 200) == verdict, f"http-signature {said}, the emulator answered {answer}"
