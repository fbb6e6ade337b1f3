"""Paging ListMachines: several pages at once, equal to one-at-a-time paging, never trusting the server.

The fleets are tagged machines listed with a tag filter (server-side, paged
like any listing), so each test has a fleet of exactly the size it wants.
The hostile servers are small local servers here (the emulator speaks
CloudAPI and never lies), each bounded in requests and time.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from polling import eventually

from smartdc_nb.errors import PagingError, TooManyRequestsError, TransportError
from smartdc_nb.paging import PageTimes
from smartdc_nb.ratelimit import RateLimiter


def make_fleet(emu, size, tag="paged"):
    handle = emu.datacenter("us-east-1")
    for i in range(size):
        handle.put_machine(name=f"{tag}-{i:05d}", tags={"fleet": tag})
    return {"fleet": tag}


def ids(machines):
    return [m["id"] for m in machines]


def page_offsets(emu, tag="paged"):
    """Offsets of the pages of the tagged fleet asked since the log was cleared."""
    return [int(r["query"]["offset"]) for r in emu.requests
            if r["path"] == "/demo/machines" and r["method"] == "GET"
            and r["query"].get("tag.fleet") == tag]


def front_ids(count):
    """Machine ids that sort before every other (CloudAPI lists by uuid, descending)."""
    return [f"ffffffff-ffff-4fff-8fff-{i:012d}" for i in range(count)]


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 5000])
def test_parallel_paging_returns_exactly_what_sequential_paging_returns(emu, connect, size):
    tags = make_fleet(emu, size)
    sequential = connect(page_concurrency=1).raw_machines(tags=tags)
    assert len(sequential) == size == len(set(ids(sequential)))
    parallel = connect()  # the default: up to 8 pages at once, 4 past the known end
    assert parallel.transport.page_concurrency == 8
    first = parallel.raw_machines(tags=tags)
    again = parallel.raw_machines(tags=tags)  # knows how many pages to ask at once now
    assert ids(first) == ids(sequential) and ids(again) == ids(sequential)
    assert first == sequential


@pytest.mark.parametrize("concurrency", [1, 8])
def test_machines_created_during_the_listing_are_not_repeated(emu, connect, concurrency):
    """A machine created before the boundary of two pages pushes a row into the next page:
    the server sends it twice (one page after another, or pages asked at once when the
    second one is answered after the creation)."""
    tags = make_fleet(emu, 1500)
    dc = connect(page_concurrency=concurrency)
    before = set(ids(dc.raw_machines(tags=tags)))  # in parallel: both pages asked at once now
    second = 1000 if concurrency == 1 else 975
    # page 1 is held until the machines exist, however slowly a loaded machine answers page 0
    page_1 = emu.faults.add(path=rf"offset={second}$", hold=True, count=1)
    emu.clear_requests()
    got = []
    listing = threading.Thread(target=lambda: got.extend(dc.raw_machines(tags=tags)))
    listing.start()
    eventually(lambda: 0 in page_offsets(emu), timeout=10)
    assert second not in page_offsets(emu)  # page 1 is on its way, and held
    handle = emu.datacenter("us-east-1")
    with emu.state.lock:
        for machine_id in front_ids(10):
            handle.put_machine(id=machine_id, name=f"new-{machine_id[-2:]}", tags=tags)
    emu.faults.release(page_1)
    listing.join(timeout=30)
    assert not listing.is_alive()
    # the server sent the last 10 rows of page 0 again at the top of page 1: each comes once
    assert len(got) == len(set(ids(got))) == 1500
    assert set(ids(got)) == before


@pytest.mark.parametrize("created", [10, 60])
def test_parallel_pages_answered_out_of_order_lose_no_machine(emu, connect, created):
    """Page 0 is answered last, after machines were created at the front of the list: its
    rows shifted past where the pages asked at the same time began. With 10 new machines the
    pages' overlap absorbs the shift; with 60 the later pages are asked again."""
    tags = make_fleet(emu, 3000)
    dc = connect()
    before = set(ids(dc.raw_machines(tags=tags)))  # also teaches dc: this list takes 4 pages
    # ...and how fast pages come, which on a loaded machine keeps fewer than 4 in flight (CI
    # once): forgotten, so all four are asked at once, as against a far CloudAPI
    dc.transport.page_times = PageTimes()
    # page 0 is held until the other three are answered and the machines exist: on a loaded
    # machine a 2 s latency once let it through first (CI, 1 run in ~300)
    page_0 = emu.faults.add(path=r"offset=0$", hold=True, count=1)
    emu.clear_requests()
    got = []
    listing = threading.Thread(target=lambda: got.extend(dc.raw_machines(tags=tags)))
    listing.start()
    eventually(lambda: {975, 1950, 2925} <= set(page_offsets(emu)), timeout=10)
    assert 0 not in page_offsets(emu)  # page 0 is still on its way
    handle = emu.datacenter("us-east-1")
    new = front_ids(created)
    with emu.state.lock:  # all at once: page 0 is answered before or after, not between
        for machine_id in new:
            handle.put_machine(id=machine_id, name=f"new-{machine_id[-2:]}", tags=tags)
    emu.faults.release(page_0)
    listing.join(timeout=30)
    assert not listing.is_alive()
    assert len(got) == len(set(ids(got)))
    assert before <= set(ids(got))  # every machine that was there all along
    assert set(new) <= set(ids(got))  # page 0 was read after they were created
    asked_again = len(page_offsets(emu)) - 4  # each page asked again once, after the one before
    assert asked_again == (0 if created < 25 else 3), [
        (r["query"]["offset"], r["status"], r["ms"]) for r in emu.requests]


