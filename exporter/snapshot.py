"""What the exporter knows at one moment: targets, their last poll result and last good data, the run
history and how discovery went.

A :class:`Snapshot` is immutable and replaced whole after every poll cycle, so a scrape reads one
consistent picture without locks and never waits for a poll. It is the whole picture the exposition
renders: nothing there reads a mutable object but the per-scrape self counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from exporter.dora.ledger import DoraView
from exporter.joblist import MissingSince
from exporter.runhistory.counts import HistoryView


@dataclass(frozen=True, slots=True)
class Target:
    """One thing the exporter polls; ``api`` names the registered source that polls it.

    ``key`` is unique within the source (``repository_id/pipeline_id`` for a Repo pipeline, the project id for
    Build); the source alone knows how to read it.
    """

    api: str
    key: str
    # Discovered targets are sharded with what they were found in (see exporter.sharding); not part of
    # equality, so a target both configured and discovered is one target.
    shard_group: str = field(default="", compare=False)
    # What the source's configuration says about this target beyond its key (e.g. name filters), for its
    # ``fetch``; the source alone reads it. Not part of identity either.
    options: Any = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class TargetState:
    """A target's last poll result and its last good data (kept while later polls fail)."""

    target: Target
    polled: bool = False
    up: bool = False
    last_poll_at: float | None = None
    last_success_at: float | None = None
    poll_duration: float | None = None
    error: str = ""
    data_at: float | None = None  # when the records below were fetched (the "now" of running durations)
    records: tuple[Any, ...] = ()  # the source's parsed records (jobs), in listing order
    failures: int = 0  # polls failed in a row
    next_poll_at: float | None = None  # set while a failing target is backed off, or one listed less often
    missing_since: MissingSince = ()  # jobs carried through their grace after vanishing upstream

    def failed(self, at: float, duration: float, error: str) -> TargetState:
        """This state after a failed poll: marked down, last good data kept, one more failure in a row."""
        return replace(self, polled=True, up=False, last_poll_at=at, poll_duration=duration, error=error,
                       failures=self.failures + 1)


@dataclass(frozen=True, slots=True)
class DiscoveryStatus:
    """How the last discovery of one source went (e.g. a project's repositories, a repository's pipelines)."""

    source: str
    id: str
    up: bool
    last_success_at: float | None
    found: int  # what the source holds now: repositories matched, pipelines watched
    names: tuple[str, ...] = ()  # what it found, where short enough to list (a repository's pipeline ids)


@dataclass(frozen=True, slots=True)
class DiscoveryView:
    """Every discovery source's status, and how long the last finished pass took (None: none finished)."""

    statuses: tuple[DiscoveryStatus, ...] = ()
    pass_seconds: float | None = None

    def all_up(self) -> bool:
        """True if every source's last discovery succeeded."""
        return all(status.up for status in self.statuses)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every target's state after one poll cycle; ``generation`` grows by one per cycle."""

    generation: int
    taken_at: float | None
    states: tuple[TargetState, ...] = field(default_factory=tuple)
    cycle_seconds: float | None = None  # how long the cycle took, listings, history and discovery included
    # Requests the cycle sent per API, and what the rate limit allows per interval (rate-limited APIs only).
    cycle_requests: tuple[tuple[str, int], ...] = ()
    budget_requests: tuple[tuple[str, float], ...] = ()
    history: HistoryView | None = None  # the run history counted up to this cycle (None: history is off)
    discovery: DiscoveryView | None = None  # None: nothing is discovered
    dora: DoraView | None = None  # DORA's counts up to this cycle (None: no ``dora:`` configured)

    def all_polled(self) -> bool:
        """True once every target has been polled at least once."""
        return all(state.polled for state in self.states)

    def last_success(self) -> float | None:
        """When any target last succeeded; None if none ever has."""
        return max((s.last_success_at for s in self.states if s.last_success_at is not None), default=None)

    def all_up(self) -> bool:
        """True if the last poll of every target succeeded."""
        return all(state.up for state in self.states)
