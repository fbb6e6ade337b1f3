"""What every panel shares: one worker thread, one action at a time, and a display that degrades.

A :class:`Panel` runs every request on its own single-worker executor, so a
click returns at once and the kernel stays free for other cells (clicks reach
the kernel on the shell channel; a request made in the click handler would
block the next cell). A Python-side busy flag, not only ``disabled=True``
in the browser (clicks queued while the kernel was busy still arrive), makes
sure a second click never sends a second request.

Displaying a panel sends one mimebundle: the live widget for front-ends with
ipywidgets, and the object's HTML card and text with a one-line note for
everything else (a terminal, nbconvert to HTML, GitHub, a reopened notebook
whose kernel is gone). Without ipywidgets installed a panel is only that
static copy.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from ..call_notices import notices_to
from ..display import card_for, render_text
from ..display.layout import Card
from ..display.values import Note
from ..errors import InvalidInputError
from ..operations.targets import default_interval
from .html import render_card, render_line, stylesheet
from .pieces import ActivityLog, ConfirmBar, ProgressArea

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def check_options(timeout: Any, interval: Any, max_interval: Any) -> None:
    """Refuse wait options a panel's actions would only refuse later, on click."""
    if timeout is not None and not (isinstance(timeout, (int, float))
                                    and not isinstance(timeout, bool) and timeout > 0):
        raise InvalidInputError(f"timeout must be a number of seconds > 0 or None, not {timeout!r}")
    for name, value in (("interval", interval), ("max_interval", max_interval)):
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
            raise InvalidInputError(f"{name} must be a number of seconds > 0, not {value!r}")


