"""Retry decisions, backoff curve and deadlines, on a fake clock; target backoff."""

from __future__ import annotations

import random

import pytest

from exporter.errors import (
    AuthError,
    ClientError,
    NotFoundError,
    PayloadError,
    ServerError,
    ThrottledError,
    TransportError,
)
from exporter.retry import Retrier, RetryPolicy, TargetBackoff, retry_reason

from .fakeclock import FakeClock


@pytest.mark.parametrize(("error", "reason"), [
    (ThrottledError("throttled", status=429), "throttled"),
    (ThrottledError("throttled", status=500, error_code="CB.00060211"), "throttled"),
    (ServerError("bad gateway", status=502), "http_502"),
    (ServerError("unavailable", status=503), "http_503"),
    (ServerError("gateway timeout", status=504), "http_504"),
    (TransportError("reset"), "transport"),
    (ServerError("internal", status=500, error_code="CB.00060101"), None),
    (ClientError("bad", status=400), None),
    (AuthError("forbidden", status=403), None),
    (AuthError("unauthorized", status=401), None),
    (NotFoundError("gone", status=404), None),
    (PayloadError("truncated", status=200), None),
])
def test_only_transient_failures_are_retried(error, reason):
    assert retry_reason(error) == reason


class Script:
    """Fails with the given errors in order, then returns "ok"; records the time budget of each attempt."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def make_retrier(policy=None, seed=1):
    policy = policy or RetryPolicy()
    clock = FakeClock()
    retried: list[tuple[str, str]] = []
    retrier = Retrier(policy, on_retry=lambda api, reason: retried.append((api, reason)), clock=clock,
                      sleep=clock.sleep, rng=random.Random(seed))
    return retrier, clock, retried


def test_a_throttled_then_unavailable_request_succeeds_on_the_third_attempt():
    retrier, clock, retried = make_retrier()
    script = Script(ThrottledError("t", status=429), ServerError("u", status=503))
    assert retrier.call("repo", script) == "ok"
    assert retried == [("repo", "throttled"), ("repo", "http_503")]
    assert len(clock.sleeps) == 2


def test_waits_grow_exponentially_with_jitter_and_are_capped():
    policy = RetryPolicy(max_attempts=8, base_delay=1.0, max_delay=10.0, deadline=1000)
    retrier, clock, _ = make_retrier(policy)
    with pytest.raises(TransportError):
        retrier.call("build", Script(*[TransportError("x")] * 8))
    assert len(clock.sleeps) == 7
    for attempt, wait in enumerate(clock.sleeps, start=1):
        ceiling = min(10.0, 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert len(set(clock.sleeps)) > 1  # jittered, not a fixed ladder


def test_retry_after_replaces_the_computed_wait():
    retrier, clock, _ = make_retrier(RetryPolicy(deadline=100))
    assert retrier.call("repo", Script(ThrottledError("t", status=429, retry_after=7.0))) == "ok"
    assert clock.sleeps == [7.0]


def test_a_retry_after_beyond_the_deadline_gives_up_at_once():
    retrier, clock, retried = make_retrier(RetryPolicy(deadline=5))
    with pytest.raises(ThrottledError):
        retrier.call("repo", Script(ThrottledError("t", status=429, retry_after=60.0)))
    assert clock.sleeps == [] and retried == []


def test_attempts_are_bounded():
    retrier, clock, retried = make_retrier(RetryPolicy(max_attempts=3, deadline=1000))
    script = Script(*[ServerError("u", status=502)] * 10)
    with pytest.raises(ServerError):
        retrier.call("build", script)
    assert script.calls == 3 and len(retried) == 2


def test_the_deadline_bounds_the_total_time_of_attempts_and_waits():
    policy = RetryPolicy(max_attempts=100, base_delay=1.0, max_delay=4.0, deadline=10.0)
    retrier, clock, _ = make_retrier(policy)
    started = clock()
    script = Script(*[TransportError("x")] * 100)
    with pytest.raises(TransportError):
        retrier.call("repo", script)
    assert clock() - started <= 10.0
    assert script.calls >= 3


def test_permanent_failures_are_raised_without_a_retry():
    for error in (NotFoundError("n", status=404), AuthError("f", status=403), ClientError("b", status=400)):
        retrier, clock, retried = make_retrier()
        script = Script(error)
        with pytest.raises(type(error)):
            retrier.call("repo", script)
        assert script.calls == 1 and clock.sleeps == [] and retried == []


def test_a_failing_target_backs_off_exponentially_up_to_the_cap():
    backoff = TargetBackoff(interval=60, max_seconds=600)
    assert [backoff.delay(n) for n in range(1, 8)] == [60, 120, 240, 480, 600, 600, 600]
    assert backoff.delay(10_000) == 600
    assert TargetBackoff(interval=60, max_seconds=30).delay(5) == 60  # never faster than the interval


def test_time_queued_for_the_rate_limit_does_not_eat_the_retry_deadline():
    clock = FakeClock()
    paused = [0.0]

    def attempt():
        paused[0] += 50.0  # each attempt queued 50 s for a token
        clock.advance(50.0)
        raise ServerError("u", status=503)

    retrier = Retrier(RetryPolicy(max_attempts=3, base_delay=1.0, deadline=10.0), clock=clock, sleep=clock.sleep,
                      rng=random.Random(1), paused=lambda: paused[0])
    with pytest.raises(ServerError):
        retrier.call("repo", attempt)
    assert len(clock.sleeps) == 2  # both retries happened although 150 s passed


def test_a_retry_is_skipped_when_another_attempt_as_slow_would_overrun_the_deadline():
    clock = FakeClock()

    def slow_attempt():
        clock.advance(4.0)  # e.g. a request that ran into its timeout
        raise TransportError("timed out")

    retrier = Retrier(RetryPolicy(max_attempts=10, base_delay=0.2, max_delay=0.2, deadline=10.0), clock=clock,
                      sleep=clock.sleep, rng=random.Random(1))
    started = clock()
    with pytest.raises(TransportError):
        retrier.call("build", slow_attempt)
    assert len(clock.sleeps) == 1 and clock() - started <= 10.0  # 4 + 0.2 + 4, not a third attempt
