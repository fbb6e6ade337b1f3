"""The Authorization header CloudAPI verifies, as a requests auth hook."""

from __future__ import annotations

import base64
from email.utils import formatdate

import requests
from requests.auth import AuthBase

from ..errors import AuthError
from .signer import Signer

SIGNED_HEADERS = "(request-target) date"


def signing_string(method: str, path: str, date: str) -> bytes:
    """What is signed: ``(request-target): <method> <path?query>\\ndate: <Date>`` (node-triton's form)."""
    return f"(request-target): {method.lower()} {path}\ndate: {date}".encode()


def http_date() -> str:
    """The current time as an RFC 1123 GMT Date header value."""
    return formatdate(usegmt=True)


class HTTPSignatureAuth(AuthBase):
    """Signs requests for CloudAPI: adds ``Date`` (if absent) and ``Authorization``.

    The keyId is ``/<account>/keys/<md5>``, or ``/<account>/users/<user>/keys/<md5>``
    for a sub-user. ``(request-target)`` is the prepared request's path and
    query exactly as sent. Holds no per-request state, so one instance may sign
    from many threads; its repr shows the key id, never key material.
    """

    def __init__(self, signer: Signer, account: str, user: str | None = None):
        for what, value in (("account", account), ("user", user)):
            if value is None and what == "user":
                continue
            if not isinstance(value, str) or not value or any(c in value for c in '/"\n\r'):
                raise AuthError(f"invalid {what} {value!r} for a keyId: it must be a non-empty login name")
        self.signer = signer
        self.account = account
        self.user = user
        middle = f"/users/{user}" if user else ""
        self.key_id = f"/{account}{middle}/keys/{signer.md5_fingerprint}"
        self._prefix = (
            f'Signature keyId="{self.key_id}",algorithm="{signer.algorithm}",'
            f'headers="{SIGNED_HEADERS}",signature="'
        )

    def authorization(self, method: str, path: str, date: str) -> str:
        """The Authorization header value for a request line and Date."""
        signature = self.signer.sign(signing_string(method, path, date))
        return self._prefix + base64.b64encode(signature).decode() + '"'

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        date = request.headers.get("Date")
        if not date:
            date = request.headers["Date"] = http_date()
        request.headers["Authorization"] = self.authorization(request.method, request.path_url, date)
        return request

    def __repr__(self) -> str:
        return f"HTTPSignatureAuth(key_id={self.key_id!r}, algorithm={self.signer.algorithm!r}, signer={self.signer!r})"
