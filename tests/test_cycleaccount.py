"""A cycle's cost, from the request stats and the rate limiter alone (no client, no poller)."""

from __future__ import annotations

from exporter.cycleaccount import CycleAccounting, CycleCost
from exporter.ratelimit import RateLimits
from exporter.stats import RequestStats


def test_a_cycles_cost_counts_only_its_own_requests_and_waits_against_the_budget():
    stats = RequestStats(("build", "repo"))
    accounting = CycleAccounting(stats, RateLimits.per_second({"build": 2.0}, 1), interval=10)
    stats.count_request("build", "200")  # before the cycle: not its cost
    stats.count_rate_limit_wait("build", 4.0)
    begun = accounting.begin()
    for code in ("200", "429", "error"):
        stats.count_request("build", code)
    stats.count_request("repo", "200")
    stats.count_rate_limit_wait("build", 1.5)
    cost = accounting.end(begun, seconds=3.0)
    assert cost == CycleCost(3.0, 1.5, (("build", 3), ("repo", 1)), (("build", 20.0),))  # repo has no rate limit
    assert cost.shortfall() == []
    assert CycleCost(30.0, 0.0, (("build", 21),), (("build", 20.0),)).shortfall() == [
        "build: 21 requests, poll.rate_limit allows 20"]


def test_progress_moves_with_answered_requests_and_rate_limit_waits():
    stats = RequestStats(("build",))
    accounting = CycleAccounting(stats, RateLimits({}), interval=10)
    seen = [accounting.progress()]
    stats.count_request("build", "200")
    seen.append(accounting.progress())
    stats.count_rate_limit_wait("build", 0.5)
    seen.append(accounting.progress())
    assert len(set(seen)) == 3 and not accounting.queueing()
