"""Paging a ``limit``/``offset`` list: several pages at once, never trusting the server.

CloudAPI pages ListMachines (``limit`` at most 1000; ``x-resource-count`` is
the size of *this* page, not a total), so the only end signal is a short page,
and a big fleet costs pages x latency when the pages are asked one after
another. :func:`pages` asks up to ``concurrency`` pages at once: as many as
the list took last time, and at most :data:`PAGE_SPECULATION` past where it is
known to end (every request still takes a token from the login's rate
limiter); it yields them in order, each machine once.

**Never losing a machine.** Offset paging over a list that changes shifts the
rows: a machine created before the boundary of two pages pushes the last row
of one page into the next. Asked one after another, that row comes twice
(dropped here by id); asked at once, the later page may be answered *first*,
and the row is then in neither. So parallel pages overlap: page ``k`` starts
``overlap`` rows before page ``k-1`` ends, and page ``k`` is kept only if it
shares a row with page ``k-1``. Two runs of one stably ordered list (CloudAPI
orders by uuid) that share a row cover, between them, every row that existed
at both moments; a page that shares none was moved by more churn than the
overlap and is asked again, after the page before it was answered, as
sequential paging would ask it. On a list that does not change the result is
exactly sequential paging's.

**Never trusting the server.** The end is a page shorter than ``limit``
*counted in the body* (a lying ``x-resource-count`` is ignored); a full page
that brings no new id ends the listing (the server is not paging: it repeats
itself); and more than ``max_pages`` pages raise :class:`~smartdc_nb.errors.PagingError`
instead of looping for ever.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Hashable, Iterator

from .call_notices import carry
from .call_groups import CallGroup, within
from .errors import PagingError, TransportError

log = logging.getLogger("smartdc_nb")

PAGE_LIMIT = 1000  # CloudAPI's maximum page size for ListMachines
#: Pages in flight at once within one datacenter (1: one after another). A list
#: known to take that many pages costs one round trip, not two.
PAGE_CONCURRENCY = 8
#: Pages asked past where a list is known to end (on its first listing: past the
#: first page), so a short list wastes few requests.
PAGE_SPECULATION = 4
#: Rows each parallel page repeats of the page before it (2.5% of a full page):
#: the churn between two pages asked at once that is absorbed without asking again.
PAGE_OVERLAP = 25
#: Pages before a listing is refused as endless: a million machines at 1000 a page.
MAX_PAGES = 1000

Fetch = Callable[[int, int], Any]  # (offset, limit) -> the page's decoded body


def overlap_for(limit: int, concurrency: int) -> int:
    """The overlap parallel pages of ``limit`` rows use (0 when paging one at a time)."""
    if concurrency < 2 or limit < 2:
        return 0
    return max(1, min(PAGE_OVERLAP, limit // 10))


def pages(fetch: Fetch, *, what: str, limit: int = PAGE_LIMIT,
          concurrency: int = PAGE_CONCURRENCY, max_pages: int = MAX_PAGES,
          expected: int = 1, key: Callable[[Any], Hashable | None] | None = None,
          on_end: Callable[[int], None] | None = None,
          window: Callable[[], int] | None = None) -> Iterator[list[Any]]:
    """Yield the rows of a paged list, page by page, each row once (see the module docstring).

    ``fetch(offset, limit)`` returns one page's body; ``what`` names the list
    in errors; ``expected`` is how many pages the last listing of this list
    took: that many (up to ``concurrency``) are asked before the first answer,
    and at most :data:`PAGE_SPECULATION` past them once one of them proves the
    list grew, so a small list costs one request and a big one one round trip;
    ``key(row)`` is a row's id (default: a dict's ``"id"``); ``on_end(pages)``
    is called when the list ended (not when the caller stopped early);
    ``window()`` is how many pages to keep in flight (default ``concurrency``,
    see :class:`PageTimes`), asked again as pages come in.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, not {limit!r}")
    key = key or _id
    concurrency = max(1, int(concurrency))
    overlap = overlap_for(limit, concurrency)
    stride = limit - overlap
    seen: set[Hashable] = set()
    if concurrency == 1:
        yield from _sequential(fetch, what, limit, max_pages, key, seen, on_end)
        return
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="smartdc_nb-page")
    asked: dict[int, Future] = {}
    interrupted = False
    calls = CallGroup()  # the pages' requests, cut on Ctrl-C

    def send(index: int) -> Future:
        # in the caller's context: a wait's deadline (smartdc_nb.limits) holds in the
        # workers, and a page the cloud does not answer says so where the caller would
        with within(calls):
            return pool.submit(carry(lambda o=index * stride: fetch(o, limit)))

    def ask(index: int) -> None:
        if index < max_pages and index not in asked:
            asked[index] = send(index)

    def width() -> int:
        return max(1, min(concurrency, window() if window is not None else concurrency))

    try:
        expected = max(1, expected)
        for index in range(min(expected, width())):
            ask(index)
        previous: set[Hashable] | None = None  # ids of the last kept page, if it was full
        index, retried = 0, False
        while True:
            if index >= max_pages:
                raise _endless(what, max_pages, limit)
            page = _checked(asked.pop(index).result(), what, index * stride)
            keys, ids = _keys(page, key)
            if previous is not None and not retried and not ids & previous:
                # moved by more churn than the overlap: ask again, now that the page
                # before it has been answered (what sequential paging would get)
                log.info("%s: page at offset %d shares no row with the one before; asking again",
                         what, index * stride)
                asked[index] = send(index)
                retried = True
                continue
            new, full = _take(page, keys, ids, index, index * stride, limit, seen, what)
            if new or index == 0:
                yield new
            if not full:
                if on_end is not None:
                    on_end(index + 1)
                return
            previous, index, retried = ids, index + 1, False
            # as many as the list took last time; past that (it has grown, or is new)
            # a few speculatively
            wide = width()
            ahead = (min(index + wide, expected) if index < expected
                     else index + min(wide, PAGE_SPECULATION))
            for later in range(index, ahead):
                ask(later)
    except KeyboardInterrupt:
        # Ctrl-C returns now, not when a held page times out; the pages on the wire are
        # cut, so their threads end now too
        interrupted = True
        calls.abandon()
        raise
    finally:
        # pages not yet sent are dropped; otherwise those on the wire are waited for, so that
        # no request of this listing is still running once it has returned
        pool.shutdown(wait=not interrupted, cancel_futures=True)


