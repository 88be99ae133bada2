"""One set of bounds on run times for every source: what a duration must look like to be observed.

A finished run's duration is its end minus its start when both are known, the end is not before the start
and the span is at most :data:`MAX_DURATION_SECONDS` (a year). Anything else (no start time, an end before
the start, a far-future end that made 2.25e9 s) is no reading: the run is still counted in its source's run
counters, but its duration is not observed, and the run contradicts the ``times_in_range`` assumption.
"""

from __future__ import annotations

from exporter.limits import MAX_DURATION_SECONDS

__all__ = ["MAX_DURATION_SECONDS", "span"]


def span(start: float | None, end: float | None, paused: float = 0.0) -> float | None:
    """Seconds from ``start`` to ``end`` less ``paused`` (not below 0), or None when out of bounds."""
    if start is None or end is None:
        return None
    seconds = end - start
    if not 0 <= seconds <= MAX_DURATION_SECONDS:
        return None
    return max(0.0, seconds - paused)
