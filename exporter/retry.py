"""Retrying one CodeArts request, and backing off a target that keeps failing.

Retried: throttling (HTTP 429, and the error codes an API throttles with, such as Build's HTTP 500), 502/503/504,
a 5xx whose error code its API calls transient (such as Pipeline's "unknown service error"), and
failures without an HTTP answer (connection refused or reset, timeouts). Not retried: 400/403/404
and other 4xx (asking again gives the same answer), other 500s, bad payloads, and 401 (the auth
mode renews its credential itself). Waits grow exponentially with jitter; a ``Retry-After`` from
the server replaces the computed wait; attempts and the total time (a deadline inside the poll
interval) are both bounded.

Why not urllib3's ``Retry``: the client reads bodies itself (to cap their size), so ``Retry`` would
decide before the body is read, and Build's throttling is an HTTP 500 told apart from a real 500
only by the ``error_code`` in that body (each source names its codes: ``Source.throttle_codes``,
``Source.retryable_codes``), which ``Retry``'s status list cannot see. Retrying here
also lets every attempt pass the rate limiter and be counted.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from exporter.errors import CodeArtsError, ServerError, ThrottledError, TransientServerError, TransportError

T = TypeVar("T")

RETRYABLE_STATUSES = (502, 503, 504)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to retry one request: attempts, the wait curve, and a total deadline in seconds."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    deadline: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): ``retry_after`` if the server
        gave one, else half of ``base * 2**(attempt-1)`` (capped) plus a random part up to the other half."""
        if retry_after is not None:
            return retry_after
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


def retry_reason(err: CodeArtsError) -> str | None:
    """The label of a failure worth retrying (``throttled``, ``http_503``, ``transport``...); None if not."""
    if isinstance(err, ThrottledError):
        return "throttled"
    if isinstance(err, TransientServerError) or isinstance(err, ServerError) and err.status in RETRYABLE_STATUSES:
        return f"http_{err.status}"
    if isinstance(err, TransportError):
        return "transport"
    return None


class Retrier:
    """Runs a request function under a :class:`RetryPolicy`; clock, sleep and randomness are injectable."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        on_retry: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        paused: Callable[[], float] | None = None,
    ) -> None:
        self.policy = policy
        self._on_retry = on_retry
        self._paused = paused or (lambda: 0.0)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def call(self, api: str, attempt_once: Callable[[], T]) -> T:
        """``attempt_once()`` until it returns, fails for good, or attempts or time run out.

        Time counted by ``paused`` (waits for the client's own rate limit) is left out of the deadline:
        queueing for our budget must not cost the retries that keep a throttled target fresh. A retry is
        made only if its wait and an attempt as long as the last one still end within the deadline.
        """
        started = self._spent()
        attempt = 1
        while True:
            attempt_started = self._spent()
            try:
                return attempt_once()
            except CodeArtsError as err:
                reason = retry_reason(err)
                if reason is None or attempt >= self.policy.max_attempts:
                    raise
                retry_after = err.retry_after if isinstance(err, ThrottledError) else None
                wait = self.policy.delay(attempt, retry_after, self._rng)
                now = self._spent()
                # Another attempt like the last one must also fit: a request that timed out is not
                # retried when a second timeout would overrun the deadline.
                if now - started + wait + (now - attempt_started) > self.policy.deadline:
                    raise
                if self._on_retry is not None:
                    self._on_retry(api, reason)
                self._sleep(wait)
                attempt += 1

    def _spent(self) -> float:
        """The clock without the time paused for the rate limit."""
        return self._clock() - self._paused()


@dataclass(frozen=True, slots=True)
class TargetBackoff:
    """When to poll a target again after ``failures`` polls in a row failed: the next cycle after the
    first failure, then 2, 4, 8... intervals later, never later than ``max_seconds``."""

    interval: float
    max_seconds: float

    def delay(self, failures: int) -> float:
        """Seconds from a failed poll to the next poll of the same target."""
        if failures <= 1:
            return self.interval
        return float(max(self.interval, min(self.max_seconds, self.interval * 2 ** min(failures - 1, 30))))
