"""The parts every panel is built from: log, confirmation, progress bar (the selectable list
is :mod:`smartdc_nb.widgets.table`).

Each part owns a few ipywidgets and is safe to update from the panel's
worker thread: updates only set traits (ipywidgets 8 syncs a trait set from
any thread; ``with output:`` from a thread is what breaks on ipykernel 7),
under the part's own lock so two threads never interleave one part's state.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from ..display.layout import Card, Section, Table
from ..display.values import Badge, Note, text
from ..errors import SmartDCError
from .html import render_card, render_line

log = logging.getLogger("smartdc_nb.widgets")

#: the log word of a run in which no machine was acted on (all skipped): not a success
NOTHING_DONE = "nothing was done"
#: how each log word is coloured (the display's tones)
LOG_TONES = {"done": "ok", "failed": "bad", "refused": "warn", "skipped": "warn", "ignored": "idle",
             "cancelled": "idle", "stopped": "idle", "started": "busy", "info": "neutral",
             NOTHING_DONE: "warn"}
#: the log shows the newest entries; ``ActivityLog.entries`` keeps all of them
LOG_SHOWN = 200


def plural(n: int, noun: str) -> str:
    """``1 machine``, ``3 machines``."""
    return f"{n:,} {noun}{'s' * (n != 1)}"


def describe(error: BaseException) -> str:
    """An error in words: its class (which says what kind of failure) and its message."""
    message = str(error) or "(no message)"
    return f"{type(error).__name__}: {message}"


def result_word(result: Any) -> str:
    """The log word of a bulk result: failed, done, or nothing was done (no machine acted on:
    a run of skips must not read as a success the cloud confirmed)."""
    if not result.ok:
        return "failed"
    return "done" if result.counts.get("done") else NOTHING_DONE


#: how a request cut off by a panel's ``timeout=`` says what cut it (its user gave no other)
PANEL_BOUND = "the panel's timeout"


def within(timeout: float | None) -> Any:
    """A context in which requests end by the panel's ``timeout`` from now (None: no bound)."""
    from ..limits import cutoff

    return cutoff(time.monotonic() + timeout if timeout else None, PANEL_BOUND)


def apply_plan(plan: Any, panel_timeout: float | None,
               sending: Callable[[], Any] | None = None, **options: Any) -> Any:
    """A panel's Yes: apply exactly ``plan`` (``options`` are apply's run options). Its re-read
    of the machines before sending ends within the panel's timeout: on a cloud that stopped
    answering it waited out the socket's 60 s per read, retried, under "Stopping…".
    ``sending()`` is called once that re-read is done, as the plan sends (Panel.sending)."""
    return plan.apply(approve=plan.id, send_timeout=panel_timeout, _send_said=PANEL_BOUND,
                      _sending=sending, **options)


def apply_one(plan: Any, timeout: float | None, sending: Callable[[], Any] | None = None) -> Any:
    """:func:`apply_plan` of a one-machine ``plan``, without a wait (the panel waits itself):
    the machine's Outcome, or :class:`NotSent` when the re-read before sending failed."""
    from ..operations.outcomes import NOT_REACHED

    row = apply_plan(plan, timeout, sending, wait=False, progress=False).outcomes[0]
    if row.error is not None and row.outcome == NOT_REACHED:  # the reason says nothing was sent
        raise NotSent(f"{row.reason} ({describe(row.error)})") from row.error
    return row


def unsent(result: Any, noun: str = "machine") -> str:
    """What the log adds to a bulk result's summary when rows that were to act were sent
    nothing (not re-read, throttled, interrupted): how many were sent a request, which were
    not, and why; ``noun`` is what a row is ("" when there are none)."""
    from ..operations.outcomes import NOT_REACHED

    rows = [o for o in result.outcomes if o.outcome == NOT_REACHED and not o.sent]
    if not rows:
        return ""
    whys: dict[str, list[str]] = {}
    for row in rows:
        why = row.reason.removesuffix("; nothing was sent").removesuffix(": nothing was sent")
        labels = whys.setdefault(why + (f" ({describe(row.error)})" if row.error else ""), [])
        if row.machine.label not in labels:
            labels.append(row.machine.label)
    said = "; ".join(", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3
                                              else "") + f": {why}"
                     for why, labels in list(whys.items())[:3])
    sent = sum(o.sent for o in result.outcomes)
    return (f"; a request was sent for {plural(sent, noun)}" if sent else "") + \
        f"; nothing was sent for {plural(len(rows), noun)}: {said}"


def list_again(result: Any, activity: ActivityLog, relist: Callable[[], Any]) -> None:
    """After a bulk action, ``relist()`` (states changed), unless nothing was sent because the
    cloud did not answer: nothing changed, and a listing would wait on it too."""
    if not any(o.sent for o in result.outcomes) and unsent(result):
        activity.add("info", "Not listed again: nothing was sent; the rows are those listed "
                             "before")
        return
    relist()


