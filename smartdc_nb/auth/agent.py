"""Signing through a running ssh-agent (``SSH_AUTH_SOCK``).

The agent protocol (draft-miller-ssh-agent) is spoken here directly: the two
requests needed, list identities and sign, take a few dozen lines, while the
libraries that implement it (paramiko, asyncssh) are whole SSH stacks, too
heavy as a dependency for this, and no small well-kept package does only this.

Every operation opens its own connection to the agent: that makes a signer
safe to share between threads without a lock, and survives an agent restart.
Connecting to a Unix socket costs microseconds next to the agent's signature.
"""

from __future__ import annotations

import base64
import os
import socket
import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..errors import AuthError
from .fingerprints import KeyId, md5_hex, parse_key_id
from .signer import KeySigner
from .sshwire import pack_string, read_string

_FAILURE = 5
_REQUEST_IDENTITIES = 11
_IDENTITIES_ANSWER = 12
_SIGN_REQUEST = 13
_SIGN_RESPONSE = 14
_RSA_SHA2_256 = 0x02

_MAX_MESSAGE = 256 * 1024  # the agent protocol's own limit

# The signature format the agent must answer with, per http-signature algorithm.
_EXPECTED_FORMAT = {
    "rsa-sha256": b"rsa-sha2-256",
    "ed25519-sha512": b"ssh-ed25519",
    "ecdsa-sha256": b"ecdsa-sha2-nistp256",
    "ecdsa-sha512": b"ecdsa-sha2-nistp521",
}


def _mpint(buf: bytes) -> int:
    return int.from_bytes(buf, "big", signed=True)


