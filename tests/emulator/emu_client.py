"""A test-only HTTP Signature signer and raw HTTP client for the emulator tests.

It crafts headers directly with ``cryptography`` so tests can send exactly what
they mean, including deliberately wrong things (legacy form, other hashes,
skewed or missing dates, bad keyIds). ``http.client`` keeps the request target
byte-for-byte as given and shows repeated response headers.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json as jsonlib
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
           "sha512": hashes.SHA512}


def load_private(key) -> Any:
    """The private key of a testing.TestKey (parsed once: RSA loading is slow)."""
    return _load(str(key.private), key.passphrase)


@functools.lru_cache(maxsize=None)
def _load(path: str, passphrase: str | None) -> Any:
    data = Path(path).read_bytes()
    password = passphrase.encode() if passphrase else None
    if b"OPENSSH PRIVATE KEY" in data:
        return serialization.load_ssh_private_key(data, password)
    return serialization.load_pem_private_key(data, password)


def raw_sign(private: Any, data: bytes, algorithm: str) -> bytes:
    """Sign ``data`` as http-signature's ``algorithm`` (ECDSA in DER, Ed25519 raw)."""
    kind, _, hash_name = algorithm.partition("-")
    if kind == "rsa":
        return private.sign(data, padding.PKCS1v15(), _HASHES[hash_name]())
    if kind == "ecdsa":
        return private.sign(data, ec.ECDSA(_HASHES[hash_name]()))
    if kind == "ed25519":
        return private.sign(data)
    raise ValueError(f"cannot sign {algorithm}")


def signing_string(method: str, target: str, headers: dict[str, str], signed: list[str]) -> str:
    lines = []
    for name in signed:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        else:
            lines.append(f"{name}: {headers[name]}")
    return "\n".join(lines)


def sign(key, method: str, target: str, *, key_id: str | None = None, algorithm: str | None = None,
         covers: tuple[str, ...] = ("(request-target)", "date"), date: str | bool | None = None,
         legacy: bool = False, sign_as: str | None = None, extra: dict[str, str] | None = None,
         tamper: bool = False) -> dict[str, str]:
    """Headers (``Date``, ``Authorization`` and ``extra``) for one request.

    ``covers`` lists the signed headers; ``date=False`` sends no Date.
    ``algorithm`` is what the header claims; ``sign_as`` what is really used
    (default: the same). ``legacy`` emits the 0.9 form, signing the raw
    header values. ``tamper`` flips a bit of the signature.
    """
    algorithm = algorithm or key.algorithm
    headers = {"date": date if isinstance(date, str) else formatdate(time.time(), usegmt=True)}
    headers.update({k.lower(): v for k, v in (extra or {}).items()})
    if legacy:
        data = "\n".join(headers[name] for name in covers).encode()
    else:
        data = signing_string(method, target, headers, list(covers)).encode()
    signature = raw_sign(load_private(key), data, sign_as or algorithm)
    if tamper:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    encoded = base64.b64encode(signature).decode()
    key_id = key_id or key.key_id
    if legacy:
        params = f'keyId="{key_id}",algorithm="{algorithm}"'
        if tuple(covers) != ("date",):
            params += f',headers="{" ".join(covers)}"'
        authorization = f"Signature {params} {encoded}"
    else:
        authorization = (f'Signature keyId="{key_id}",algorithm="{algorithm}",'
                         f'headers="{" ".join(covers)}",signature="{encoded}"')
    out = {"Date": None if date is False else headers["date"], "Authorization": authorization}
    out.update(extra or {})
    return out


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def all(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []


_OPEN: list["Client"] = []  # kept alive until close_all(), so no socket is left to the GC


def close_all() -> None:
    """Close every client's connection (the tests' teardown calls this)."""
    while _OPEN:
        _OPEN.pop().close()


@dataclass(eq=False)
class Client:
    """Signed requests to one datacenter over one keep-alive connection."""

    url: str
    key: Any
    accept_version: str = "~9||~8"
    key_id: str | None = None
    _conn: http.client.HTTPConnection | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _OPEN.append(self)

    def connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            parts = urlsplit(self.url)
            self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, target: str, *, json: Any = None, body: bytes | None = None,
                headers: dict[str, str] | None = None, signed: bool = True,
                **sign_options: Any) -> Response:
        """Send one request; ``target`` goes on the wire exactly as given."""
        send = {"Accept": "application/json", "Accept-Version": self.accept_version}
        if json is not None:
            body = jsonlib.dumps(json).encode()
            send["Content-Type"] = "application/json"
        if signed:
            sign_options.setdefault("key_id", self.key_id)
            send.update(sign(self.key, method, target, **sign_options))
        send.update(headers or {})
        send = {k: v for k, v in send.items() if v is not None}
        conn = self.connection()
        try:
            conn.request(method, target, body=body, headers=send)
            reply = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.close()
            conn = self.connection()
            conn.request(method, target, body=body, headers=send)
            reply = conn.getresponse()
        data = reply.read()
        if reply.getheader("Connection", "").lower() == "close":
            self.close()
        return Response(reply.status, reply.headers, data)

    def get(self, target: str, **kw: Any) -> Response:
        return self.request("GET", target, **kw)

    def post(self, target: str, json: Any = None, **kw: Any) -> Response:
        return self.request("POST", target, json=json, **kw)

    def put(self, target: str, json: Any = None, **kw: Any) -> Response:
        return self.request("PUT", target, json=json, **kw)

    def delete(self, target: str, **kw: Any) -> Response:
        return self.request("DELETE", target, **kw)

    def head(self, target: str, **kw: Any) -> Response:
        return self.request("HEAD", target, **kw)
