"""fleet.live(): the fleet as it is now, kept current by CloudAPI's changefeed.

    >>> live = fleet.live()        # one WebSocket per datacenter, one listing each
    >>> live                       # in JupyterLab: a widget whose badges and counts move
    >>> live.frame                 # the machines DataFrame, as of the last change
    >>> live.frame.attrs["errors"] # the datacenters missing from it or out of date in it
    >>> live.changes               # the log of changes: time, datacenter, id, name, kinds, state
    >>> live.close()               # closes the sockets (or use ``with fleet.live() as live``)

A :class:`LiveFleet` holds a :class:`~smartdc_nb.changes.ChangeStream` over the
fleet's datacenters and one thread that applies its changes. The first
listing of each datacenter is the starting point; after that, while a
datacenter's feed is healthy, nothing is polled. A datacenter whose feed is
absent or down (or connected with ``changefeed=False``) is listed every
``poll_interval`` seconds until its feed is back. Reading ``frame``,
``changes``, ``counts()`` or the reprs never makes a request.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from .changes import KEEPALIVE, Change, ChangeStream

if TYPE_CHECKING:
    import pandas

    from .fleet import Fleet

CHANGE_COLUMNS = ("time", "datacenter", "id", "name", "kinds", "state", "source")
#: changes kept in :attr:`LiveFleet.changes` (the oldest are dropped beyond it)
MAX_LOG = 10_000
#: seconds the applying thread gathers changes before telling listeners (widgets)
BATCH = 0.2


class LiveFleet:
    """A fleet's machines, kept current (see the module docstring)."""

    def __init__(self, fleet: "Fleet", *, poll_interval: float = 30.0,
                 backoff: tuple[float, float] = (0.5, 30.0), keepalive: float = KEEPALIVE):
        self.fleet = fleet
        self.started = datetime.now(timezone.utc)
        self._log: list[Change] = []
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._widget: Any = None
        self.stream = ChangeStream(fleet.datacenters, poll_interval=poll_interval, backoff=backoff,
                                   keepalive=keepalive)
        self.updated = self.started
        self._thread = threading.Thread(target=self._apply, name="smartdc_nb-live", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ the loop

    def _apply(self) -> None:
        stream = self.stream
        seen_version = -1
        while not stream.closed:
            first = stream.get(BATCH)
            batch = ([first] if first is not None else []) + stream.drain()
            if batch:
                with self._lock:
                    self._log.extend(batch)
                    del self._log[:-MAX_LOG]
                    self.updated = datetime.now(timezone.utc)
            if batch or stream.version != seen_version:  # a change, or a feed went up/down
                seen_version = stream.version
                self._tell()
        self._tell()

    def _tell(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # noqa: BLE001 - a broken view must not stop the live fleet
                self._listeners.remove(listener)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (in the live fleet's thread) after each batch of changes."""
        self._listeners.append(listener)

    # ------------------------------------------------------------ what is known

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (the frame and log stay readable)."""
        return self.stream.closed

    @property
    def status(self) -> dict[str, str]:
        """``{datacenter: live | connecting | down | absent | off | closed}``."""
        return self.stream.status

    @property
    def healthy(self) -> bool:
        """True when every datacenter's feed is live (nothing is being polled)."""
        return self.stream.live()

    def payloads(self) -> dict[str, list[dict]]:
        """``{datacenter: [machine dicts]}`` as known now (no request)."""
        return {name: list(self.stream.known_machines(name).values())
                for name in self.stream.status}

    def counts(self) -> dict[str, Counter]:
        """Machines per state, per datacenter, as known now."""
        return {name: Counter(str(m.get("state") or "unknown") for m in machines)
                for name, machines in self.payloads().items()}

    @property
    def frame(self) -> "pandas.DataFrame":
        """The machines DataFrame (the columns and attrs of ``fleet.frames.machines()``), as
        known now. A datacenter not listed yet has no rows; ``attrs["errors"]`` names it, and
        a datacenter whose rows may be out of date (see :meth:`ChangeStream.gaps`)."""
        from .frames import build
        from .frames.tables import finish

        # gaps first: a datacenter listed meanwhile is named needlessly, never left out silently
        gaps = self.stream.gaps()
        listed = {name for name in self.status if self.stream.listed(name)}
        parts = []
        for name, machines in self.payloads().items():
            if name not in listed:
                continue  # nothing known is not "no machines": attrs["errors"] says why
            dc = self.fleet.datacenters[name]
            # the stream lists tombstones too (a deleted or failed machine, for the change log
            # and the counts); the frame has the rows fleet.frames.machines() has: ListMachines
            # leaves those out unless asked (VMAPI's "active" machines)
            machines = [m for m in machines if m.get("state") not in ("deleted", "failed")]
            machines.sort(key=lambda m: (str(m.get("name") or ""), str(m.get("id"))))
            parts.append(build.Part(name, machines, build.package_index(dc.known_packages()),
                                    build.image_index(dc.known_images())))
        now = datetime.now(timezone.utc)
        return finish(build.machines(parts, now), "machines", parts, self.fleet.datacenters,
                      gaps, now, feeds=self.status)

    @property
    def changes(self) -> "pandas.DataFrame":
        """Every change seen so far (up to :data:`MAX_LOG`), oldest first."""
        import pandas as pd

        with self._lock:
            rows = [change.row() for change in self._log]
        from .dictionary_data import LIVE_CHANGES
        from .frames import columns  # the package first (seam.package_first says why)

        typed = columns.typed

        frame = pd.DataFrame(rows, columns=list(CHANGE_COLUMNS))
        return typed(frame, LIVE_CHANGES)

    def recent(self, count: int = 10) -> list[Change]:
        """The latest ``count`` changes, newest first."""
        with self._lock:
            return list(reversed(self._log[-count:]))

    # ------------------------------------------------------------ views

    def widget(self) -> Any:
        """The live widget (ipywidgets): counts and badges updated in place."""
        if self._widget is None:
            from .widgets.live import LiveWidget

            self._widget = LiveWidget(self)
        return self._widget

    def _repr_html_(self) -> str:
        from .display.live import render_live

        return render_live(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        data: dict[str, Any] = {"text/plain": repr(self), "text/html": self._repr_html_()}
        if not self.closed:
            try:
                view = self.widget().box._repr_mimebundle_() or {}
            except ImportError:  # no ipywidgets: the HTML stays
                view = {}
            data.update({k: v for k, v in view.items() if k != "text/plain"})
        return data

    def __repr__(self) -> str:
        counts = sum(self.counts().values(), Counter())
        states = ", ".join(f"{n} {s}" for s, n in counts.most_common()) or "no machines known yet"
        feeds = ", ".join(f"{n}: {s}" for n, s in self.status.items())
        return f"<LiveFleet {states} ({feeds})>"

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        """Close the sockets and stop updating (the frame and log stay readable)."""
        self.stream.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "LiveFleet":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
