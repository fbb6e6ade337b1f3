"""The panels under test, opened on the emulator (no tests here): ``panel_for`` makes a machine
panel on a new machine, ``panel_of`` a fleet panel, ``batch`` the machines the fleet panel
tests list, with ``list_with`` and ``names`` to list them and read the listing.

The fixtures here use test_widgets_support's ``opened``: a module that imports them imports
that too.
"""

from __future__ import annotations

import pytest
from test_machine_support import fetched, put
from test_widgets_support import FAST

from smartdc_nb.widgets import fleet_panel, machine_panel


@pytest.fixture
def panel_for(dc, emu, opened):
    """``panel_for(options=None, **machine fields)``: a loaded panel on a new machine."""
    return lambda options=None, **fields: opened(
        machine_panel(fetched(dc, emu, **fields), **{**FAST, **(options or {})}))


@pytest.fixture
def batch(emu):
    """Machines tagged role=batch: two stopped in each datacenter, one running in us-east-1."""
    ids = {"east-stopped": [put(emu, "us-east-1", name=f"batch-e{i}", state="stopped",
                                tags={"role": "batch"}) for i in range(2)],
           "west-stopped": [put(emu, "us-west-1", name=f"batch-w{i}", state="stopped",
                                tags={"role": "batch", "tier": 2}) for i in range(2)],
           "east-running": [put(emu, "us-east-1", name="batch-e-run", tags={"role": "batch"})]}
    return ids


@pytest.fixture
def panel_of(opened):
    return lambda fleet, **options: opened(fleet_panel(fleet, **{**FAST, **options}))


def list_with(panel, **fields) -> None:
    for name, value in fields.items():
        getattr(panel, name).value = value
    panel.buttons["list"].click()
    panel.wait()


def names(panel) -> list[str]:
    return sorted(m.name for m in panel.listing)