class AgentClient:
    """A minimal ssh-agent client: list identities and sign, one connection per call."""

    def __init__(self, socket_path: str, timeout: float = 30.0):
        self.socket_path = socket_path
        self.timeout = timeout

    def _request(self, message: bytes) -> tuple[int, bytes]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            try:
                sock.connect(self.socket_path)
            except OSError as exc:
                raise AuthError(
                    f"cannot connect to the ssh-agent at {self.socket_path} ({exc.strerror or exc}): "
                    "the agent is not running or the socket is stale. Start one "
                    "(eval $(ssh-agent); ssh-add KEY) and point SSH_AUTH_SOCK at it (in a running "
                    "notebook: %env SSH_AUTH_SOCK=PATH), or unset SSH_AUTH_SOCK and use a key file"
                ) from None
            try:
                sock.sendall(pack_string(message))
                (length,) = struct.unpack(">I", self._recv(sock, 4))
                if not 0 < length <= _MAX_MESSAGE:
                    raise AuthError(f"the ssh-agent at {self.socket_path} sent a malformed answer")
                reply = self._recv(sock, length)
            except socket.timeout:
                raise AuthError(
                    f"the ssh-agent at {self.socket_path} did not answer within {self.timeout:g}s "
                    "(is it waiting for a confirmation?)"
                ) from None
            except OSError as exc:
                raise AuthError(f"the ssh-agent at {self.socket_path} failed: {exc}") from None
        finally:
            sock.close()
        return reply[0], reply[1:]

    def _recv(self, sock: socket.socket, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise AuthError(f"the ssh-agent at {self.socket_path} closed the connection")
            buf += chunk
        return bytes(buf)

    def identities(self) -> list[tuple[bytes, str]]:
        """The agent's keys as (public key blob, comment)."""
        kind, body = self._request(bytes([_REQUEST_IDENTITIES]))
        if kind != _IDENTITIES_ANSWER:
            raise AuthError(f"the ssh-agent at {self.socket_path} refused to list its keys")
        try:
            (count,) = struct.unpack_from(">I", body, 0)
            pos, keys = 4, []
            for _ in range(count):
                blob, pos = read_string(body, pos)
                comment, pos = read_string(body, pos)
                keys.append((blob, comment.decode("utf-8", "replace")))
        except (struct.error, ValueError):
            raise AuthError(f"the ssh-agent at {self.socket_path} sent a malformed key list") from None
        return keys

    def sign(self, blob: bytes, data: bytes, flags: int = 0) -> tuple[bytes, bytes]:
        """(signature format, signature bytes) for ``data`` signed by the key ``blob``."""
        request = bytes([_SIGN_REQUEST]) + pack_string(blob) + pack_string(data) + struct.pack(">I", flags)
        kind, body = self._request(request)
        if kind == _FAILURE:
            raise AuthError(
                f"the ssh-agent at {self.socket_path} refused to sign with key {md5_hex(blob)} "
                "(was it removed, or the agent locked?)"
            )
        if kind != _SIGN_RESPONSE:
            raise AuthError(f"the ssh-agent at {self.socket_path} answered a sign request with message {kind}")
        try:
            signature, _ = read_string(body, 0)
            fmt, pos = read_string(signature, 0)
            sig, _ = read_string(signature, pos)
        except (struct.error, ValueError):
            raise AuthError(f"the ssh-agent at {self.socket_path} sent a malformed signature") from None
        return fmt, sig


class AgentSigner(KeySigner):
    """Signs with the ssh-agent key whose fingerprint matches ``key_id`` (MD5 or SHA256 form).

    ``agent_socket`` defaults to ``$SSH_AUTH_SOCK``. The key is chosen when the
    signer is made; a missing agent or key is an AuthError then, not later.
    A signer that found its agent through ``$SSH_AUTH_SOCK`` reads the variable again
    before each signature: a kernel outlives the agent of the SSH login it started under,
    and pointing the variable at a new agent holding the key (``%env SSH_AUTH_SOCK=...``)
    must not take a new connection and every object made from the old one.
    """

    def __init__(self, key_id: str | KeyId, agent_socket: str | None = None, *, timeout: float = 30.0):
        kid = key_id if isinstance(key_id, KeyId) else parse_key_id(key_id)
        self._follows_env = not agent_socket
        path = agent_socket or os.environ.get("SSH_AUTH_SOCK")
        if not path:
            raise AuthError("no ssh-agent: SSH_AUTH_SOCK is not set and no agent_socket was given")
        self.agent = AgentClient(path, timeout)
        identities = self.agent.identities()
        for blob, comment in identities:
            if kid.matches(blob):
                break
        else:
            held = ", ".join(f"{md5_hex(b)} ({c})" if c else md5_hex(b) for b, c in identities) or "none"
            raise AuthError(f'the ssh-agent at {path} has no key with fingerprint "{kid}" (it holds: {held})')
        key_type, _ = read_string(blob, 0)
        try:
            public_key = serialization.load_ssh_public_key(key_type + b" " + base64.b64encode(blob))
        except (ValueError, TypeError) as exc:
            kind = key_type.decode(errors="replace")
            raise AuthError(f"ssh-agent key {kid} ({kind}) cannot be used: {exc}") from None
        super().__init__(public_key, f"ssh-agent {path} key {comment or md5_hex(blob)}")
        self.comment = comment
        self._blob = blob

    def sign(self, data: bytes) -> bytes:
        """The agent's signature of ``data``, converted to what http-signature verifies."""
        flags = _RSA_SHA2_256 if self.algorithm == "rsa-sha256" else 0
        if self._follows_env:
            path = os.environ.get("SSH_AUTH_SOCK")
            if path and path != self.agent.socket_path:
                self.agent = AgentClient(path, self.agent.timeout)
        fmt, sig = self.agent.sign(self._blob, data, flags)
        if fmt != _EXPECTED_FORMAT[self.algorithm]:
            raise AuthError(
                f"the ssh-agent at {self.agent.socket_path} signed with {fmt.decode(errors='replace')} "
                f"instead of {_EXPECTED_FORMAT[self.algorithm].decode()} (an agent too old for rsa-sha2-256?)"
            )
        if self.algorithm.startswith("ecdsa-"):
            # SSH encodes an ECDSA signature as two mpints; http-signature wants ASN.1 DER.
            try:
                r, pos = read_string(sig, 0)
                s, _ = read_string(sig, pos)
            except (struct.error, ValueError):
                raise AuthError(f"the ssh-agent at {self.agent.socket_path} sent a malformed ECDSA signature") from None
            return encode_dss_signature(_mpint(r), _mpint(s))
        return sig
