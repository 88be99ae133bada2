"""The ``history:`` settings, shared by every source with run history."""

from __future__ import annotations

from dataclasses import dataclass

# 10 s .. 4 h: quick checks to long release builds.
DEFAULT_DURATION_BUCKETS: tuple[float, ...] = (
    10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400,
)
DEFAULT_QUEUED_BUCKETS: tuple[float, ...] = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """Run history: which records API, histogram buckets (seconds), pages per job and cycle, and the
    records requests per cycle (None: a quarter of what the Build rate limit allows in one interval)."""

    enabled: bool = True
    api: str = "v1"
    buckets: tuple[float, ...] = DEFAULT_DURATION_BUCKETS
    queued_buckets: tuple[float, ...] = DEFAULT_QUEUED_BUCKETS
    max_pages: int = 5
    max_requests_per_cycle: int | None = None
