"""What a frame remembers about where its rows came from (``df.attrs["triton"]``).

A frame's ``attrs`` must stay plain data: pandas deep-copies them on every
derived frame (a filter, ``.head()``, ``.query()``), and ``to_parquet`` writes
them as JSON. Yet the accessor needs the live DataCenter objects and the
machine payloads the frame was built from. :class:`FrameSource` squares the
two: it *is* a string (a unique label, so JSON, CSV and ``attrs`` equality
see plain text), it returns itself when pandas copies it (no payload is
copied per derived frame), and it pickles as its plain label. Its lifetime is
the lifetime of the frames that carry it, so no global registry keeps
payloads alive.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    from ..datacenter import DataCenter

_serial = itertools.count(1)


class FrameSource(str):
    """A frame's label that also holds its DataCenters and machine payloads.

    ``datacenters``: ``{name: DataCenter}``; ``parts``: ``[(name, [machine
    dicts])]`` as fetched (indexed by ``(datacenter, id)`` on first use);
    ``fetched_at``: when they were fetched.
    """

    datacenters: dict[str, DataCenter]
    fetched_at: datetime

    def __new__(cls, kind: str, datacenters: Mapping[str, DataCenter],
                parts: Iterable[tuple[str, list[dict]]], fetched_at: datetime) -> FrameSource:
        names = ",".join(datacenters) or "no datacenters"
        self = super().__new__(
            cls, f"smartdc_nb:{kind}:{names}:{fetched_at.isoformat()}#{next(_serial)}")
        self.datacenters = dict(datacenters)
        self.fetched_at = fetched_at
        self._parts = list(parts)
        self._index: dict[tuple[str, str], dict] | None = None
        return self

    def payload(self, datacenter: str, machine_id: str) -> dict | None:
        """The machine dict this frame was built from, or None."""
        if self._index is None:
            self._index = {(name, m.get("id")): m for name, records in self._parts
                           for m in records if isinstance(m, dict)}
        return self._index.get((datacenter, machine_id))

    # pandas copies attrs for every derived frame: share instead of copying the payloads
    def __copy__(self) -> FrameSource:
        return self

    def __deepcopy__(self, memo: dict) -> FrameSource:
        return self

    def __reduce__(self) -> Any:
        return (str, (str(self),))  # a pickled frame keeps the label, not the connections
