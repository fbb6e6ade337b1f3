"""SSH key fingerprints and the key ids a user may give.

CloudAPI knows a key by its MD5 fingerprint in colon hex (``aa:bb:...``);
people copy ``SHA256:...`` from ``ssh-keygen -l``. Both are computed here from
the public key's OpenSSH wire blob, the same bytes ``ssh-keygen`` hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Union

from cryptography.hazmat.primitives import serialization

from ..errors import AuthError

KeyLike = Union[str, bytes, object]  # an OpenSSH public line, or a cryptography key object

_KEY_ID_HELP = (
    "give the MD5 fingerprint (aa:bb:...:ff, as `ssh-keygen -l -E md5 -f KEY.pub` prints it, "
    "with or without the MD5: prefix) or the SHA256 one (SHA256:..., as `ssh-keygen -l -f KEY.pub` "
    "prints it)"
)


def public_blob(key: KeyLike) -> bytes:
    """The OpenSSH wire-format blob of a public key.

    ``key`` is a cryptography public or private key object, or an OpenSSH
    public key line (``"ssh-ed25519 AAAA... comment"``, str or bytes).
    """
    if isinstance(key, (str, bytes)):
        line = key.encode("ascii", "replace") if isinstance(key, str) else key
        fields = line.split()
        if len(fields) < 2:
            raise AuthError(f"not an OpenSSH public key line: {line[:40]!r}...")
        try:
            return base64.b64decode(fields[1], validate=True)
        except binascii.Error as exc:
            raise AuthError(f"not an OpenSSH public key line (bad base64: {exc})") from None
    public = key.public_key() if hasattr(key, "public_key") else key
    try:
        line = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    except (AttributeError, ValueError, TypeError) as exc:
        raise AuthError(f"cannot fingerprint {type(key).__name__}: {exc}") from None
    return base64.b64decode(line.split()[1])


def md5_hex(blob: bytes) -> str:
    """MD5 colon-hex fingerprint of a public key blob (``aa:bb:...``).

    MD5 here names a key, it protects nothing: hence ``usedforsecurity=False``
    (which keeps it working on FIPS-mode Pythons).
    """
    return ":".join(f"{b:02x}" for b in hashlib.md5(blob, usedforsecurity=False).digest())


def sha256_b64(blob: bytes) -> str:
    """``SHA256:<unpadded base64>`` fingerprint of a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def md5_fingerprint(key: KeyLike) -> str:
    """MD5 fingerprint in colon hex, the form CloudAPI stores and expects in a keyId."""
    return md5_hex(public_blob(key))


def sha256_fingerprint(key: KeyLike) -> str:
    """SHA256 fingerprint as ``ssh-keygen -l`` prints it: ``SHA256:`` + unpadded base64."""
    return sha256_b64(public_blob(key))


@dataclass(frozen=True)
class KeyId:
    """A parsed key id: which hash (``"md5"`` or ``"sha256"``) and its digest."""

    text: str
    hash: str
    digest: bytes

    def matches(self, blob: bytes) -> bool:
        """Whether the public key blob has this fingerprint."""
        return hashlib.new(self.hash, blob, usedforsecurity=False).digest() == self.digest

    def __str__(self) -> str:
        return self.text


_HEX_MD5 = re.compile(r"^(?:[0-9a-fA-F]{2}:){15}[0-9a-fA-F]{2}$|^[0-9a-fA-F]{32}$")


def parse_key_id(key_id: str) -> KeyId:
    """Parse a key id in any form ``triton`` accepts (MD5 hex, ``MD5:hex``, ``SHA256:b64``).

    A full keyId path (``/<account>/keys/<fingerprint>``, as py-smartdc wanted
    it) is accepted too; a key *name* there cannot be looked up locally and is
    refused with an explanation.
    """
    if not isinstance(key_id, str) or not key_id.strip():
        raise AuthError(f"key id {key_id!r} is empty or not a string: {_KEY_ID_HELP}")
    text = key_id.strip()
    if "/keys/" in text:
        text = text.rsplit("/keys/", 1)[1]
        if ":" not in text:
            raise AuthError(
                f"key id {key_id!r} names a key ({text!r}) rather than giving its fingerprint; "
                f"the key cannot be found locally by name: {_KEY_ID_HELP}"
            )
    if text[:7].upper() == "SHA256:":
        b64 = text[7:]
        try:
            digest = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
        except binascii.Error:
            digest = b""
        if len(digest) == 32:
            return KeyId(key_id, "sha256", digest)
    else:
        hex_part = text[4:] if text[:4].upper() == "MD5:" else text
        if _HEX_MD5.match(hex_part):
            return KeyId(key_id, "md5", bytes.fromhex(hex_part.replace(":", "")))
    raise AuthError(f"key id {key_id!r} is not an SSH key fingerprint: {_KEY_ID_HELP}")
