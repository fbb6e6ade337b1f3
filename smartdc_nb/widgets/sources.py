"""Where the fleet and snapshot panels get machines: a Fleet's datacenters, or one DataCenter.

Listing goes through each DataCenter's own ``machines()`` in parallel (the
Fleet's :func:`~smartdc_nb.fleet.gather`); a datacenter that fails is reported
beside the others' machines, to be said in the panel's log (a Fleet listing
would also warn on stderr, which from a worker thread lands in no cell).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any, Mapping

from ..datacenter import DataCenter
from ..errors import InvalidInputError
from ..fleet import Fleet, gather
from ..resources.machine import Machine
from ..machinelist import MachineList
from .pieces import describe


def datacenters_of(subject: Any) -> dict[str, DataCenter]:
    """``{name: DataCenter}`` of a Fleet, a DataCenter, a Machine or a list of machines."""
    if isinstance(subject, Fleet):
        return subject.datacenters
    if isinstance(subject, DataCenter):
        return {subject.name or subject.url: subject}
    if isinstance(subject, Machine):
        return datacenters_of(subject.datacenter)
    if isinstance(subject, (list, tuple)) and all(isinstance(m, Machine) for m in subject):
        return {dc.name or dc.url: dc for dc in dict.fromkeys(m.datacenter for m in subject)}
    raise InvalidInputError(f"expected a Fleet, a DataCenter or Machines, not "
                            f"{type(subject).__name__}")


def list_machines(datacenters: Mapping[str, DataCenter], **filters: Any
                  ) -> tuple[MachineList, dict[str, BaseException]]:
    """The matching machines of the datacenters given; ``{name: error}`` of those that failed.
    Each datacenter is listed on its own thread, in the caller's context (its request bound)."""
    for dc in list(datacenters.values())[:1]:
        dc.machine_filters(filters)  # refuse bad filters once, before any request
    tasks = {name: (lambda d=dc: d.machines(**filters)) for name, dc in datacenters.items()}
    found, errors = gather(tasks, only_reads=True)
    return MachineList(m for machines in found.values() for m in machines), errors


def nothing_listed(errors: Mapping[str, BaseException]) -> str:
    """``nothing could be listed: us-east-1 (ServiceUnavailableError: ...), ...``: the log line of
    a listing in which every source failed (no empty result to show: the previous one stays)."""
    return "nothing could be listed: " + ", ".join(
        f"{name} ({describe(error)})" for name, error in errors.items())


def tag_text(value: Any) -> str:
    """A tag value as typed in a text field (``true``, ``42``, ``web``)."""
    return value if isinstance(value, str) else json.dumps(value)


def name_matches(name: Any, pattern: str) -> bool:
    """A glob (``web-*``) matches the whole name; plain text anywhere in it (both ignore case)."""
    name, pattern = str(name or "").lower(), pattern.strip().lower()
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern in name


__all__ = ["datacenters_of", "list_machines", "nothing_listed", "tag_text", "name_matches"]
