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

A module of a package that imports its own modules (smartdc_nb.frames) is imported
after its package, whole (:func:`package_first`): a thread that imported
``frames.query`` first while another imported ``frames`` deadlocked in the import
system, which then handed one of them a half-made module (``ImportError: cannot import
name 'Query' from partially initialized module``) the first time a notebook's threads
(a panel's and the cell's, a pool's) used ``fleet.query`` and ``fleet.frames`` at once.
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


def frame_of_machines(machines: Any, **options: Any) -> Any:
    """The machines frame of Machines already held (smartdc_nb.frames.from_machines)."""
    from .frames import from_machines

    return from_machines(machines, **options)


def package_first(name: str) -> Any:
    """Module ``name`` (``smartdc_nb.frames.query``), its packages imported first: a thread
    that asks for a module while another imports its package then waits for the package
    holding no import lock, instead of deadlocking with it (see the module docstring)."""
    parts = name.split(".")
    for end in range(2, len(parts)):
        importlib.import_module(".".join(parts[:end]))
    return importlib.import_module(name)


def query(source: Any, **filters: Any) -> Any:
    """Machines by filters, with ``.explain()`` (smartdc_nb.frames.query)."""
    return package_first(f"{__package__}.frames.query").query(source, **filters)


def save_history(fleet: Any, path: Any = None, **options: Any) -> Any:
    """Save the fleet now as a history point (smartdc_nb.frames.history.save)."""
    return package_first(f"{__package__}.frames.history").save(fleet, path, **options)


def live_fleet(fleet: Any, **options: Any) -> Any:
    """The fleet kept current by the changefeed (smartdc_nb.live.LiveFleet)."""
    from .live import LiveFleet

    return LiveFleet(fleet, **options)


# ---------------------------------------------------------------- operations


def wait_for(resource: Any, states: Iterable[str] | None = None, *,
             leaving: tuple[str, ...] | None = None,
             check: Callable[[dict], bool] | None = None,
             description: str = "", **options: Any) -> Any:
    """Wait (smartdc_nb.operations.waits) until ``resource`` is in one of ``states``, has left
    every state of ``leaving``, or ``check(raw)`` holds; returns the resource."""
    from .operations.targets import Target
    from .operations.waits import wait_one

    if check is not None:
        target = Target.check(check, description)
    elif leaving is not None:
        target = Target.leaving(leaving)
    else:
        target = Target.of(tuple(states or ()))
    return wait_one(resource, target, **options)


def wait_machines(machines: Any, states: Any, **options: Any) -> Any:
    """Wait on many machines with one listing per datacenter (smartdc_nb.operations.waits)."""
    from .operations.waits import wait_machines as wait

    return wait(machines, states, **options)


def refresh_machines(machines: Any) -> Any:
    """Re-fetch many machines, one listing per datacenter (smartdc_nb.operations.waits)."""
    from .operations.polling import refresh_machines as refresh

    return refresh(machines)


def run_bulk(machines: Any, action: str, *args: Any, **kwargs: Any) -> Any:
    """Run a bulk action over ``machines`` (smartdc_nb.operations.bulk.run_bulk)."""
    from .operations.bulk import run_bulk as run

    return run(machines, action, *args, **kwargs)


def make_plan(machines: Any, action: str, *args: Any, **kwargs: Any) -> Any:
    """A plan of ``action`` over ``machines``, approved before it runs (smartdc_nb.plans)."""
    from .plans import make_plan as plan

    return plan(machines, action, *args, **kwargs)


def journal_request(datacenter: Any, method: str, path: str, params: Any, json: Any,
                    send: Callable[[], Any]) -> Any:
    """Send a mutating request, journalled (smartdc_nb.journaling.recorded)."""
    return _journaling().recorded(datacenter, method, path, params, json, send)


def journal_change(machine: Any, action: str | None, from_state: str | None) -> ContextManager:
    """The journal's context naming the change a Machine is about to send (smartdc_nb.journaling)."""
    return _journaling().about_machine(machine, action, from_state)


_journaling_module: Any = None


def _journaling() -> Any:
    """smartdc_nb.journaling, imported once: the two functions above run for every mutating
    request, and an import statement costs ~0.7 µs even when the module is loaded."""
    global _journaling_module
    if _journaling_module is None:
        _journaling_module = importlib.import_module(f"{__package__}.journaling")
    return _journaling_module


__all__ = ["render_html", "panel", "frames", "frame_of_machines", "query", "save_history",
           "live_fleet", "wait_for", "wait_machines", "refresh_machines", "run_bulk", "make_plan",
           "journal_request", "journal_change"]
