"""HTTP Signature verification as CloudAPI does it, written from the spec.

CloudAPI parses ``Authorization: Signature ...`` with http-signature 1.4's strict
parser first and falls back to the 0.9 ("legacy") parser, where the signature
follows the parameters after a space; when both fail the *modern* parser's
message is reported (cloudapi.md §1). Keys are OpenSSH public keys loaded with
``cryptography``; fingerprints are MD5 colon-hex (what keyIds carry) and
``SHA256:`` unpadded base64.

Nothing here imports the client side of smartdc_nb: the signer and this verifier
are separate implementations of the same contract.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa

CLOCK_SKEW = 300  # seconds, both parsers

#: algorithms CloudAPI's parser options allow (sha384 ones die earlier: no hash)
ALLOWED = frozenset({
    "rsa-sha1", "rsa-sha256", "rsa-sha384", "rsa-sha512", "dsa-sha1", "dsa-sha256",
    "ecdsa-sha256", "ecdsa-sha384", "ecdsa-sha512", "ed25519-sha512",
})
_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha512": hashes.SHA512}
_KEY_TYPES = ("rsa", "dsa", "ecdsa", "ed25519")
_LEGACY_ALGORITHMS = frozenset({
    "rsa-sha1", "rsa-sha256", "rsa-sha512", "dsa-sha1", "hmac-sha1", "hmac-sha256", "hmac-sha512",
})


class SignatureHeaderError(Exception):
    """The Authorization header could not be parsed (-> 400 InvalidHeader)."""


# ----------------------------------------------------------------------- keys


@dataclass(frozen=True)
class PublicKey:
    """An account's OpenSSH public key, ready to verify signatures."""

    openssh: str           # the line as registered (type, base64, comment)
    key_type: str          # rsa | dsa | ecdsa | ed25519 (http-signature's names)
    md5: str               # aa:bb:... (what keyIds carry)
    sha256: str            # SHA256:... (unpadded base64)
    key: object            # the cryptography public key

    @property
    def comment(self) -> str:
        parts = self.openssh.split(None, 2)
        return parts[2] if len(parts) > 2 else ""


def load_public_key(line: str) -> PublicKey:
    """Parse one OpenSSH public key line; ValueError says what is wrong with it."""
    if not isinstance(line, str):
        raise ValueError("a public key must be a string")
    parts = line.strip().split()
    if len(parts) < 2:
        raise ValueError("a public key line needs at least '<type> <base64>'")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the key data is not valid base64 ({exc})") from None
    try:
        key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (ValueError, TypeError, serialization.UnsupportedAlgorithm) as exc:
        raise ValueError(f"not an OpenSSH public key this emulator can use ({exc})") from None
    if isinstance(key, rsa.RSAPublicKey):
        key_type = "rsa"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type = "ecdsa"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key_type = "ed25519"
    elif isinstance(key, dsa.DSAPublicKey):
        key_type = "dsa"
    else:
        raise ValueError(f"unsupported key type {parts[0]!r}")
    md5 = hashlib.md5(blob).hexdigest()
    return PublicKey(
        openssh=line.strip(),
        key_type=key_type,
        md5=":".join(md5[i:i + 2] for i in range(0, 32, 2)),
        sha256="SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("="),
        key=key,
    )


# -------------------------------------------------------------------- parsing


@dataclass
class ParsedSignature:
    key_id: str
    algorithm: str         # lower case, e.g. rsa-sha256
    signature: str         # base64 as sent
    signing_string: str
    legacy: bool


def js_date(value: str) -> float:
    """Parse a Date header like JavaScript's ``new Date(str)``: epoch seconds or NaN."""
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return math.nan
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _js_number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _check_skew(headers: dict[str, str], now: float) -> None:
    raw = headers.get("x-date") or headers.get("date")
    if not raw:
        return
    skew = abs(now - js_date(raw))
    if skew > CLOCK_SKEW:  # NaN compares False, as in JavaScript
        raise SignatureHeaderError(
            f"clock skew of {_js_number(round(skew * 1000) / 1000)}s was greater than {CLOCK_SKEW}s")


