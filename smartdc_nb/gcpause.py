"""Pausing the cyclic garbage collector while large acyclic data is made.

Decoding a page of 1,000 machines and building a frame of them each make
hundreds of thousands of small containers, none of them in a reference cycle.
Every 700 allocations would otherwise start a collection, and every few of
those walk every live object (the pages already decoded included): at fleet
scale the collector costs about as much as the JSON decoding itself, and it
cannot free anything there, because nothing made is cyclic.

When the pause ends, what was made during it is still young, and the next
collections would walk all of it twice (young, then middle generation), cold
in the CPU's caches: 20-70 ms for 10,000 machines. It will live as long as the
frame or listing that holds it and can only be freed by reference counting,
so it is moved to the oldest generation at once instead (``gc.freeze()`` then
``gc.unfreeze()``, which put every tracked object there without walking any),
where only full collections look at it. Young objects of other threads move
with it: a cycle among them is freed by the next full collection rather than
a young one. Nothing is moved while anything else is frozen
(``gc.get_freeze_count()``), so objects someone froze stay frozen.

The collector's switch is process-wide while pages are decoded in several
threads at once, so :func:`gc_paused` counts: the first pause switches the
collector off (if it was on) and the last one to end switches it back on.
A collector switched off by someone else stays off.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_depth = 0            # pauses in progress, in every thread
_restore = False      # whether the last pause to end switches the collector back on


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off while the block runs (nested, threads: see above)."""
    global _depth, _restore
    with _lock:
        if _depth == 0:
            _restore = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _restore:
                _restore = False
                if not gc.get_freeze_count():  # to the oldest generation, unwalked
                    gc.freeze()
                    gc.unfreeze()
                gc.enable()
