"""Private key files: PEM (PKCS#1, PKCS#8, SEC1) and OpenSSH, plain or encrypted.

Loading is done by ``cryptography``; this module adds what it cannot know:
where a passphrase comes from (an argument or ``SMARTDC_NB_KEY_PASSPHRASE``,
never a prompt, which would hang a notebook kernel), and errors that name the
file and say what to do.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ..errors import AuthError
from .signer import KeySigner
from .sshwire import read_string

PASSPHRASE_ENV = "SMARTDC_NB_KEY_PASSPHRASE"

_OPENSSH_BEGIN = b"-----BEGIN OPENSSH PRIVATE KEY-----"
_OPENSSH_END = b"-----END OPENSSH PRIVATE KEY-----"
_OPENSSH_MAGIC = b"openssh-key-v1\0"


class PassphraseRequired(AuthError):
    """The key file is encrypted and no passphrase was given (argument or environment)."""


def openssh_header(data: bytes) -> tuple[bytes, bool]:
    """(public key blob, encrypted?) from an ``OPENSSH PRIVATE KEY`` file, without decrypting it.

    The format keeps the public key in clear before the (possibly encrypted)
    private part; reading it lets a key be fingerprinted without its passphrase.
    Raises ValueError when the data is not that format.
    """
    start = data.find(_OPENSSH_BEGIN)
    end = data.find(_OPENSSH_END)
    if start < 0 or end < start:
        raise ValueError("not an OpenSSH private key")
    try:
        raw = base64.b64decode(b"".join(data[start + len(_OPENSSH_BEGIN):end].split()), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64: {exc}") from None
    if not raw.startswith(_OPENSSH_MAGIC):
        raise ValueError("not an openssh-key-v1 body")
    try:
        cipher, pos = read_string(raw, len(_OPENSSH_MAGIC))
        _kdf, pos = read_string(raw, pos)
        _kdf_options, pos = read_string(raw, pos)
        pos += 4  # number of keys: always 1 in practice
        blob, _ = read_string(raw, pos)
    except (struct.error, ValueError):
        raise ValueError("truncated openssh-key-v1 header") from None
    return blob, cipher != b"none"


def _is_pem_encrypted(data: bytes) -> bool:
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data


def resolve_passphrase(passphrase: str | bytes | None) -> tuple[bytes | None, str]:
    """The passphrase to use and where it came from (for error messages)."""
    if passphrase is None:
        env = os.environ.get(PASSPHRASE_ENV)
        if env:
            return env.encode(), f"${PASSPHRASE_ENV}"
        return None, ""
    return (passphrase.encode() if isinstance(passphrase, str) else passphrase), "the passphrase argument"


def load_private_key(data: bytes, source: str, passphrase: str | bytes | None = None):
    """A cryptography private key from PEM or OpenSSH bytes; AuthError says what went wrong."""
    stripped = data.lstrip()
    if stripped.startswith((b"ssh-", b"ecdsa-", b"sk-", b"-----BEGIN PUBLIC KEY", b"---- BEGIN SSH2 PUBLIC")):
        raise AuthError(
            f"{source} is a public key; give the private key file (usually the same path without .pub)"
        )
    if _OPENSSH_BEGIN in data:
        try:
            encrypted = openssh_header(data)[1]
        except ValueError as exc:
            raise AuthError(f"{source} is not a valid OpenSSH private key ({exc})") from None
        loader = serialization.load_ssh_private_key
    elif b"-----BEGIN" in data and b"PRIVATE KEY-----" in data:
        encrypted = _is_pem_encrypted(data)
        loader = serialization.load_pem_private_key
    else:
        raise AuthError(
            f"{source} is not a private key in PEM or OpenSSH format "
            "(expected a '-----BEGIN ... PRIVATE KEY-----' file, as ssh-keygen writes)"
        )

    password, origin = resolve_passphrase(passphrase) if encrypted else (None, "")
    if encrypted and password is None:
        raise PassphraseRequired(
            f"{source} is encrypted and no passphrase was given: pass passphrase=... or set "
            f"the environment variable {PASSPHRASE_ENV} (smartdc_nb never prompts, a prompt would "
            f"hang a notebook kernel), or `ssh-add {source}` to an ssh-agent and give no key path"
        )
    try:
        return loader(data, password=password)
    except UnsupportedAlgorithm as exc:
        if "bcrypt" in str(exc):
            raise AuthError(
                f"{source} is an encrypted OpenSSH key, which needs the 'bcrypt' package to decrypt: "
                "pip install bcrypt (or add the key to ssh-agent)"
            ) from None
        raise AuthError(f"{source}: unsupported key ({exc})") from None
    except (ValueError, TypeError) as exc:
        if encrypted:
            raise AuthError(
                f"{source}: the passphrase from {origin} is wrong (the key could not be decrypted); "
                f"pass the right one as passphrase=... or in ${PASSPHRASE_ENV}"
            ) from None
        raise AuthError(f"{source} could not be read as a private key: {exc}") from None


def _signing_function(key):
    if isinstance(key, rsa.RSAPrivateKey):
        return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign
    # ECDSA; the curve was checked by algorithm_for. cryptography returns DER,
    # which is what http-signature verifies.
    algo = ec.ECDSA(hashes.SHA512() if key.curve.name == "secp521r1" else hashes.SHA256())
    return lambda data: key.sign(data, algo)


class KeyFileSigner(KeySigner):
    """Signs with a private key file (RSA, ECDSA P-256/P-521, Ed25519).

    ``passphrase`` (str or bytes) decrypts an encrypted key; without it the
    environment variable ``SMARTDC_NB_KEY_PASSPHRASE`` is used. Never prompts.
    """

    def __init__(self, path: str | os.PathLike, passphrase: str | bytes | None = None):
        path = Path(path).expanduser()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise AuthError(f"private key file {path} does not exist") from None
        except IsADirectoryError:
            raise AuthError(f"private key path {path} is a directory, not a key file") from None
        except PermissionError:
            raise AuthError(f"private key file {path} cannot be read (permission denied)") from None
        except OSError as exc:  # a link loop, an I/O error: named like the ones above
            raise AuthError(f"private key file {path} cannot be read ({exc.strerror or exc})"
                            ) from None
        key = load_private_key(data, str(path), passphrase)
        super().__init__(key.public_key(), str(path))
        self.path = path
        self._sign = _signing_function(key)
        self._digest = hashlib.sha256(data).digest()

    def changed_on_disk(self) -> str | None:
        """How the key file differs from what was read (rotated, removed), or None if not.

        The key is read once: a long-lived kernel signs with it after the file was replaced.
        """
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            return f"it cannot be read now ({exc.strerror or exc})"
        return None if hashlib.sha256(data).digest() == self._digest else "it holds another key now"

    def sign(self, data: bytes) -> bytes:
        """The signature of ``data`` (cryptography key objects are thread-safe)."""
        return self._sign(data)