class NotSent(SmartDCError):
    """A panel's planned request was not sent (the re-read before it failed); the message
    says why, for the panel's log."""


@dataclass(frozen=True)
class Entry:
    """One line of a panel's log (``at``: aware, UTC)."""

    at: datetime
    word: str
    message: str
    detail: str | None = None  # the traceback of an unexpected error

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} UTC {self.word}: {self.message}"


class ActivityLog:
    """A timestamped record of what a panel did, newest first, in an HTML widget.

    Every action, result and error is an :class:`Entry` in :attr:`entries`
    (nothing is printed: ``print`` from a widget callback goes nowhere in
    JupyterLab). Errors that are not smartdc_nb's own keep their traceback.
    """

    def __init__(self, widgets: Any, title: str = "Activity"):
        self.title = title
        self.entries: list[Entry] = []
        self._lock = threading.RLock()  # held while drawing too: a stale drawing never wins
        self.widget = widgets.HTML(layout=widgets.Layout(max_height="15em", overflow="auto"))
        self._render()

    def add(self, word: str, message: str, detail: str | None = None) -> Entry:
        # UTC, as the headers' fetch times and CloudAPI's: local time beside them, unlabelled,
        # disagreed by hours in a kernel not running in UTC
        entry = Entry(datetime.now(timezone.utc), word, message, detail)
        with self._lock:
            self.entries.append(entry)
            self._render()
        # INFO, never WARNING: with no handler configured, Python prints warnings to stderr,
        # which from a worker thread lands in whatever cell happens to be running
        log.info("%s", entry)
        return entry

    def error(self, what: str, error: BaseException) -> Entry:
        """Log ``what`` failed with ``error``; unexpected errors keep their traceback."""
        detail = None
        if not isinstance(error, SmartDCError):
            detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        return self.add("failed", f"{what}: {describe(error)}", detail)

    @property
    def lines(self) -> list[str]:
        """The entries as text, oldest first."""
        with self._lock:
            return [str(e) for e in self.entries]

    def card(self) -> Card:
        """The log as a display card (the newest entries first)."""
        with self._lock:
            entries = list(self.entries)
        shown = entries[::-1][:LOG_SHOWN]
        rows = [[f"{e.at:%H:%M:%S}", Badge(e.word, LOG_TONES.get(e.word, "neutral")),
                 text(e.message, 4000)] for e in shown]
        blocks: list[Any] = [Table(["Time (UTC)", "", "What happened"], rows, empty="nothing yet",
                                   more=len(entries) - len(shown),
                                   more_hint="(earlier: panel.log.entries)")]
        last = next((e for e in reversed(entries) if e.detail), None)
        if last is not None:
            blocks.append(Section(f"Traceback of the error at {last.at:%H:%M:%S} UTC", None,
                                  text(last.detail, 8000)))
        count = len(entries)
        return Card(self.title, f"{count} entr{'y' if count == 1 else 'ies'}", blocks=blocks)

    def _render(self) -> None:
        self.widget.value = f'<div class="sdcnb-panel-log">{render_card(self.card())}</div>'


class ConfirmBar:
    """A question in the panel: Yes runs the action once, Cancel drops it.

    A second click on Yes finds the question already answered and does
    nothing, so a double click cannot run the action twice.
    """

    def __init__(self, widgets: Any, activity: ActivityLog):
        self.activity = activity
        self._lock = threading.Lock()
        self._pending: tuple[str, Callable[[], Any]] | None = None
        self.message = widgets.HTML()
        # as wide as its label: the default width cut "Yes, delete 12 snapshots" to "Yes, del…"
        self.yes = widgets.Button(description="Yes", button_style="danger", icon="check",
                                  layout=widgets.Layout(width="auto", min_width="148px"))
        self.no = widgets.Button(description="Cancel", icon="times")
        self.yes.on_click(self._answer_yes)
        self.no.on_click(self._answer_no)
        self.widget = widgets.VBox([self.message, widgets.HBox([self.yes, self.no])],
                                   layout=widgets.Layout(display="none"))

    @property
    def armed(self) -> bool:
        return self._pending is not None

    @property
    def question(self) -> str | None:
        """What is being asked (None when nothing is)."""
        return self._pending[0] if self._pending else None

    def ask(self, what: str, card: Card, yes: str, then: Callable[[], Any]) -> None:
        """Show ``card`` with a ``yes`` button that calls ``then()`` (replacing any question)."""
        with self._lock:
            self._pending = (what, then)
        self.message.value = f'<div class="sdcnb-panel-confirm">{render_card(card)}</div>'
        self.yes.description = yes
        self.widget.layout.display = "flex"

    def cancel(self, quiet: bool = False) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        self.widget.layout.display = "none"
        if pending is not None and not quiet:
            self.activity.add("cancelled", f"{pending[0]}: cancelled, nothing was sent")

    def _answer_yes(self, _button: Any = None) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        self.widget.layout.display = "none"
        if pending is not None:
            pending[1]()

    def _answer_no(self, _button: Any = None) -> None:
        self.cancel()


