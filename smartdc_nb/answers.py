"""Reading what a request got: error answers with hints, excerpts, and the cause of a failure.

Helpers of :class:`~smartdc_nb.transport.Transport`: a 401 that names the key it
tried, a short readable excerpt of a body that is not JSON (a proxy's page), and
the innermost cause of a connection error in words.
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import urllib3.exceptions
from urllib3.exceptions import MaxRetryError, NewConnectionError

from .call_groups import Abandoned
from .errors import APIError

#: What a change that went out and got no answer must say (a request timeout says it too).
MAYBE_APPLIED = ("CloudAPI may have applied it: read it again (e.g. machine.refresh()) before "
                 "sending it again")

#: How CloudAPI words a signature whose Date is too far from its clock (InvalidHeader,
#: "clock skew of Ns was greater than 300s") or too old (RequestExpired).
_CLOCK_WORDS = re.compile(r"clock skew|Date header .* too old")


def _with_hints(error: APIError, headers: Any, auth: Any, url: str) -> APIError:
    """The error with what to do added: which key a 401 tried, whose clock is off."""
    if error.status == 401:
        return _with_key_hint(error, auth, url)
    if _CLOCK_WORDS.search(error.message or ""):
        return _with_clock_hint(error, headers.get("Date"))
    return error


def _with_clock_hint(error: APIError, date: str | None) -> APIError:
    """A refused Date that says whose clock is off, by about how much, and what to do:
    CloudAPI's words name neither (the answer's own Date header is the cloud's clock)."""
    try:
        offset = time.time() - parsedate_to_datetime(date).timestamp()  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        hint = ("This computer's clock and the cloud's are more than 300 s apart, and CloudAPI "
                "refuses requests signed with a Date that far from its own.")
    else:
        way = "ahead of" if offset > 0 else "behind"
        hint = (f"This computer's clock is about {abs(round(offset, -1)):.0f} s {way} the cloud's "
                f"(the answer's Date was {date}), and CloudAPI refuses requests signed with a "
                "Date more than 300 s from its own.")
    return _copy(error, f"{error.message}. {hint} Set this computer's "
                        "clock right (NTP: `timedatectl set-ntp true`, or `chronyc makestep`), "
                        "then try again.")


def _copy(error: APIError, message: str) -> APIError:
    return type(error)(message, status=error.status, code=error.code,
                       errors=error.errors, request_id=error.request_id, method=error.method,
                       path=error.path, body=error.body, retry_after=error.retry_after)


def _with_key_hint(error: APIError, auth: Any, url: str) -> APIError:
    """A 401 that says which key and account were used, and where the key was found."""
    key_id = getattr(auth, "key_id", None)
    signer = getattr(auth, "signer", None)
    if key_id is None or signer is None:
        return error
    who = f"account {auth.account}" + (f" (user {auth.user})" if auth.user else "")
    changed = getattr(signer, "changed_on_disk", None)
    change = changed() if changed is not None else None
    if change is not None:  # the usual hint would send the user to check a different key
        hint = (f"CloudAPI at {url} did not accept key {signer.md5_fingerprint} "
                f"({signer.sha256_fingerprint}) for {who}. That key was read from "
                f"{signer.source} at connect(), and the file has changed since ({change}; a "
                "rotated key?): connect again to sign with the key the file holds now.")
    else:
        hint = (f"CloudAPI at {url} did not accept key {signer.md5_fingerprint} "
                f"({signer.sha256_fingerprint}) for {who}; the key was found in {signer.source}. "
                "Check that this key is on the account (`triton key list`, or add its .pub to "
                "the account), that the account and user names are right, and that the URL is "
                "that account's cloud.")
    return _copy(error, f"{error.message}. {hint}")


def _shrink(timeout: Any, left: float) -> Any:
    """``timeout`` (seconds or (connect, read)) with each part at most ``left``."""
    if left == float("inf"):
        return timeout
    if isinstance(timeout, tuple):
        return tuple(left if t is None else min(t, left) for t in timeout)
    return left if timeout is None else min(timeout, left)


def _excerpt(body: bytes, size: int = 160) -> str:
    """A short, single-line, tag-free excerpt of a non-JSON body (e.g. a proxy's HTML page)."""
    text = body[:4096].decode("utf-8", "replace")
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


def _socket_level(exc: BaseException) -> bool:
    """An OSError of the socket or TLS layer itself, not one of requests' or urllib3's own
    exceptions (requests' derive from OSError too)."""
    return isinstance(exc, OSError) and not isinstance(
        exc, (requests.exceptions.RequestException, urllib3.exceptions.HTTPError))


def _root(exc: BaseException) -> BaseException:
    """The innermost cause of a requests exception (urllib3's reason, the OSError, ...)."""
    inner = exc
    while True:
        if _socket_level(inner) and inner.__cause__ is None:
            # the OS's own error is the root: its __context__ is whatever the caller was
            # handling when it made the request (a panel refreshing in its except block)
            return inner
        nxt = inner.__cause__ or inner.__context__
        if isinstance(inner, MaxRetryError) and inner.reason is not None:
            nxt = inner.reason
        if nxt is None or nxt is inner:
            return inner
        inner = nxt


def _maybe_applied(method: str, exc: BaseException) -> bool:
    """Whether a change (not a GET or HEAD) that got no answer may have been applied: it went
    out, as far as the client knows (the connection was made)."""
    if method in ("GET", "HEAD") or isinstance(exc, (requests.exceptions.ConnectTimeout,
                                                     requests.exceptions.ProxyError)):
        return False
    return not isinstance(_root(exc), (ConnectionRefusedError, NewConnectionError))


def _no_answer(url: str, method: str, path: str, exc: BaseException, sent: bool) -> str:
    """What a request that got no HTTP answer says: nothing listens there, the cloud may have
    applied it (a change that went out), or no answer came."""
    if isinstance(_root(exc), ConnectionRefusedError):
        return (f"cannot connect to CloudAPI at {url} ({method} {path}): the connection was "
                "refused, so nothing listens at that address and port. Check the URL (the "
                "profile's url, TRITON_URL) and that the datacenter or the emulator is running.")
    if sent:
        return (f"{method} {url}{path}: no answer from CloudAPI ({_reason(exc)}) to a request "
                f"that went out, so {MAYBE_APPLIED}.")
    return (f"{method} {url}{path}: no answer from CloudAPI ({_reason(exc)}). Check the URL "
            "and that the datacenter is reachable.")


def _given_up(url: str, method: str, path: str, sent: bool) -> Abandoned:
    """A request its caller gave up while it was on its way (call_groups.CallGroup.abandon)."""
    if not sent:
        return Abandoned(f"{method} {url}{path}: given up (Ctrl-C) before it was sent")
    return Abandoned(f"{method} {url}{path}: given up (Ctrl-C) on its way, its answer not "
                     f"waited for, so {MAYBE_APPLIED}", sent=True)


def _refused(error: BaseException | None) -> bool:
    """Whether a connect error is a refused connection."""
    return error is not None and isinstance(_root(error), ConnectionRefusedError)


def _reason(exc: Exception) -> str:
    """The innermost readable cause of a requests exception."""
    inner = _root(exc)
    text = str(inner) or type(inner).__name__
    return text if len(text) < 200 else text[:199] + "…"


__all__ = ["_with_hints", "_with_key_hint", "_shrink", "_excerpt", "_root", "_refused", "_reason",
           "_given_up"]
