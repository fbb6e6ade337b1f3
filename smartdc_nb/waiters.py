"""Deprecated import path: the waits are :mod:`smartdc_nb.operations.waits` (with
:mod:`~smartdc_nb.operations.targets`, :mod:`~smartdc_nb.operations.polling` and
:mod:`~smartdc_nb.operations.results`). Every name this module defined is re-exported here.
"""

from __future__ import annotations

from .errors import (
                     APIError,
                     GoneError,
                     NotFoundError,
                     ServerError,
                     TooManyRequestsError,
                     TransportError,
                     WaitError,
                     WaitFailed,
                     WaitInterrupted,
                     WaitTimeout,
)
from .operations.polling import Poller, _observe_one, _read_audit, _read_audits, refresh_machines, unique_machines
from .operations.results import ResultTable, WaitResult, _counts, _summary_line
from .operations.targets import (
                     ALWAYS_CONFIRM,
                     AUDIT_BUDGET,
                     AUDIT_SHOWN,
                     BACKOFF,
                     DEFAULT_INTERVAL,
                     DEFAULT_MAX_INTERVAL,
                     DEFAULT_TIMEOUT,
                     EXPLAIN_CAP,
                     FAILED,
                     INTERRUPTED,
                     NEEDS,
                     REACHED,
                     TIMED_OUT,
                     TRANSIENT,
                     TRANSITIONAL,
                     Target,
                     Tracker,
                     _compact,
)
from .operations.waits import (
                     _action_for,
                     _check_timing,
                     _explain,
                     _open_feed,
                     _run,
                     run,
                     wait_machines,
                     wait_one,
                     wait_trackers,
)
from .progress import CountBar, StateBar, summary
from .resources.audit import PendingAction, action_entry
from .resources.machine import Machine
from .resources.snapshot import Snapshot
from .seam import render_html as html_repr

__all__ = [
    "AUDIT_BUDGET",
    "DEFAULT_INTERVAL",
    "DEFAULT_MAX_INTERVAL",
    "DEFAULT_TIMEOUT",
    "FAILED",
    "INTERRUPTED",
    "REACHED",
    "TIMED_OUT",
    "Poller",
    "ResultTable",
    "Target",
    "Tracker",
    "WaitResult",
    "refresh_machines",
    "run",
    "wait_machines",
    "wait_one",
    "wait_trackers",
]
