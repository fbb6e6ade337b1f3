"""Deprecated import path: Machine and Snapshot now live in :mod:`smartdc_nb.resources`.

``smartdc_nb.Machine`` / ``smartdc_nb.Snapshot`` are the public names. This module
re-exports everything it used to define so existing imports keep working:
``resources.machine`` (Machine), ``resources.snapshot`` (Snapshot, SnapshotList),
``resources.audit`` (PendingAction, action_entry), ``resources.validate`` (the
checks), ``resources.values`` (parse_time, split_ips, Credentials).
"""

from __future__ import annotations

from . import rules, writes  # noqa: F401
from .resources.audit import PendingAction, action_entry, audit_key  # noqa: F401
from .resources.fields import _copied, _field, _time  # noqa: F401
from .resources.machine import Machine  # noqa: F401
from .resources.refusal import _REFUSALS, refused as _refused  # noqa: F401
from .resources.snapshot import Snapshot, SnapshotList  # noqa: F401
from .resources.validate import (SNAPSHOT_NAME_RE, TRITON_TAGS, check_metadata,  # noqa: F401
                                 check_snapshot_name, check_states, check_tags, is_uuid,
                                 read_script, validate_machine_name, validate_values)
from .resources.values import Credentials, credentials_of, parse_time, split_ips  # noqa: F401
from .rules import MACHINE_STATES, SNAPSHOT_STATES  # noqa: F401
from .seam import render_html as html_repr  # noqa: F401
from .writes import PendingWrites, Write  # noqa: F401

__all__ = ["Machine", "Snapshot", "SnapshotList", "Credentials", "PendingAction",
           "MACHINE_STATES", "SNAPSHOT_STATES", "parse_time", "split_ips", "html_repr"]
