"""Deprecated import path: the display's cards are :mod:`.cards`, their pieces :mod:`.parts`.

(``views.py`` also named the frames' tables and the emulator's payloads; each now has
its own name.) Every name this module used to define is re-exported here.
"""

from __future__ import annotations

from .cards import *  # noqa: F401,F403
from .cards import (datacenter_card, disks_section, fleet_card, known_snapshots_section,  # noqa: F401
                    machine_card, machines_blocks, machines_card, mapping_section,
                    networks_section, outcomes_card, snapshot_card, snapshots_card)
from .parts import *  # noqa: F401,F403
from .parts import (BADGE_COLUMNS, CELL, MACHINE_COLUMNS, OPEN_UP_TO, SCRIPT_KEYS,  # noqa: F401
                    SECRET_KEY, UUID, _age, _blank, _call, _count_known, _error_text, _missing,
                    _step, _truthy, attr, cell, count_badges, dc_name, fetched, ident,
                    image_value, ip_facts, machine_row, metadata_value, package_value, raw_of,
                    snapshot_row, state_counts, tag_value)
