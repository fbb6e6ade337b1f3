"""One datacenter's packages and images, fetched once and reused while fresh.

Machine frames join every machine to its package and image, and cards name
them; neither should cost two catalog requests per call. ``dc.catalog`` (a
:class:`Catalog`) fetches the whole package list and every image (all
states, as ``triton instance list`` does) on first use and answers from
memory for ``ttl`` seconds; :meth:`Catalog.refresh` (or ``refresh=True``)
fetches again. Attribute access and :meth:`Catalog.cached_packages` /
:meth:`Catalog.cached_images` never make a request.

An unfiltered ``dc.packages()`` or ``dc.images(state="all")`` is the same
list, so it refreshes the catalog too.
"""

from __future__ import annotations

import threading
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from .errors import ServerError, TooManyRequestsError, TransportError
from .parallel import DatacenterWarning

if TYPE_CHECKING:
    from .datacenter import DataCenter

#: Seconds a fetched catalog is reused. Packages and images change rarely (an
#: operator adds a package, someone creates a custom image); five minutes keeps
#: a notebook that rebuilds its frames in a loop from asking every time.
CATALOG_TTL = 300.0

KINDS = ("packages", "images")


class _Entry:
    """One list (packages or images): the records, when they were fetched, derived indexes."""

    def __init__(self) -> None:
        self.records: list[dict] | None = None
        self.stamp = 0.0  # time.monotonic() of the fetch
        self.wall = ""  # and its UTC time as CloudAPI writes a machine's "created"
        self.lock = threading.Lock()  # one fetch at a time; a second caller reuses its answer
        self.derived: dict[str, Any] = {}


class Catalog:
    """Packages and images of one DataCenter (``dc.catalog``); see the module docstring.

    ``ttl``: seconds a fetched list is reused (0 fetches every time, None
    keeps it until :meth:`refresh`).
    """

    def __init__(self, dc: DataCenter, ttl: float | None = CATALOG_TTL,
                 clock: Callable[[], float] = time.monotonic):
        self._dc = dc
        self.ttl = ttl
        self._clock = clock
        self._entries = {kind: _Entry() for kind in KINDS}

    def __repr__(self) -> str:
        known = ", ".join(f"{len(e.records)} {kind}" if e.records is not None else f"no {kind}"
                          for kind, e in self._entries.items())
        return f"<Catalog of {self._dc.name or self._dc.url}: {known}>"

    # ---------------------------------------------------------------- reading

    def packages(self, refresh: bool = False) -> list[dict]:
        """Every package (``GET /:login/packages``), fetched if not fresh."""
        return self._get("packages", refresh)

    def images(self, refresh: bool = False) -> list[dict]:
        """Every image in every state (``GET /:login/images?state=all``), fetched if not fresh."""
        return self._get("images", refresh)

    def refresh(self) -> None:
        """Fetch packages and images again now."""
        for kind in KINDS:
            self._get(kind, True)

    def cached_packages(self) -> list[dict] | None:
        """The packages last fetched (however old), or None; never a request."""
        return self._entries["packages"].records

    def cached_images(self) -> list[dict] | None:
        """The images last fetched (however old), or None; never a request."""
        return self._entries["images"].records

    def age(self, kind: str) -> float | None:
        """Seconds since ``kind`` ("packages" or "images") was fetched, or None."""
        entry = self._entries[kind]
        return None if entry.records is None else self._clock() - entry.stamp

    def fresh(self, kind: str) -> bool:
        """Whether ``kind`` would be answered from memory now."""
        age = self.age(kind)
        return age is not None and (self.ttl is None or age < self.ttl)

    def derived(self, kind: str, name: str, make: Callable[[list[dict]], Any],
                refresh: bool = False, keep_last: bool = False) -> Any:
        """``make(records)`` of the current ``kind`` list, computed once per fetch.

        Frames use it for their join indexes (packages by name, images by id),
        so a rebuilt frame does not re-sort the catalog either. ``keep_last``: when
        fetching an expired list again meets no answer (a dropped connection, 5xx, 429),
        the list in hand is used, with a DatacenterWarning saying how old it is.
        """
        try:
            records = self._get(kind, refresh)
        except (TransportError, ServerError, TooManyRequestsError) as exc:
            # an expired list is still the best join a long-lived kernel has: a brief outage
            # must not strip the frame of its package and image columns
            records, age = self._entries[kind].records, self.age(kind)
            if not keep_last or records is None or age is None:
                raise
            warnings.warn(f"datacenter {self._dc.name or self._dc.url}: {kind} could not be "
                          f"fetched again ({type(exc).__name__}: {exc}); the list fetched "
                          f"{age:.1f} s ago is used (dc.catalog.refresh() tries again)",
                          DatacenterWarning, stacklevel=2)
        entry = self._entries[kind]
        with entry.lock:
            if entry.records is records and name in entry.derived:
                return entry.derived[name]
        value = make(records)
        with entry.lock:
            if entry.records is records:
                entry.derived[name] = value
        return value

    # ---------------------------------------------------------------- filling

    def _get(self, kind: str, refresh: bool) -> list[dict]:
        entry = self._entries[kind]
        asked, wall = self._clock(), _utc_text()
        with entry.lock:
            # a fetch that finished after this call began is as fresh as one of our own
            if entry.records is not None and (
                    entry.stamp >= asked or (not refresh and self.fresh(kind))):
                return entry.records
            if kind == "packages":
                records = self._dc._get("packages") or []
            else:
                records = self._dc._get("images", state="all") or []
            self._store(entry, records, asked, wall)
        self._dc._remember(self._dc._packages if kind == "packages" else self._dc._images,
                           records)
        return records

    def _store(self, entry: _Entry, records: list[dict], stamp: float, wall: str) -> None:
        entry.records = records
        entry.stamp = stamp
        entry.wall = wall
        entry.derived = {}

    def _learn(self, kind: str, records: list[dict]) -> None:
        """Take a full list the DataCenter fetched for its caller (``dc.packages()``)."""
        entry = self._entries[kind]
        stamp, wall = self._clock(), _utc_text()
        with entry.lock:
            self._store(entry, records, stamp, wall)

    def stale(self, machines: Iterable[dict], indexes: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """The kinds of ``indexes`` (``"images"``, ``"packages"``: each list's join index)
        whose list a machine created after it was fetched outdates, by naming an entry the
        index lacks: the list predates a new image or package, so it is worth fetching
        again. A machine older than the list whose entry is missing names a deleted one,
        and fetching again would not find it. The machines are read once for all kinds."""
        kinds = [k for k in ("images", "packages") if k in indexes and self._entries[k].wall]
        if not kinds:
            return []
        machines = machines if isinstance(machines, list) else list(machines)
        stale = []
        for kind in kinds:
            field = "image" if kind == "images" else "package"
            index, since = indexes[kind], self._entries[kind].wall
            # the few distinct names the index lacks first (read without a Python call per
            # machine): usually none, and no machine is looked at again (a name that is no
            # text, CloudAPI never sends, no list would hold)
            values = [m.get(field) for m in machines]
            try:
                distinct = set(values)
            except TypeError:  # a value that cannot be hashed (no name): only text counts
                distinct = {value for value in values if isinstance(value, str)}
            missing = {name for name in distinct
                       if isinstance(name, str) and name and name not in index}
            if missing and any(isinstance(name, str) and name in missing
                               and str(m.get("created") or "") > since
                               for m, name in zip(machines, values)):
                stale.append(kind)
        return stale


def _utc_text() -> str:
    """Now in UTC as ``YYYY-MM-DDTHH:MM:SS.sssZ`` (compares as text with CloudAPI's times)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
