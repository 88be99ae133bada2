"""High-water marks over numbered runs, shared by the sources that fetch their runs (Build, Pipeline).

A mark is the highest run number up to which every run has been counted or found gone, plus the numbers
above it already counted; a source fetches the runs above its mark, counts the finished ones, and moves the
mark with :func:`advance`. :class:`FetchTask` is one such fetch, handed to a poll worker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

E = TypeVar("E")


def advance(high: int, above: set[int], runs: Mapping[int, Any]) -> tuple[int, int]:
    """Move a high-water mark over counted numbers (dropping them from ``above``) and over numbers missing
    below the newest listed run (older than the API's window, deleted, or beyond ``max_pages``); returns the
    new mark and how many were missing. Numbers above the newest listed run wait: they may be listed later."""
    newest = max(runs, default=high)
    gone = 0
    while high < newest:
        following = high + 1
        if following in above:
            above.discard(following)
        elif following not in runs:
            gone += 1
        else:
            break  # listed, not finished yet
        high = following
    return high, gone


@dataclass(frozen=True, slots=True)
class FetchTask(Generic[E]):
    """One target's runs fetch of a cycle, a task for a poll worker: ``catch_up(entry, start_by, tried)``."""

    catch_up: Callable[[E, float | None, int], None]
    entry: E
    start_by: float | None  # monotonic time after which the task does nothing (its target keeps its place)
    tried: int  # the target's previous turn, given back if this one does not start in time

    def __call__(self) -> None:
        self.catch_up(self.entry, self.start_by, self.tried)