class ProgressArea:
    """The panel's one progress bar and the line beside it, shown while an action runs.

    The line says what the action does and, while a request of the panel's has had no
    answer for the notice period, what it waits for, since when and until when at the latest
    (smartdc_nb.call_notices' words; :meth:`unanswered` is the panel's notice sink).
    """

    def __init__(self, widgets: Any):
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0,
                                         layout=widgets.Layout(width="16em"))
        self.note = widgets.HTML(layout=widgets.Layout(flex="1 1 0", min_width="0"))
        self.widget = widgets.HBox([self.bar, self.note],
                                   layout=widgets.Layout(display="none", align_items="center"))
        self._lock = threading.Lock()  # the worker and the watchdog's thread both draw it
        self._words: Sequence[Any] = ()
        self._silent: dict[Any, str] = {}  # unanswered requests -> their notice, newest last

    def start(self, what: str) -> None:
        with self._lock:
            self.bar.value, self.bar.max, self.bar.bar_style = 0.0, 1.0, "info"
            # no bar until there is something to measure: at 0 beside "Checking web-01" it
            # reads as stuck
            self.bar.layout.display = "none"
            self._words = (what,)
            self._draw()
        self.widget.layout.display = "flex"

    def stop(self) -> None:
        self.widget.layout.display = "none"

    def show(self, value: float, maximum: float | None, words: Sequence[Any],
             style: str = "info") -> None:
        with self._lock:
            if maximum:
                self.bar.max = float(maximum)
                self.bar.value = float(min(value, maximum))
                self.bar.layout.display = None
            self.bar.bar_style = style
            self._words = words
            self._draw()

    def unanswered(self, call: Any, notice: str | None) -> None:
        """A notice sink (call_notices.notices_to): ``call`` has had no answer (``notice``
        says it) or it ended (None). A notice that comes as its call ends is dropped."""
        with self._lock:
            self._silent.pop(call, None)
            if notice is not None and call.active:
                self._silent[call] = notice
            self._draw()

    def _draw(self) -> None:
        line = render_line(*self._words)
        if self._silent:
            more = len(self._silent) - 1
            said = list(self._silent.values())[-1] + (
                f" ({plural(more, 'other request')} unanswered too)" if more else "")
            line += render_line(said, css_class="sdcnb-panel-silence")
        self.note.value = line

    def factory(self) -> Callable[..., WidgetBar]:
        """What ``progress=`` takes in smartdc_nb's waits and bulk actions: bars drawn here."""
        return lambda **options: WidgetBar(self, **options)


class _Lines:
    """A file-like sink for the one-line summaries smartdc_nb.progress prints to a bar's ``fp``."""

    def __init__(self, bar: WidgetBar):
        self.bar = bar
        self.buffer = ""

    def write(self, data: str) -> int:
        self.buffer += data
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            if line.strip():
                self.bar.summary = line
                self.bar.refresh()
        return len(data)

    def flush(self) -> None:
        pass


class WidgetBar:
    """A tqdm-like bar for smartdc_nb.progress (``n``, ``total``, descriptions, ``close``).

    Two shapes come through it: a count of machines (``unit`` given: "2/5
    machines") and one resource's wait (elapsed seconds towards the deadline).
    """

    def __init__(self, area: ProgressArea, total: float | None = None, desc: str = "",
                 postfix: Any = None, unit: str | None = None, **_tqdm_options: Any):
        self.area, self.total, self.desc, self.unit = area, total, desc, unit
        self.postfix = postfix if isinstance(postfix, str) else None
        self.n: float = 0
        self.summary: str | None = None
        self.fp = _Lines(self)
        self.closed = False
        self.refresh()

    def set_description_str(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc
        if refresh:
            self.refresh()

    def set_postfix_str(self, postfix: str, refresh: bool = True) -> None:
        self.postfix = postfix
        if refresh:
            self.refresh()

    def update(self, n: float = 1) -> None:
        self.n += n
        self.refresh()

    def refresh(self) -> None:
        if self.summary:
            words: list[Any] = [text(self.summary)]
        elif self.unit:
            count = f"{self.n:.0f}/{self.total:.0f} {self.unit}{'s' * (self.total != 1)}" \
                if self.total is not None else f"{self.n:.0f}"
            words = [text(self.desc), count] + ([Note(self.postfix)] if self.postfix else [])
        else:
            words = [text(self.desc), f"{self.n:.0f} s"] + \
                ([Note(self.postfix)] if self.postfix else [])
        full = self.total is not None and self.n >= self.total
        style = ("success" if full else "danger") if self.closed else "info"
        self.area.show(self.n, self.total, words, style)

    def close(self) -> None:
        self.closed = True
        self.refresh()
