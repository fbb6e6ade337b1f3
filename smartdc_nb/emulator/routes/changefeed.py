"""``GET /:login/changefeed``: the WebSocket upgrade (the feed itself: ../changefeed.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wsproto.utilities import generate_accept_token

from ..errors import CloudAPIError, not_found
from .common import Ctx, Reply


@dataclass
class Upgrade(Reply):
    """A 101 answer; the server then hands the socket to ``session(socket, reader)``."""

    session: Callable[[Any, Any], None] | None = None


def changefeed(ctx: Ctx) -> Reply:
    feed = ctx.app.emulator.changefeed
    if not feed.enabled:  # as a CloudAPI without the feed: the route does not exist
        raise not_found(f"{ctx.path} does not exist")
    connection = {t.strip().lower() for t in ctx.headers.get("connection", "").split(",")}
    if ctx.headers.get("upgrade", "").lower() != "websocket" or "upgrade" not in connection:
        # CloudAPI's handler calls next(new Error(...)): restify answers 500 InternalError
        raise CloudAPIError(500, "InternalError", "Connection Must Upgrade For WebSockets")
    key = ctx.headers.get("sec-websocket-key", "").strip()
    if not key:
        raise CloudAPIError(400, "BadRequestError", "Missing Sec-WebSocket-Key Header")
    if ctx.headers.get("sec-websocket-version", "").strip() != "13":
        raise CloudAPIError(400, "BadRequestError", "Unsupported Sec-WebSocket-Version")
    headers = {"Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Accept": generate_accept_token(key.encode()).decode()}
    return Upgrade(101, None, headers,
                   session=feed.session(ctx.dc.name, ctx.account.uuid, ctx.request_id))


ROUTES = [("/<login>/changefeed", "changefeed", {"GET": changefeed})]