def _sequential(fetch: Fetch, what: str, limit: int, max_pages: int,
                key: Callable[[Any], Hashable | None], seen: set[Hashable],
                on_end: Callable[[int], None] | None) -> Iterator[list[Any]]:
    """One page after another at offsets 0, limit, 2*limit, ... (as node-triton asks)."""
    offset = 0
    for index in range(max_pages):
        page = _checked(fetch(offset, limit), what, offset)
        keys, ids = _keys(page, key)
        new, full = _take(page, keys, ids, index, offset, limit, seen, what)
        if new or index == 0:
            yield new
        if not full:
            if on_end is not None:
                on_end(index + 1)
            return
        offset += len(page)
    raise _endless(what, max_pages, limit)


def _take(page: list[Any], keys: list[Hashable | None], ids: set[Hashable], index: int,
          offset: int, limit: int, seen: set[Hashable], what: str) -> tuple[list[Any], bool]:
    """(the rows of ``page`` not seen before, whether the list goes on after it).

    ``keys`` are the rows' ids (None: a row without one, always new), ``ids`` the set of
    them. A short page ends the list; so does a full page that brings nothing new (a
    server that is not paging would otherwise be asked forever).
    """
    if len(ids) + keys.count(None) == len(keys):  # no id twice within the page (the rule)
        again = seen.intersection(ids)  # the overlap with earlier pages, if any
        new = [row for row, k in zip(page, keys) if k not in again] if again else page
        seen |= ids
    else:
        new = [row for row, k in zip(page, keys) if _first(k, seen)]
    full = len(page) >= limit
    if full and index > 0 and not new:
        log.warning("%s: a full page at offset %d brought nothing new; the server is not "
                    "paging, so the listing ends here", what, offset)
        full = False
    return new, full


