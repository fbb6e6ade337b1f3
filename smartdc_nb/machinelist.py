"""MachineList: a list of Machines with fleet-wide waits and bulk actions.

``dc.machines()`` and ``fleet.machines()`` return one. It is a plain ``list``
(index, slice, filter with comprehensions) whose slices stay MachineLists, plus:

- :meth:`MachineList.wait_for` — one multi-machine wait (one listing per
  datacenter per poll, one progress bar), returning a
  :class:`~smartdc_nb.operations.results.WaitResult` table;
- :meth:`MachineList.refresh` — re-fetch every machine the same cheap way;
- the bulk actions of :class:`~smartdc_nb.resources.bulk_methods.BulkActions` (start, stop,
  reboot, resize, rename, create_snapshot, ..., each returning a
  :class:`~smartdc_nb.operations.outcomes.BulkResult`);
- ``to_frame()`` (a DataFrame, see smartdc_nb.frames) and an HTML repr.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .errors import InvalidInputError
from .resources.bulk_methods import BulkActions
from .resources.machine import Machine
from . import seam
from .seam import render_html as html_repr

if TYPE_CHECKING:
    import pandas

    from .operations.results import WaitResult


class MachineList(list, BulkActions):
    """A list of :class:`~smartdc_nb.resources.machine.Machine` (from any datacenters)."""

    def __init__(self, machines: Iterable[Machine] = ()):
        super().__init__(machines)

    def _bulk_targets(self) -> list[Machine]:
        return list(self)

    # ------------------------------------------------------------ list-ness

    def __getitem__(self, index: Any) -> Any:
        found = super().__getitem__(index)
        return MachineList(found) if isinstance(index, slice) else found

    def __add__(self, other: Iterable[Machine]) -> MachineList:
        return MachineList([*self, *other])

    def copy(self) -> MachineList:
        return MachineList(self)

    def where(self, predicate: Callable[[Machine], bool] | None = None,
              **fields: Any) -> MachineList:
        """The machines for which ``predicate(m)`` is true and every ``field == value``.

        ``ml.where(state="running", brand="lx")``; ``tags={"role": "web"}``
        matches machines having those tags. No request: fields are as known.
        """
        tags = fields.pop("tags", None) or {}
        unknown = [name for name in fields if name.startswith("_") or not hasattr(Machine, name)]
        if unknown:  # a typo would otherwise be an AttributeError from the first machine
            import difflib

            known = sorted(n for n in dir(Machine) if not n.startswith("_"))
            close = difflib.get_close_matches(unknown[0], known, n=1)
            raise InvalidInputError(
                f"where() has no field {unknown[0]!r}" + (f"; did you mean {close[0]!r}?"
                                                          if close else "")
                + " Fields are Machine attributes (state, brand, name, package, ...) and tags=")

        def keep(machine: Machine) -> bool:
            if predicate is not None and not predicate(machine):
                return False
            if any(getattr(machine, name) != value for name, value in fields.items()):
                return False
            known = machine.raw.get("tags") or {}
            return all(known.get(k) == v for k, v in tags.items())

        return MachineList(m for m in self if keep(m))

    @property
    def states(self) -> dict[str, int]:
        """How many machines are in each state (as known; no request)."""
        return dict(Counter(m.state for m in self))

    @property
    def datacenters(self) -> list[Any]:
        """The DataCenters these machines live in, in first-seen order."""
        return list(dict.fromkeys(m.datacenter for m in self))

    # ------------------------------------------------------------ requests

    def refresh(self) -> MachineList:
        """Re-fetch every machine: one ListMachines listing per datacenter (not one GET each)."""
        seam.refresh_machines(self)
        return self

    def wait_for(self, states: str | Iterable[str], timeout: float | None = 600.0, *,
                 interval: float | None = None, max_interval: float = 10.0,
                 fail_on: str | Iterable[str] = ("failed",), progress: Any = None,
                 raise_on_failure: bool = False) -> WaitResult:
        """Wait until every machine is in one of ``states``; returns the per-machine table.

        Polls one listing per datacenter (see smartdc_nb.operations.waits), shows one
        bar counting machines that arrived, prints a summary line at the end.
        Failures (``failed``, deleted, a refused action, the deadline) are
        rows of the result; ``raise_on_failure=True`` raises the first one
        instead (its ``.result`` is the table). Ctrl-C raises WaitInterrupted
        with ``.result``.
        """
        return seam.wait_machines(self, states, timeout=timeout, interval=interval,
                             max_interval=max_interval, fail_on=fail_on, progress=progress,
                             raise_on_failure=raise_on_failure)

    # ------------------------------------------------------------ views

    def to_frame(self, tags_as: str | None = "dict") -> pandas.DataFrame:
        """These machines as smartdc_nb.frames' machines frame (known payloads, no request)."""
        return seam.frame_of_machines(self, tags_as=tags_as)

    def __repr__(self) -> str:
        if not self:
            return "<MachineList: no machines>"
        states = ", ".join(f"{n} {state}" for state, n in sorted(self.states.items(),
                                                                key=lambda kv: -kv[1]))
        where = ", ".join(str(dc.name or dc.url) for dc in self.datacenters)
        noun = "machine" if len(self) == 1 else "machines"
        return f"<MachineList {len(self)} {noun} ({states}) in {where}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        return html_repr(self)


__all__ = ["MachineList"]
