"""Deprecated import path: ``dc.frames`` / ``fleet.frames`` (the Frames class) is
:mod:`smartdc_nb.frames.tables` (``views.py`` also named the display's cards and the
emulator's payloads). Every name this module used to define is re-exported here.
"""

from __future__ import annotations

from .tables import (FETCH_WORKERS, SNAPSHOT_CONCURRENCY, Frames, __all__, _describe,
                     _machines_of, _plain, datacenter_label, finish, from_machines,
                     machine_parts)
