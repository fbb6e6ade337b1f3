"""The demo cloud: ``smartdc-nb demo`` and the built-in ``demo`` profile.

The cloud's process, directory, key and profile are in :mod:`.cloud` (its docstring
says where each file lives); the ``smartdc-nb demo`` command is :mod:`.command`.
Every name of the former ``smartdc_nb/demo.py`` module is importable from here.
"""

from __future__ import annotations

from .cloud import (ACCOUNT, DATACENTERS, DEFAULT_MACHINES, DIR_ENV, EMBEDDED_ENV,
                    START_TIMEOUT, STOP_TIMEOUT, FIRST_NOTEBOOK, LAB_OVERRIDES, DemoDir,
                    demo_dir, ensure_key, _alive, _answers, _read_running, running_cloud,
                    _await_orphan, start_lock, _log_tail, start_cloud, _exit_with_parent,
                    _launch, stop_process, profile_fields, _embedded_settings, _embedded,
                    demo_profile)
from .command import add_arguments, run
