"""Calls to several datacenters at once: every call runs to its end, each failure is kept.

:func:`gather` is what a Fleet, the frames and the panels use to ask every datacenter
(or every machine) in parallel without one failure cancelling the others; a
:class:`DatacenterWarning` says that one datacenter failed while the others answered.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Mapping, TypeVar

T = TypeVar("T")
K = TypeVar("K")


class DatacenterWarning(UserWarning):
    """A datacenter of a Fleet failed; the result holds the other datacenters' data."""


def gather(tasks: Mapping[K, Callable[[], T]], max_workers: int | None = None,
           on_done: Callable[[int], None] | None = None
           ) -> tuple[dict[K, T], dict[K, BaseException]]:
    """Run ``tasks`` in threads; return ``(results, errors)`` keyed like ``tasks``.

    Every task runs to its end: one failing does not cancel the others (each
    datacenter's transport bounds its own time with timeouts and retry budgets).
    ``on_done(count)`` is called (in this thread) as tasks finish, e.g. for a
    progress bar. On Ctrl-C the tasks not started are dropped and the running
    ones finish before the interrupt goes on.
    """
    results: dict[K, T] = {}
    errors: dict[K, BaseException] = {}
    if not tasks:
        return results, errors
    workers = max(1, min(len(tasks), max_workers or len(tasks)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smartdc_nb") as pool:
        futures = {pool.submit(task): key for key, task in tasks.items()}
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