def _default_signed(headers: dict[str, str]) -> list[str]:
    return ["x-date" if headers.get("x-date") else "date"]


def _parse_modern(header: str, headers: dict[str, str], method: str, target: str,
                  http_version: str, now: float) -> ParsedSignature:
    scheme, _, rest = header.partition(" ")
    params: dict[str, object] = {}
    i, n = 0, len(rest)
    # The strict grammar: name="value" or name=digits, separated by a bare comma.
    while i < n:
        start = i
        while i < n and rest[i].isascii() and rest[i].isalpha():
            i += 1
        name = rest[start:i]
        if not name or i >= n or rest[i] != "=":
            raise SignatureHeaderError("bad param format")
        i += 1
        if i < n and rest[i] == '"':
            end = rest.find('"', i + 1)
            if end < 0:
                break  # an unterminated value is silently dropped, as in the parser
            params[name] = rest[i + 1:end]
            i = end + 1
        else:
            start = i
            while i < n and rest[i].isdigit():
                i += 1
            if i == start:
                raise SignatureHeaderError("bad param format")
            if i < n and rest[i] != ",":
                raise SignatureHeaderError("bad param format")
            params[name] = int(rest[start:i])
        if i < n:
            if rest[i] != ",":
                raise SignatureHeaderError("bad param format")
            i += 1
    signed = str(params.get("headers") or "").split(" ") if params.get("headers") else \
        _default_signed(headers)
    if scheme != "Signature":
        raise SignatureHeaderError('scheme was not "Signature"')
    for field in ("keyId", "algorithm", "signature"):
        if not params.get(field):
            raise SignatureHeaderError(f"{field} was not specified")
    algorithm = str(params["algorithm"])
    _validate_algorithm(algorithm)
    lines = []
    for name in signed:
        name = name.lower()
        if name == "request-line":
            lines.append(f"{method} {target} HTTP/{http_version}")
        elif name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        elif name == "(keyid)":
            lines.append(f"(keyid): {params['keyId']}")
        elif name == "(algorithm)":
            lines.append(f"(algorithm): {algorithm}")
        elif name in ("(opaque)", "(created)", "(expires)"):
            value = params.get(name[1:-1])
            if value is None and name == "(opaque)":
                raise SignatureHeaderError("opaque param was not in the undefined header")
            lines.append(f"{name}: {value}")
        else:
            value = headers.get(name)
            if value is None:
                raise SignatureHeaderError(f"{name} was not in the request")
            lines.append(f"{name}: {value}")
    _check_skew(headers, now)
    for field in ("created", "expires"):
        value = params.get(field)
        if isinstance(value, int) and value:
            drift = (value - math.floor(now)) if field == "created" else (math.floor(now) - value)
            if drift > CLOCK_SKEW:
                raise SignatureHeaderError(
                    "Created lies in the future (with skew %ds greater than allowed %ds" % (drift, CLOCK_SKEW)
                    if field == "created" else
                    "Request expired with skew %ds greater than allowed %ds" % (drift, CLOCK_SKEW))
    required = _default_signed(headers)[0]
    if required not in [h.lower() for h in signed]:
        raise SignatureHeaderError(f"{required} was not a signed header")
    algorithm = algorithm.lower()
    if algorithm not in ALLOWED:
        raise SignatureHeaderError(f"{algorithm} is not a supported algorithm")
    return ParsedSignature(str(params["keyId"]), algorithm, str(params["signature"]),
                           "\n".join(lines), legacy=False)


def _validate_algorithm(algorithm: str) -> None:
    parts = algorithm.lower().split("-")
    if len(parts) != 2:
        raise SignatureHeaderError(f"{algorithm} is not supported")
    if parts[0] != "hmac" and parts[0] not in _KEY_TYPES:
        raise SignatureHeaderError(f"{algorithm} is not supported")
    if parts[1] not in _HASHES:
        raise SignatureHeaderError(f"{algorithm} is not supported")


