"""How a target's job list moves from one successful poll to the next.

Each job appears once (a listing that repeats a job, as a shifting page can, keeps its last copy), so
a job never shows two statuses at once. A job missing from a fresh listing is carried for ``grace``
seconds from when it was first missed, then dropped, so it leaves /metrics; with no grace it leaves
at once. Pure functions: the poller passes the clock's time in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

J = TypeVar("J")

MissingSince = tuple[tuple[str, float], ...]
"""(job key, time the job was first missing from a listing), sorted by key."""


def merge_listing(
    previous: Iterable[J],
    previous_missing: MissingSince,
    fresh: Iterable[J],
    key: Callable[[J], str],
    now: float,
    grace: float,
) -> tuple[tuple[J, ...], MissingSince]:
    """The jobs to show after a successful poll, and when each carried job was first missed."""
    current: dict[str, J] = {}
    for job in fresh:
        current.pop(key(job), None)
        current[key(job)] = job  # the last copy wins, at the last copy's place
    if grace <= 0:
        return tuple(current.values()), ()
    first_missed = dict(previous_missing)
    carried: list[J] = []
    still_missing: dict[str, float] = {}
    for job in previous:
        job_key = key(job)
        if job_key in current or job_key in still_missing:
            continue
        since = first_missed.get(job_key, now)
        if now - since < grace:
            carried.append(job)
            still_missing[job_key] = since
    return (*current.values(), *carried), tuple(sorted(still_missing.items()))
