"""Groups of requests given up at once: on Ctrl-C, and at the interpreter's exit.

A :class:`CallGroup` collects the calls (smartdc_nb.limits.Call) made :func:`within` it, on any
thread the work is carried to (call_notices.carry), nested groups included. A listing
abandons its group on Ctrl-C (it no longer needs the answers, and a frozen cloud would hold
them until their timeout); a bulk action closes its group (nothing more is sent; what was sent
finishes, so its outcome is known), and a second Ctrl-C lets those go: :func:`cut_at_exit`
then cuts them when the interpreter exits, which would otherwise wait for their threads.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from concurrent import futures
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Iterator

_group: contextvars.ContextVar[CallGroup | None] = contextvars.ContextVar(
    "smartdc_nb_group", default=None)
_label: contextvars.ContextVar[Any] = contextvars.ContextVar("smartdc_nb_label", default=None)


class Abandoned(Exception):
    """A request given up by its caller (CallGroup): refused before it was sent, or, with
    ``sent``, cut on its way (its answer not waited for: the cloud may have applied it)."""

    def __init__(self, text: str, sent: bool = False):
        super().__init__(text)
        self.sent = sent


class CallGroup:
    """The calls made inside :func:`within` this group (on any thread the work was carried
    to), so that they can be given up at once. On Ctrl-C a listing abandons its reads
    (:meth:`abandon`: it no longer needs them, and a frozen cloud would hold them until their
    timeout); a bulk action closes its group (:meth:`close`): no more writes are sent, and
    those sent finish, for their outcomes."""

    def __init__(self) -> None:
        self.parent = _group.get()
        self._lock = threading.Lock()
        self._calls: set[Any] = set()  # limits.Call
        self.closed = False

    def add(self, current: Any) -> None:
        with self._lock:
            if self.closed:
                current.abandoned = True
            else:
                self._calls.add(current)

    def discard(self, current: Any) -> None:
        with self._lock:
            self._calls.discard(current)

    def live(self) -> list[Any]:
        """The labels (:func:`labelled`) of the group's calls in flight."""
        with self._lock:
            return [current.label for current in self._calls]

    def close(self) -> None:
        """Refuse the group's later calls (:class:`Abandoned`); those in flight go on."""
        with self._lock:
            self.closed = True

    def abandon(self) -> None:
        """Cut the group's calls in flight (their sockets shut down) and refuse its later ones."""
        with self._lock:
            self.closed = True
            calls = list(self._calls)
        for current in calls:
            current.abandoned = True
            current.shut()


@contextlib.contextmanager
def labelled(label: Any) -> Iterator[None]:
    """The calls made inside are for ``label`` (what :meth:`CallGroup.live` lists)."""
    token = _label.set(label)
    try:
        yield
    finally:
        _label.reset(token)


@contextlib.contextmanager
def within(group: CallGroup | None) -> Iterator[None]:
    """The calls made inside, and in work carried from here (call_notices.carry), are
    ``group``'s (None: no group)."""
    if group is None:
        yield
        return
    token = _group.set(group)
    try:
        yield
    finally:
        _group.reset(token)


def cut_at_exit(group: CallGroup, say: Callable[[list[Any]], None],
                work: Iterable[Future] = ()) -> None:
    """When the interpreter exits, cut ``group``'s calls still in flight, first calling
    ``say(labels)`` with their labels (:func:`labelled`) if there are any, then wait (a few
    seconds at most) for ``work``, the tasks that made them, to record how they ended.

    A bulk action's sends that a second Ctrl-C let go of keep their threads, so that their
    answers are journalled if they come (in a notebook the kernel goes on). A script that ends
    then would wait for those threads, until the cloud answers or their timeout, because
    Python joins a thread pool's threads before it exits. The cut must come before that join:
    only ``threading._register_atexit`` runs then (atexit runs after it). concurrent.futures
    registers its join that way too, and such hooks run last-registered first. The wait is
    ours, not left to that join: on Python 3.11 a join that Ctrl-C interrupted marks the
    thread ended, and the interpreter would then stop it before it wrote its outcome.
    """
    with _at_exit_lock:
        # a long-lived kernel lets go of requests now and then: keep what is still in flight
        _at_exit[:] = [entry for entry in _at_exit
                       if entry[0].live() or not all(task.done() for task in entry[2])]
        _at_exit.append((group, say, list(work)))


#: Every read in flight (limits.call adds GET and HEAD calls): cut when the interpreter exits,
#: where no one is left to read their answers, but Python would join the threads that wait
#: for them (a listing in a user's own pool, or one a Ctrl-C did not reach) until their
#: timeout. Writes are not cut there: a bulk action waits for its own, or let them go
#: (cut_at_exit).
READS = CallGroup()


#: Seconds the interpreter's exit waits for the tasks whose calls it cut (cut_at_exit).
EXIT_WAIT = 5.0
_at_exit: list[tuple[CallGroup, Callable[[list[Any]], None], list[Future]]] = []
_at_exit_lock = threading.Lock()


def _cut_at_exit() -> None:
    """Run by the interpreter's exit, before it joins the thread pools' threads."""
    READS.abandon()
    for group, say, _ in _at_exit:
        labels = group.live()
        if labels:
            say(labels)
            group.abandon()
    futures.wait([task for _, _, work in _at_exit for task in work], timeout=EXIT_WAIT)


# Registered at import, after concurrent.futures.thread registered its join (importing it
# first makes sure), so that it runs before that join. Not on another Python than CPython
# 3.9+: there a script waits for such threads, as before.
if hasattr(threading, "_register_atexit"):
    import concurrent.futures.thread  # noqa: F401 (its join registered first: see above)

    threading._register_atexit(_cut_at_exit)


def _forget_after_fork() -> None:
    """In a forked child: the parent's calls are the parent's (cutting them at the child's
    exit would shut sockets the parent still reads from), with a fresh lock."""
    READS._calls = set()
    READS._lock = threading.Lock()
    _at_exit.clear()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_after_fork)


def label() -> Any:
    """What the calls made here are for (:func:`labelled`), or None."""
    return _label.get()


def enclosing() -> list[CallGroup]:
    """The group calls made here join, and the groups that one was made in (innermost first)."""
    groups = []
    group = _group.get()
    while group is not None:
        groups.append(group)
        group = group.parent
    return groups


