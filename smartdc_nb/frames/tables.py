"""``dc.frames`` / ``fleet.frames``: fetch in parallel, then build typed frames.

Every frame's ``attrs`` hold plain data (they survive filtering and are
written by ``to_parquet``): ``kind`` (machines, tags, ...), ``fetched_at``
(ISO-8601 UTC text: when the last answer arrived), ``datacenters`` (the names
whose data is in the frame), ``errors`` (``{datacenter: message}`` of those
that failed; a Fleet also keeps the exceptions in ``fleet.errors``) and
``triton`` (a :class:`~smartdc_nb.frames.source.FrameSource`, which the
``df.triton`` accessor uses to act on the rows).
"""

from __future__ import annotations

import warnings
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import pandas as pd

from .. import rules
from ..datacenter import DataCenter, is_uuid
from ..errors import InvalidInputError, MachineDeletedError, SmartDCError
from ..fleet import DatacenterWarning, Fleet, gather
from ..gcpause import gc_paused
from ..progress import CountBar
from . import build
from .accessor import CATALOG_KINDS
from .build import Part
from .source import FrameSource

if TYPE_CHECKING:
    from ..resources.machine import Machine

#: How many requests a frame has in flight at once across datacenters (each
#: DataCenter's rate limiter still paces its own login).
FETCH_WORKERS = 16
#: Default bound on concurrent per-machine snapshot listings.
SNAPSHOT_CONCURRENCY = 8


def datacenter_label(dc: DataCenter) -> str:
    """The name a DataCenter's rows carry: its datacenter name, else its URL."""
    return dc.name or dc.url


