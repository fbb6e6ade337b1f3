"""Fleet: every datacenter of one account, used as one.

    >>> fleet = smartdc_nb.Fleet(dc)                  # every datacenter CloudAPI lists
    >>> fleet = smartdc_nb.Fleet(["us-east-1"], dc=dc)   # or only the named ones
    >>> fleet.machines(state="running")               # one MachineList, all datacenters
    >>> fleet.frames.machines()                       # one DataFrame (smartdc_nb.frames)

Listing runs in parallel, one thread per datacenter, and pages each
datacenter fully. A datacenter that fails (unreachable, 5xx after the
transport's retries) does not lose the others: the result holds what the
others answered, a :class:`DatacenterWarning` says what failed, and
``fleet.errors`` maps the datacenter's name to its exception until the next
listing. Only when every datacenter fails is the (first) error raised.

Catalog listings (``packages``, ``images``, ``networks``) return
``{datacenter name: [CloudAPI's dicts]}``: each record says its datacenter by
where it is, and CloudAPI's dicts are never changed. ``fleet.frames`` has the
flat views with a ``datacenter`` column.

Bulk actions (smartdc_nb.operations.bulk) act only on an explicit selection. Select with
``fleet.machines(**filters)`` and act on the MachineList
(``fleet.machines(tags={"env": "dev"}).stop(confirm=True)``), or give the
same filters to the action as ``where`` (``fleet.stop(confirm=True,
where={"tags": {"env": "dev"}})``); an action without ``where`` is refused
rather than reaching every machine of every datacenter (``where="all"`` says
so on purpose).
"""

from __future__ import annotations

import html
import threading
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, TypeVar

from . import rules, seam
from .resources.bulk_methods import BulkActions
from .datacenter import DataCenter
from .errors import InvalidInputError
from .parallel import DatacenterWarning, gather  # noqa: F401 (their old home)

if TYPE_CHECKING:
    from .operations.outcomes import BulkResult
    from .frames import Frames
    from .machinelist import MachineList

T = TypeVar("T")


