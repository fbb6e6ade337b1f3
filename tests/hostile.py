"""Small local servers that misbehave the way a broken proxy or a hung cloud does.

The emulator speaks CloudAPI correctly; these play what it never does: never
answer, trickle, send too much, redirect. Each connection is handed to a
handler in its own daemon thread; leaving the ``with`` block stops every
handler and closes every socket, so a test using one is bounded in time.
"""

from __future__ import annotations

import socket
import threading
from typing import Callable

Handler = Callable[["HostileServer", socket.socket], None]


def read_head(sock: socket.socket) -> bytes:
    """Read one request's head (up to the blank line) and its body if it announces one."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            missing = int(value) - len(rest)
            while missing > 0:
                chunk = sock.recv(missing)
                if not chunk:
                    break
                missing -= len(chunk)
    return head


def trickle(sock: socket.socket, stop: threading.Event, data: bytes, every: float = 0.05) -> None:
    """Send ``data`` one byte per ``every`` seconds, forever (repeating), until ``stop``."""
    while not stop.is_set():
        for byte in data:
            if stop.wait(every):
                return
            sock.sendall(bytes([byte]))


class HostileServer:
    """A TCP server on 127.0.0.1 whose every connection goes to ``handler(server, sock)``.

    ``heads`` holds the request heads read with :meth:`read`, ``sent`` counts
    the bytes handlers sent with :meth:`send`; ``stop`` is set on exit.
    """

    def __init__(self, handler: Handler):
        self.handler = handler
        self.stop = threading.Event()
        self.heads: list[bytes] = []
        self.sent = 0
        self._socks: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def read(self, sock: socket.socket) -> bytes:
        """Read one request (see :func:`read_head`) and note its head."""
        head = read_head(sock)
        self.heads.append(head)
        return head

    def send(self, sock: socket.socket, data: bytes) -> None:
        sock.sendall(data)
        self.sent += len(data)

    def _serve(self, sock: socket.socket) -> None:
        try:
            self.handler(self, sock)
        except OSError:
            pass  # the client hung up: what these tests expect it to do

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(2)
        self._listener.close()
        for sock in self._socks:
            try:
                sock.close()
            except OSError:
                pass


def silent(server: HostileServer, sock: socket.socket) -> None:
    """Accept, read the request, never answer."""
    server.read(sock)
    server.stop.wait()
