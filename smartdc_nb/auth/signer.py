"""What every signer has in common: key type -> http-signature algorithm, fingerprints, repr."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..errors import AuthError
from .fingerprints import md5_hex, public_blob, sha256_b64

SUPPORTED = "RSA, ECDSA P-256, ECDSA P-521 and Ed25519"

_P384_REFUSAL = (
    "{source} is an ECDSA P-384 key, which CloudAPI cannot verify: its verifier "
    "(http-signature 1.4) knows only sha1/sha256/sha512 hashes, and P-384 signs with "
    "sha384 (the triton CLI refuses these keys too). Use a P-256, P-521, Ed25519 or RSA key "
    "(e.g. `ssh-keygen -t ed25519`) and add its .pub to your account."
)


@runtime_checkable
class Signer(Protocol):
    """Signs http-signature signing strings with one key.

    ``algorithm`` is the http-signature name (``rsa-sha256``, ``ecdsa-sha256``,
    ``ecdsa-sha512``, ``ed25519-sha512``); ``sign`` returns the raw signature
    bytes in the encoding http-signature verifies (RSA PKCS#1 v1.5, ECDSA ASN.1
    DER, Ed25519 raw 64 bytes). Implementations are safe to share between threads.
    """

    algorithm: str
    md5_fingerprint: str
    sha256_fingerprint: str

    def sign(self, data: bytes) -> bytes: ...


def algorithm_for(public_key: object, source: str) -> str:
    """The http-signature algorithm for a key, as node-triton (sshpk) picks it; refuses others."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa-sha256"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519-sha512"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = public_key.curve.name
        if curve == "secp256r1":
            return "ecdsa-sha256"
        if curve == "secp521r1":
            return "ecdsa-sha512"
        if curve == "secp384r1":
            raise AuthError(_P384_REFUSAL.format(source=source))
        raise AuthError(f"{source} is an ECDSA key on curve {curve}; smartdc_nb signs with {SUPPORTED} keys")
    kind = type(public_key).__name__.replace("PublicKey", "").lstrip("_") or "unknown"
    raise AuthError(f"{source} is a {kind} key; smartdc_nb signs with {SUPPORTED} keys")


class KeySigner:
    """Common part of the signers: algorithm, fingerprints and a repr without secrets."""

    def __init__(self, public_key: object, source: str):
        self.algorithm = algorithm_for(public_key, source)
        self.public_key = public_key
        self.source = source
        self.key_blob = public_blob(public_key)
        self.md5_fingerprint = md5_hex(self.key_blob)
        self.sha256_fingerprint = sha256_b64(self.key_blob)

    @property
    def public_key_line(self) -> str:
        """The public key as an OpenSSH line (``ssh-ed25519 AAAA...``), e.g. to add to an account."""
        return self.public_key.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()

    def sign(self, data: bytes) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(algorithm={self.algorithm!r}, "
            f"fingerprint={self.md5_fingerprint!r}, source={self.source!r})"
        )
