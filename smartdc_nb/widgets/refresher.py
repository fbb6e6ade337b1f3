"""A panel's auto-refresh: one background GET every few seconds while the checkbox is on.

The ticker thread only submits a quiet refresh to the panel's worker when the
panel is idle; an error is logged once per kind, not every few seconds.
"""

from __future__ import annotations

import threading

from .pieces import within


class AutoRefresh:
    """Auto-refresh of a MachinePanel (``refresh_every`` seconds; see the module docstring)."""

    @property
    def _ticking(self) -> bool:
        return self._ticker is not None and self._ticker.is_alive() \
            and not self._stop_ticking.is_set()

    def _auto_refresh_changed(self, change: dict) -> None:
        if change["new"]:
            self._start_ticking()
        else:
            self._stop_background()
        self.draw_header()

    def _start_ticking(self) -> None:
        if self._ticking or self.closed:
            return
        self._stop_ticking = stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(stop,), daemon=True,
                                        name="smartdc_nb-machine-panel-refresh")
        self._ticker.start()
        self.log.add("info", f"Auto-refresh on: every {self.refresh_every:g} s")

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(self.refresh_every):
            if self.closed:
                return
            if self.busy is None and not self._refresh_queued:
                self._refresh_queued = True
                if self.submit("Auto-refresh", self._quiet_refresh, quiet=True) is None:
                    self._refresh_queued = False

    def _quiet_refresh(self) -> None:
        """One background GET; an error is logged once, not every few seconds."""
        self._refresh_queued = False
        try:
            with within(self.timeout):  # an action queued behind it waits no longer
                self.machine.refresh()
        except Exception as exc:  # noqa: BLE001 - logged (once per kind of error)
            # the same failure again (only its request id differs) is not news
            kind = repr((type(exc), getattr(exc, "status", None), getattr(exc, "code", None)))
            if kind != self._refresh_error:
                self._refresh_error = kind
                self.log.error("Auto-refresh", exc)
            return
        if self._refresh_error is not None:
            self._refresh_error = None
            self.log.add("info", "Auto-refresh works again")

    def _stop_background(self) -> None:
        ticker, self._ticker = self._ticker, None
        self._stop_ticking.set()
        if ticker is not None:
            if ticker is not threading.current_thread():
                ticker.join(timeout=5)
            if not self.closed:
                self.log.add("info", "Auto-refresh off")
        if self.widget is not None and self.auto_refresh.value and self.closed:
            self.auto_refresh.value = False


__all__ = ["AutoRefresh"]
