"""smartdc_nb: run and understand a Triton (SmartDataCenter) cloud fleet from a notebook.

    >>> import smartdc_nb
    >>> dc = smartdc_nb.connect("demo")          # or a triton CLI profile name
    >>> dc.machines(state="running")

Names are loaded on first use so that ``import smartdc_nb`` stays quick.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from ._version import __version__
from .errors import *  # noqa: F401,F403  (the exception hierarchy is light)
from .errors import __all__ as _error_names

_LAZY = {
    "connect": "smartdc_nb.datacenter",
    "DataCenter": "smartdc_nb.datacenter",
    "Catalog": "smartdc_nb.catalog",
    "Machine": "smartdc_nb.resources.machine",
    "Snapshot": "smartdc_nb.resources.snapshot",
    "SnapshotList": "smartdc_nb.resources.snapshot",
    "MachineList": "smartdc_nb.machinelist",
    "Fleet": "smartdc_nb.fleet",
    "DatacenterWarning": "smartdc_nb.fleet",
    "run_bulk": "smartdc_nb.operations.bulk",
    "BulkResult": "smartdc_nb.operations.outcomes",
    "BulkInterrupted": "smartdc_nb.operations.outcomes",
    "WaitResult": "smartdc_nb.operations.results",
    "Change": "smartdc_nb.changes",
    "ChangeStream": "smartdc_nb.changes",
    "LiveFleet": "smartdc_nb.live",
    "journal": "smartdc_nb.journal_views",
    "journal_runs": "smartdc_nb.journal_views",
    "journal_run": "smartdc_nb.journal_views",
    "journal_prune": "smartdc_nb.journal_pruning",
    "JournalError": "smartdc_nb.journaling",
    "resume": "smartdc_nb.resuming",
    "Plan": "smartdc_nb.plans",
    "PlanError": "smartdc_nb.plans",
    "make_plan": "smartdc_nb.plans",
    "load_profile": "smartdc_nb.config",
    "Profile": "smartdc_nb.config",
    "columns": "smartdc_nb.dictionary",
    "history": "smartdc_nb.frames.history",
    "load": "smartdc_nb.frames.history",
    "diff": "smartdc_nb.frames.diff",
    "FleetDiff": "smartdc_nb.frames.diff",
}

__all__ = ["__version__", *_LAZY, *_error_names]

# A library logs; the application decides where it goes (and a warning from a
# worker thread must not land on stderr in whichever notebook cell is running).
logging.getLogger("smartdc_nb").addHandler(logging.NullHandler())


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'smartdc_nb' has no attribute {name!r}")
    from .seam import package_first  # frames.history: the frames package first (threads)

    value = getattr(package_first(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover
    from .config import Profile, load_profile
    from .dictionary import columns
    from .frames.diff import FleetDiff, diff
    from .frames.history import history, load
    from .catalog import Catalog
    from .datacenter import DataCenter, connect
    from .operations.bulk import run_bulk
    from .operations.outcomes import BulkInterrupted, BulkResult
    from .fleet import DatacenterWarning, Fleet
    from .journal_pruning import journal_prune
    from .journal_views import journal, journal_run, journal_runs
    from .journaling import JournalError
    from .plans import Plan, PlanError, make_plan
    from .resuming import resume
    from .resources.machine import Machine
    from .resources.snapshot import Snapshot, SnapshotList
    from .machinelist import MachineList
    from .operations.results import WaitResult
    from .changes import Change, ChangeStream
    from .live import LiveFleet
