"""Machine and Snapshot: local proxies of remote CloudAPI machines (the seed's API).

(Foundation only: construction from a payload or an id, read-only fields,
refresh, identity. The rest of the seed's API lands with its own issue.)
"""

from __future__ import annotations

import copy
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .datacenter import DataCenter


class Machine:
    """A local proxy of one CloudAPI machine, tied to a :class:`DataCenter`.

    ``Machine(datacenter, machine_id)`` fetches the machine;
    ``Machine(datacenter, data=payload)`` wraps a payload without a request (the
    caller's dict is copied, never changed). Fields come from the last payload
    fetched (``raw``, fetched at ``fetched_at``); only :meth:`refresh` and the
    other methods make requests.
    """

    def __init__(self, datacenter: DataCenter, machine_id: str | None = None,
                 data: dict | None = None):
        self.datacenter = datacenter
        if data is None:
            if machine_id is None:
                raise TypeError("Machine needs a machine id or a payload (data=)")
            data = datacenter.raw_machine_data(machine_id)
        self._save(data)

    def _save(self, data: dict) -> None:
        self.raw: dict = copy.deepcopy(data)
        self.fetched_at = datetime.now(timezone.utc)
        self._fetched_monotonic = time.monotonic()

    @property
    def id(self) -> str | None:
        return self.raw.get("id")

    @property
    def name(self) -> str | None:
        return self.raw.get("name")

    @property
    def state(self) -> str | None:
        return self.raw.get("state")

    @property
    def path(self) -> str:
        """The machine's request path, ``/<login>/machines/<id>``."""
        return self.datacenter.path("machines", self.id)

    def refresh(self, credentials: bool = False) -> Machine:
        """GET /:login/machines/:id — fetch the machine and keep the new payload."""
        self._save(self.datacenter.raw_machine_data(self.id, credentials=credentials))
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Machine):
            return NotImplemented
        return (self.datacenter, self.id) == (other.datacenter, other.id)

    def __hash__(self) -> int:
        return hash((self.datacenter, self.id))

    def __repr__(self) -> str:
        where = self.datacenter.name or self.datacenter.url
        return f"<Machine {self.name} ({self.id}) {self.state} in {where}>"
