"""Transport behaviour over loopback HTTP against the emulator: retries, Retry-After,
the rate limiter, paging, encoding, headers and logging (error mapping: test_transport_errors)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

import smartdc_nb

from smartdc_nb.errors import (InvalidArgumentError, NotFoundError, ServerError,
                               ServiceUnavailableError, TooManyRequestsError, TransportError)
from smartdc_nb.ratelimit import RateLimiter


def attempts(emu, method, path_end):
    """How many times the emulator saw ``method`` on a path ending with ``path_end``."""
    return sum(1 for r in emu.requests if r["method"] == method and r["path"].endswith(path_end))


# --------------------------------------------------------------------------- retries


def test_429_is_retried_for_a_post_honouring_retry_after(emu, dc):
    machine = dc.raw_machines(state="running")[0]
    emu.faults.add(path=f"/machines/{machine['id']}$", method="POST", status=429, count=2,
                   retry_after=1)
    started = time.monotonic()
    reply = dc.request("POST", "machines", machine["id"], json={"action": "stop"})
    assert reply.status == 202
    assert attempts(emu, "POST", machine["id"]) == 3
    # the server asked for a 1 s pause twice; the client may not come back sooner
    assert time.monotonic() - started >= 1.9


def test_retry_after_as_an_http_date_is_honoured(emu, dc):
    # Retry-After in its other form (an HTTP date) is honoured too: the retry waits for it
    when = time.time() + 2
    emu.faults.add(path=r"/machines\?", status=429, count=1,
                   retry_after=time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(when)))
    dc.raw_machines()
    assert time.time() >= when - 1.05  # an HTTP date has one-second resolution


def test_503_is_retried_for_get_but_not_for_post(emu, dc):
    emu.faults.add(path=r"/machines\?", method="GET", status=503, count=2)
    assert len(dc.raw_machines()) > 0
    assert attempts(emu, "GET", "/machines") == 3

    emu.clear_requests()
    emu.faults.clear()
    emu.faults.add(path=r"/machines$", method="POST", status=503, count=1)
    with pytest.raises(ServiceUnavailableError) as err:
        dc.request("POST", "machines", json={"name": "x"})
    assert attempts(emu, "POST", "/machines") == 1
    assert err.value.status == 503
    assert err.value.request_id


def test_500_is_retried_for_an_idempotent_read_like_502_to_504(emu, dc):
    emu.faults.add(path=r"/packages$", status=500, count=2)
    assert dc.packages()
    assert attempts(emu, "GET", "/packages") == 3


def test_500_on_a_post_is_not_retried_and_says_what_failed(emu, dc):
    emu.faults.add(path=r"/machines$", method="POST", status=500, count=1)
    with pytest.raises(ServerError) as err:
        dc.request("POST", "machines", json={"name": "z"})
    assert attempts(emu, "POST", "/machines") == 1
    exc = err.value
    assert (exc.status, exc.code, exc.method) == (500, "InternalError", "POST")
    assert exc.path == "/demo/machines"
    assert "POST /demo/machines: [500 InternalError]" in str(exc)
    assert exc.request_id and exc.request_id in str(exc)


def test_dropped_connection_is_retried_for_get_only(emu, dc):
    emu.faults.add(path=r"/packages$", drop=True, count=1)
    assert dc.packages()
    assert attempts(emu, "GET", "/packages") == 2

    emu.faults.add(path=r"/machines$", method="POST", drop=True, count=1)
    with pytest.raises(TransportError, match="no answer from CloudAPI"):
        dc.request("POST", "machines", json={"name": "y"})
    assert attempts(emu, "POST", "/machines") == 1


def test_retry_budget_in_seconds_gives_up_on_a_long_retry_after(emu, connect):
    dc = connect(retry_budget=3)
    emu.faults.add(path=r"/packages$", status=429, retry_after=30)
    started = time.monotonic()
    with pytest.raises(TooManyRequestsError) as err:
        dc.packages()
    assert time.monotonic() - started < 3  # did not sit out 30 s it was not allowed to wait
    assert err.value.retry_after == 30
    assert attempts(emu, "GET", "/packages") == 1


def test_throttled_without_retry_after_backs_off_and_succeeds(emu, connect):
    # CloudAPI itself sends no Retry-After on 429: exponential backoff applies
    dc = connect(retry_budget=20)
    emu.faults.add(path=r"/packages$", status=429, count=3)
    assert dc.packages()
    assert attempts(emu, "GET", "/packages") == 4


def test_retries_can_be_turned_off(emu, connect):
    dc = connect(retries=False)
    emu.faults.add(path=r"/packages$", status=503, count=1)
    with pytest.raises(ServiceUnavailableError):
        dc.packages()
    assert attempts(emu, "GET", "/packages") == 1


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:  # bound, never listening: connecting is refused
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_connection_refused_fails_at_once_in_one_readable_paragraph(emu, triton_keys, caplog):
    import traceback

    key = triton_keys["rsa"]
    url = f"http://127.0.0.1:{_closed_port()}"
    dc = smartdc_nb.connect(url=url, account="demo", key_id=key.md5, key_path=str(key.private),
                            rate_limit=False, changefeed=False)
    caplog.set_level(logging.INFO, logger="smartdc_nb")
    with pytest.raises(TransportError) as err:
        dc.machines()  # the default retries and budget (8 retries in 60 s)
    retries = [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retries) <= 1, [r.getMessage() for r in retries]  # refused is not transient
    text = str(err.value)
    assert url in text and "refused" in text and "\n" not in text
    assert isinstance(err.value.__cause__, ConnectionRefusedError)  # the cause, chained
    shown = "".join(traceback.format_exception(err.value))
    # not a chain of four library exceptions through dozens of urllib3/requests frames
    assert shown.count("The above exception") == 1 and "site-packages" not in shown, shown



def test_a_refused_connection_inside_an_except_block_still_fails_at_once(emu, triton_keys, caplog):
    """A panel refreshes its machine after a failed wait, inside its error handler: the
    refused connection then carries the handled exception as its __context__, which must
    not be taken for the cause (it was retried with backoff for the whole retry budget and
    reported as "no answer from CloudAPI ('unrelated')")."""
    key = triton_keys["rsa"]
    url = f"http://127.0.0.1:{_closed_port()}"
    dc = smartdc_nb.connect(url=url, account="demo", key_id=key.md5, key_path=str(key.private),
                            rate_limit=False, changefeed=False, backoff=0.01)
    caplog.set_level(logging.INFO, logger="smartdc_nb")
    with pytest.raises(TransportError) as err:
        try:
            raise KeyError("unrelated")
        except KeyError:
            dc.account()
    retries = [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retries) <= 1, [r.getMessage() for r in retries]
    text = str(err.value)
    assert url in text and "refused" in text and "unrelated" not in text

# --------------------------------------------------------------------------- rate limit


def test_client_limiter_keeps_a_burst_under_the_cloud_throttle(emu, connect):
    emu.set_throttle({"burst": 5, "rate": 5})
    # Half the cloud's rate: the cloud counts arrivals, and on a loaded machine requests sent
    # on the client's schedule arrive bunched (at 4.5/s against 5/s this failed now and then)
    limiter = RateLimiter(rate=2.5, burst=5)
    dc = connect(rate_limit=limiter)
    errors = []

    def worker():
        try:
            for _ in range(3):
                dc.account()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    statuses = [r["status"] for r in emu.requests]
    assert statuses.count(200) == 12
    assert 429 not in statuses  # the client never made the cloud throttle it


def test_without_a_limiter_the_cloud_throttles_and_retries_recover(emu, connect):
    emu.set_throttle({"burst": 3, "rate": 5})
    dc = connect(rate_limit=False, retry_budget=30)
    for _ in range(8):
        dc.account()
    statuses = [r["status"] for r in emu.requests]
    assert 429 in statuses  # the emulator did throttle us...
    assert statuses.count(200) == 8  # ...and every request still succeeded


def test_rate_limit_is_shared_per_datacenter_and_login(emu, connect):
    a, b = connect(rate_limit=True), connect(rate_limit=True)
    west = connect("us-west-1", rate_limit=True)
    assert a.transport.limiter is b.transport.limiter
    assert west.transport.limiter is not a.transport.limiter


# --------------------------------------------------------------------------- paging


def test_paging_returns_a_fleet_of_any_size_whole(emu, dc, connect):
    handle = emu.datacenter("us-east-1")
    seeded = len(dc.raw_machines())
    for i in range(2150 - seeded):
        handle.put_machine(name=f"bulk-{i:04d}", state="running")
    emu.clear_requests()
    sequential = connect(page_concurrency=1).raw_machines()  # as node-triton pages
    assert len(sequential) == 2150
    assert len({m["id"] for m in sequential}) == 2150
    pages = [r for r in emu.requests if r["path"] == "/demo/machines"]
    assert [(p["query"]["limit"], p["query"]["offset"]) for p in pages] == [
        ("1000", "0"), ("1000", "1000"), ("1000", "2000")]
    # in parallel: the first page alone (the list may be small), then 4 ahead at once, each
    # repeating the last 25 rows of the one before; the result is the same
    emu.clear_requests()
    assert dc.raw_machines() == sequential
    offsets = [int(r["query"]["offset"]) for r in emu.requests if r["path"] == "/demo/machines"]
    # (pages past the end are asked speculatively: those not started when the end is known
    # are not sent)
    assert offsets[0] == 0 and {975, 1950} <= set(offsets[1:]) <= {975, 1950, 2925, 3900, 4875}
    # the next listing of the same list asks as many pages at once as it took last time
    emu.clear_requests()
    assert dc.raw_machines() == sequential
    offsets = [int(r["query"]["offset"]) for r in emu.requests if r["path"] == "/demo/machines"]
    assert sorted(offsets) == [0, 975, 1950]
    # counting uses HEAD: no bodies, filters honoured (py-smartdc's num_machines ignored them)
    emu.clear_requests()
    assert dc.num_machines() == 2150
    assert {r["method"] for r in emu.requests} == {"HEAD"}
    assert dc.num_machines(name="bulk-0001") == 1


def test_a_page_of_exactly_the_limit_asks_once_more(emu, connect):
    dc = connect(page_concurrency=1)
    for page in dc.transport.paginate(dc.path("machines"), limit=5):
        assert len(page) <= 5
    pages = [r for r in emu.requests if r["path"] == "/demo/machines"]
    total = len(dc.raw_machines())
    assert len(pages) == total // 5 + 1


# --------------------------------------------------------------------------- encoding, logging


def test_path_segments_are_url_encoded(emu, dc):
    mid = dc.raw_machines(state="running")[0]["id"]
    odd = "a/b c?d#e%f"
    dc.request("POST", "machines", mid, "tags", json={odd: "v"})
    deadline = time.monotonic() + 5  # tag changes are a job: they land a moment later
    while True:
        try:
            assert dc.request("GET", "machines", mid, "tags", odd).data == "v"
            break
        except NotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    assert dc.path("machines", mid, "tags", odd).endswith("/tags/a%2Fb%20c%3Fd%23e%25f")


@pytest.mark.parametrize("name", ["..", "."])
def test_a_dot_segment_names_the_tag_not_the_path_above(emu, dc, name):
    """A tag or metadata key named ``..`` or ``.`` is that name on the wire. Left as it is,
    HTTP clients resolve it as a relative path (RFC 3986): ``DELETE …/tags/..`` became
    ``DELETE /machines/<id>/``, deleting the machine."""
    machine = dc.machine(dc.raw_machines(state="running")[0]["id"])
    emu.clear_requests()
    with pytest.raises(NotFoundError):
        machine.delete_tag(name)
    with pytest.raises(NotFoundError):
        machine.delete_metadata_at_key(name)
    assert [r["method"] for r in emu.requests] == ["DELETE", "DELETE"]
    assert [r["path"].rsplit("/", 2)[1:] for r in emu.requests] == [
        ["tags", name], ["metadata", name]]
    assert dc.request("GET", "machines", machine.id).data["state"] == "running"
    assert dc.path("machines", machine.id, "tags", name).endswith("/tags/" + "%2E" * len(name))


def test_query_values_reach_the_cloud_as_given(emu, dc):
    """The transport encodes the query itself (requests' own merge costs ~45 µs a request):
    the values the server reads, and the query string on the wire, are what requests made."""
    import requests

    odd = {"name": "a b&c=d?e#f%g+h/ü", "tag.role": "x y", "brand": True, "limit": 3,
           "skip": None}
    emu.clear_requests()
    urls = []
    dc.transport.session.hooks["response"].append(lambda r, **_: urls.append(r.request.url))
    # VMAPI refuses such a name and brand (409); the request log still shows what arrived
    with pytest.raises(InvalidArgumentError, match="alias: .*brand: "):
        dc.request("GET", "machines", params=odd)
    assert emu.requests[-1]["query"] == {"name": "a b&c=d?e#f%g+h/ü", "tag.role": "x y",
                                         "brand": "true", "limit": "3"}
    sent = {k: ("true" if v is True else str(v)) for k, v in odd.items() if v is not None}
    assert urls == [requests.Request("GET", dc.url + "/demo/machines", params=sent).prepare().url]


def test_each_request_is_logged_without_secrets(emu, dc, caplog):
    caplog.set_level(logging.DEBUG, logger="smartdc_nb")
    dc.account()
    records = [r.getMessage() for r in caplog.records if r.name == "smartdc_nb"]
    assert any(m.startswith("GET /demo -> 200 (request id ") and " ms)" in m for m in records)
    logged = "\n".join(records)
    assert "Signature" not in logged and "signature=" not in logged


def test_requests_carry_the_headers_cloudapi_expects(emu, dc):
    dc.account()
    dc.request("POST", "machines", dc.raw_machines()[0]["id"], "tags", json={"k": "v"})
    get, post = emu.requests[0], emu.requests[-1]
    assert get["headers"]["accept"] == "application/json"
    assert get["headers"]["accept-version"] == "~9||~8"
    assert get["headers"]["user-agent"].startswith(f"smartdc_nb/{smartdc_nb.__version__} (python/")
    assert get["headers"]["date"].endswith(" GMT")
    assert post["headers"]["content-type"] == "application/json"
    assert post["body"] == {"k": "v"}


def test_an_unreadable_retry_after_falls_back_to_backoff(emu, dc):
    # a proxy may send Retry-After in neither form: retry with backoff, don't crash
    emu.faults.add(path=r"/packages$", status=429, count=1, retry_after="soon, probably")
    assert dc.packages()
    assert attempts(emu, "GET", "/packages") == 2


def test_pages_read_whole_leave_the_connection_to_the_next_request(emu, connect):
    """A body of known length is read in one go; the connection still goes back to the
    pool, so a listing one page after another keeps one connection alive."""
    handle = emu.datacenter("us-east-1")
    for i in range(30):
        handle.put_machine(name=f"paged-{i}")
    dc = connect(page_concurrency=1)
    listed = [m for page in dc.transport.paginate("/demo/machines", limit=7) for m in page]
    assert len(listed) == len({m["id"] for m in listed}) >= 30
    manager = dc.transport.session.get_adapter(dc.transport.url).poolmanager
    pools = [manager.pools[key] for key in manager.pools.keys()]
    assert [(p.num_connections, p.num_requests >= 5) for p in pools] == [(1, True)]
