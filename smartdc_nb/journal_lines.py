"""How a journal record becomes one line of JSON (smartdc_nb.journal_store writes it).

A mutating request writes two records, its intent and its outcome, and their
encoding is part of every such request's cost (benchmarks/bench_journal.py): the
fields are escaped one by one, arguments go through orjson, the time is formatted
once a second, ids come from a seeded generator, and the two per-request records
are written out by hand
(:func:`intent_line`, :func:`outcome_line`; a test holds them to what
:func:`record_line` makes of the same fields).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import time
from datetime import date
from datetime import time as dt_time
from json.encoder import encode_basestring_ascii as json_string  # json's escaper for a str
from typing import Any, Mapping

from .masking import is_secret

#: Columns handed to write() as JSON text (to_json), embedded in the line as they are.
RAW = ("arguments", "detail")
#: Longest text kept of one argument value (a boot script can be large; the journal says
#: what was asked, not a copy of every payload).
MAX_VALUE = 500


#: (second, its text, its text in a run id): the date and time to the second, made once per
#: second.
_second: tuple[int, str, str] = (0, "", "")


def now_text() -> str:
    """The time now in UTC, ISO 8601 with microseconds (``2026-11-30T18:45:18.624181+00:00``)."""
    global _second
    now = time.time_ns()
    # Integer arithmetic, not a float's: a record is written right after a round trip has
    # left the CPU's caches cold, where formatting a float with %d cost ~8 µs more
    # (benchmarks/bench_journal.py).
    whole = now // 1_000_000_000
    second = _second  # one read: another thread may replace it
    if second[0] != whole:  # strftime is most of the cost: once a second, not per record
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        second = _second = (whole, text, text.replace("-", "").replace(":", ""))
    return "%s.%06d+00:00" % (second[1], now // 1000 % 1_000_000)


def new_run_id() -> str:
    """A short, sortable run id: the UTC time to the second, then randomness
    (``20261130T184518-3fa9c2d1``). Its time is the second now_text last made: a request's
    own when it comes right after its intent's (a single action's run id, per request)."""
    second = _second
    if second[0] != time.time_ns() // 1_000_000_000:
        now_text()
        second = _second
    return second[2] + "-" + random_hex(8)


# Ids are random, not secret: a generator seeded from the OS once (and again in a forked
# child) instead of a getrandom() system call per request.
_ids = random.Random(os.urandom(16))


def random_hex(digits: int) -> str:
    """``digits`` random hex digits (a run id's or a record's ``ref``)."""
    return "%0*x" % (digits, _ids.getrandbits(digits * 4))


def new_ref() -> str:
    """An id a later record points back at (an outcome's ``intent=``)."""
    return random_hex(12)


def _short(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_VALUE else \
            value[:MAX_VALUE] + f"… ({len(value)} characters)"
    if isinstance(value, dict) or (not isinstance(value, (int, float, list, tuple))
                                   and isinstance(value, Mapping)):  # the ABC check is slow
        return {str(k): _short(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_short(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """What JSON has no form for: a mapping as an object, a date as ISO 8601 text (as orjson
    writes it), anything else as its repr."""
    if isinstance(value, Mapping):
        return dict(value)
    return value.isoformat() if isinstance(value, (date, dt_time)) else repr(value)


# Made once: json.dumps with options builds a new encoder per call, a third of a record's cost.
_to_json = json.JSONEncoder(default=_plain, sort_keys=True).encode
_compact = json.JSONEncoder(separators=(",", ":")).encode

try:  # a request's arguments in ~0.2 µs, not json's ~1.6 (every mutating request has some)
    from orjson import OPT_NON_STR_KEYS, OPT_SORT_KEYS
    from orjson import dumps as _orjson_dumps
except ImportError:  # a platform without its wheel: json writes the same values
    _orjson_dumps = None


#: A secret's value as the journal keeps it (smartdc_nb.masking: the card, the frames and
#: history never show one either); resume cannot send such a value again.
SECRET_KEPT_AS = "<secret, not kept: {} characters>"
#: Cheap test of a record's text for a key masking.is_secret may name (and some values):
#: only text it finds is walked key by key, off the path of a request without secrets.
_MAYBE_SECRET = re.compile(r"_pw\"|passw|secret|token|api.?key|private.?key|credential", re.I)


def _without_secrets(value: Any) -> Any:
    """``value`` with the value of every secret key (masking.is_secret) replaced."""
    if isinstance(value, Mapping):
        return {k: SECRET_KEPT_AS.format(len(str(v))) if is_secret(k) else _without_secrets(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_secrets(v) for v in value]
    return value


def holds_secret(value: Any) -> bool:
    """Whether ``value`` (journalled arguments) holds a secret's value the journal did not keep."""
    if isinstance(value, str):
        return value.startswith("<secret, not kept: ")
    if isinstance(value, Mapping):
        value = list(value.values())
    return isinstance(value, list) and any(holds_secret(v) for v in value)


def to_json(value: Any, secrets: bool = True) -> str | None:
    """``value`` as JSON text (keys sorted), each string in it cut to MAX_VALUE characters,
    the value of each secret key replaced by :data:`SECRET_KEPT_AS` (``secrets=False``: the
    caller knows it holds none, masking.may_carry_secrets)."""
    if value is None:
        return None
    text = _encoded(value)
    if secrets and text is not None and _MAYBE_SECRET.search(text):
        masked = _without_secrets(value)
        if masked != value:
            text = _encoded(masked)
    return text


def _encoded(value: Any) -> str | None:
    text = None
    if _orjson_dumps is not None:
        try:
            text = _orjson_dumps(value, default=_plain,
                                 option=OPT_SORT_KEYS | OPT_NON_STR_KEYS).decode()
        except TypeError:  # what orjson refuses (integers past 64 bits, ...): json's turn
            pass
    if text is None:
        try:
            text = _to_json(value)
        except (TypeError, ValueError):  # keys JSON cannot take: _short makes them text
            return _to_json(_short(value))
    if len(text) <= MAX_VALUE:  # then no string in it is longer: nothing to cut
        return text
    return _to_json(_short(value))


def fragment(fields: Mapping[str, Any]) -> str:
    """``fields`` (None ones left out) as JSON members for write(shared=...): fields that
    several records share are encoded once."""
    return _members(fields, ())




def _members(fields: Mapping[str, Any], raw: tuple[str, ...]) -> str:
    """``fields`` as JSON object members, None left out; the ``raw`` ones are JSON text already.

    Why not one json.dumps of the dict: a record is a handful of strings and numbers, and
    escaping those one by one costs half of what the encoder's set-up does per call (the
    journal's own time counts against every request it records).
    """
    parts = []
    for key, value in fields.items():  # keys are the code's own names: nothing to escape
        if value is None:
            continue
        kind = type(value)
        if kind is str:
            parts.append(f'"{key}":{value if key in raw else json_string(value)}')
        elif kind is int or (kind is float and math.isfinite(value)):
            parts.append(f'"{key}":{value!r}')
        else:
            parts.append(f'"{key}":{_compact(value)}')
    return ",".join(parts)


def intent_line(shared: str, time: str, ref: str, method: str, path: str,
                arguments: str | None, state_before: str | None) -> bytes:
    """A request's intent, as ``write(shared, kind="intent", ...)`` would encode it (written
    out by hand, like outcome_line: one is written before every mutating request)."""
    extra = "" if arguments is None else f',"arguments":{arguments}'
    if state_before is not None:
        extra += f',"state_before":{json_string(state_before)}'
    return (f'{{"time":"{time}","kind":"intent","ref":"{ref}","method":{json_string(method)},'
            f'"path":{json_string(path)}{extra}{"," + shared if shared else ""}}}\n').encode()


def outcome_line(shared: str, intent: str, http_status: int, request_id: str | None,
                 nanos: int) -> bytes:
    """An accepted request's outcome, as ``write(shared, kind="outcome", ...)`` would encode
    it, its ``seconds`` from ``nanos`` to four places. Written out by hand because one is
    written per request, right after its answer; integer arithmetic rather than round() and
    a float's repr, which cost ~8 µs there (benchmarks/bench_journal.py)."""
    rid = "" if request_id is None else f',"request_id":{json_string(request_id)}'
    return (f'{{"time":"{now_text()}","kind":"outcome","intent":"{intent}",'
            f'"http_status":{int(http_status)}{rid},"outcome":"accepted",'
            f'"seconds":{"%d.%04d" % divmod((nanos + 50_000) // 100_000, 10_000)}'
            f'{"," + shared if shared else ""}}}\n').encode()


def record_line(record: Mapping[str, Any], shared: str) -> bytes:
    """``record`` (its None fields left out) and ``shared`` as one JSON line."""
    text = _members(record, RAW)
    return ("{" + text + ("," + shared if shared and text else shared) + "}\n").encode()


def _reseed_after_fork() -> None:
    _ids.seed(os.urandom(16))  # the parent's generator would give the child the same ids


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_reseed_after_fork)


__all__ = ["RAW", "SECRET_KEPT_AS", "holds_secret", "json_string", "MAX_VALUE", "now_text",
           "new_run_id", "random_hex", "new_ref", "to_json", "fragment", "intent_line", "outcome_line",
           "record_line"]