def _parse_legacy(header: str, headers: dict[str, str], method: str, target: str,
                  http_version: str, now: float) -> ParsedSignature:
    scheme, _, rest = header.partition(" ")
    params: dict[str, str] = {}
    name, signature, i = "", "", 0
    # The 0.9 grammar is loose: name chars up to a quote, value up to the next
    # quote; a space outside a value starts the signature.
    while i < len(rest):
        c = rest[i]
        if c == '"':
            end = rest.find('"', i + 1)
            params[name] = rest[i + 1:] if end < 0 else rest[i + 1:end]
            name = ""
            i = len(rest) if end < 0 else end + 1
            continue
        if c == " ":
            signature = rest[i + 1:]
            break
        if c not in "=,":
            name += c
        i += 1
    signed = params.get("headers", "").split(" ") if params.get("headers") else _default_signed(headers)
    if scheme != "Signature":
        raise SignatureHeaderError('scheme was not "Signature"')
    if not params.get("keyId"):
        raise SignatureHeaderError("keyId was not specified")
    if not params.get("algorithm"):
        raise SignatureHeaderError("algorithm was not specified")
    if not signature:
        raise SignatureHeaderError("signature was empty")
    algorithm = params["algorithm"].lower()
    if algorithm not in _LEGACY_ALGORITHMS:
        raise SignatureHeaderError(f"{algorithm} is not supported")
    values = []
    for name in signed:
        name = name.lower()
        if name == "request-line":
            values.append(f"{method} {target} HTTP/{http_version}")
        else:
            value = headers.get(name)
            if not value:
                raise SignatureHeaderError(f"{name} was not in the request")
            values.append(value)
    _check_skew(headers, now)
    required = _default_signed(headers)[0]
    if required not in [h.lower() for h in signed]:
        raise SignatureHeaderError(f"{required} was not a signed header")
    if algorithm not in ALLOWED:
        raise SignatureHeaderError(f"{algorithm} is not a supported algorithm")
    return ParsedSignature(params["keyId"], algorithm, signature, "\n".join(values), legacy=True)


def parse_signature(header: str, headers: dict[str, str], method: str, target: str,
                    http_version: str = "1.1", now: float | None = None) -> ParsedSignature:
    """Parse an ``Authorization: Signature`` header as CloudAPI does.

    ``headers`` maps lower-case names to values; ``target`` is the raw request
    path with its query string. Raises SignatureHeaderError with the modern
    parser's message when neither grammar accepts the header.
    """
    now = time.time() if now is None else now
    try:
        return _parse_modern(header, headers, method, target, http_version, now)
    except SignatureHeaderError as modern_error:
        try:
            return _parse_legacy(header, headers, method, target, http_version, now)
        except SignatureHeaderError:
            raise modern_error from None


# ------------------------------------------------------------------- verifying

_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")


def node_base64(text: str) -> bytes:
    """Decode base64 as Node's ``Buffer.from(text, "base64")`` does, which is what
    CloudAPI verifies: the URL-safe alphabet too, other characters skipped,
    decoding ends at the first ``=``, padding optional, a lone last character
    dropped. (Python's decoder refuses unpadded input: a signature the judge
    accepts must not be refused here.)"""
    text = _NOT_BASE64.sub("", text.split("=", 1)[0].replace("-", "+").replace("_", "/"))
    text = text[:len(text) - len(text) % 4] if len(text) % 4 == 1 else text
    return base64.b64decode(text + "=" * (-len(text) % 4))


def verify(parsed: ParsedSignature, key: PublicKey) -> bool:
    """True when the signature over the signing string verifies with ``key``."""
    key_type, _, hash_name = parsed.algorithm.partition("-")
    if key_type != key.key_type or hash_name not in _HASHES:
        return False
    try:
        signature = node_base64(parsed.signature)
    except (binascii.Error, ValueError):
        return False
    data = parsed.signing_string.encode("utf-8", "surrogatepass")
    digest = _HASHES[hash_name]()
    try:
        if key_type == "rsa":
            key.key.verify(signature, data, padding.PKCS1v15(), digest)
        elif key_type == "ecdsa":
            key.key.verify(signature, data, ec.ECDSA(digest))
        elif key_type == "dsa":
            key.key.verify(signature, data, digest)
        else:  # ed25519 signs the message itself; only -sha512 is accepted
            if hash_name != "sha512":
                return False
            key.key.verify(signature, data)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
