"""The ``history:`` settings, shared by every source with run history."""

from __future__ import annotations

from dataclasses import dataclass

# Chosen for the series budget (docs/metrics.md: at most 40 series per job with run history on). CI run
# durations spread over about two decades, 30 s to an hour, with most between 1 and 20 minutes: bounds
# that about double from one to the next put a p50/p95 within one bucket of its true value over that
# range, and +Inf takes the rare longer run. Queue times are seconds when agents are free and minutes to a
# quarter of an hour when they are not.
DEFAULT_DURATION_BUCKETS: tuple[float, ...] = (30, 60, 120, 300, 600, 1200, 3600)
DEFAULT_QUEUED_BUCKETS: tuple[float, ...] = (5, 15, 60, 300, 900)


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """Run history, for every source that has one: histogram buckets (seconds), pages per job and cycle, and
    the records requests per cycle (None: a share of what the source's rate limit allows in one interval).
    What differs by source (Build's records API, say) is in the source's own section."""

    enabled: bool = True
    buckets: tuple[float, ...] = DEFAULT_DURATION_BUCKETS
    queued_buckets: tuple[float, ...] = DEFAULT_QUEUED_BUCKETS
    max_pages: int = 5
    max_requests_per_cycle: int | None = None
