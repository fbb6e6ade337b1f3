"""A Machine's waits: ``wait_for`` is the wait; ``poll_until`` and ``poll_while`` are the
seed's names, ``wait_until`` an older one. They run in smartdc_nb.operations.waits,
reached through the seam.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from .. import seam
from ..rules import MACHINE_STATES
from .validate import check_states

if TYPE_CHECKING:
    from .machine import Machine


class MachineWaits:
    """Wait methods of a Machine (see Machine)."""

    def wait_for(self, states: str | Iterable[str] | Callable[[Machine], bool],
                 timeout: float | None = 600.0, *, interval: float | None = None,
                 max_interval: float = 10.0, fail_on: str | Iterable[str] = ("failed",),
                 progress: Any = None, description: str | None = None) -> Machine:
        """Poll (GET) until the machine is in one of ``states``; returns the Machine.

        ``states`` may also be a predicate, ``wait_for(lambda m: m.firewall_enabled,
        description="the firewall on")``, checked on each fresh payload. Ends with
        :class:`~smartdc_nb.errors.WaitFailed` when the machine reaches a state in
        ``fail_on`` (unless awaited), disappears (unless ``"deleted"`` is awaited) or
        the cloud refused the last action (audit ``success: "no"``);
        :class:`~smartdc_nb.errors.WaitTimeout` after ``timeout`` seconds (None: no
        deadline); WaitInterrupted on Ctrl-C. The interval starts at ``interval`` (None: 2 s, or
        ``$SMARTDC_NB_WAIT_INTERVAL``) and grows to ``max_interval`` while nothing changes.
        See smartdc_nb.operations.waits.
        """
        options = dict(timeout=timeout, interval=interval, max_interval=max_interval,
                       fail_on=fail_on, progress=progress)
        if callable(states):
            predicate = states

            def check(raw: dict) -> bool:
                # judged as the cloud served it: this Machine's own tag and metadata writes
                # (already in its tags and metadata) count once the cloud shows them
                from .machine import Machine

                served = self if raw is self.raw else Machine(
                    self.datacenter, data=raw, fetched_at=self.fetched_at)
                return bool(predicate(served))

            return seam.wait_for(self, check=check,
                                 description=description or "the condition", **options)
        return seam.wait_for(self, check_states(states, MACHINE_STATES, "machine"), **options)

    def poll_until(self, state: str, interval: float | None = None, timeout: float | None = 600.0,
                   **options: Any) -> Machine:
        """The seed's name for :meth:`wait_for` with one state (it now always ends)."""
        return self.wait_for(state, timeout=timeout, interval=interval, **options)

    def poll_while(self, state: str | Iterable[str], interval: float | None = None,
                   timeout: float | None = 600.0, **options: Any) -> Machine:
        """The seed's wait while the machine is in ``state`` (or any of several): returns once
        it is in another."""
        states = check_states(state, MACHINE_STATES, "machine")
        return seam.wait_for(self, leaving=states, timeout=timeout, interval=interval, **options)

    def wait_until(self, predicate: Callable[[Machine], bool], description: str,
                   timeout: float | None = 600.0, **options: Any) -> Machine:
        """Deprecated name of ``wait_for(predicate, description=...)``."""
        return self.wait_for(predicate, timeout, description=description, **options)


__all__ = ["MachineWaits"]