class Panel:
    """The base of the machine, fleet and snapshot panels (see the module docstring).

    Subclasses build their widgets in :meth:`_build`, say in :meth:`why_not`
    why an action does not apply now (None: it does), redraw in
    :meth:`refresh_view`, and give their static copy in :meth:`static_cards`.
    """

    kind = "panel"

    def __init__(self, subject: Any, *, timeout: float | None = 600.0,
                 interval: float | None = None, max_interval: float = 10.0):
        if interval is None:
            interval = default_interval()
        check_options(timeout, interval, max_interval)
        self.subject = subject
        self.timeout, self.interval = timeout, interval
        self.max_interval = max(max_interval, interval)
        self.futures: list[concurrent.futures.Future] = []
        self.closed = False
        self.last_error: tuple[str, BaseException] | None = None
        self.widget: Any = None
        self.missing: str | None = None
        self.buttons: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._busy: str | None = None
        self._busy_text = ""
        self._busy_button: str | None = None
        self._first: str | None = None  # what the action says until it sends (see sending)
        self._labels: dict[str, tuple[str, str]] = {}
        try:
            import ipywidgets
        except ImportError as exc:
            self.missing = f"ipywidgets cannot be imported ({exc}): pip install ipywidgets"
            return
        self.w = ipywidgets
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"smartdc_nb-{self.kind}-panel")
        self.log = ActivityLog(ipywidgets)
        self.confirm = ConfirmBar(ipywidgets, self.log)
        self.progress = ProgressArea(ipywidgets)
        self.widget = self._build()
        self.widget.add_class("smartdc-nb-panel")
        self.widget.observe(self._widget_closed, names="comm")
        self.update_controls()

    # ------------------------------------------------------------ building

    def _build(self) -> Any:
        raise NotImplementedError

    def button(self, name: str, label: str, handler: Callable[[], Any], *, icon: str = "",
               style: str = "") -> Any:
        """An action button, registered by ``name`` so enabling and busy states cover it
        (its tooltip is set by :meth:`update_controls`: why it is disabled)."""
        button = self.w.Button(description=label, icon=icon, button_style=style,
                               layout=self.w.Layout(width="auto"))
        button.on_click(lambda _b: handler())
        self.buttons[name] = button
        self._labels[name] = (label, icon)
        return button

    def style_widget(self) -> Any:
        """A hidden HTML widget holding the stylesheet once for the whole panel."""
        return self.w.HTML(stylesheet(), layout=self.w.Layout(display="none"))

    # ------------------------------------------------------------ running actions

    @property
    def busy(self) -> str | None:
        """What is running now (None when idle)."""
        return self._busy

    @property
    def busy_text(self) -> str:
        """What the running action's button says (``Stopping``, ``Checking web-01`` before
        it sends), or ``""``."""
        return (self._first or self._busy_text) if self._busy else ""

    def submit(self, what: str, job: Callable[[], Any], *, button: str | None = None,
               busy_text: str | None = None, quiet: bool = False, first: str | None = None
               ) -> concurrent.futures.Future | None:
        """Run ``job`` on the panel's worker thread; None when refused (busy or closed).

        ``quiet`` jobs (background refreshes) neither take the busy flag nor
        show progress; they queue behind an action, never beside it. An action that
        reads before it sends says ``first`` (``Checking web-01``) until the job calls
        :meth:`sending`, then ``busy_text``.
        """
        with self._lock:
            if self.closed:
                self.log.add("refused", f"{what}: the panel is closed")
                return None
            if self._busy is not None and not quiet:
                self.log.add("ignored", f"{what}: ignored while {self._busy} is running "
                                        "(one action at a time)")
                return None
            if not quiet:
                self._busy, self._busy_text = what, busy_text or what
                self._busy_button, self._first = button, first
                # drawn busy before the job can start: a job that ends at once must not
                # find its "done" drawing overwritten by this one
                self._show_busy(button, self.busy_text)
            future = self._executor.submit(self._run, what, job, quiet)
            self.futures = [f for f in self.futures if not f.done()] + [future]
        return future

    def closed_during(self, what: str) -> bool:
        """Whether the panel was closed while its job ``what`` ran (said in the log): the job
        then asks the cloud nothing more, and keeps nothing half listed."""
        if self.closed:
            self.log.add("stopped", f"{what}: the panel was closed; nothing more was asked")
        return self.closed

    def _run(self, what: str, job: Callable[[], Any], quiet: bool) -> Any:
        result = None
        try:
            # its requests' notices on its progress line: a line on stderr from this thread
            # would land in whatever cell happens to be running
            with notices_to(self.progress.unanswered):
                result = job()
            if not quiet:
                self.last_error = None
        except Exception as exc:  # every failure ends in the log, never in a lost thread
            self.last_error = (what, exc)
            self.log.error(what, exc)
        finally:
            if not quiet:
                with self._lock:  # the next action may start once this is cleared
                    self.progress.stop()
                    self._busy = None
            try:
                self.refresh_view()
            except Exception as exc:  # noqa: BLE001 - a drawing bug must still be seen
                self.log.error("redrawing the panel", exc)
        return result

    def _show_busy(self, button: str | None, text: str) -> None:
        with self._lock:  # never interleaved with update_controls: no button left enabled
            for name, widget in self.buttons.items():
                widget.disabled = True
                widget.tooltip = f"waiting: {text}"
            if button in self.buttons:
                self.buttons[button].description = f"{text}…"
                self.buttons[button].icon = "spinner"
            self.progress.start(text)
            self.show_status()

    def sending(self) -> None:
        """Called by the running job as it sends its request: the action's button, header
        and progress line say what it does (``Stopping``) instead of its ``first`` words."""
        with self._lock:
            if self._busy is None or self._first is None:
                return
            self._first = None
            self._show_busy(self._busy_button, self._busy_text)

    def show_status(self) -> None:
        """Redraw what shows the panel's state (busy, last error): subclasses' headers."""

    def update_controls(self) -> None:
        """Enable each button only when its action applies now; the tooltip says why not."""
        with self._lock:
            busy = self._busy
            for name, widget in self.buttons.items():
                label, icon = self._labels[name]
                why = f"waiting: {busy}" if busy else self.why_not(name)
                widget.disabled = why is not None
                widget.tooltip = why or ""
                if not busy:
                    widget.description, widget.icon = self.label_of(name, label), icon

    def label_of(self, name: str, label: str) -> str:
        """A button's label in the current state (e.g. Enable or Disable firewall)."""
        return label

    def why_not(self, name: str) -> str | None:
        """Why action ``name`` does not apply now, or None when it does."""
        return None

    def refresh_view(self) -> None:
        self.update_controls()

    def refuse(self, what: str, why: str) -> None:
        """Say in the log that ``what`` was not done and why (nothing was sent)."""
        self.log.add("refused", f"{what}: {why}; nothing was sent")

    def applies(self, name: str, what: str) -> bool:
        """Whether action ``name`` may go ahead now; if not, the log says why (busy or not apt)."""
        with self._lock:
            busy = self._busy
        if busy is not None:
            self.log.add("ignored", f"{what}: ignored while {busy} is running "
                                    "(one action at a time)")
            return False
        why = self.why_not(name)
        if why is not None:
            self.refuse(what, why)
            return False
        return True

    def act(self, name: str, what: str, job: Callable[[], Any], busy_text: str,
            first: str | None = None) -> None:
        """Submit action ``name`` if it applies now (checked again: states change); see
        :meth:`submit` for ``first``."""
        if self.applies(name, what):
            self.submit(what, job, button=name, busy_text=busy_text, first=first)

    def wait(self, timeout: float | None = 600.0) -> None:
        """Block until every job submitted so far has finished (for scripts and tests).

        ``timeout`` is in seconds as for every other wait (600 by default, None: no limit).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [f for f in self.futures if not f.done()]
            if not pending:
                return
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            _done, not_done = concurrent.futures.wait(pending, left)
            if not_done:
                raise TimeoutError(f"the panel is still busy after {timeout} s "
                                   f"({self._busy or 'a background refresh'})")

    # ------------------------------------------------------------ closing

    def _widget_closed(self, change: dict) -> None:
        if change.get("new") is None:
            self.close()

    def close(self) -> None:
        """Stop background work and close the widgets (the panel then displays as a static copy).

        Actions not started are dropped; one already sent finishes its wait on the
        worker thread (the cloud is acting on it) and still writes to ``log.entries``.
        A listing under way sends no more requests than the one in flight.
        """
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._stop_background()
        if self.widget is None:
            return
        self.confirm.cancel(quiet=True)
        self._executor.shutdown(wait=False, cancel_futures=True)
        for widget in self._owned_widgets():
            widget.close()

    def _stop_background(self) -> None:
        """Subclasses stop their timers here."""

    def _owned_widgets(self) -> Iterable[Any]:
        seen: set[int] = set()
        todo = [self.widget, *self.extra_widgets()]
        while todo:
            widget = todo.pop()
            if widget is None or id(widget) in seen:
                continue
            seen.add(id(widget))
            todo.extend(getattr(widget, "children", ()))
            todo.extend(w for w in (getattr(widget, "layout", None), getattr(widget, "style", None))
                        if isinstance(w, self.w.Widget))
            yield widget

    def extra_widgets(self) -> list[Any]:
        """Widgets not in the tree right now (reused rows) that close() must also close."""
        return []

    # ------------------------------------------------------------ display

    def static_cards(self) -> list[Card]:
        """What the static copy shows (the subject's card, the log, results)."""
        return [card_for(self.subject)]

    def _note(self) -> str:
        when = datetime.now(timezone.utc)
        if self.missing:
            head = f"No live panel: {self.missing}."
        elif self.closed:
            head = "This panel was closed."
        else:
            head = ("Live panel: needs a front-end with Jupyter widgets (JupyterLab, Notebook 7, "
                    "VS Code); run the cell again to get it back.")
        return f"{head} Below: {self.describe()} as of {when:%H:%M:%S} UTC, without controls."

    def describe(self) -> str:
        """What the panel is about, in a few words (for the note)."""
        return "the " + type(self.subject).__name__

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        cards = self.static_cards()
        note = self._note()
        data: dict[str, Any] = {
            "text/plain": "\n".join([f"({note})", render_text(self.subject)]),
            "text/html": stylesheet() + render_line(Note(note), css_class="sdcnb-panel-note")
            + "".join(render_card(card) for card in cards),
        }
        if self.widget is not None and not self.closed:
            view = self.widget._repr_mimebundle_() or {}
            if WIDGET_VIEW in view:
                data[WIDGET_VIEW] = view[WIDGET_VIEW]
        return data

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"busy: {self._busy}" if self._busy else "idle"
        return f"<{type(self).__name__} of {self.describe()} ({state})>"


__all__ = ["Panel", "check_options", "WIDGET_VIEW"]
