"""The cyclic GC is held off while a big answer is decoded, and always given back as it was."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from smartdc_nb import gcpause, transport


@pytest.fixture
def gc_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.fixture
def decodes(monkeypatch):
    """Each JSON body the transport decodes: (its size, whether the collector was on)."""
    seen: list[tuple[int, bool]] = []
    real = transport._loads  # orjson's, or json's where orjson is missing

    def watched(body, *args, **kwargs):
        seen.append((len(body), gc.isenabled()))
        return real(body, *args, **kwargs)

    monkeypatch.setattr(transport, "_loads", watched)
    return seen


def test_a_big_page_is_decoded_with_the_collector_paused_and_it_is_on_again_after(
        gc_on, decodes, emu, dc):
    east = emu.datacenter("us-east-1")
    for i in range(40):  # the page is well over the 64 KiB threshold
        east.put_machine(name=f"big-{i}", metadata={"note": "x" * 2000})
    listed = dc.raw_machines()
    assert len(listed) == len({m["id"] for m in listed}) >= 40
    big = [enabled for size, enabled in decodes if size >= transport._BIG_ANSWER]
    assert big and not any(big)  # every big answer: decoded with the collector off
    assert gc.isenabled()


def test_a_small_answer_leaves_the_collector_alone(gc_on, decodes, dc):
    dc.request("GET")  # GetAccount: a few hundred bytes
    assert decodes and all(enabled for size, enabled in decodes if size < transport._BIG_ANSWER)
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_caller_stays_off(gc_on, dc):
    gc.disable()
    dc.raw_machines()
    assert not gc.isenabled()


def test_overlapping_pauses_in_threads_keep_it_off_until_the_last_ends(gc_on):
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    states = {}

    def first():
        with gcpause.gc_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with gcpause.gc_paused():
            second_in.set()
            first_out.wait(5)
            states["after the first ended"] = gc.isenabled()
        states["after both"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert states == {"after the first ended": False, "after both": True}


def _big_fleet(emu):
    east = emu.datacenter("us-east-1")
    for i in range(40):  # a page well over the 64 KiB threshold
        east.put_machine(name=f"big-{i}", metadata={"note": "x" * 2000})


def test_a_decoded_page_goes_to_the_oldest_generation_without_a_walk(gc_on, emu, dc):
    _big_fleet(emu)
    listed = dc.raw_machines()
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(listed[0]) in oldest and id(listed[-1]) in oldest
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_what_someone_froze_stays_frozen(gc_on, emu, dc):
    _big_fleet(emu)
    theirs = [object()]  # a container someone froze (as a pre-fork server does)
    gc.freeze()
    try:
        listed = dc.raw_machines()
        tracked = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
        assert id(theirs) not in tracked  # still frozen: not back in any generation
        assert id(listed[0]) in tracked  # and the page was left where it was
    finally:
        gc.unfreeze()


def test_a_cycle_made_during_a_pause_is_still_freed(gc_on):
    class Node:
        pass

    with gcpause.gc_paused():
        node = Node()
        node.me = node  # a reference cycle: only the collector can free it
        seen = weakref.ref(node)
        del node
    assert seen() is not None  # not freed by reference counting
    gc.collect()
    assert seen() is None


def test_no_collection_runs_while_a_frame_is_listed_and_built(gc_on, emu, dc):
    from smartdc_nb.fleet import Fleet

    _big_fleet(emu)
    frames = Fleet(dc).frames  # every datacenter, pages in threads
    collections = []
    callback = lambda phase, info: collections.append(info["generation"])  # noqa: E731
    gc.callbacks.append(callback)
    try:
        frame = frames.machines()
    finally:
        gc.callbacks.remove(callback)
    assert len(frame) >= 40 and collections == [] and gc.isenabled()
