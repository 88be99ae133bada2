"""The per-API token buckets, on a fake clock."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.ratelimit import RateLimits, RateLimitWait, TokenBucket
from exporter.sources.builtin import BUILTIN

from .fakeclock import FakeClock


def test_a_full_bucket_lets_a_burst_through_then_spaces_requests_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(4.0, 3, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(7)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.25, 0.25, 0.25, 0.25])


def test_fractional_rate_means_one_request_every_few_seconds():
    clock = FakeClock()
    bucket = TokenBucket(0.2, 1, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    assert bucket.acquire() == pytest.approx(5.0)
    clock.advance(2.0)
    assert bucket.acquire() == pytest.approx(3.0)


def test_idle_time_refills_no_further_than_the_burst():
    clock = FakeClock()
    bucket = TokenBucket(1.0, 2, clock=clock, sleep=clock.sleep)
    clock.advance(3600)
    assert [bucket.acquire() for _ in range(3)] == pytest.approx([0.0, 0.0, 1.0])


def test_a_wait_past_the_deadline_books_nothing_and_raises():
    clock = FakeClock()
    bucket = TokenBucket(0.5, 1, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    with pytest.raises(RateLimitWait) as caught:
        bucket.acquire(max_wait=1.0)
    assert caught.value.reason == "rate_limit"
    assert bucket.acquire(max_wait=2.0) == pytest.approx(2.0)  # the refused call took no token


@settings(max_examples=300, deadline=None)
@given(rate=st.floats(0.05, 50), burst=st.integers(1, 10),
       gaps=st.lists(st.floats(0, 3), min_size=1, max_size=60))
def test_requests_in_any_window_never_exceed_burst_plus_rate_times_window(rate, burst, gaps):
    clock = FakeClock()
    bucket = TokenBucket(rate, burst, clock=clock, sleep=clock.sleep)
    sent = []
    for gap in gaps:
        clock.advance(gap)
        bucket.acquire()
        sent.append(clock())
    for i, start in enumerate(sent):
        for j in range(i, len(sent)):
            assert j - i + 1 <= burst + rate * (sent[j] - start) + 1e-6


def test_workers_sharing_a_bucket_queue_behind_each_other():
    clock = FakeClock()
    bucket = TokenBucket(2.0, 1, clock=clock, sleep=lambda s: None)  # time stands still: bookings pile up
    waits: list[float] = []
    lock = threading.Lock()

    def worker():
        wait = bucket.acquire()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([0.5 * i for i in range(9)])


def test_an_api_without_a_bucket_is_not_limited_and_rates_are_reported():
    clock = FakeClock()
    limits = RateLimits.per_second({"repo": 1.0}, 1, clock=clock, sleep=clock.sleep)
    assert [limits.acquire("build") for _ in range(5)] == [0.0] * 5
    assert limits.rate("repo") == 1.0 and limits.rate("build") is None


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0), (float("nan"), 1)])
def test_a_bucket_refuses_nonsense_settings(rate, burst):
    with pytest.raises(ValueError, match="rate must be > 0"):
        TokenBucket(rate, burst)


def test_each_shard_takes_its_share_of_the_tenant_budget():
    from exporter.config import parse_config
    from exporter.sharding import ShardSpec
    from exporter.wiring import shard_rate_limits

    config = parse_config({"region": "cn-north-4", "auth": {"token": "t"}, "projects": [{"id": "a" * 32}],
                           "poll": {"rate_limit": {"repo": 8, "build": 6, "iam": 0.3, "burst": 4}}}, sources=BUILTIN)
    limits = shard_rate_limits(config, ShardSpec(1, 3))
    assert (limits.rate("repo"), limits.rate("build"), limits.rate("iam")) == pytest.approx((8 / 3, 2.0, 0.1))
    assert shard_rate_limits(config, ShardSpec(0, 8))._buckets["repo"].burst == 1.0  # never below one request