def _keys(page: list[Any], key: Callable[[Any], Hashable | None]
          ) -> tuple[list[Hashable | None], set[Hashable]]:
    """Each row's id in order (None: it has none), and the set of them; the default key is
    read in one pass, without a call per row."""
    if key is not _id:
        keys = list(map(key, page))
    else:
        found = [row.get("id") if isinstance(row, dict) else None for row in page]
        keys = [value if isinstance(value, str) else None for value in found]
    ids: set[Hashable] = set(keys)  # type: ignore[arg-type]  # None goes next: one C pass
    ids.discard(None)
    return keys, ids


def _id(row: Any) -> Hashable | None:
    value = row.get("id") if isinstance(row, dict) else None
    return value if isinstance(value, str) else None


def _first(row_id: Hashable | None, seen: set[Hashable]) -> bool:
    """Whether a row is new (and remember it); a row without an id always is."""
    if row_id is None:
        return True
    if row_id in seen:
        return False
    seen.add(row_id)
    return True


def _checked(body: Any, what: str, offset: int) -> list[Any]:
    if body is None:
        return []
    if not isinstance(body, list):
        raise TransportError(f"{what}: the page at offset {offset} is a {type(body).__name__}, "
                             "not a list; this server does not answer like CloudAPI")
    return body


def _endless(what: str, max_pages: int, limit: int) -> PagingError:
    return PagingError(
        f"{what} did not end after {max_pages:,} pages of {limit:,}: the server keeps sending "
        f"full pages of new rows. If the list really is that long, raise the cap "
        f"(connect(max_pages=...)); otherwise the server is not paging correctly.")


class PageHints:
    """How many pages each list took last time (bounded: the newest ``size`` lists)."""

    def __init__(self, size: int = 64):
        self._size = size
        self._pages: OrderedDict[Hashable, int] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, list_key: Hashable) -> int:
        with self._lock:
            return self._pages.get(list_key, 1)

    def put(self, list_key: Hashable, count: int) -> None:
        with self._lock:
            self._pages[list_key] = count
            self._pages.move_to_end(list_key)
            while len(self._pages) > self._size:
                self._pages.popitem(last=False)


class PageTimes:
    """How long a server takes to answer a page, and the client to read it: how many
    pages are worth keeping in flight.

    Parallel pages hide the wait for an answer. While one page is awaited, the pages
    already answered are read and decoded; ``1 + wait / work`` pages in flight keep
    the reading going without a pause, and more only make threads compete for the
    interpreter: 2 against a server next door (answers in milliseconds, a page takes
    ~10 ms to decode), the full ``concurrency`` against a CloudAPI whose pages take
    hundreds of milliseconds. Until a page has been timed, the full concurrency.

    The wait is the shortest of the latest pages' (a wait also counts the time a
    thread stood in line for the interpreter, which more pages in flight lengthen);
    the work is the median CPU time of reading and decoding a page.
    """

    def __init__(self, size: int = 5):  # about one listing's pages: a change shows at once
        self._samples: deque[tuple[float, float]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, wait: float, work: float) -> None:
        """One page: seconds until its answer began, CPU seconds to ask for, read and decode it."""
        with self._lock:
            self._samples.append((max(0.0, wait), max(0.0, work)))

    def window(self, concurrency: int) -> int:
        """Pages to keep in flight, from the latest pages' wait and work (2 or more)."""
        with self._lock:
            samples = list(self._samples)
        if not samples or concurrency <= 2:
            return concurrency
        wait = min(w for w, _ in samples)
        work = max(statistics.median(k for _, k in samples), 0.001)
        return max(2, min(concurrency, 1 + math.ceil(wait / work)))
