"""Deprecated import path: the wire form of every resource is :mod:`.payloads`
(``views.py`` also named the client's frames and display cards)."""

from __future__ import annotations

from .payloads import *  # noqa: F401,F403
from .payloads import (_IMAGE_FIELDS, _nic_state, account_dict, datacenters_dict, dumps,
                       format_nic, image_dict, key_dict, machine_bytes, machine_dict,
                       network_dict, networks_of, package_dict, shown_state, snapshot_dict)
