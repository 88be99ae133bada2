"""Client-side rate limits: one token bucket per CodeArts API, shared by every poll worker.

CodeArts Repo allows 600 calls a minute per API for a whole region, and both APIs throttle callers
that go faster. Each request takes a token first; tokens refill at ``rate`` per second up to
``burst``. A caller that finds the bucket empty reserves the next token and sleeps until it is due,
so concurrent workers queue in arrival order and the long-run rate never exceeds ``rate``.
Clock and sleep are injectable so tests run on a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from exporter.errors import CodeArtsError


class RateLimitWait(CodeArtsError):
    """The rate limit would delay a request past the caller's deadline; nothing was sent."""

    reason = "rate_limit"


class TokenBucket:
    """A token bucket of ``burst`` tokens refilled at ``rate`` tokens per second (fractions allowed)."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0 or not burst >= 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got rate={rate!r} burst={burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def reserve(self, max_wait: float | None = None) -> float | None:
        """Take a token now, or book the next one; returns the seconds to wait before sending.

        None (and nothing booked) when the wait would exceed ``max_wait``.
        """
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            if max_wait is not None and wait > max_wait:
                return None
            self._tokens -= 1  # may go below zero: later callers queue behind this booking
            return wait

    def acquire(self, max_wait: float | None = None) -> float:
        """Block until a token is ours; returns the seconds waited. Raises :class:`RateLimitWait`."""
        wait = self.reserve(max_wait)
        if wait is None:
            raise RateLimitWait(f"client rate limit of {self.rate:g}/s would delay the request past its deadline")
        if wait > 0:
            self._sleep(wait)
        return wait


class RateLimits:
    """The buckets of every API by name; an API without a bucket is not limited."""

    def __init__(self, buckets: Mapping[str, TokenBucket]) -> None:
        self._buckets = dict(buckets)
        self._local = threading.local()
        self._waiting_lock = threading.Lock()
        self._waiting = 0

    @classmethod
    def per_second(
        cls,
        rates: Mapping[str, float],
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RateLimits:
        """One bucket per API from ``{api: requests per second}``, all with the same burst."""
        return cls({api: TokenBucket(rate, burst, clock=clock, sleep=sleep) for api, rate in rates.items()})

    def acquire(self, api: str, max_wait: float | None = None) -> float:
        """Wait for ``api``'s next token (see :meth:`TokenBucket.acquire`); returns the seconds waited."""
        bucket = self._buckets.get(api)
        if bucket is None:
            return 0.0
        with self._waiting_lock:
            self._waiting += 1
        try:
            waited = bucket.acquire(max_wait)
        finally:
            with self._waiting_lock:
                self._waiting -= 1
        self._local.waited = self.waited_by_this_thread() + waited
        return waited

    def waiting(self) -> int:
        """Callers waiting for a token now: a poll queued behind the budget is slow, not hung."""
        with self._waiting_lock:
            return self._waiting

    def waited_by_this_thread(self) -> float:
        """Seconds the calling thread has spent waiting for tokens, ever (lets a retry deadline leave them out)."""
        return getattr(self._local, "waited", 0.0)

    def rate(self, api: str) -> float | None:
        """The configured rate of ``api`` in requests per second; None if unlimited."""
        bucket = self._buckets.get(api)
        return bucket.rate if bucket else None
