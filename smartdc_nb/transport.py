"""One HTTP connection to one CloudAPI endpoint.

A :class:`Transport` owns a ``requests.Session`` (keep-alive), signs every
request (``auth``), sends the headers CloudAPI expects, retries what is safe to
retry (urllib3 ``Retry`` with CloudAPI's rules), keeps under the login's rate
limit, pages list endpoints, and turns error answers into typed exceptions.
Everything above it (DataCenter, Machine, ...) speaks to CloudAPI only
through :meth:`Transport.request` and :meth:`Transport.paginate`.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json as jsonlib
import logging
import platform
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator, Mapping
from urllib.parse import quote, urlencode, urlsplit

import requests
from urllib3.exceptions import HTTPError as URLLib3Error
from urllib3.util.retry import Retry

from . import limits, paging
from ._version import __version__
from .errors import (AnswerTooLargeError, APIError, MachineDeletedError, RedirectError,
                     RequestTimeoutError, TransportError, api_error_class)
from .gcpause import gc_paused
from .httpsession import Session
from .limits import DEFAULT_MAX_ANSWER_BYTES, DEFAULT_REQUEST_TIMEOUT
from .answers import (MAYBE_APPLIED, _excerpt, _given_up, _maybe_applied, _no_answer, _reason,  # noqa: F401
                      _refused, _root, _shrink, _with_hints, _with_key_hint)
from .ratelimit import RateLimiter
from .retry import CloudAPIRetry

log = logging.getLogger("smartdc_nb")

ACCEPT_VERSION = "~9||~8"
PAGE_LIMIT = paging.PAGE_LIMIT  # CloudAPI's maximum page size for ListMachines
DEFAULT_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
#: bytes from which decoding an answer pauses the cyclic GC (a full page of machines is ~2 MB)
_BIG_ANSWER = 64 * 1024

try:  # orjson decodes a 1,000-machine page in ~half json's time (benchmarks/bench_frames.py)
    from orjson import loads as _loads
except ImportError:  # a platform without its wheel: json gives the same values
    _loads = jsonlib.loads
USER_AGENT = (f"smartdc_nb/{__version__} (python/{platform.python_version()}; "
              f"requests/{requests.__version__})")


def _plain(headers: Mapping[str, str]) -> bool:
    """Whether a body is sent as it is: no content or transfer coding (its size is its length)."""
    coding = headers.get("Content-Encoding", "").strip().lower()
    return coding in ("", "identity") and "Transfer-Encoding" not in headers


def path_segment(value: Any) -> str:
    """URL-encode one path segment (tag name, metadata key, snapshot name, ...)."""
    text = quote(str(value), safe="")
    if text in (".", ".."):
        # quote() leaves dots alone, and a client resolves a "." or ".." segment as a relative
        # path (RFC 3986): DELETE .../tags/.. would delete the machine. Encoded, it is a name.
        return "%2E" * len(text)
    return text


def query_value(value: Any) -> str:
    """A query-string value as CloudAPI reads it: booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Reply:
    """A successful CloudAPI answer: status, headers, decoded JSON body (or None)."""

    status: int
    headers: Mapping[str, str]
    data: Any
    request_id: str | None
    elapsed_ms: float
    waited_ms: float = 0.0  # until the status line and headers came (the rest: reading them)

    @property
    def date(self) -> datetime | None:
        """The server's ``Date`` header as an aware datetime (used to order audit entries)."""
        value = self.headers.get("Date")
        if not value:
            return None
        try:
            return email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None