def test_parallel_paging_stays_under_the_throttle(emu, connect):
    tags = make_fleet(emu, 1200)
    path = "/demo/machines"
    # CloudAPI's throttle scaled down (burst 5, 20/s) and a client limiter well under it (a
    # loaded machine can bunch requests the limiter spaced out on their way to the server)
    emu.set_throttle({"burst": 5, "rate": 20})
    dc = connect(rate_limit=RateLimiter(rate=12, burst=2), retries=False)
    emu.clear_requests()
    rows = [m for page in dc.transport.paginate(path, {"tag.fleet": "paged"}, limit=50)
            for m in page]
    statuses = [r["status"] for r in emu.requests if r["path"] == path]
    assert len(rows) == len(set(ids(rows))) == 1200
    assert len(statuses) >= 27 and set(statuses) == {200}  # 0 429s
    # the same listing without the client's limiter is throttled: the test can fail
    unpaced = connect(rate_limit=False, retries=False)
    with pytest.raises(TooManyRequestsError):
        for _ in unpaced.transport.paginate(path, {"tag.fleet": "paged"}, limit=50):
            pass
    assert tags


def test_pages_in_flight_follow_how_long_answers_take(emu, connect):
    """Pages that come fast and take long to decode (1,000 machines next door) are asked two
    at a time; when every answer takes 200 ms, the window opens to the whole list at once."""
    from smartdc_nb.paging import PageTimes

    class NextDoor(PageTimes):  # a 40-row page decodes in no time: time it as a full one
        def add(self, wait, work):
            # and an answer without the fault's latency as the server next door it is: on a
            # loaded CI machine loopback answers can take 20 ms, which opens the window to 3
            super().add(0.002 if wait < 0.1 else wait, 0.010)

    make_fleet(emu, 300)
    dc = connect(page_concurrency=8)
    dc.transport.page_times = NextDoor()
    flying = {"now": 0, "most": 0}
    lock = threading.Lock()
    send = dc.transport.request

    def counted(*args, **kwargs):  # how many of the client's requests are out at once
        with lock:
            flying["now"] += 1
            flying["most"] = max(flying["most"], flying["now"])
        try:
            return send(*args, **kwargs)
        finally:
            with lock:
                flying["now"] -= 1

    dc.transport.request = counted

    def listing():
        flying["most"] = 0
        rows = [m for page in dc.transport.paginate("/demo/machines", {"tag.fleet": "paged"},
                                                    limit=40) for m in page]
        assert len(rows) == len(set(ids(rows))) == 300
        return flying["most"]

    listing()  # learns the list's length (8 pages) and how fast pages come
    assert dc.transport.page_times.window(8) == 2 and listing() == 2
    emu.faults.add(path=r"/machines\?", method="GET", latency=0.2)
    listing()  # the first slow answers open the window
    started = time.monotonic()
    assert dc.transport.page_times.window(8) == 8 and listing() == 8
    assert time.monotonic() - started < 8 * 0.2  # not one round trip per page


@pytest.mark.parametrize("wait, work, concurrency, window", [
    (None, None, 8, 8),      # nothing timed yet: all at once
    (0.002, 0.010, 8, 2),    # a server next door
    (0.050, 0.010, 8, 6),    # a LAN
    (0.300, 0.010, 8, 8),    # a WAN: capped at the concurrency
    (0.300, 0.010, 1, 1),    # paging one page at a time stays so
    ([0.002, 0.030, 0.040, 0.030, 0.050], 0.010, 8, 2),  # waits lengthened by contention
])
def test_the_window_rule(wait, work, concurrency, window):
    from smartdc_nb.paging import PageTimes

    times = PageTimes()
    if wait is not None:
        for one in wait if isinstance(wait, list) else [wait] * 5:
            times.add(one, work)
    assert times.window(concurrency) == window


# --------------------------------------------------------------------------- hostile servers


