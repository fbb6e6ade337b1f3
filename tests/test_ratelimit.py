"""The client-side token bucket, driven by a fake clock (no sleeping, no flakiness)."""

import threading
import time

import pytest

from smartdc_nb.ratelimit import RateLimiter, shared_limiter


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_burst_then_rate():
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=5, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(8)]
    assert waits[:5] == [0, 0, 0, 0, 0]
    # each further request waits a tenth of a second for its token
    assert waits[5:] == pytest.approx([0.1, 0.1, 0.1])
    assert clock.now == pytest.approx(100.3)


def test_tokens_refill_while_idle_up_to_burst():
    clock = FakeClock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
    clock.now += 60  # a long pause refills only up to the burst
    assert [limiter.acquire() for _ in range(3)] == [0, 0, 0]
    assert limiter.acquire() == pytest.approx(0.5)


def test_disabled_limiter_never_waits():
    limiter = RateLimiter(rate=None)
    assert all(limiter.acquire() == 0 for _ in range(1000))


def test_threads_share_one_budget():
    limiter = RateLimiter(rate=200, burst=1)
    started = time.monotonic()
    waits = []
    lock = threading.Lock()

    def worker():
        for _ in range(10):
            w = limiter.acquire()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 40 requests with a burst of 1 at 200/s cannot all be granted in less than 39/200 s,
    # however the threads interleave: the rate is never exceeded
    assert len(waits) == 40
    assert time.monotonic() - started >= 39 / 200 * 0.95
    assert limiter.waited == pytest.approx(sum(waits))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(rate=0)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(rate=1, burst=0)


def test_shared_per_url_and_login():
    a = shared_limiter("http://127.0.0.1:1/", "demo")
    assert shared_limiter("HTTP://127.0.0.1:1", "demo") is a
    assert shared_limiter("http://127.0.0.1:1", "other") is not a
    assert shared_limiter("http://127.0.0.1:2", "demo") is not a
