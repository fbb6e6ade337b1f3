"""One werkzeug server thread per datacenter, with working HTTP/1.1 keep-alive.

werkzeug's development handler closes every connection (``Connection: close``)
and drains the socket after each response, and http.server's
``send_response`` adds its own ``Server`` and ``Date`` headers (a doubled Date
breaks the triton CLI). The handler below keeps werkzeug's request parsing
(``make_environ``, chunked bodies) and writes the application's answer itself:
status line, the app's headers only, the body, and the connection stays open
unless the client or the app asked to close it.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from email import errors
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from werkzeug.serving import BaseWSGIServer, DechunkedInput, WSGIRequestHandler, make_server

from .app import SERVER
from .chunked import ChunkedBody
from .errors import DropConnection

log = logging.getLogger("smartdc_nb.emulator")

#: bodies up to this size are sent in the headers' write
_ONE_WRITE = 64 * 1024
IDLE_TIMEOUT = 75  # seconds a keep-alive connection may sit idle (node's agent uses 5 s)
_ERROR_CODES = {400: "BadRequestError", 408: "RequestTimeoutError", 414: "UriTooLongError",
                431: "RequestHeaderFieldsTooLargeError", 501: "NotImplementedError",
                505: "HttpVersionNotSupportedError"}
#: Node's parser knows methods in capitals only; "get" is refused there, not served as GET
_METHOD = re.compile(r"[A-Z]+")
#: header names are tokens and values carry no control characters but tab (RFC 9110 §5), as Node checks
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_DEFECTS = (errors.MissingHeaderBodySeparatorDefect, errors.FirstHeaderLineIsContinuationDefect)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    # Small responses must not wait for the client's delayed ACK (Nagle).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.server.owner.track(self.connection, True)  # type: ignore[attr-defined]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner.track(self.connection, False)  # type: ignore[attr-defined]

    def parse_request(self) -> bool:
        """http.server's parsing, minus what Node's parser refuses: HTTP/0.9
        (which http.server would serve with no status line), a method not in
        capitals, and a body framing two parties could read differently
        (request smuggling). Each gets a 400 and the connection closes."""
        words = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n").split()
        problem = None
        if len(words) == 2:
            problem = "Request line has no HTTP version (HTTP/0.9 is not served)"
        elif len(words) == 3 and not _METHOD.fullmatch(words[0]):
            problem = f"Invalid method {words[0][:20]!r}: methods are upper case"
        elif not super().parse_request():
            return False
        elif self.request_version < "HTTP/1.0":
            problem = f"{self.request_version} is not served"
        else:
            problem = self._framing_problem()
            if problem is None:
                return True
        self.command, self.request_version = "", "HTTP/1.1"
        self.requestline = " ".join(words)[:200]
        self.send_error(400, problem)
        return False

    def _framing_problem(self) -> str | None:
        if any(isinstance(d, _HEADER_DEFECTS) for d in self.headers.defects):
            return "Malformed header section"  # e.g. a line without a colon ended it early
        for name, value in self.headers.items():
            if not _TOKEN.fullmatch(name) or _CONTROL.search(value):
                return f"Invalid header {name[:40]!r}"
        codings = [c.strip().lower() for value in self.headers.get_all("Transfer-Encoding") or ()
                   for c in value.split(",") if c.strip()]
        lengths = {value.strip() for value in self.headers.get_all("Content-Length") or ()}
        if codings and codings != ["chunked"]:
            return f"Transfer-Encoding {', '.join(codings)[:60]} is not served (chunked only)"
        if codings and lengths:
            return "Content-Length and Transfer-Encoding: chunked cannot come together"
        if len(lengths) > 1:
            return "Content-Length is given twice with different values"
        return None

    def run_wsgi(self) -> None:
        environ = self.environ = self.make_environ()
        if isinstance(environ["wsgi.input"], DechunkedInput):
            environ["wsgi.input"] = ChunkedBody(self.rfile)
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return lambda data: None

        try:
            chunks = self.server.app(environ, start_response)
        except DropConnection:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        body = b"".join(chunks)
        code, _, phrase = answer["status"].partition(" ")
        self.send_response_only(int(code), phrase)
        for name, value in answer["headers"]:
            self.send_header(name, value)
        upgrade = environ.get("smartdc.upgrade") if code == "101" else None
        if upgrade is not None:
            self.close_connection = True  # the socket is the WebSocket's from now on
        elif environ.get("smartdc.close") or self.close_connection:
            self.send_header("Connection", "close")
        else:
            self.send_header("Connection", "keep-alive")
        # Headers and body leave in one write (one TCP segment for small answers); a big
        # body (a page of machines) is written as it is, not copied behind the headers.
        self._headers_buffer.append(b"\r\n")
        head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        if len(body) > _ONE_WRITE:
            self.wfile.write(head)
            self.wfile.write(body)
        else:
            self.wfile.write(head + body)
        self.wfile.flush()
        self.log_request(int(code), len(body))
        if upgrade is not None:
            upgrade(self.connection, self.rfile)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, huge headers) as JSON too,
        always with a status line (http.server leaves it out for what it took for HTTP/0.9)."""
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.1"
        body = json.dumps({"code": _ERROR_CODES.get(code, "BadRequestError"),
                           "message": message or HTTPStatus(code).phrase},
                          separators=(",", ":")).encode()
        self.close_connection = True
        self.send_response_only(code, HTTPStatus(code).phrase)
        for name, value in (("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                            ("Date", formatdate(usegmt=True)), ("Server", SERVER),
                            ("Connection", "close")):
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        log.debug('%s "%s" %s %s', self.address_string(), self.requestline, code, size)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        log.debug(format, *args)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug(format, *args)


class DatacenterServer:
    """A threaded werkzeug server for one datacenter's WSGI app."""

    def __init__(self, app: Any, host: str, port: int):
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        # Bind here: werkzeug answers a bind error with sys.exit(1), which a
        # library must not do; handing it the listening socket avoids that.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=128)
        try:
            self.server: BaseWSGIServer = make_server(host, port, app, threaded=True,
                                                      request_handler=_Handler,
                                                      fd=listener.fileno())
        finally:
            listener.close()
        self.server.owner = self  # type: ignore[attr-defined]  (how handlers find track())
        # socketserver prints a handler's exception to stderr; log it instead
        self.server.handle_error = self._handle_error  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       name=f"smartdc_nb-emulator:{self.port}", daemon=True)

    def track(self, conn: socket.socket, opened: bool) -> None:
        """Remember open connections, so stop() can close idle keep-alive ones."""
        with self._lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    @staticmethod
    def _handle_error(request: Any, client_address: Any) -> None:
        log.exception("unexpected error on the connection from %s", client_address)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop accepting, close idle keep-alive connections, release the port."""
        self.server.shutdown()
        with self._lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server.server_close()
        self.thread.join(timeout=5)
