"""One request as CloudAPI's pipeline learns it, and its body read safely.

The body is read at most MAX_BODY bytes (413 beyond); a chunked body that
breaks its framing, or a client that stalls, is a 400 and the connection
closes, because what follows is not a request.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .chunked import MalformedBody
from .errors import CloudAPIError

if TYPE_CHECKING:  # pragma: no cover
    from .store import Datacenter

MAX_BODY = 100_000

#: request headers the request log keeps (what a client announces; never Authorization)
LOGGED_HEADERS = ("accept", "accept-version", "user-agent", "content-type", "date")


class Request:
    """What the pipeline learns about the request as it goes (for the log too)."""

    def __init__(self, environ: dict[str, Any], dc: "Datacenter"):
        self.environ = environ
        self.dc = dc
        self.started = time.perf_counter()
        self.now = time.time()
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        self.target = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        if "://" in self.target.split("?", 1)[0]:  # absolute-form request target
            self.target = "/" + self.target.split("://", 1)[1].partition("/")[2]
        self.path, _, self.query_string = self.target.partition("?")
        self.headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
                        if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            self.headers["content-type"] = environ["CONTENT_TYPE"]
        if environ.get("CONTENT_LENGTH"):
            self.headers["content-length"] = environ["CONTENT_LENGTH"]
        self.request_id = self.headers.get("request-id") or self.headers.get("x-request-id") \
            or str(uuid.uuid4())
        self.remote = environ.get("REMOTE_ADDR", "")
        self.route: str | None = None
        self.query: dict[str, Any] = parse_query(self.query_string)
        self.body: Any = None
        self.account: str | None = None
        self.allow: list[str] = []
        self.body_read = False
        self.log_generation: int | None = None  # the request log's when it arrived
        self.epoch = 0  # the emulator's resets when it arrived

    def drain(self) -> None:
        """Consume a body no step read, so the next request on the connection parses."""
        if not self.body_read:
            try:
                self.read_body()
            except CloudAPIError:
                pass

    def read_body(self) -> bytes:
        """The request body, at most MAX_BODY bytes (413 beyond, and the
        connection is closed because the rest is not read)."""
        self.body_read = True
        stream = self.environ["wsgi.input"]
        length = self.environ.get("CONTENT_LENGTH")
        if self.environ.get("wsgi.input_terminated"):
            try:
                data = stream.read(MAX_BODY + 1)
            except (MalformedBody, OSError) as exc:
                # what follows a broken chunk is not a request: close, never resync
                self.environ["smartdc.close"] = True
                raise CloudAPIError(400, "BadRequestError", f"Invalid chunked body: {exc}") from None
        else:
            try:
                size = int(length) if length else 0
            except ValueError:
                size = -1
            if size < 0:
                self.environ["smartdc.close"] = True
                raise CloudAPIError(400, "BadRequestError", "Content-Length is invalid")
            if size > MAX_BODY:
                self.environ["smartdc.close"] = True
                raise too_large()
            try:
                data = stream.read(size) if size else b""
            except OSError as exc:  # the client stalled past the idle timeout
                self.environ["smartdc.close"] = True
                raise CloudAPIError(400, "BadRequestError", f"The body could not be read: {exc}") from None
        if len(data) > MAX_BODY:
            self.environ["smartdc.close"] = True
            raise too_large()
        return data


def content_type(req: Request) -> str:
    return (req.headers.get("content-type") or "").split(";")[0].strip().lower()


def too_large() -> CloudAPIError:
    return CloudAPIError(413, "PayloadTooLargeError", f"Request body size exceeds {MAX_BODY}")


def parse_query(text: str) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key in query:
            query[key] = (query[key] if isinstance(query[key], list) else [query[key]]) + [value]
        else:
            query[key] = value
    return query
