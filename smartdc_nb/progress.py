"""Progress bars for waits and bulk actions, through ``tqdm.auto``.

``tqdm.auto`` picks a widget bar in a notebook kernel and a text bar in a
terminal. Two shapes are used:

- :class:`StateBar`, one resource: the description shows the resource and its
  current state, the bar fills with elapsed time towards the deadline;
- :class:`CountBar`, many resources: ONE bar counting the resources that
  reached the target (nested per-item bars scramble in notebooks), the latest
  transition as its postfix.

Every wait and bulk action also ends with a one-line text summary
(:func:`summary`): in an executed notebook the widget bar is saved frozen at
its first frame, so the summary is what a reader of the runbook sees.

``progress`` arguments everywhere mean: ``None`` (default) on unless the
environment turns it off (``SMARTDC_NB_PROGRESS=0``, or tqdm's own
``TQDM_DISABLE``); ``True`` on; ``False`` off; a dict of tqdm keyword
arguments (e.g. ``{"file": sys.stdout}``); or a callable taking tqdm's keyword
arguments and returning a tqdm-like bar (e.g. ``tqdm.notebook.tqdm``).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Mapping

from .call_notices import NOTICE_PREFIX  # what a notice on stderr starts with

log = logging.getLogger("smartdc_nb")

ENV_SWITCH = "SMARTDC_NB_PROGRESS"
_FALSE = ("0", "false", "no", "off", "")


def enabled(progress: Any = None) -> bool:
    """Whether ``progress`` (see the module docstring) asks for a bar."""
    if progress is False:
        return False
    if progress is None:
        if os.environ.get(ENV_SWITCH, "1").strip().lower() in _FALSE:
            return False
        # tqdm reads TQDM_DISABLE only as a default for arguments we do not
        # pass; honour it here so it also silences our summaries' bars.
        if os.environ.get("TQDM_DISABLE", "").strip().lower() not in _FALSE:
            return False
    return True


def _make(progress: Any, **kwargs: Any) -> Any:
    """A bar from ``progress`` with ``kwargs``, or None when progress is off."""
    if not enabled(progress):
        return None
    if isinstance(progress, Mapping):
        kwargs.update(progress)
    # Given at construction, tqdm's notebook bar puts the description into its HTML widget
    # unescaped (status_printer) before its first frame escapes it: a machine named
    # <img onerror=...> would run in the front-end. Set afterwards, it only goes through the
    # escaping display(); a text bar shows the same. A factory that is not a tqdm class
    # still gets desc= (its bar need not have set_description_str).
    factory = callable(progress) and not isinstance(progress, bool)
    tqdm_class = isinstance(progress, type) and hasattr(progress, "set_description_str")
    desc = kwargs.pop("desc", None) if tqdm_class or not factory else None
    if factory:
        bar = progress(**kwargs)
    else:
        if progress is None:
            # tqdm's own rule for "on unless told": a text bar only on a terminal (a log
            # file full of carriage-return frames helps nobody; the summary line still
            # comes), a notebook bar always.
            kwargs.setdefault("disable", None)
        from tqdm.auto import tqdm  # lazy: tqdm.auto may import ipywidgets

        bar = tqdm(**kwargs)
    if desc:
        bar.set_description_str(desc)
    _fit(bar)
    return bar


def _fit(bar: Any) -> None:
    """A notebook bar keeps its label on one line: tqdm's row of label, bar and note let a
    long note (a notice of silence) squeeze the label into a narrow column of broken words;
    the note goes under them instead when the row is full."""
    children = getattr(getattr(bar, "container", None), "children", ())
    if len(children) == 3:  # tqdm.notebook's label, bar, elapsed time and note
        children[0].layout.flex = "0 0 auto"
        bar.container.layout.flex_flow = "row wrap"


def _fail_style(bar: Any) -> None:
    """Mark a notebook bar as failed (tqdm colours a full bar green on close)."""
    if hasattr(bar, "container") and hasattr(bar, "disp"):
        bar.disp(bar_style="danger", check_delay=False)


def _say(bar: Any, note: str | None) -> None:
    """Put ``note`` where a bar shows its postfix (a caller's own bar may have none)."""
    if note and hasattr(bar, "set_postfix_str"):
        bar.set_postfix_str(note, refresh=False)


def _notice(bar: Any, text: str) -> bool:
    if bar is None or not hasattr(bar, "set_postfix_str"):
        return False  # no bar, or a caller's own without a note
    bar.set_postfix_str(text, refresh=False)
    bar.refresh()
    return True


class StateBar:
    """One resource's wait: ``"<label>: <state>"`` and elapsed time towards the deadline."""

    def __init__(self, label: str, targets: str, timeout: float | None, progress: Any = None):
        self.label = label
        self.bar = _make(progress, total=timeout if timeout else None, desc=f"{label}: …",
                         bar_format="{desc} |{bar}| {elapsed}{postfix}", leave=True,
                         postfix=f"waiting for {targets}" + (f" (deadline {timeout:g}s)"
                                                              if timeout else ""))
        self.timeout = timeout

    def update(self, state: str | None, elapsed: float) -> None:
        if self.bar is None:
            return
        self.bar.set_description_str(f"{self.label}: {state or '?'}", refresh=False)
        self.bar.n = min(elapsed, self.timeout) if self.timeout else elapsed
        self.bar.refresh()

    def notice(self, text: str) -> bool:
        """Show ``text`` in place of what the bar waits for; False when no bar is shown."""
        return _notice(self.bar, text)

    def close(self, ok: bool, note: str | None = None) -> None:
        """End the bar: green and full when ``ok``, red otherwise; ``note`` says how it ended
        (in place of what it was waiting for)."""
        if self.bar is None:
            return
        if ok and self.timeout:
            self.bar.n = self.bar.total  # a full bar closes green, a partial one red
        elif not ok:
            _fail_style(self.bar)
        _say(self.bar, note)
        self.bar.refresh()
        self.bar.close()


class CountBar:
    """Many resources: one bar counting those that reached the target."""

    def __init__(self, total: int, description: str, progress: Any = None, unit: str = "machine"):
        self.bar = _make(progress, total=total, desc=description, unit=unit, leave=True)

    def update(self, done: int, note: str | None = None) -> None:
        if self.bar is None:
            return
        self.bar.n = done
        if note:
            self.bar.set_postfix_str(note, refresh=False)
        self.bar.refresh()

    def notice(self, text: str) -> bool:
        """Show ``text`` as the bar's note (until a change replaces it); False when no bar."""
        return _notice(self.bar, text)

    def close(self, ok: bool, note: str | None = None) -> None:
        """End the bar: green and full when ``ok``, red otherwise (a red fill of nothing shows
        nothing: ``note``, the counts, says how it ended)."""
        if self.bar is None:
            return
        if ok:
            self.bar.n = self.bar.total
        else:
            _fail_style(self.bar)
        _say(self.bar, note)
        self.bar.refresh()
        self.bar.close()


def print_summary(text: str, progress: Any = None,
                  bar: StateBar | CountBar | None = None) -> None:
    """Log ``text`` and, when progress is on, print it where the bar was shown.

    A text bar's summary goes to the bar's file (so ``file=`` redirects both);
    a notebook bar's goes to the cell's stdout, which executed notebooks keep.
    A caller that supplies its own bar factory owns the display (a widget
    panel shows the summary in its log), so nothing is printed for it: a print
    from a worker thread would land in whichever cell happens to be running.
    """
    log.info("%s", text)
    if not enabled(progress) or (callable(progress) and not isinstance(progress, bool)):
        return
    tqdm_bar = getattr(bar, "bar", None)
    target = None
    if tqdm_bar is not None and not hasattr(tqdm_bar, "container"):
        target = getattr(tqdm_bar, "fp", None)
    print(text, file=target or sys.stdout, flush=True)


#: the former name of print_summary (``summary()`` elsewhere returns one line of text)
summary = print_summary

__all__ = ["enabled", "StateBar", "CountBar", "print_summary", "ENV_SWITCH", "NOTICE_PREFIX"]
