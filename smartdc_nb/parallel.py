"""Calls to several datacenters at once: every call runs to its end, each failure is kept.

:func:`gather` is what a Fleet, the frames and the panels use to ask every datacenter
(or every machine) in parallel without one failure cancelling the others; a
:class:`DatacenterWarning` says that one datacenter failed while the others answered.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from typing import Callable, Hashable, Mapping, TypeVar

from .call_notices import carry

T = TypeVar("T")
K = TypeVar("K")


class DatacenterWarning(UserWarning):
    """A datacenter of a Fleet failed; the result holds the other datacenters' data."""


def gather(tasks: Mapping[K, Callable[[], T]], max_workers: int | None = None,
           on_done: Callable[[int], None] | None = None, *,
           per: Callable[[K], Hashable] | None = None
           ) -> tuple[dict[K, T], dict[K, BaseException]]:
    """Run ``tasks`` in threads; return ``(results, errors)`` keyed like ``tasks``.

    Every task runs to its end: one failing does not cancel the others (each
    datacenter's transport bounds its own time with timeouts and retry budgets).
    ``on_done(count)`` is called (in this thread) as tasks finish, e.g. for a
    progress bar. On Ctrl-C the tasks not started are dropped and the running
    ones finish before the interrupt goes on.

    ``per(key)`` groups the tasks (e.g. by datacenter): each group gets its own
    ``max_workers`` threads, so the groups run side by side. CloudAPI rate-limits a
    login per datacenter: in one shared pool, every thread could be waiting on one
    datacenter's limiter while another's budget sat unused.
    """
    results: dict[K, T] = {}
    errors: dict[K, BaseException] = {}
    if not tasks:
        return results, errors
    groups: dict[Hashable, list[K]] = {}
    for key in tasks:
        groups.setdefault(per(key) if per is not None else None, []).append(key)
    with ExitStack() as pools:
        futures = {}
        for keys in groups.values():
            workers = max(1, min(len(keys), max_workers or len(keys)))
            pool = pools.enter_context(
                ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smartdc_nb"))
            # each in the caller's context: the bounds it set (a wait's deadline, a panel's
            # timeout) hold there, and an unanswered request says so where the caller's would
            futures.update({pool.submit(carry(tasks[key])): key for key in keys})
        try:
            for done, future in enumerate(as_completed(futures), 1):
                key = futures[future]
                try:
                    results[key] = future.result()
                except Exception as exc:  # noqa: BLE001 - reported per key, never swallowed
                    errors[key] = exc
                if on_done is not None:
                    on_done(done)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    order = list(tasks)  # callers read results in the order they gave the tasks
    return ({k: results[k] for k in order if k in results},
            {k: errors[k] for k in order if k in errors})


__all__ = ["gather", "DatacenterWarning"]
