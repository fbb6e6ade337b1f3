"""Calls to several datacenters at once: every call runs to its end, each failure is kept.

:func:`gather` is what a Fleet, the frames and the panels use to ask every datacenter
(or every machine) in parallel without one failure cancelling the others; a
:class:`DatacenterWarning` says that one datacenter failed while the others answered.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Hashable, Mapping, TypeVar

from .call_notices import carry
from .call_groups import CallGroup, within

T = TypeVar("T")
K = TypeVar("K")


class DatacenterWarning(UserWarning):
    """A datacenter of a Fleet failed; the result holds the other datacenters' data."""


def gather(tasks: Mapping[K, Callable[[], T]], max_workers: int | None = None,
           on_done: Callable[[int], None] | None = None, *,
           per: Callable[[K], Hashable] | None = None, only_reads: bool = False
           ) -> tuple[dict[K, T], dict[K, BaseException]]:
    """Run ``tasks`` in threads; return ``(results, errors)`` keyed like ``tasks``.

    Every task runs to its end: one failing does not cancel the others (each
    datacenter's transport bounds its own time with timeouts and retry budgets).
    ``on_done(count)`` is called (in this thread) as tasks finish, e.g. for a
    progress bar.

    On Ctrl-C (or any error raised here) the tasks not started are dropped. With
    ``only_reads`` (the tasks send no write) the requests of the running ones are cut
    and the interrupt goes on at once: a datacenter that holds a listing would otherwise
    keep the cell busy until that request's timeout. Without it the running tasks finish
    first, so that a write that was sent has its outcome recorded.

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
    calls = CallGroup() if only_reads else None
    pools: list[ThreadPoolExecutor] = []
    futures = {}
    given_up = False
    try:
        with within(calls):
            for keys in groups.values():
                workers = max(1, min(len(keys), max_workers or len(keys)))
                pools.append(ThreadPoolExecutor(max_workers=workers,
                                                thread_name_prefix="smartdc_nb"))
                # each in the caller's context: the bounds it set (a wait's deadline, a
                # panel's timeout) hold there, and an unanswered request says so where the
                # caller's would; and its calls are this gather's, to cut on Ctrl-C
                futures.update({pools[-1].submit(carry(tasks[key])): key for key in keys})
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
        if calls is not None:
            given_up = True
            calls.abandon()  # their threads end as their sockets close, not at a timeout
        raise
    finally:
        for pool in pools:
            pool.shutdown(wait=not given_up, cancel_futures=True)
    order = list(tasks)  # callers read results in the order they gave the tasks
    return ({k: results[k] for k in order if k in results},
            {k: errors[k] for k in order if k in errors})


__all__ = ["gather", "DatacenterWarning"]
