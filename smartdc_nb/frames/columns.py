"""Column converters: Python lists from CloudAPI's JSON to typed pandas arrays.

Every frame column is built with an explicit dtype, so an empty frame has the
same dtypes as a full one and a missing value is ``<NA>``/``NaT`` in a
nullable dtype rather than a silent change to ``object`` or ``float``. Each
converter has a fast path for what CloudAPI sends and a slow path that turns
a value of the wrong type into a missing value instead of failing the frame.
"""

from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

import pandas as pd

from ..machine import split_ips as classify

#: Every ``state`` CloudAPI reports for a machine (cloudapi.md §4.2).
MACHINE_STATES = ("provisioning", "ready", "running", "stopping", "stopped", "offline",
                  "failed", "deleted", "unknown")
#: Every ``state`` CloudAPI reports for a snapshot (cloudapi.md §5.3).
SNAPSHOT_STATES = ("queued", "running", "created", "failed", "canceled", "deleted")

TIME_DTYPE = "datetime64[ns, UTC]"
AGE_DTYPE = "timedelta64[ns]"


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a frame is built.

    A frame makes a few small containers per machine (IP lists, tag dicts), none
    of them in a cycle; each few hundred allocations would otherwise start a
    collection that walks every live object, the fleet's payloads included,
    which at 100,000 machines costs several times the build itself. Nested or
    concurrent pauses are safe: the collector is re-enabled by whichever pause
    found it enabled.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: Python-backed strings: the frame shares the payloads' str objects (kept for the
#: accessor anyway) instead of copying every byte into Arrow buffers.
STRING_DTYPE = pd.StringDtype("python")


def strings(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """A ``string`` array; None is <NA>, other non-strings become their text."""
    return pd.array(values, dtype=STRING_DTYPE)


def ints(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """An ``Int64`` array; anything but an integer is <NA>."""
    try:
        return pd.array(values, dtype="Int64")
    except (TypeError, ValueError):
        return pd.array([v if isinstance(v, int) and not isinstance(v, bool) else None
                         for v in values], dtype="Int64")


def bools(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """A ``boolean`` array; anything but True/False is <NA>."""
    try:
        return pd.array(values, dtype="boolean")
    except (TypeError, ValueError):
        return pd.array([v if isinstance(v, bool) else None for v in values], dtype="boolean")


def times(values: Sequence[Any]) -> pd.Series:
    """UTC datetimes from ISO-8601 text; a missing or unreadable value is NaT."""
    parsed = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601",
                            errors="coerce")
    return parsed.astype(TIME_DTYPE)


def categories(values: Sequence[Any], known: Sequence[str]) -> pd.Categorical:
    """A categorical over ``known`` (in that order) plus any value not in it, so none is lost."""
    extra = sorted({v for v in values if isinstance(v, str)} - set(known))
    return pd.Categorical(values, categories=[*known, *extra])


def objects(values: Iterable[Any]) -> pd.Series:
    """An ``object`` column (lists, dicts, mixed values) holding the values as given.

    A Series rather than its array: pandas 3 would infer ``str`` for a bare
    array of texts (a tag value column that happens to hold only strings).
    """
    return pd.Series(list(values), dtype=object)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # as ipaddress: ASCII, no leading 0
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")
# Inside 192.0.0.0/24 whether an address is global changes from one address to the next
# (192.0.0.9 and .10 are global, the rest is not); in every other /24 it is the same for
# all 256 addresses (ipaddress's special-purpose ranges are /24 or larger).
_MIXED_NET = "192.0.0"


def split_ips(ip_lists: Sequence[Any]) -> tuple[list[list[str]], list[list[str]]]:
    """``(public, private)`` address lists per row, by the rule of ``Machine.public_ips``
    (:func:`smartdc_nb.machine.split_ips`).

    That rule parses each address with ipaddress, which would be the most
    expensive step of a frame; an IPv4 address instead takes the answer given
    for the first address of its /24 (exact: see ``_MIXED_NET``).
    """
    public: list[list[str]] = []
    private: list[list[str]] = []
    public_net: dict[str, bool] = {}
    for ips in ip_lists:
        row_public: list[str] = []
        row_private: list[str] = []
        for ip in ips if isinstance(ips, list) else ():
            net = ip[:ip.rindex(".")] if isinstance(ip, str) and _IPV4.fullmatch(ip) else None
            if net is None or net == _MIXED_NET:
                one_public, one_private = classify([ip])
                row_public += one_public
                row_private += one_private
                continue
            is_public = public_net.get(net)
            if is_public is None:
                one_public, one_private = classify([ip])
                if not one_public and not one_private:
                    continue  # not an address after all: in neither list, as Machine does
                is_public = public_net[net] = bool(one_public)
            (row_public if is_public else row_private).append(ip)
        public.append(row_public)
        private.append(row_private)
    return public, private


def version_key(version: Any) -> tuple:
    """Sort key for package/image versions: numeric parts compare as numbers."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in str(version or "").replace("-", ".").split("."))
