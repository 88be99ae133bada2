"""High-water marks over numbered runs, for :mod:`exporter.runhistory.numbered`.

A :class:`Mark` is the highest run number up to which every run has been counted or found gone, plus the
numbers above it already counted; a source fetches the runs above its mark, counts the finished ones, and
moves the mark with :func:`advance`. :class:`FetchTask` is one such fetch, handed to a poll worker. In the
state file a source's marks are one mapping, job key -> ``[high, numbers counted above it, listing marker]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from exporter.statefile import check, count, exactly, list_of, mapping, scalar

E = TypeVar("E")


@dataclass(slots=True)
class Mark:
    """Where counting of one job's runs stands."""

    high: int  # every run numbered up to here is counted or gone
    above: set[int] = field(default_factory=set)  # numbers above ``high`` already counted
    marker: tuple[Any, ...] = ()  # what its listing entry showed when last caught up
    tried: int = 0  # the cycle that last fetched this job's runs (0: never); the least recent goes first
    stalls: int = 0  # fetches in a row that failed or moved nothing while its listing entry stayed the same
    due: int = 0  # the first cycle it may be fetched again after a stall (backoff)
    known: bool = True  # False: first sight of a job whose listing shows no run number; set by its first fetch


def marks_to_state(marks: Mapping[str, Mark]) -> dict[str, Any]:
    """Marks as JSON-ready data: job key -> [high, numbers counted above it, listing marker]."""
    return {key: [mark.high, sorted(mark.above), list(mark.marker)] for key, mark in marks.items() if mark.known}


def marks_from_state(state: Mapping[str, Any], name: str) -> dict[str, Mark]:
    """The marks saved under ``name`` (absent: none yet); raises ValueError naming the first that does not fit
    (``build_marks.<job>[0]``)."""
    marks = {}
    for key, mark in mapping(state.get(name, {}), name).items():
        where = f"{name}.{key[:64]}"
        high, above, marker = exactly(mark, where, 3)
        check(high, f"{where}[0]", count)
        marks[key] = Mark(high, set(list_of(above, f"{where}[1]", count)),
                          tuple(list_of(marker, f"{where}[2]", scalar)))
    return marks


def advance(high: int, above: set[int], runs: Mapping[int, Any], finished_up_to: int | None = None) -> tuple[int, int]:
    """Move a high-water mark over counted numbers (dropping them from ``above``) and over numbers missing
    below the newest listed run (older than the API's window, deleted, or beyond ``max_pages``); returns the
    new mark and how many were missing. Numbers above the newest listed run wait: they may be listed later,
    unless they are at most ``finished_up_to`` (the newest finished run a job listing showed, given where
    the runs API answers only a window: what it does not list then will never be)."""
    newest = max(max(runs, default=high), high if finished_up_to is None else finished_up_to)
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
