"""What a poll cycle cost (time, requests per API, time queued for the rate limit) against the rate budget,
and the warning when cycles outlast the interval.

Fed by the request stats and the rate limiter that every request goes through; the poller reads nothing
else about requests. The same two feeds tell the hang guard (:mod:`exporter.workerpool`) whether requests
still move.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from exporter.ratelimit import RateLimits
from exporter.stats import RequestStats

log = logging.getLogger("exporter.poller")  # the poller's own warnings, under the name operators filter on
OVERRUN_LOG_EVERY = 600.0  # seconds between warnings while poll cycles keep outlasting the interval


@dataclass(frozen=True, slots=True)
class CycleStart:
    """The counters when a cycle began."""

    sent: dict[str, int]
    waited: float


@dataclass(frozen=True, slots=True)
class CycleCost:
    """One cycle: how long it took, how long its requests queued for the rate limit, the requests it sent per
    API (retries included: they spend budget too) and what the rate budget allows per interval."""

    seconds: float
    waited: float
    requests: tuple[tuple[str, int], ...]
    budget: tuple[tuple[str, float], ...]  # rate-limited APIs the cycle used only

    def shortfall(self) -> list[str]:
        """One phrase per API that needed more requests than its budget allows."""
        budget = dict(self.budget)
        return [f"{api}: {count} requests, poll.rate_limit allows {budget[api]:g}" for api, count in self.requests
                if api in budget and count > budget[api]]


class CycleAccounting:
    """Counts each cycle's cost from the request stats, and warns when cycles start to outlast the interval."""

    def __init__(self, stats: RequestStats, rate_limits: RateLimits, interval: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._stats = stats
        self._rate_limits = rate_limits
        self.interval = interval
        self._monotonic = monotonic
        self._overrun_logged_at: float | None = None
        self._shortfall_logged = False

    def begin(self) -> CycleStart:
        """The counters now, for :meth:`end`."""
        return CycleStart(self._sent(), self._waited())

    def end(self, start: CycleStart, seconds: float) -> CycleCost:
        """The cost of the cycle begun at ``start`` that took ``seconds``; reported if it overran."""
        sent = self._sent()
        requests = tuple(sorted((api, count - start.sent.get(api, 0)) for api, count in sent.items()))
        budget = tuple((api, rate * self.interval) for api, _ in requests
                       if (rate := self._rate_limits.rate(api)) is not None)
        cost = CycleCost(seconds, self._waited() - start.waited, requests, budget)
        self.report(cost)
        return cost

    def report(self, cost: CycleCost) -> None:
        """Warn when cycles start to outlast the interval, then at most every OVERRUN_LOG_EVERY seconds (sooner
        once, when a shortfall of the rate budget first shows: the first long cycle may have had none)."""
        now = self._monotonic()
        if cost.seconds <= self.interval:
            self._overrun_logged_at = None
            self._shortfall_logged = False
            return
        short = cost.shortfall()
        recent = self._overrun_logged_at is not None and now - self._overrun_logged_at < OVERRUN_LOG_EVERY
        if recent and (self._shortfall_logged or not short):
            return
        self._overrun_logged_at = now
        self._shortfall_logged = bool(short)
        if short:
            log.warning("a poll cycle took %.1fs, longer than poll.interval_seconds (%gs), its requests waited "
                        "%.1fs in all for the client rate limit: the targets need more requests per interval than "
                        "the rate budget allows (%s); cycles stretch and every target is still polled, the "
                        "stalest first (raise poll.interval_seconds or shard to poll each target every interval)",
                        cost.seconds, self.interval, cost.waited, "; ".join(short))
            return
        log.warning("a poll cycle took %.1fs, longer than poll.interval_seconds (%gs); its requests waited %.1fs "
                    "in all for the client rate limit: if that is most of it, the targets need more requests "
                    "than poll.rate_limit allows per interval (raise poll.interval_seconds or shard)",
                    cost.seconds, self.interval, cost.waited)

    def progress(self) -> tuple[int, float]:
        """Something that changes while requests move: requests answered, time waited for the rate limit."""
        return sum(self._stats.requests().values()), self._waited()

    def queueing(self) -> bool:
        """True while a caller waits for a rate-limit token (a wait that is not a hang)."""
        return bool(self._rate_limits.waiting())

    def _sent(self) -> dict[str, int]:
        """Requests sent so far per API, whatever their answer."""
        sent: dict[str, int] = {}
        for (api, _), count in self._stats.requests().items():
            sent[api] = sent.get(api, 0) + count
        return sent

    def _waited(self) -> float:
        return sum(self._stats.rate_limit_waits().values())
