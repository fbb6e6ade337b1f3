"""ipywidgets control panels: operate a machine, a fleet and snapshots from buttons, safely.

    >>> m.panel()                      # or smartdc_nb.widgets.machine_panel(m)
    >>> fleet.panel()                  # or smartdc_nb.widgets.fleet_panel(fleet)
    >>> smartdc_nb.widgets.snapshot_panel(m)   # a Machine, a Fleet or a DataCenter

Each call returns a new panel object; displaying it shows the live widget in
a front-end with Jupyter widgets and, anywhere else (a terminal, nbconvert,
GitHub), the object's HTML card with a one-line note. Display the same panel
object again to see the same live panel.

How every panel behaves:

- requests run on the panel's own worker thread (one at a time), never in the
  click handler: the kernel stays free, and a second click while an action
  runs is ignored (and logged) rather than sent;
- a button is enabled only when its action applies now; its tooltip says why
  not; destructive actions ask first, in the panel;
- waits show one progress bar; every action, result and error goes to the
  panel's timestamped log (``panel.log.entries``), never to ``print``;
- ``panel.wait()`` blocks until the submitted actions are done (scripts and
  tests), ``panel.close()`` stops background work and closes the widgets.

Options every panel takes: ``timeout`` (seconds per wait, and the bound of what a
panel asks outside a wait: a listing, a refresh, a request, the re-read of the
machines before Yes sends anything; default 600),
``interval`` and ``max_interval`` (polling, default 2 s, or
``$SMARTDC_NB_WAIT_INTERVAL``, and 10 s). The machine panel also takes
``refresh_every`` (auto-refresh period, default 5 s, off until its checkbox is
ticked); the fleet and snapshot panels ``max_rows`` (rows with a checkbox,
default 100) and ``concurrency`` (bulk requests at once, default 8).

ipywidgets is imported when a panel is made, not with smartdc_nb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fleet import FleetPanel
    from .machine import MachinePanel
    from .snapshots import SnapshotPanel


def machine_panel(machine: Any, **options: Any) -> MachinePanel:
    """A control panel for one Machine: header, actions, snapshots, log."""
    from .machine import MachinePanel

    return MachinePanel(machine, **options)


def fleet_panel(fleet: Any, **options: Any) -> FleetPanel:
    """A control panel for a Fleet (or one DataCenter): filter, select, act in bulk."""
    from .fleet import FleetPanel

    return FleetPanel(fleet, **options)


def snapshot_panel(machine_or_fleet: Any, **options: Any) -> SnapshotPanel:
    """Snapshots of a Machine, a Fleet or a DataCenter: age, state, boot from, delete."""
    from .snapshots import SnapshotPanel

    return SnapshotPanel(machine_or_fleet, **options)


__all__ = ["machine_panel", "fleet_panel", "snapshot_panel"]