class Fleet(BulkActions):
    """Several DataCenters of one account (see the module docstring).

    ``Fleet(dc)`` uses every datacenter ``GET /:login/datacenters`` lists,
    reaching the others with ``dc``'s credentials and options;
    ``Fleet(["us-east-1", "eu-ams-1"], dc=dc)`` only the named ones;
    ``Fleet(profile="name")`` or ``Fleet(url=..., account=..., ...)`` connects
    first (as :func:`smartdc_nb.connect`); ``Fleet([dc1, dc2])`` or
    ``Fleet({"a": dc1, "b": dc2})`` uses the given DataCenters as they are (no
    request). ``max_workers`` bounds the threads of one listing (default: one
    per datacenter).
    """

    def __init__(self, datacenters: Any = None, *, dc: DataCenter | None = None,
                 profile: str | None = None, max_workers: int | None = None,
                 **connect_overrides: Any):
        if isinstance(datacenters, DataCenter):
            if dc is not None:
                raise InvalidInputError("give the DataCenter once: Fleet(dc) or Fleet(dc=dc)")
            dc, datacenters = datacenters, None
        self.max_workers = max_workers
        self._lock = threading.Lock()
        self._errors: dict[str, BaseException] = {}
        self._counts: dict[str, int] = {}
        self._known_machines: MachineList | None = None
        given = _given_datacenters(datacenters)
        if given is not None:
            if dc is not None or profile is not None or connect_overrides:
                raise InvalidInputError(
                    "Fleet got DataCenter objects and also dc=/profile=/connection arguments; "
                    "give one or the other")
            self._datacenters = given
            return
        if dc is None:
            from .datacenter import connect

            dc = connect(profile, **connect_overrides)
        elif profile is not None or connect_overrides:
            raise InvalidInputError(
                "give either dc= or a profile/connection arguments to Fleet, not both")
        self._datacenters = _discover(dc, datacenters)

    # ------------------------------------------------------------ the set

    @property
    def datacenters(self) -> dict[str, DataCenter]:
        """``{name: DataCenter}`` in the fleet's order."""
        return dict(self._datacenters)

    @property
    def names(self) -> list[str]:
        """The datacenter names of the fleet, in order (no request once known)."""
        return list(self._datacenters)

    @property
    def errors(self) -> dict[str, BaseException]:
        """``{datacenter name: exception}`` of the datacenters that failed the last listing."""
        with self._lock:
            return dict(self._errors)

    def __len__(self) -> int:
        return len(self._datacenters)

    def __iter__(self) -> Iterator[DataCenter]:
        return iter(list(self._datacenters.values()))

    def __getitem__(self, name: str) -> DataCenter:
        try:
            return self._datacenters[name]
        except KeyError:
            raise KeyError(f"no datacenter {name!r} in this fleet; it has: "
                           f"{', '.join(self._datacenters) or 'none'}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._datacenters

    def close(self) -> None:
        """Close every datacenter's connection pool (they reconnect when used)."""
        for datacenter in self._datacenters.values():
            datacenter.close()

    # ------------------------------------------------------------ listing

    def each(self, call: Callable[[DataCenter], T], what: str = "request", *,
             only_reads: bool = False) -> dict[str, T]:
        """``call(dc)`` for every datacenter in parallel; ``{name: result}`` of those that answered.

        The failures go to :attr:`errors` with a :class:`DatacenterWarning`
        each; if every datacenter failed, the first one's error is raised. With
        ``only_reads`` (``call`` sends no write), Ctrl-C cuts the requests in flight and
        returns at once; otherwise the running calls finish first (smartdc_nb.parallel).
        """
        tasks = {name: (lambda d=datacenter: call(d))
                 for name, datacenter in self._datacenters.items()}
        results, errors = gather(tasks, self.max_workers, only_reads=only_reads)
        self._report(errors, len(tasks), what)
        return results

    def _report(self, errors: Mapping[str, BaseException], total: int, what: str) -> None:
        """Keep a listing's failures in :attr:`errors`, warn about each, raise if all failed."""
        with self._lock:
            self._errors = dict(errors)
        for name, exc in errors.items():
            warnings.warn(
                f"datacenter {name}: {what} failed ({type(exc).__name__}: {exc}); the result "
                f"holds the other datacenters' data only (see fleet.errors[{name!r}])",
                DatacenterWarning, stacklevel=4)
        if errors and len(errors) == total:
            raise next(iter(errors.values()))

    def raw_machines(self, **filters: Any) -> dict[str, list[dict]]:
        """``{name: [machine dicts]}``: every matching machine of every datacenter (all pages)."""
        for datacenter in list(self._datacenters.values())[:1]:
            datacenter.machine_filters(filters)  # refuse bad filters once, before any request
        found = self.each(lambda d: d.raw_machines(**filters), "listing machines", only_reads=True)
        self._note_counts(found, filters)
        return found

    def machines(self, **filters: Any) -> MachineList:
        """Every matching machine of every datacenter, as one MachineList.

        Each Machine keeps its own DataCenter. Filters are those of
        :meth:`DataCenter.machines` (name, image, state, memory, brand, type,
        docker, tombstone, ``tags={...}``).
        """
        from .resources.machine import Machine
        from .machinelist import MachineList

        found = self.raw_machines(**filters)
        # image names for the cards, in parallel; images_for_cards never raises, and a
        # listing's errors stay what fleet.errors reports
        lacking = {name: (lambda d=d: d.images_for_cards()) for name, d in self._datacenters.items()
                   if name in found and d.catalog.cached_images() is None}
        if lacking:
            gather(lacking, self.max_workers, only_reads=True)
        machines = MachineList(Machine(self._datacenters[name], data=payload)
                               for name, payloads in found.items() for payload in payloads)
        if not filters:
            self._known_machines = machines
        return machines

    @property
    def known_machines(self) -> MachineList | None:
        """The machines of the last unfiltered :meth:`machines` (None before one); no request."""
        return self._known_machines

    def num_machines(self, **filters: Any) -> dict[str, int]:
        """``{name: count}`` of matching machines per datacenter (HEAD requests only)."""
        counts = self.each(lambda d: d.num_machines(**filters), "counting machines",
                           only_reads=True)
        self._note_counts(counts, filters)
        return counts

    def packages(self, **filters: Any) -> dict[str, list[dict]]:
        """``{name: [package dicts]}`` from every datacenter."""
        return self.each(lambda d: d.packages(**filters), "listing packages", only_reads=True)

    def images(self, **filters: Any) -> dict[str, list[dict]]:
        """``{name: [image dicts]}`` from every datacenter."""
        return self.each(lambda d: d.images(**filters), "listing images", only_reads=True)

    def networks(self, **filters: Any) -> dict[str, list[dict]]:
        """``{name: [network dicts]}`` from every datacenter."""
        return self.each(lambda d: d.networks(**filters), "listing networks", only_reads=True)

    def _note_counts(self, found: Mapping[str, Any], filters: Mapping[str, Any]) -> None:
        if filters:  # a filtered listing says nothing about the fleet's size
            return
        with self._lock:
            for name, value in found.items():
                self._counts[name] = value if isinstance(value, int) else len(value)
            for name in self._errors:
                self._counts.pop(name, None)

    def changes(self, **options: Any) -> Any:
        """A :class:`~smartdc_nb.changes.ChangeStream` of machine changes in every datacenter
        at once (options: machine_ids, backoff, poll_interval, keepalive)."""
        from .changes import ChangeStream

        return ChangeStream(self.datacenters, **options)

    def live(self, **options: Any) -> Any:
        """A :class:`~smartdc_nb.live.LiveFleet`: the machines frame kept current by the
        changefeed, a change log, and a widget (options: poll_interval, backoff, keepalive)."""
        return seam.live_fleet(self, **options)

    # ------------------------------------------------------------ views

    @property
    def frames(self) -> Frames:
        """DataFrame views across the fleet (machines, tags, snapshots, ...): smartdc_nb.frames."""
        return seam.frames(self)

    def query(self, **filters: Any) -> Any:
        """Machines of every datacenter by filters (server-side where CloudAPI can, the rest in
        pandas), as a frame with ``.explain()``: see smartdc_nb.frames.query."""
        return seam.query(self, **filters)

    def snapshot(self, path: Any = None, **options: Any) -> Any:
        """Save the fleet now (machines, tags, metadata keys, snapshots) as a history point of
        Parquet files; returns the Point. See smartdc_nb.frames.history."""
        return seam.save_history(self, path, **options)

    def panel(self, **options: Any) -> Any:
        """A control panel for the fleet (ipywidgets; options: see smartdc_nb.widgets.fleet_panel)."""
        return seam.panel("fleet", self, **options)

    def status(self) -> list[dict[str, Any]]:
        """What is known without a request: per datacenter its URL, the machine count of the
        last unfiltered listing (None if none yet) and the last listing's error (or None)."""
        with self._lock:
            counts, errors = dict(self._counts), dict(self._errors)
        return [{"datacenter": name, "url": datacenter.url, "machines": counts.get(name),
                 "error": errors.get(name)} for name, datacenter in self._datacenters.items()]

    def summary(self) -> list[dict[str, Any]]:
        """Deprecated name of :meth:`status` (every other ``summary()`` is one line of text)."""
        warnings.warn("Fleet.summary() is now Fleet.status(); summary() will become one line of "
                      "text, as on results and plans", DeprecationWarning, stacklevel=2)
        return self.status()

    def __repr__(self) -> str:
        parts = []
        for row in self.status():
            text = row["datacenter"]
            if row["error"] is not None:
                text += f" (failed: {type(row['error']).__name__})"
            elif row["machines"] is not None:
                text += f" ({row['machines']} machines)"
            parts.append(text)
        account = next(iter(self._datacenters.values())).login if self._datacenters else "?"
        return f"<Fleet {account}: {', '.join(parts) or 'no datacenters'}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        try:
            return seam.render_html(self)
        except ImportError:  # the display package is optional here: fall back to escaped text
            return f"<pre>{html.escape(repr(self))}</pre>"

    # ------------------------------------------------------------ bulk

    def select(self, where: Any) -> MachineList:
        """The machines a bulk action's ``where`` names: a dict of machine filters, or ``"all"``."""
        return self._select(where, "<action>(")

    def _select(self, where: Any, call: str) -> MachineList:
        """:meth:`select`; ``call`` is how the caller's own call starts ("reboot(", "plan('x', ")."""
        if where is None:
            raise InvalidInputError(
                f"say which machines: fleet.{call}..., where={{'state': 'running', 'tags': "
                "{'env': 'dev'}}), or where='all' for every machine of every datacenter "
                f"(or act on a selection: fleet.machines(**filters).{call}...))")
        if isinstance(where, str) and where == "all":
            return self.machines()
        if not isinstance(where, Mapping):
            raise InvalidInputError(
                f"where= must be a dict of machine filters or 'all', not {where!r}")
        if not any(value is not None and value != {} and value != [] for value in where.values()):
            # filters built from empty user input would otherwise reach every machine
            raise InvalidInputError(
                f"where={dict(where)!r} filters nothing, so it would name every machine of every "
                "datacenter: give a filter, or where='all' if every machine is meant")
        return self.machines(**where)

    def _bulk_targets(self) -> MachineList:
        return self.select(None)  # a Fleet has no implicit selection: see select()

    def plan(self, action: str, *args: Any, where: Any = None, **kwargs: Any) -> Any:
        """A Plan of ``action`` over ``select(where)`` (``where=`` required, as for actions)."""
        kwargs.setdefault("refresh", False)  # the selection is listed just now
        return seam.make_plan(self._select(where, f"plan({action!r}, "), action, *args,
                              **kwargs)

    def _bulk(self, action: str, *args: Any, where: Any = None, **options: Any) -> BulkResult:
        """Run ``action`` over ``select(where)``, refusing what needs no request to refuse."""
        refusal = rules.confirm_message(action, bool(options.get("confirm")),
                                        bool(options.get("dry_run")))
        if refusal:
            raise InvalidInputError(refusal)
        targets = self._select(where, f"{action}(")
        options.setdefault("refresh", False)  # the selection was listed just now
        return seam.run_bulk(targets, action, *args, **options)


def _given_datacenters(datacenters: Any) -> dict[str, DataCenter] | None:
    """``{name: DataCenter}`` when the caller gave DataCenter objects, else None."""
    if isinstance(datacenters, Mapping):
        items = list(datacenters.items())
    elif isinstance(datacenters, Iterable) and not isinstance(datacenters, str):
        datacenters = list(datacenters)
        if not datacenters or not all(isinstance(d, DataCenter) for d in datacenters):
            return None
        items = [(d.name, d) for d in datacenters]
    else:
        return None
    out: dict[str, DataCenter] = {}
    for name, datacenter in items:
        if not isinstance(datacenter, DataCenter):
            raise InvalidInputError(f"Fleet({{name: DataCenter}}): {name!r} maps to "
                                    f"{type(datacenter).__name__}, not a DataCenter")
        if not name:
            raise InvalidInputError(
                f"{datacenter!r} has no name; give Fleet a dict {{name: DataCenter}} or connect "
                "with name=")
        if name in out:
            raise InvalidInputError(f"two DataCenters are named {name!r}")
        out[name] = datacenter
    return out


def _discover(dc: DataCenter, wanted: Any) -> dict[str, DataCenter]:
    """The named datacenters (default: all CloudAPI lists), reached with ``dc``'s credentials."""
    known = dc.datacenters()
    if wanted is None:
        names = list(known)
    else:
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        bad = [n for n in names if not isinstance(n, str)]
        if bad:
            raise InvalidInputError(
                f"Fleet datacenters must be names (strings) or DataCenter objects, not {bad[0]!r}")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InvalidInputError(
                f"no datacenter named {', '.join(map(repr, unknown))} in this cloud; it has: "
                f"{', '.join(sorted(known)) or 'none'}")
        if len(set(names)) != len(names):
            raise InvalidInputError(f"a datacenter is named twice in {names!r}")
    if not names:
        raise InvalidInputError(f"{dc.url} lists no datacenters for {dc.login}")
    # The connection's own datacenter is used as it is (it may be reached through a URL
    # other than the listed one, e.g. a tunnel); the others are clones with its credentials.
    return {name: dc if name == dc.name else dc.datacenter(name) for name in names}
