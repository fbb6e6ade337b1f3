"""The WSGI application of one datacenter: CloudAPI's request pipeline.

The steps follow CloudAPI's restify chain (cloudapi.md §0–§2): the admin API
and fault injection first, then routing (404 ResourceNotFound, 405 + Allow),
version negotiation (400 InvalidVersion), ``Accept`` (406), the Authorization
header's syntax (400 InvalidHeader), the ``Date`` header (400), the body (413,
400 InvalidContent / BadDigest), the signature and account (401 / 403 / 404),
the per-login throttle (429) and finally the handler. Every answer carries
exactly one ``Date``, ``Server``, ``Api-Version``, ``Request-Id``,
``Response-Time``, a correct ``Content-Length`` and ``Content-MD5``; 204s have
no body; every error is ``{"code", "message"}`` and no traceback ever leaves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import math
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.http import parse_accept_header
from werkzeug.routing import Map, Rule

from . import admin, strictjson
from .auth import SignatureHeaderError, js_date, parse_signature, verify
from .errors import (CloudAPIError, DropConnection, Gone, internal_error, invalid_credentials,
                     invalid_header, not_authorized, not_found)
from .request import LOGGED_HEADERS as _LOGGED_HEADERS
from .request import Request as _Request
from .request import content_type as _content_type
from .request import parse_query as _parse_query
from .routes import ROUTES
from .routes.common import Ctx, Reply
from .versions import API_VERSIONS, CURRENT, admits_subusers, negotiate
from .payloads import dumps

if TYPE_CHECKING:  # pragma: no cover
    from . import Emulator
    from .store import Datacenter

log = logging.getLogger("smartdc_nb.emulator")

SERVER = "cloudapi/9.20.0 (smartdc_nb emulator)"
ADMIN_PREFIX = "/__emulator/"
DOCS_URL = "https://apidocs.tritondatacenter.com/cloudapi/"
_ACCEPTABLE = ["application/json", "text/plain", "application/octet-stream", "application/javascript"]
_DEF_401 = "You must make authenticated requests to use CloudAPI"
_INVALID_CREDS = "Invalid authorization credentials supplied"
_CORS_HEADERS = ("Accept, Accept-Version, Content-Length, Content-MD5, Content-Type, Date, "
                 "Api-Version, Response-Time")


def _build_map() -> tuple[Map, list[tuple[str, str, dict]]]:
    rules = []
    for index, (path, group, handlers) in enumerate(ROUTES):
        rules.append(Rule(path, endpoint=index, methods=list(handlers)))
    return Map(rules, strict_slashes=False, merge_slashes=False, redirect_defaults=False), ROUTES


_MAP, _ROUTES = _build_map()
_ADAPTER = _MAP.bind("cloudapi", "/")


def route_label(path: str) -> str:
    """``/<login>/machines/<machine>`` -> ``/:login/machines/:machine``."""
    return path.replace("<", ":").replace(">", "")


class CloudAPIApp:
    """One datacenter's CloudAPI as a WSGI callable."""

    def __init__(self, emulator: "Emulator", dc: "Datacenter"):
        self.emulator = emulator
        self.dc = dc

    # ------------------------------------------------------------- WSGI

    def __call__(self, environ: dict[str, Any], start_response):
        req = _Request(environ, self.dc)
        req.now += self.emulator.clock_skew
        req.log_generation = self.emulator._requests.generation
        req.epoch = self.emulator.epoch
        is_admin = req.path.startswith(ADMIN_PREFIX)
        try:
            reply = self._admin(req) if is_admin else self._serve(req)
        except CloudAPIError as exc:
            reply = Reply(exc.status, exc.body(), dict(exc.headers))
        except Gone as exc:
            reply = Reply(410, exc.machine_body)
        except DropConnection:
            self._log(req, None)
            raise
        except Exception:  # never a traceback on the wire; the log keeps it
            log.exception("unexpected error serving %s %s (request id %s)", req.method, req.path,
                          req.request_id)
            reply = Reply(500, internal_error().body())
        req.drain()
        if getattr(reply, "session", None) is not None:  # a WebSocket upgrade (changefeed)
            environ["smartdc.upgrade"] = reply.session
        status, headers, body = self._finish(req, reply)
        if not is_admin:
            self._log(req, reply.status)
        start_response(status, headers)
        return [body]

    def _finish(self, req: _Request, reply: Reply) -> tuple[str, list[tuple[str, str]], bytes]:
        body = reply.body
        if body is None:
            data = b""
        elif isinstance(body, bytes):
            data = body
        else:
            data = dumps(body)
        headers = {}
        if not req.path.startswith(ADMIN_PREFIX):  # no web page may read or drive the admin API
            headers = {"Access-Control-Allow-Origin": "*",
                       "Access-Control-Allow-Headers": _CORS_HEADERS,
                       "Access-Control-Allow-Methods": ", ".join(req.allow) if req.allow else req.method,
                       "Access-Control-Expose-Headers": "Api-Version, Request-Id, Response-Time"}
        if reply.status in (101, 204):
            data = b""
        else:
            headers["Content-Type"] = "application/json"
            headers["Content-Length"] = str(len(data))
            if data:
                headers["Content-MD5"] = reply.digest if reply.digest and data is reply.body \
                    else base64.b64encode(hashlib.md5(data).digest()).decode()
        for name, value in reply.headers.items():
            headers[name] = value
        headers["Date"] = formatdate(self.emulator.state.clock.now() + self.emulator.clock_skew,
                                     usegmt=True)
        headers["Server"] = SERVER
        headers["Api-Version"] = CURRENT
        headers["Request-Id"] = req.request_id
        headers["Response-Time"] = str(int((time.perf_counter() - req.started) * 1000))
        try:
            phrase = HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Unknown"
        if req.method == "HEAD":
            data = b""
        return f"{reply.status} {phrase}", list(headers.items()), data

    def _log(self, req: _Request, status: int | None) -> None:
        self.emulator._requests.record({
            "datacenter": self.dc.name, "method": req.method, "path": req.path,
            "query": req.query, "body": req.body, "status": status if status is not None else "dropped",
            "account": req.account, "request_id": req.request_id, "time": req.now,
            "headers": {k: v for k, v in req.headers.items() if k in _LOGGED_HEADERS},
            "ms": round((time.perf_counter() - req.started) * 1000, 3),
        }, req.route, req.log_generation)

    # ------------------------------------------------------------ admin

    def _admin(self, req: _Request) -> Reply:
        if not (req.remote.startswith("127.") or req.remote in ("::1", "localhost", "<local>")):
            raise not_authorized("The emulator's admin API only answers loopback clients")
        if req.method in ("POST", "PUT") and _content_type(req) != "application/json":
            # A web page may send a text/plain or form POST anywhere without asking
            # first; a JSON one needs a CORS preflight, which this API never grants.
            raise CloudAPIError(415, "UnsupportedMediaTypeError",
                                "The admin API takes Content-Type: application/json bodies")
        raw = req.read_body()
        body = None
        if raw.strip():
            try:
                body = strictjson.loads(raw)
            except ValueError as exc:
                raise CloudAPIError(400, "InvalidContent", f"Invalid JSON: {exc}") from None
        return admin.handle(self.emulator, self.dc, req.method, req.path[len(ADMIN_PREFIX):],
                            req.query, body)

    # --------------------------------------------------------- pipeline

    def _serve(self, req: _Request) -> Reply:
        fault = self.emulator.faults.match(self.dc.name, req.method, req.target)
        if fault is not None:
            if fault.hold:
                fault.released.wait()
            if fault.latency:
                time.sleep(fault.latency)
            if req.epoch != self.emulator.epoch:
                # the cloud it was sent to was reset while the fault kept it: it must not act
                # on the reseeded one (same ids), as a stop let go under the next test did
                raise DropConnection()
            if fault.drop:
                raise DropConnection()
            if fault.drop_after:  # applied, then the answer is lost on the way
                try:
                    self._answer(req)
                except (CloudAPIError, Gone):
                    pass
                raise DropConnection()
            if fault.status:
                headers = {"Retry-After": fault.retry_after_header()} if fault.retry_after else {}
                req.route = "(fault)"
                return Reply(fault.status, fault.error_body(), headers)
        return self._answer(req)

    def _answer(self, req: _Request) -> Reply:
        if req.method in ("GET", "HEAD") and (req.path in ("/", "") or req.path.startswith("/docs")):
            return Reply(302, None, {"Location": DOCS_URL})
        if req.path == "/--ping":
            req.route = "/--ping"
            if req.method not in ("GET", "HEAD"):
                req.allow = ["GET", "HEAD"]
                raise CloudAPIError(405, "MethodNotAllowedError", f"{req.method} is not allowed",
                                    headers={"Allow": "GET, HEAD"})
            return Reply(200, {"ping": "pong", "cloudapi": {"versions": list(API_VERSIONS)}},
                         {"Triton-Datacenter-Name": self.dc.name})
        index, url = self._route(req)
        _rule, group, handlers = _ROUTES[index]
        # werkzeug serves HEAD with the GET rule; the GET handler answers it
        handler = handlers.get(req.method) or handlers["GET"]
        wanted = req.headers.get("accept-version") or req.headers.get("x-api-version")
        version = negotiate(wanted)
        if version is None:
            raise CloudAPIError(400, "InvalidVersion", f"{wanted} is not supported by {req.method} {req.path}")
        accept = parse_accept_header(req.headers.get("accept") or "*/*", MIMEAccept)
        best = accept.best_match(_ACCEPTABLE)
        if best is None:
            raise CloudAPIError(406, "NotAcceptableError", "Server accepts: " + ",".join(_ACCEPTABLE))
        signature = self._parse_authorization(req)
        self._check_date(req)
        body, params = self._parse_body(req)
        account, key_id, subuser = self._authenticate(req, signature, version, url)
        req.account = account.login
        self._check_account(req, account, subuser, url, handler)
        self.emulator.throttle.check(self.dc.name, account.login, group)
        ctx = Ctx(app=self, state=self.emulator.state, dc=self.dc, method=req.method,
                  target=req.target, path=req.path, url=url, query=req.query, body=body,
                  params=params, headers=req.headers, version=version,
                  accept_version=req.headers.get("accept-version"),
                  text_plain=best == "text/plain", now=req.now, request_id=req.request_id,
                  remote=req.remote, account=account, key_id=key_id, subuser=subuser)
        with self.emulator.state.lock:
            ctx.now = self.emulator.state.clock.now()
            return handler(ctx)

    def _route(self, req: _Request) -> tuple[int, dict[str, str]]:
        path = req.path if req.path == "/" or not req.path.endswith("/") else req.path.rstrip("/") or "/"
        try:
            index, raw = _ADAPTER.match(path, method=req.method)
        except NotFound:
            req.route = None
            raise not_found(f"{unquote(req.path)} does not exist") from None
        except MethodNotAllowed as exc:
            req.allow = sorted(set(exc.valid_methods or []))
            index, _ = _ADAPTER.match(path, method=req.allow[0])
            req.route = route_label(_ROUTES[index][0])
            raise CloudAPIError(405, "MethodNotAllowedError", f"{req.method} is not allowed",
                                headers={"Allow": ", ".join(req.allow)}) from None
        req.route = route_label(_ROUTES[index][0])
        req.allow = sorted(set(_ROUTES[index][2]) | ({"HEAD"} if "GET" in _ROUTES[index][2] else set()))
        return index, {k: unquote(v) for k, v in raw.items()}

    # ------------------------------------------------------------- auth

    @staticmethod
    def _parse_authorization(req: _Request):
        header = req.headers.get("authorization")
        if not header:
            return None
        pieces = header.split(" ")
        if len(pieces) < 2:
            raise invalid_header("BasicAuth content is invalid.")
        scheme = pieces[0].lower()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(pieces[1] + "=" * (-len(pieces[1]) % 4)).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                decoded = ""
            if not decoded:
                raise invalid_header("Authorization header invalid")
            return None
        if scheme != "signature":
            return None
        version = req.environ.get("SERVER_PROTOCOL", "HTTP/1.1").partition("/")[2] or "1.1"
        try:
            return parse_signature(header, req.headers, req.method, req.target, version, req.now)
        except SignatureHeaderError as exc:
            raise invalid_header(f"Authorization header invalid: {exc}") from None

    @staticmethod
    def _check_date(req: _Request) -> None:
        raw = req.headers.get("date")
        if not raw:
            return
        when = js_date(raw)
        if math.isnan(when):
            raise invalid_header("Date header is invalid")
        if req.now - when > 300:
            raise CloudAPIError(400, "RequestExpired",
                                f"Date header {formatdate(when, usegmt=True)} is too old")

    def _parse_body(self, req: _Request) -> tuple[Any, dict[str, Any]]:
        raw = req.read_body()
        md5 = req.headers.get("content-md5")
        if md5 and raw:
            actual = base64.b64encode(hashlib.md5(raw).digest()).decode()
            if md5.strip() != actual:
                raise CloudAPIError(400, "BadDigest", f"Content-MD5 '{md5}' didn't match '{actual}'")
        params = dict(req.query)
        if not raw:
            return None, params
        content_type = _content_type(req)
        body: Any = None
        if content_type == "application/json" or content_type.endswith("+json"):
            try:
                body = strictjson.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise CloudAPIError(400, "InvalidContent", "Invalid JSON: body is not UTF-8") from None
            except ValueError as exc:
                raise CloudAPIError(400, "InvalidContent", f"Invalid JSON: {exc}") from None
        elif content_type == "application/x-www-form-urlencoded":
            body = _parse_query(raw.decode("utf-8", "replace"))
        req.body = body
        if isinstance(body, dict):
            params.update(body)
        return body, params

    def _authenticate(self, req: _Request, signature, version: str, url: dict[str, str]):
        state = self.emulator.state
        if signature is None:
            if not self.emulator.verify_signatures and "authorization" not in req.headers:
                account = state.account(url.get("login", "")) if url.get("login") != "my" \
                    else next(iter(state.accounts.values()), None)
                if account is not None:
                    return account, None, None
            raise invalid_credentials(_DEF_401)
        parts = signature.key_id.split("/")
        sublogin = None
        if len(parts) == 4 and parts[2] == "keys":
            key_name = parts[3]
        elif admits_subusers(version) and len(parts) == 6 and parts[4] == "keys":
            sublogin, key_name = parts[3], parts[5]
        else:
            raise invalid_credentials(f"Invalid KeyId {signature.key_id} in authorization header")
        with state.lock:
            account = state.account(parts[1])
            if account is None:
                raise invalid_credentials(_INVALID_CREDS)
            subuser = None
            if sublogin is not None:
                subuser = account.users.get(sublogin) or next(
                    (u for u in account.users.values() if u.uuid == sublogin), None)
                if subuser is None:
                    raise invalid_credentials(_INVALID_CREDS)
            key = account.find_key(key_name, subuser.keys if subuser else None)
        if key is None:
            raise invalid_credentials(_INVALID_CREDS)
        if self.emulator.verify_signatures and not verify(signature, key.public):
            raise invalid_credentials(_INVALID_CREDS)
        return account, signature.key_id, subuser

    def _check_account(self, req: _Request, account, subuser, url: dict[str, str], handler) -> None:
        login = url.get("login")
        action = handler.__name__.replace("_", "")  # CloudAPI's route name, as RBAC names it
        if login is None or login == "my" or login in (account.login, account.uuid):
            # CloudAPI's authorize(): a sub-user may do what its roles allow, no more
            if subuser is None or action in subuser.can:
                return
        elif self.emulator.state.account(login) is None:
            raise not_found(f"{login} does not exist")
        raise not_authorized(f"You do not have permission to access {req.path} ({action})")

