"""The one seam where a resource reaches up: to the views (HTML, panels, frames) and the waits.

Resources (Machine, Snapshot, DataCenter, Fleet, MachineList) sit below the
operations (waits, bulk runs, the journal) and the views (display, widgets,
frames), and never import them when they load: the layers would close into a
circle (``tests/test_layers.py`` checks there is none). The few resource
methods that hand over upward — ``_repr_html_``, ``panel()``, ``frames``,
``wait_for``, and the journal's note of a change — call the functions here,
which import their target the first time they run. That also keeps
``import smartdc_nb`` quick: pandas, jinja2 and ipywidgets load when used.

This module imports nothing of the package when it loads.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, ContextManager, Iterable


# ---------------------------------------------------------------- views


def render_html(obj: Any) -> str:
    """The HTML card of ``obj`` (smartdc_nb.display), for ``_repr_html_``."""
    from .display import render_html as render

    return render(obj)


def panel(kind: str, subject: Any, **options: Any) -> Any:
    """The ``kind`` panel (machine, fleet, snapshot) of ``subject`` (smartdc_nb.widgets)."""
    widgets = importlib.import_module(f"{__package__}.widgets")
    return getattr(widgets, f"{kind}_panel")(subject, **options)


def frames(source: Any) -> Any:
    """The DataFrame views of a DataCenter or a Fleet (smartdc_nb.frames.Frames)."""
    from .frames import Frames

    return Frames(source)


# ---------------------------------------------------------------- operations


def wait_for(resource: Any, states: Iterable[str] | None = None, *,
             leaving: str | None = None, check: Callable[[dict], bool] | None = None,
             description: str = "", **options: Any) -> Any:
    """Wait (smartdc_nb.waiters) until ``resource`` is in one of ``states``, has left
    ``leaving``, or ``check(raw)`` holds; returns the resource."""
    from .waiters import Target, wait_one

    if check is not None:
        target = Target.check(check, description)
    elif leaving is not None:
        target = Target.leaving(leaving)
    else:
        target = Target.of(tuple(states or ()))
    return wait_one(resource, target, **options)


def journal_change(machine: Any, action: str | None, from_state: str | None) -> ContextManager:
    """The journal's context naming the change a Machine is about to send (smartdc_nb.journaling)."""
    from .journaling import about_machine

    return about_machine(machine, action, from_state)


__all__ = ["render_html", "panel", "frames", "wait_for", "journal_change"]
