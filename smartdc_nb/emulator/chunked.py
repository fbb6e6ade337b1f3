"""``Transfer-Encoding: chunked`` request bodies, read as Node's HTTP parser does.

werkzeug's dev-server dechunker takes the whole size line as hex, so a chunk
extension (``2;name=value``, valid HTTP/1.1) fails, and it does not read
trailer fields. This reader accepts both and raises MalformedBody on anything
else; the app then answers 400 and closes the connection, because the bytes
after a bad chunk are not a request (reading on would desynchronise it).
"""

from __future__ import annotations

import io
import re
from typing import IO

#: hex size, then optional ``;ext[=value]`` pieces (RFC 9112 §7.1.1, BWS allowed)
_SIZE_LINE = re.compile(rb"[ \t]*([0-9A-Fa-f]{1,16})[ \t]*(;[^\r\n\x00]*)?")
_MAX_LINE = 4096        # bytes of one size or trailer line
_MAX_TRAILERS = 64      # trailer fields after the last chunk


class MalformedBody(Exception):
    """The chunked framing of a request body is broken."""


class ChunkedBody(io.RawIOBase):
    """The decoded body of a chunked request, read from the connection's ``rfile``."""

    def __init__(self, rfile: IO[bytes]):
        self._rfile = rfile
        self._left = 0          # bytes left in the current chunk
        self._done = False

    def readable(self) -> bool:
        return True

    def _line(self) -> bytes:
        line = self._rfile.readline(_MAX_LINE + 1)
        if not line.endswith(b"\n"):
            raise MalformedBody("a chunk line is too long or the body ends early"
                                if line else "the body ends before its last chunk")
        return line.rstrip(b"\r\n")

    def _next_size(self) -> int:
        line = self._line()
        match = _SIZE_LINE.fullmatch(line)
        if match is None:
            raise MalformedBody(f"invalid chunk size line {line[:40]!r}")
        return int(match.group(1), 16)

    def _end_of_chunk(self) -> None:
        if self._rfile.read(2) != b"\r\n":
            raise MalformedBody("a chunk is not followed by CRLF")

    def _trailers(self) -> None:
        for _ in range(_MAX_TRAILERS):
            if not self._line():
                return
        raise MalformedBody(f"more than {_MAX_TRAILERS} trailer fields")

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        filled = 0
        while filled < len(view) and not self._done:
            if self._left == 0:
                self._left = self._next_size()
                if self._left == 0:
                    self._trailers()
                    self._done = True
                    break
            wanted = min(self._left, len(view) - filled)
            data = self._rfile.read(wanted)
            if len(data) < wanted:
                raise MalformedBody("the body ends inside a chunk")
            view[filled:filled + wanted] = data
            filled += wanted
            self._left -= wanted
            if self._left == 0:
                self._end_of_chunk()
        return filled
