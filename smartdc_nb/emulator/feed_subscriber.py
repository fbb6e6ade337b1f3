"""A subscriber of the emulator's changefeed: one client's WebSocket (:class:`FeedSocket`)
and what its registration may say.

wsproto does the framing (sans-I/O, so it fits werkzeug's thread-per-connection
server: we keep the socket and werkzeug's read buffer). The feed that decides
what to send is smartdc_nb.emulator.changefeed.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import CloseConnection, Message, Ping, TextMessage

if TYPE_CHECKING:  # pragma: no cover
    from .changefeed import Feed

log = logging.getLogger("smartdc_nb.emulator")

SUB_RESOURCES = ("alias", "customer_metadata", "destroyed", "nics", "owner_uuid", "server_uuid",
                 "state", "tags")
#: seconds a feed socket may be silent before the server pings it (a dead peer is then found)
PING_INTERVAL = 20.0
#: seconds a send may block on a peer that does not read
SEND_TIMEOUT = 10.0
_UUID_CHARS = set("0123456789abcdef-")


def _js_truthy(value: Any) -> bool:
    """JavaScript's truthiness: every array and object is true, even an empty one."""
    return value is not None and value is not False and value != 0 and value != ""


def valid_registration(message: Any) -> bool:
    """True for a registration CloudAPI accepts (anything else is ignored, without a reply:
    sdc-cloudapi lib/changefeed.js logs it and returns, the socket stays open, unregistered)."""
    if not isinstance(message, dict) or message.get("resource") != "vm":
        return False
    subs = message.get("subResources")
    if not isinstance(subs, list) or any(s not in SUB_RESOURCES for s in subs):
        return False
    vms = message.get("vms")
    # CloudAPI checks ``msg.vms && (!Array.isArray(msg.vms) || ...UUID_RE...)``: a JS-falsy
    # vms is no filter, ``{}`` is refused, ``[]`` is a filter that matches nothing
    if _js_truthy(vms):
        if not isinstance(vms, list):
            return False
        for vm in vms:  # UUID_RE has /i: upper-case passes here (and then matches nothing)
            if not (isinstance(vm, str) and len(vm) == 36 and set(vm.lower()) <= _UUID_CHARS
                    and [len(p) for p in vm.split("-")] == [8, 4, 4, 4, 12]):
                return False
    return True


class FeedSocket:
    """One client's feed connection, after the 101 (reads in the handler thread)."""

    def __init__(self, feed: Feed, dc_name: str, account_uuid: str, request_id: str):
        self.feed = feed
        self.dc_name = dc_name
        self.account_uuid = account_uuid
        self.request_id = request_id
        self.registration: dict[str, Any] | None = None
        self.ws = Connection(ConnectionType.SERVER)
        self.sock: socket.socket | None = None
        self.lock = threading.Lock()
        self.closed = False
        self.sent = 0

    def wants(self, machine_id: str, subs: list[str]) -> bool:
        reg = self.registration
        if reg is None or not any(s in reg["subResources"] for s in subs):
            return False
        vms = reg.get("vms")
        # broadcastChange: ``reg.vms && reg.vms.indexOf(changedResourceId) === -1`` drops the
        # change: an exact, case-sensitive match against VMAPI's lower-case ids
        return not _js_truthy(vms) or machine_id in vms

    def serve(self, sock: socket.socket, rfile: Any) -> None:
        """Run the connection until it closes (the server's handler thread calls this)."""
        with self.lock:
            self.sock = sock
            dropped = self.closed  # dropped between the handshake and now
        if dropped:
            self.close(send_frame=False)
            return
        sock.setblocking(False)
        leftover = rfile.read1(65536) or b""  # what werkzeug's reader already buffered
        sock.settimeout(PING_INTERVAL)
        text: list[str] = []
        try:
            data = leftover
            while not self.closed:
                if self.feed.frozen:  # a hung server: reads nothing, answers no ping
                    time.sleep(0.05)
                    continue
                if data:
                    with self.lock:
                        self.ws.receive_data(data)
                        events = list(self.ws.events())
                    for event in events:
                        if isinstance(event, TextMessage):
                            text.append(event.data)
                            if event.message_finished:
                                self._register("".join(text))
                                text = []
                        elif isinstance(event, Ping):
                            self._send(event.response())
                        elif isinstance(event, CloseConnection):
                            if self.ws.state is ConnectionState.REMOTE_CLOSING:
                                self._send(event.response())
                            return
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    data = b""
                    self._send(Ping(b"smartdc_nb"))
                    continue
                if not data:
                    return
        except OSError:
            return
        finally:
            self.close(send_frame=False)

    def _register(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.info("changefeed %s: unparsable registration ignored", self.request_id)
            return
        if valid_registration(message):
            if self.feed.register_delay:  # a slow server: changes until now are not sent here
                time.sleep(self.feed.register_delay)
            self.registration = message
            self.feed.wake()
        else:
            log.info("changefeed %s: invalid registration ignored: %.200s", self.request_id, raw)

    def _send(self, event: Any) -> bool:
        with self.lock:
            if self.closed or self.sock is None or self.ws.state is not ConnectionState.OPEN \
                    and not isinstance(event, CloseConnection):
                return False
            try:
                self.sock.sendall(self.ws.send(event))
            except (OSError, Exception):  # a dead peer or a closed wsproto state: drop the socket
                self.closed = True
                return False
            return True

    def send_text(self, text: str) -> bool:
        if self._send(Message(data=text)):
            self.sent += 1
            return True
        self.close(send_frame=False)
        return False

    def close(self, send_frame: bool = True, code: int = 1000, reason: str = "") -> None:
        """End the connection: a close frame (unless abrupt), then the TCP connection."""
        if send_frame and not self.closed and self.ws.state is ConnectionState.OPEN:
            self._send(CloseConnection(code=code, reason=reason))
        with self.lock:
            self.closed = True
            sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.feed.remove(self)