class Frames:
    """DataFrame views of a DataCenter or a Fleet (``dc.frames``, ``fleet.frames``).

    Methods: :meth:`machines`, :meth:`tags`, :meth:`metadata`,
    :meth:`snapshots`, :meth:`packages`, :meth:`images`, :meth:`networks`,
    :meth:`audit`. Each makes its requests when called (never on access) and
    returns a new frame; see the package docstring for columns and dtypes.
    """

    def __init__(self, source: DataCenter | Fleet):
        if isinstance(source, Fleet):
            self.fleet: Fleet | None = source
            self.datacenters = source.datacenters
        elif isinstance(source, DataCenter):
            self.fleet = None
            self.datacenters = {datacenter_label(source): source}
        else:
            raise InvalidInputError(
                f"Frames needs a DataCenter or a Fleet, not {type(source).__name__}")
        self.source = source

    def __repr__(self) -> str:
        return f"<Frames of {self.source!r}>"

    def _learn_name(self) -> None:
        """Give rows a DataCenter's name, not its URL: CloudAPI says it only in
        ListDatacenters (one request, made once, when a frame is built)."""
        if self.fleet is None and self.source.name is None:
            try:
                self.source.datacenters()
            except SmartDCError:
                return  # the URL stays the label; the frame's own requests will say what failed
            self.datacenters = {datacenter_label(self.source): self.source}

    # ------------------------------------------------------------ fetching

    def _fetch(self, calls: Mapping[str, Callable[[DataCenter], Any]], what: str,
               required: str) -> tuple[dict[str, dict[str, Any]], dict[str, BaseException],
                                       dict[str, dict[str, str]], datetime]:
        """Run every ``calls`` entry against every datacenter at once.

        Returns ``(answers, failed, partial, fetched_at)``: answers by
        datacenter then call name; ``failed`` the datacenters whose ``required``
        call failed (reported like any fleet listing); ``partial`` the other
        failed calls, by datacenter (warned about: their columns are missing).
        """
        self._learn_name()
        tasks = {(name, key): (lambda d=dc, c=call: c(d))
                 for name, dc in self.datacenters.items() for key, call in calls.items()}
        results, errors = gather(tasks, FETCH_WORKERS, only_reads=True)
        fetched_at = datetime.now(timezone.utc)
        answers: dict[str, dict[str, Any]] = {name: {} for name in self.datacenters}
        for (name, key), value in results.items():
            answers[name][key] = value
        failed = {name: exc for (name, key), exc in errors.items() if key == required}
        partial: dict[str, dict[str, str]] = {}
        for (name, key), exc in errors.items():
            if key != required and name not in failed:
                partial.setdefault(name, {})[key] = _describe(exc)
                warnings.warn(f"datacenter {name}: {key} could not be fetched ({_describe(exc)});"
                              f" its {key} columns are missing", DatacenterWarning, stacklevel=4)
        self._report(failed, what)
        return ({n: a for n, a in answers.items() if n not in failed}, failed, partial,
                fetched_at)

    def _report(self, failed: Mapping[str, BaseException], what: str) -> None:
        if self.fleet is not None:
            self.fleet._report(failed, len(self.datacenters), what)
        elif failed:
            raise next(iter(failed.values()))

    def _finish(self, frame: pd.DataFrame, kind: str, parts: list[Part],
                failed: Mapping[str, BaseException], fetched_at: datetime,
                **extra: Any) -> pd.DataFrame:
        return finish(frame, kind, parts, self.datacenters, failed, fetched_at, **extra)

    def _dc(self, name: str) -> DataCenter:
        return self.datacenters[name]

    def _machine_parts(self, filters: Mapping[str, Any], catalog: bool, what: str
                       ) -> tuple[list[Part], dict, dict, datetime]:
        if self.datacenters:
            next(iter(self.datacenters.values())).machine_filters(filters)  # refuse early
        calls: dict[str, Callable[[DataCenter], Any]] = {
            "machines": lambda d: d.raw_machines(**filters)}
        if catalog:  # each datacenter's catalog is fetched once and reused while fresh
            calls["packages"] = lambda d: d.catalog.derived("packages", "by name",
                                                            build.package_index, keep_last=True)
            calls["images"] = lambda d: d.catalog.derived("images", "by id", build.image_index,
                                                          keep_last=True)
        answers, failed, partial, fetched_at = self._fetch(calls, what, "machines")
        if self.fleet is not None:
            self.fleet._note_counts({n: got["machines"] for n, got in answers.items()}, filters)
        if catalog:
            for name, got in answers.items():
                self._refresh_stale(self.datacenters[name], got)
        parts = [Part(name, got["machines"], got.get("packages") or {}, got.get("images") or {})
                 for name, got in answers.items()]
        return parts, failed, partial, fetched_at

    @staticmethod
    def _refresh_stale(dc: DataCenter, got: dict[str, Any]) -> None:
        """Fetch a datacenter's image or package list again when a machine newer than it
        names one it does not hold (once; a failure keeps the join columns it had)."""
        indexes = {kind: got[kind] for kind in ("images", "packages") if got.get(kind) is not None}
        for kind in dc.catalog.stale(got["machines"], indexes):
            name, make = (("by id", build.image_index) if kind == "images"
                          else ("by name", build.package_index))
            try:
                got[kind] = dc.catalog.derived(kind, name, make, refresh=True)
            except SmartDCError:
                pass

    # ------------------------------------------------------------ machines

    # listing and building make a fleet's worth of acyclic objects: the collector waits for the
    # whole of it (smartdc_nb.gcpause), not only for each page and the build
    @gc_paused()
    def machines(self, *, tags_as: str | None = "dict", **filters: Any) -> pd.DataFrame:
        """One row per machine, joined to its image and package (see MACHINE_COLUMNS).

        The machine listing (all pages), the packages and the images (all
        states) of each datacenter are fetched at once; the packages and
        images come from ``dc.catalog``, which reuses them while fresh
        (``dc.catalog.refresh()`` fetches them again). ``tags_as="dict"``
        keeps a ``tags`` column of dicts; ``"columns"`` adds one ``tag.<key>``
        column per tag key instead; None leaves tags out (``tag_count``
        stays). Filters are those of :meth:`DataCenter.machines`, including
        ``tags={"key": "value"}``.
        """
        build.check_tags_as(tags_as)
        parts, failed, partial, fetched_at = self._machine_parts(filters, True,
                                                                 "listing machines")
        frame = build.machines(parts, fetched_at, tags_as=tags_as)
        return self._finish(frame, "machines", parts, failed, fetched_at,
                            filters=_plain(filters), join_errors=partial)

    @gc_paused()
    def tags(self, **filters: Any) -> pd.DataFrame:
        """Long form: one row per (machine, tag) — datacenter, machine_id, machine_name, key, value."""
        parts, failed, _, fetched_at = self._machine_parts(filters, False, "listing machines")
        return self._finish(build.tags(parts), "tags", parts, failed, fetched_at,
                            filters=_plain(filters))

    @gc_paused()
    def metadata(self, **filters: Any) -> pd.DataFrame:
        """Long form: one row per (machine, metadata key) with the value's ``size`` in bytes.

        ``user-script`` appears as its size only (no value); credentials are
        never requested and never shown.
        """
        parts, failed, _, fetched_at = self._machine_parts(filters, False, "listing machines")
        return self._finish(build.metadata(parts), "metadata", parts, failed, fetched_at,
                            filters=_plain(filters))

    @gc_paused()
    def machines_and_metadata(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The machines frame and the metadata frame of one listing (what a history point
        keeps): both hold the same machines, and a datacenter that failed is in both
        ``attrs["errors"]`` (two listings could each fail, or differ, on their own)."""
        parts, failed, partial, fetched_at = self._machine_parts({}, True, "listing machines")
        machines = self._finish(build.machines(parts, fetched_at), "machines", parts, failed,
                                fetched_at, filters={}, join_errors=partial)
        return machines, self._finish(build.metadata(parts), "metadata", parts, failed,
                                      fetched_at, filters={})

    def snapshots(self, machines: Any = None, *, concurrency: int = SNAPSHOT_CONCURRENCY,
                  progress: Any = None, **filters: Any) -> pd.DataFrame:
        """One row per snapshot of the matching machines (a request per machine).

        ``machines``: Machine objects or a frame with ``df.triton`` (only those
        machines are asked); otherwise the machines matching ``filters`` are
        listed first. At most ``concurrency`` requests run at once in each
        datacenter, the datacenters side by side (each datacenter's rate limiter
        paces its own: CloudAPI allows a login about 10 requests a second).
        Machines that cannot have snapshots (kvm, deleted) are not asked; a
        machine whose listing fails is left out with a warning and named in
        ``attrs["snapshot_errors"]``. ``progress`` as in smartdc_nb.progress (a
        bar counting the machines asked).
        """
        if not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidInputError(f"concurrency must be a whole number >= 1, not {concurrency!r}")
        if machines is None:
            parts, failed, _, _ = self._machine_parts(filters, False, "listing machines")
        elif filters:
            raise InvalidInputError("give machines= or filters to snapshots(), not both")
        else:
            parts, failed = self._parts_of(machines), {}
        tasks = {(part.datacenter, m["id"]): (lambda d=self._dc(part.datacenter), i=m["id"]:
                                               d.request("GET", "machines", i, "snapshots").data)
                 for part in parts for m in part.records
                 if rules.has_snapshots(m)}
        bar = CountBar(len(tasks), "listing snapshots", progress) if tasks else None
        # one pool per datacenter: each login's rate limit paces only its own requests
        results, errors = gather(tasks, concurrency, bar.update if bar else None,
                                 per=lambda key: key[0], only_reads=True)
        if bar is not None:
            bar.close(not errors, f"{len(errors)} could not be read" if errors else None)
        fetched_at = datetime.now(timezone.utc)
        for part in parts:
            part.extra["snapshots"] = {i: snaps for (n, i), snaps in results.items()
                                       if n == part.datacenter}
        if errors:
            sample = "; ".join(f"{n}/{i}: {_describe(e)}" for (n, i), e in list(errors.items())[:3])
            warnings.warn(f"snapshots of {len(errors)} machine(s) could not be listed and are "
                          f"missing from the frame ({sample}); see attrs['snapshot_errors']",
                          DatacenterWarning, stacklevel=2)
        frame = build.snapshots(parts, fetched_at)
        return self._finish(frame, "snapshots", parts, failed, fetched_at,
                            snapshot_errors={f"{n}/{i}": _describe(e)
                                             for (n, i), e in errors.items()})

    def _parts_of(self, machines: Any) -> list[Part]:
        if isinstance(machines, pd.DataFrame):
            machines = machines.triton.machines()
        return machine_parts(machines, self.datacenters)

    def audit(self, machine: Any, *, datacenter: str | None = None) -> pd.DataFrame:
        """A machine's audit history (newest first): action, success, time, caller.

        ``machine`` is a Machine, or a machine id or name in this DataCenter (in
        a Fleet, say which with ``datacenter=``).
        """
        self._learn_name()
        dc, payload = self._resolve(machine, datacenter)
        entries = dc.request("GET", "machines", payload["id"], "audit").data or []
        fetched_at = datetime.now(timezone.utc)
        parts = [Part(datacenter_label(dc), entries, extra={"machine": payload})]
        self.datacenters.setdefault(parts[0].datacenter, dc)
        return self._finish(build.audit(parts), "audit", parts, {}, fetched_at)

    def _resolve(self, machine: Any, datacenter: str | None) -> tuple[DataCenter, dict]:
        if hasattr(machine, "datacenter") and isinstance(getattr(machine, "raw", None), dict):
            return machine.datacenter, machine.raw
        if not isinstance(machine, str) or not machine:
            raise InvalidInputError(f"audit() needs a Machine, a machine id or a name, "
                                    f"not {machine!r}")
        if datacenter is not None:
            if datacenter not in self.datacenters:
                raise InvalidInputError(f"no datacenter {datacenter!r} here; there are: "
                                        f"{', '.join(self.datacenters)}")
            dc = self.datacenters[datacenter]
        elif len(self.datacenters) == 1:
            dc = next(iter(self.datacenters.values()))
        else:
            raise InvalidInputError(
                f"machine {machine!r} could be in any of {', '.join(self.datacenters)}: "
                "say which with datacenter=, or pass the Machine")
        try:
            if is_uuid(machine):
                return dc, dc.raw_machine_data(machine)
            return dc, dc.machine(machine).raw
        except MachineDeletedError as exc:  # a deleted machine still has its history
            return dc, exc.body

    # ------------------------------------------------------------ catalog

    def _catalog(self, kind: str, call: Callable[[DataCenter], list[dict]],
                 schema: Any) -> pd.DataFrame:
        answers, failed, _, fetched_at = self._fetch({kind: call}, f"listing {kind}", kind)
        parts = [Part(name, got[kind] or []) for name, got in answers.items()]
        return self._finish(build.catalog(parts, schema), kind, parts, failed, fetched_at)

    def packages(self, **filters: Any) -> pd.DataFrame:
        """One row per package per datacenter (CloudAPI's filters: name, memory, vcpus, ...)."""
        return self._catalog("packages", lambda d: d.packages(**filters), build.PACKAGE_SCHEMA)

    def images(self, **filters: Any) -> pd.DataFrame:
        """One row per image per datacenter (CloudAPI's filters; ``state="all"`` for every state)."""
        return self._catalog("images", lambda d: d.images(**filters), build.IMAGE_SCHEMA)

    def networks(self, **filters: Any) -> pd.DataFrame:
        """One row per network (or pool) per datacenter."""
        return self._catalog("networks", lambda d: d.networks(**filters), build.NETWORK_SCHEMA)


def machine_parts(machines: Iterable[Machine], datacenters: dict[str, DataCenter]
                  ) -> list[Part]:
    """Parts from Machine objects (no request), adding their DataCenters to ``datacenters``."""
    parts: dict[str, Part] = {}
    for machine in machines:
        dc = getattr(machine, "datacenter", None)
        if not isinstance(dc, DataCenter) or not isinstance(getattr(machine, "raw", None), dict):
            raise InvalidInputError(f"expected Machine objects, got {machine!r}")
        name = datacenter_label(dc)
        if datacenters.setdefault(name, dc) != dc:
            raise InvalidInputError(f"{machine!r} comes from another connection than the "
                                    f"DataCenter named {name} here")
        parts.setdefault(name, Part(name, [])).records.append(machine.raw)
    return list(parts.values())


def finish(frame: pd.DataFrame, kind: str, parts: list[Part],
           datacenters: Mapping[str, DataCenter], failed: Mapping[str, BaseException | str],
           fetched_at: datetime, **extra: Any) -> pd.DataFrame:
    """Attach the attrs every frame carries (see the module docstring); ``failed`` holds the
    datacenters missing from (or out of date in) the frame, with their errors or reasons."""
    used = {p.datacenter: datacenters[p.datacenter] for p in parts}
    frame.attrs.update(kind=kind, fetched_at=fetched_at.isoformat(), datacenters=list(used),
                       errors={n: _describe(e) for n, e in failed.items()}, **extra,
                       triton=FrameSource(kind, used, [(p.datacenter, _machines_of(kind, p))
                                                        for p in parts], fetched_at))
    return frame


def _machines_of(kind: str, part: Part) -> list[dict]:
    """The machine payloads behind a part's rows (for the accessor)."""
    if kind in CATALOG_KINDS:
        return []
    if kind == "audit":
        return [part.extra["machine"]]
    return part.records


def from_machines(machines: Iterable[Machine], tags_as: str | None = "dict") -> pd.DataFrame:
    """The machines frame of Machine objects already in hand (``MachineList.to_frame()``).

    No request: rows come from each Machine's payload, and the image and
    package columns from what its DataCenter already fetched
    (``known_package``/``known_image``; missing otherwise).
    """
    build.check_tags_as(tags_as)
    machines = list(machines)
    datacenters: dict[str, DataCenter] = {}
    parts = machine_parts(machines, datacenters)
    for part in parts:
        dc = datacenters[part.datacenter]
        names = {m.get("package") for m in part.records} - {None, ""}
        ids = {m.get("image") for m in part.records} - {None, ""}
        part.packages = {n: p for n in names if (p := dc.known_package(n))}
        part.images = {i: im for i in ids if (im := dc.known_image(i))}
    stamps = [m.fetched_at for m in machines if getattr(m, "fetched_at", None)]
    fetched_at = max(stamps) if stamps else datetime.now(timezone.utc)
    frame = build.machines(parts, fetched_at, tags_as=tags_as)
    return finish(frame, "machines", parts, datacenters, {}, fetched_at)


def _describe(exc: BaseException | str) -> str:
    return exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"


def _plain(filters: Mapping[str, Any]) -> dict[str, Any]:
    """Filters as JSON-safe data for attrs."""
    return {k: (dict(v) if isinstance(v, Mapping) else v if isinstance(v, (str, int, float, bool))
                else str(v)) for k, v in filters.items() if v is not None}


__all__ = ["Frames", "from_machines", "datacenter_label"]