class Hostile(BaseHTTPRequestHandler):
    """A server in front of which paging must end: ``self.server.answer(offset, limit)``
    gives ``(rows, x-resource-count)``; it stops answering after ``max_requests``."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._answer(with_body=True)

    def do_HEAD(self):  # noqa: N802
        self._answer(with_body=False)

    def _answer(self, with_body):
        server = self.server
        with server.lock:
            server.count += 1
            over = server.count > server.max_requests
        if over:  # bounded: a client that does not stop gets errors, then nothing
            self.send_error(500)
            return
        query = parse_qs(urlsplit(self.path).query)
        offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["1000"])[0])
        rows, count = server.answer(offset, limit)
        body = json.dumps(rows).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-resource-count", str(count))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile(connect):
    """``start(answer, **options) -> DataCenter`` talking to a hostile server."""
    servers = []

    def start(answer, max_requests=500, **options):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
        server.answer, server.max_requests = answer, max_requests
        server.count, server.lock = 0, threading.Lock()
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        dc = connect(retries=False, **options)
        dc.transport.url = f"http://127.0.0.1:{server.server_address[1]}"
        return dc, server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def rows(start, count):
    return [{"id": f"00000000-0000-4000-8000-{i:012d}", "name": f"m{i}"}
            for i in range(start, start + count)]


def bounded(call, seconds=30):
    """Run ``call`` in a thread; its result or exception, or fail if it has not ended."""
    out = {}

    def run():
        try:
            out["value"] = call()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the listing did not end within {seconds} s"
    return out, time.monotonic() - started


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_server_that_repeats_one_full_page_ends_the_listing(hostile, concurrency):
    dc, server = hostile(lambda offset, limit: (rows(0, limit), limit),
                         page_concurrency=concurrency)
    out, _ = bounded(dc.raw_machines)
    assert "error" not in out
    assert ids(out["value"]) == ids(rows(0, 1000))  # each machine once
    assert server.count <= 1 + 2 * concurrency


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_lying_resource_count_is_not_believed(hostile, concurrency):
    # three machines, always, with a header claiming a full page
    dc, server = hostile(lambda offset, limit: (rows(0, 3), 1000), page_concurrency=concurrency)
    out, _ = bounded(dc.raw_machines)
    assert ids(out["value"]) == ids(rows(0, 3))
    assert server.count == 1
    # and a header claiming less than the body holds does not end a full listing early
    dc, server = hostile(lambda offset, limit: (rows(offset, max(0, min(limit, 2500 - offset))), 0),
                         page_concurrency=concurrency)
    out, _ = bounded(dc.raw_machines)
    assert ids(out["value"]) == ids(rows(0, 2500))


@pytest.mark.parametrize("concurrency", [1, 4])
def test_rows_repeated_within_a_page_or_without_an_id_are_taken_as_sequential_paging_takes_them(
        hostile, concurrency):
    """A page that holds one id twice keeps it once; a row without an id (or with a
    non-text one) is always kept; and the rest of the listing is untouched."""
    odd = [{"name": "no id"}, {"id": 7, "name": "number id"}]

    def answer(offset, limit):
        page = rows(offset, max(0, min(limit, 1500 - offset)))
        if len(page) < limit:  # the last page: one row twice, and two rows without a text id
            page = page[:100] + [dict(page[3])] + odd + page[100:]
        return page, len(page)

    dc, _ = hostile(answer, page_concurrency=concurrency)
    out, _ = bounded(dc.raw_machines)
    listed = out["value"]
    assert [m["id"] for m in listed if isinstance(m.get("id"), str)] == ids(rows(0, 1500))
    assert [m for m in listed if not isinstance(m.get("id"), str)] == odd


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_server_with_endless_new_pages_hits_the_page_cap(hostile, concurrency):
    dc, server = hostile(lambda offset, limit: (rows(offset, limit), limit),
                         page_concurrency=concurrency, max_pages=20)
    out, seconds = bounded(dc.raw_machines)
    error = out.get("error")
    assert isinstance(error, PagingError), out
    assert "did not end after 20 pages" in str(error) and "max_pages" in str(error)
    assert server.count <= 20


def test_counting_against_a_server_that_says_every_page_is_full_ends(hostile):
    dc, server = hostile(lambda offset, limit: ([], limit), max_pages=30)
    out, _ = bounded(dc.num_machines)
    assert isinstance(out.get("error"), PagingError)
    assert "30 pages" in str(out["error"]) and server.count == 30


def test_a_page_that_is_not_a_list_is_a_clear_error(hostile):
    dc, _ = hostile(lambda offset, limit: ({"machines": []}, 0))
    out, _ = bounded(dc.raw_machines)
    assert isinstance(out.get("error"), TransportError)
    assert "not a list" in str(out["error"])


def test_paging_options_are_checked(connect):
    from smartdc_nb.errors import InvalidInputError

    for bad in ({"page_concurrency": 0}, {"max_pages": "10"}, {"page_concurrency": True}):
        with pytest.raises(InvalidInputError, match="whole number >= 1"):
            connect(**bad)
