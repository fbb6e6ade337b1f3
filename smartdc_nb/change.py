"""One machine change from CloudAPI's changefeed (:class:`Change`), and what changed between
two payloads of a machine (the sub-resources the feed names). Used by :mod:`.changes`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any



if TYPE_CHECKING:
    pass

log = logging.getLogger("smartdc_nb")
#: seconds close() waits for the server's side of the closing handshake
CLOSE_TIMEOUT = 1.0

SUB_RESOURCES = ("alias", "customer_metadata", "destroyed", "nics", "owner_uuid", "server_uuid",
                 "state", "tags")
#: machine field -> the changefeed sub-resource it belongs to (for reconcile diffs)
_FIELDS = {"name": "alias", "metadata": "customer_metadata", "nics": "nics", "ips": "nics",
           "compute_node": "server_uuid", "state": "state", "tags": "tags"}
CONNECTING, LIVE, DOWN, ABSENT, OFF, CLOSED = ("connecting", "live", "down", "absent", "off",
                                               "closed")
_REMEMBERED = 4096  # message keys kept to drop duplicates
#: a stream limited to at most this many machines reconciles by GETting each, not listing
GET_EACH = 2


@dataclass(frozen=True)
class Change:
    """One change of one machine: what changed (``kinds``, changefeed sub-resources) and
    the machine as it is now (``machine``, CloudAPI's dict)."""

    datacenter: str
    machine_id: str
    kinds: tuple[str, ...]
    machine: dict = field(repr=False, compare=False)
    state: str | None = None
    resource_state: str | None = None  # VMAPI's state (``destroyed``, ``down``, ...)
    published: datetime | None = None
    source: str = "feed"              # "feed" or "reconcile" (seen by a listing after a gap)

    @property
    def name(self) -> str | None:
        """The machine's name as of this change."""
        return self.machine.get("name")

    def row(self) -> dict[str, Any]:
        """This change as a row of ``LiveFleet.changes`` (time, datacenter, id, name, kinds,
        state, source)."""
        return {"time": self.published, "datacenter": self.datacenter, "id": self.machine_id,
                "name": self.name, "kinds": ",".join(self.kinds), "state": self.state,
                "source": self.source}


def _ms(published: Any) -> int | None:
    try:
        return int(published)
    except (TypeError, ValueError):
        return None


def _nics(machine: dict) -> list:
    """The NICs without their ``state``, which only follows the machine's state."""
    return [{k: v for k, v in nic.items() if k != "state"} if isinstance(nic, dict) else nic
            for nic in machine.get("nics") or []]


def _diff(before: dict, after: dict) -> tuple[str, ...]:
    kinds = {kind for name, kind in _FIELDS.items() if name != "nics"
             and before.get(name) != after.get(name)}
    if _nics(before) != _nics(after):
        kinds.add("nics")
    if after.get("state") == "deleted" and before.get("state") != "deleted":
        kinds.add("destroyed")
    return tuple(s for s in SUB_RESOURCES if s in kinds)


__all__ = ["Change", "SUB_RESOURCES", "CONNECTING", "LIVE", "DOWN", "ABSENT", "OFF", "CLOSED"]