class RequestStats:
    """How many requests a Transport has sent and the seconds they took (thread-safe).

    Read before and after some work to say what it cost (``fleet.query(...).explain()``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.seconds = 0.0

    def add(self, seconds: float) -> None:
        with self._lock:
            self.requests += 1
            self.seconds += seconds

    def snapshot(self) -> tuple[int, float]:
        """``(requests, seconds)`` so far."""
        with self._lock:
            return self.requests, self.seconds


class Transport:
    """Signed, retried, rate-limited requests to one CloudAPI base URL."""

    def __init__(
        self,
        url: str,
        auth: requests.auth.AuthBase | None,
        *,
        verify: bool | str = True,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        limiter: RateLimiter | None = None,
        retries: int | bool = 8,
        retry_budget: float = 60.0,
        backoff: float = 0.5,
        pool_size: int = 16,
        accept_version: str = ACCEPT_VERSION,
        user_agent: str = USER_AGENT,
        params: Mapping[str, Any] | None = None,
        page_concurrency: int = paging.PAGE_CONCURRENCY,
        max_pages: int = paging.MAX_PAGES,
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
        max_answer_bytes: int | None = DEFAULT_MAX_ANSWER_BYTES,
    ):
        self.url = url.rstrip("/")
        self.page_concurrency = page_concurrency
        self.max_pages = max_pages
        self.page_hints = paging.PageHints()  # pages each list took last time
        self.page_times = paging.PageTimes()  # how long pages take: how many to keep in flight
        self.params = dict(params or {})  # sent with every request (e.g. RBAC ``as-role``)
        self.stats = RequestStats()
        self.timeout = timeout
        self.request_timeout = limits.check_limit("request_timeout", request_timeout, float)
        self.max_answer_bytes = limits.check_limit("max_answer_bytes", max_answer_bytes, int)
        self.limiter = limiter
        self.session = Session()  # the proxy environment read once per host: see httpsession
        self.session.auth = auth
        self.session.verify = verify
        self.session.headers.update({
            "Accept": "application/json",
            "Accept-Version": accept_version,
            "User-Agent": user_agent,
        })
        retry: Retry | bool
        if retries is False:
            retry = False
        else:
            retry = CloudAPIRetry(
                total=int(retries), connect=int(retries), read=int(retries),
                status=int(retries), redirect=0,
                allowed_methods=frozenset({"GET", "HEAD"}),
                status_forcelist=frozenset({500, 502, 503, 504}),
                backoff_factor=backoff, backoff_max=15.0, backoff_jitter=backoff,
                respect_retry_after_header=True, raise_on_status=False, raise_on_redirect=False,
                budget=retry_budget, limiter=limiter,
            )
        adapter = limits.BoundedAdapter(max_retries=retry, pool_connections=1, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        if verify is False:  # said once already (smartdc_nb.config.warn_insecure)
            self.session.quiet_unverified(urlsplit(self.url).hostname or "")

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------ requests

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, headers: Mapping[str, str] | None = None) -> Reply:
        """Send one request; return its :class:`Reply` or raise a typed error.

        ``path`` is absolute (``/demo/machines``) and already encoded (see
        :func:`path_segment`); ``params`` become the query string.
        """
        method = method.upper()
        # Encoded here as requests would: its merge of a dict runs isinstance checks against
        # typing Protocols, ~6 µs each on Python 3.11 (8 per request were 7% of its client CPU)
        query = urlencode([(k, query_value(v)) for k, v in {**self.params, **(params or {})}.items()
                           if v is not None])
        if self.limiter is not None:
            self.limiter.acquire()
        started = time.perf_counter()
        with limits.call(self.request_timeout, (method, path, self.url)) as current:
            left = current.left()
            if left <= 0:
                raise self._timeout(current, method, path)
            try:
                resp = self.session.request(
                    method, self.url + path, params=query,
                    json=json, headers=dict(headers or {}), timeout=_shrink(self.timeout, left),
                    # per request: requests lets REQUESTS_CA_BUNDLE override Session.verify=False
                    verify=self.session.verify,
                    stream=True,  # read by _read, within the size limit and the deadline
                    allow_redirects=False)  # CloudAPI does not redirect API calls; a signature is per URL
            except requests.exceptions.RequestException as exc:
                self.stats.add(time.perf_counter() - started)
                cause, sent = _root(exc), _maybe_applied(method, exc)
                if current.abandoned:
                    raise _given_up(self.url, method, path, sent) from exc
                if current.expired:
                    raise self._timeout(current, method, path, sent) from exc
                text = _no_answer(self.url, method, path, exc, sent)
                # The message stands alone; the chained cause is the root one, without the
                # dozen library frames between it and here (they are in the DEBUG log).
                log.debug("%s %s failed", method, path, exc_info=exc)
                raise TransportError(text, method=method, path=path, maybe_applied=sent) \
                    from cause.with_traceback(None)
            waited = time.perf_counter() - started
            body = self._read(resp, current, method, path)
        ms = (time.perf_counter() - started) * 1000
        self.stats.add(ms / 1000)
        request_id = resp.headers.get("Request-Id") or resp.headers.get("x-request-id")
        log.debug("%s %s -> %s (request id %s, %.0f ms)", method, path, resp.status_code,
                  request_id, ms)
        if 300 <= resp.status_code < 400:
            raise self._redirect(resp, body, method, path, request_id)
        data = self._decode(resp, body, method, path)
        if resp.status_code >= 400:
            error = self._error(resp, data, method, path, request_id)
            raise _with_hints(error, resp.headers, self.session.auth, self.url)
        return Reply(resp.status_code, resp.headers, data, request_id, ms, waited * 1000)

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` and return the decoded body."""
        return self.request("GET", path, params=params).data

    def paginate(self, path: str, params: Mapping[str, Any] | None = None,
                 limit: int = PAGE_LIMIT, concurrency: int | None = None
                 ) -> Iterator[list[Any]]:
        """Yield the rows of a ``limit``/``offset`` list endpoint, page by page, each row once.

        Up to ``concurrency`` (default ``page_concurrency``) pages are asked at once, fewer
        when answers come fast (smartdc_nb.paging.PageTimes); the listing ends at a
        page shorter than ``limit``, at a full page with nothing new, or with
        :class:`~smartdc_nb.errors.PagingError` after ``max_pages`` (see
        smartdc_nb.paging).
        """
        params = dict(params or {})
        list_key = (path, tuple(sorted((k, str(v)) for k, v in params.items())))

        def fetch(offset: int, size: int) -> Any:
            began = time.thread_time()  # this thread's CPU: the work, whatever else runs
            reply = self.request("GET", path, params={**params, "limit": size, "offset": offset})
            self.page_times.add(reply.waited_ms / 1000, time.thread_time() - began)
            return reply.data

        width = concurrency or self.page_concurrency

        return paging.pages(fetch, what=f"listing {path}", limit=limit,
                            concurrency=width, max_pages=self.max_pages,
                            expected=self.page_hints.get(list_key),
                            on_end=lambda count: self.page_hints.put(list_key, count),
                            window=lambda: self.page_times.window(width))

    # ------------------------------------------------------------------ decoding

    def _read(self, resp: requests.Response, current: limits.Call, method: str,
              path: str) -> bytes:
        """The decoded body, read in chunks within ``max_answer_bytes`` and the call's deadline."""
        limit = self.max_answer_bytes
        length = resp.headers.get("Content-Length", "")
        chunks: list[bytes] = []
        size = 0
        try:
            if limit is not None and length.isdigit() and int(length) > limit:
                raise self._too_large(limit, f"it announces {int(length):,} bytes", method, path)
            if length.isdigit() and _plain(resp.headers):
                # its size is known and within the limit, and nothing is to inflate: one read
                # (a page of machines would come in ~40 chunks, each through urllib3); what is
                # left, if it came short, is read below as ever
                chunks.append(resp.raw.read(int(length), decode_content=True))
                size = len(chunks[0])
            # decode_content=True: urllib3 inflates gzip/deflate a bounded step at a time
            for chunk in resp.raw.stream(limits.CHUNK, decode_content=True):
                size += len(chunk)
                if limit is not None and size > limit:
                    raise self._too_large(limit, "it is larger", method, path)
                chunks.append(chunk)
            if current.cut:  # a read-until-close body ends "cleanly" when the watchdog cuts it
                raise self._timeout(current, method, path)
        except (URLLib3Error, OSError) as exc:
            resp.close()
            if current.abandoned:
                raise _given_up(self.url, method, path, sent=True) from exc
            if current.expired:
                raise self._timeout(current, method, path) from exc
            raise TransportError(f"{method} {self.url}{path}: the answer broke off "
                                 f"({_reason(exc)})", method=method, path=path) from exc
        except (AnswerTooLargeError, RequestTimeoutError):
            resp.close()  # the rest is not read: drop the connection
            raise
        return b"".join(chunks)

    def _timeout(self, current: limits.Call, method: str, path: str,
                 sent: bool = False) -> RequestTimeoutError:
        if current.limit.startswith("request_timeout"):
            hint = ("CloudAPI is not answering, or answering too slowly; if it is only slow, "
                    "raise the limit: connect(..., request_timeout=SECONDS)")
        else:
            hint = f"the request was cut off at {current.limit}"
        hint += f". The request went out, so {MAYBE_APPLIED}" if sent else ""
        spent = time.monotonic() - current.started
        return RequestTimeoutError(
            f"{method} {self.url}{path}: no complete answer within {current.limit} "
            f"({spent:.1f}s spent); {hint}.",
            limit=current.limit, method=method, path=path, maybe_applied=sent, spent=spent)

    def _too_large(self, limit: int, what: str, method: str, path: str) -> AnswerTooLargeError:
        return AnswerTooLargeError(
            f"{method} {self.url}{path}: the answer is larger than max_answer_bytes={limit:,} "
            f"({what}); it was not read. If such answers are expected, raise the limit: "
            "connect(..., max_answer_bytes=BYTES).", limit=limit, method=method, path=path)

    def _redirect(self, resp: requests.Response, body: bytes, method: str, path: str,
                  request_id: str | None) -> RedirectError:
        location = resp.headers.get("Location")
        where = f"to {location}" if location else "without a Location"
        return RedirectError(
            f"{resp.reason or 'redirect'} {where}. CloudAPI never redirects API calls, so this "
            "came from something in between (a proxy, a load balancer) or a wrong URL (http:// "
            "for https://?); it was not followed. Check the datacenter URL",
            status=resp.status_code, request_id=request_id, method=method, path=path,
            body=_excerpt(body) if body.strip() else None, location=location)

    @staticmethod
    def _decode(resp: requests.Response, body: bytes, method: str, path: str) -> Any:
        md5 = resp.headers.get("Content-MD5")
        if md5 and body and base64.b64encode(hashlib.md5(body).digest()).decode() != md5:
            raise TransportError(f"{method} {path}: the answer's Content-MD5 does not match its "
                                 "body (corrupted in transit?)", method=method, path=path)
        if not body.strip():
            return None
        try:
            if len(body) < _BIG_ANSWER:
                return _loads(body)
            with gc_paused():  # a page of machines: see smartdc_nb.gcpause
                return _loads(body)
        except ValueError:
            if _loads is not jsonlib.loads:
                try:  # what orjson refuses and json takes: integers past 64 bits, NaN
                    return jsonlib.loads(body)
                except ValueError:
                    pass
            if resp.status_code >= 400:
                return _excerpt(body)
            raise TransportError(
                f"{method} {path}: CloudAPI answered {resp.status_code} with a body that is not "
                f"JSON: {_excerpt(body)!r}", method=method, path=path) from None

    @staticmethod
    def _error(resp: requests.Response, data: Any, method: str, path: str,
               request_id: str | None) -> APIError:
        status = resp.status_code
        retry_after = resp.headers.get("Retry-After")
        extra = dict(status=status, request_id=request_id, method=method, path=path, body=data,
                     retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None)
        if isinstance(data, dict) and ("code" in data or "message" in data):
            code = data.get("code")
            message = str(data.get("message") or code or resp.reason)
            return api_error_class(status, code)(message, code=code,
                                                 errors=data.get("errors"), **extra)
        if status == 410 and isinstance(data, dict) and data.get("id"):
            name = data.get("name")
            label = f"{name} ({data['id']})" if name else data["id"]
            return MachineDeletedError(f"machine {label} is deleted", code=None, **extra)
        message = f"{resp.reason or 'error'}"
        if isinstance(data, str) and data:
            message += f": {data}"
        return api_error_class(status, None)(message, **extra)


