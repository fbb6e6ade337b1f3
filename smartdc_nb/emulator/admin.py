"""The emulator's admin API, under ``/__emulator/`` on every datacenter port.

No signature is needed, but only loopback clients are answered. Bodies and
answers are JSON; a bad value is a 400 ``{"code": "InvalidArgument"}`` that
says what was wrong. ``?datacenter=NAME`` picks another datacenter than the
port's own where it matters.

==========  =============================  ===========================================
method      path                           what
==========  =============================  ===========================================
GET         /__emulator/                   status: datacenters, speed, throttle, fleet sizes
POST        /__emulator/reset              back to the freshly seeded state
GET         /__emulator/faults             the active faults
POST        /__emulator/faults             add one: ``{"path": regex, "method", "datacenter",
                                           "status", "count", "share", "retry_after",
                                           "latency", "drop", "hold", "drop_after"}``
                                           -> 201 ``{"id": N}``
DELETE      /__emulator/faults             remove all faults
DELETE      /__emulator/faults/ID          remove one fault, releasing what it holds (404 if
                                           unknown)
GET, PUT    /__emulator/speed              ``{"speed": X}``: every default duration / X
GET, PUT    /__emulator/clock              ``{"manual": bool}``; PUT also takes ``"advance"``
                                           (seconds) or ``"step": true`` (to the next job's end)
GET, PUT    /__emulator/durations          ``{"stop": 0.2, ...}`` seconds (``null`` restores
                                           the default); GET shows the effective values
GET, PUT    /__emulator/throttle           ``null``/``false`` off, ``true`` CloudAPI's default
                                           (burst 30, 10 r/s) or ``{"burst", "rate"}``
GET         /__emulator/requests           the request log, oldest first (``?limit=N``:
                                           the newest N)
DELETE      /__emulator/requests           clear the log and the counters
GET         /__emulator/counters           totals by status, route and datacenter
POST        /__emulator/machines           inject a machine (any fields) -> 201 ``{"id"}``
PUT         /__emulator/machines/ID/state  force a state: ``{"state": "failed"}``
POST        /__emulator/fail-next          ``{"action": "stop", "count": 1}``: the next such
                                           job(s) fail (``provision`` -> state failed);
                                           ``"canceled": true``: are canceled instead;
                                           ``"after_snapshot": true`` (create_snapshot):
                                           fail once the snapshot is taken
POST        /__emulator/packages           add a package (fields as in ListPackages)
DELETE      /__emulator/packages/ID        remove a package (machines keep their reference)
POST        /__emulator/images             add an image
DELETE      /__emulator/images/ID          remove an image
GET, PUT    /__emulator/changefeed         feed options ``{"enabled", "delay" (seconds),
                                           "duplicate" (extra copies of each message),
                                           "frozen" (a hung CloudAPI: nothing sent nor read)}``;
                                           GET also lists the open feed sockets
POST        /__emulator/changefeed/drop    close every feed socket (``{"abrupt": true}``:
                                           without a close frame) -> ``{"dropped": N}``
==========  =============================  ===========================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import CloudAPIError, not_found
from .routes.common import Reply

if TYPE_CHECKING:  # pragma: no cover
    from . import Emulator
    from .store import Datacenter


def _bad(message: str) -> CloudAPIError:
    return CloudAPIError(400, "InvalidArgument", message)


def _object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    return body


def _status(emu: "Emulator") -> dict[str, Any]:
    return {"datacenters": emu.urls, "speed": emu.state.timing.speed,
            "throttle": emu.throttle.setting, "faults": len(emu.faults),
            "machines": {name: len(dc.machines) for name, dc in emu.state.datacenters.items()},
            "verify_signatures": emu.verify_signatures, "state": emu.state_path}

def _clock(emu: "Emulator") -> dict[str, Any]:
    return {"manual": emu.clock.is_manual, "now": emu.clock.now(),
            "next_event": emu.state.next_event()}


def handle(emu: "Emulator", dc: "Datacenter", method: str, path: str, query: dict[str, Any],
           body: Any) -> Reply:
    """Answer one admin request (``path`` is relative to ``/__emulator/``)."""
    parts = [p for p in path.split("/") if p]
    target = query.get("datacenter") or dc.name
    try:
        return _dispatch(emu, target, method, parts, query, body)
    except CloudAPIError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise _bad(str(exc.args[0]) if exc.args else repr(exc)) from None


def _dispatch(emu: "Emulator", target: str, method: str, parts: list[str], query: dict[str, Any],
              body: Any) -> Reply:
    head = parts[0] if parts else ""
    key = (method, head, len(parts))
    if key in (("GET", "", 0), ("GET", "status", 1)):
        return Reply(200, _status(emu))
    if key == ("POST", "reset", 1):
        emu.reset()
        return Reply(200, _status(emu))
    if head == "faults":
        return _faults(emu, method, parts, body)
    if key == ("GET", "speed", 1):
        return Reply(200, {"speed": emu.state.timing.speed})
    if key == ("PUT", "speed", 1):
        emu.set_speed(_object(body)["speed"])
        return Reply(200, {"speed": emu.state.timing.speed})
    if key == ("GET", "clock", 1):
        return Reply(200, _clock(emu))
    if key == ("PUT", "clock", 1):
        options = _object(body)
        if "manual" in options:
            emu.clock.set_manual(bool(options["manual"]))
        if options.get("advance") is not None:
            emu.clock.advance(options["advance"])
        if options.get("step"):
            emu.step()
        return Reply(200, _clock(emu))
    if key == ("GET", "durations", 1):
        return Reply(200, emu.state.timing.as_dict())
    if key == ("PUT", "durations", 1):
        emu.set_durations(**_object(body))
        return Reply(200, emu.state.timing.as_dict())
    if key == ("GET", "throttle", 1):
        return Reply(200, {"throttle": emu.throttle.setting})
    if key == ("PUT", "throttle", 1):
        emu.set_throttle(body)
        return Reply(200, {"throttle": emu.throttle.setting})
    if key == ("GET", "requests", 1):
        entries = emu.requests
        if query.get("limit"):
            entries = entries[-int(query["limit"]):]
        return Reply(200, entries)
    if key == ("DELETE", "requests", 1):
        emu.clear_requests()
        return Reply(204)
    if key == ("GET", "counters", 1):
        return Reply(200, emu.counters())
    if head == "machines":
        return _machines(emu, target, method, parts, body)
    if key == ("POST", "fail-next", 1):
        fields = _object(body)
        canceled = fields.get("canceled", False)
        after = fields.get("after_snapshot", False)
        for name, value in (("canceled", canceled), ("after_snapshot", after)):
            if not isinstance(value, bool):
                raise _bad(f"'{name}' must be true or false, not {value!r}")
        emu.datacenter(target).fail_next(fields["action"], int(fields.get("count", 1)), canceled,
                                         after)
        dc = emu.state.datacenters[target]
        return Reply(200, {"datacenter": target, "fail_next": dc.fail_next,
                           "cancel_next": dc.cancel_next,
                           "fail_after_snapshot": dc.fail_after_snapshot})
    if head in ("packages", "images"):
        return _catalog(emu, head, method, parts, body)
    if key == ("GET", "changefeed", 1):
        return Reply(200, emu.changefeed.status())
    if key == ("PUT", "changefeed", 1):
        return Reply(200, emu.changefeed.configure(**_object(body)))
    if key == ("POST", "changefeed", 2) and parts[1] == "drop":
        return Reply(200, {"dropped": emu.changefeed.drop(abrupt=bool(_object(body).get("abrupt")))})
    raise not_found(f"/__emulator/{'/'.join(parts)} does not exist")


def _faults(emu: "Emulator", method: str, parts: list[str], body: Any) -> Reply:
    if method == "GET" and len(parts) == 1:
        return Reply(200, emu.faults.list())
    if method == "POST" and len(parts) == 1:
        return Reply(201, {"id": emu.faults.add(**_object(body))})
    if method == "DELETE" and len(parts) == 1:
        emu.faults.clear()
        return Reply(204)
    if method == "DELETE" and len(parts) == 2:
        if not emu.faults.remove(int(parts[1])):
            raise not_found(f"fault {parts[1]} does not exist")
        return Reply(204)
    raise not_found(f"/__emulator/{'/'.join(parts)} does not exist")


def _machines(emu: "Emulator", target: str, method: str, parts: list[str], body: Any) -> Reply:
    handle_dc = emu.datacenter(target)
    if method == "POST" and len(parts) == 1:
        return Reply(201, {"id": handle_dc.put_machine(**_object(body))})
    if method == "PUT" and len(parts) == 3 and parts[2] == "state":
        handle_dc.set_state(parts[1], _object(body)["state"])
        return Reply(200, {"id": parts[1], "state": _object(body)["state"]})
    raise not_found(f"/__emulator/{'/'.join(parts)} does not exist")


def _catalog(emu: "Emulator", kind: str, method: str, parts: list[str], body: Any) -> Reply:
    if method == "POST" and len(parts) == 1:
        add = emu.add_package if kind == "packages" else emu.add_image
        return Reply(201, add(**_object(body)))
    if method == "DELETE" and len(parts) == 2:
        delete = emu.delete_package if kind == "packages" else emu.delete_image
        delete(parts[1])
        return Reply(204)
    raise not_found(f"/__emulator/{'/'.join(parts)} does not exist")
