"""What the exporter knows at one moment: targets, their last poll result and their last good data.

A :class:`Snapshot` is immutable and replaced whole after every poll cycle, so a scrape reads one
consistent picture without locks and never waits for a poll.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from exporter.lifecycle import MissingSince
from exporter.models import BuildJob, PipelineJob

REPO_API = "repo"
BUILD_API = "build"


@dataclass(frozen=True, slots=True)
class Target:
    """One thing the exporter polls: a Repo pipeline or a Build project."""

    api: str
    key: str  # "repository_id/pipeline_id" for Repo, the CodeArts project id for Build
    repository_id: int = 0
    pipeline_id: int = 0
    project_id: str = ""
    # Discovered pipelines are sharded with the repository they were found in (see exporter.sharding);
    # not part of equality, so a pipeline both configured and discovered is one target.
    shard_group: str = field(default="", compare=False)

    @classmethod
    def pipeline(cls, repository_id: int, pipeline_id: int, shard_group: str = "") -> Target:
        """The target of one Repo pipeline (``shard_group``: the shard key of a discovered one)."""
        return cls(REPO_API, f"{repository_id}/{pipeline_id}", repository_id=repository_id,
                   pipeline_id=pipeline_id, shard_group=shard_group)

    @classmethod
    def project(cls, project_id: str) -> Target:
        """The target of one CodeArts Build project."""
        return cls(BUILD_API, project_id, project_id=project_id)


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
    data_at: float | None = None  # when the data below was fetched (the "now" of running durations)
    pipeline_jobs: tuple[PipelineJob, ...] = ()
    build_jobs: tuple[BuildJob, ...] = ()
    failures: int = 0  # polls failed in a row
    next_poll_at: float | None = None  # set while a failing target is backed off
    missing_since: MissingSince = ()  # jobs carried through their grace after vanishing upstream

    def failed(self, at: float, duration: float, error: str) -> TargetState:
        """This state after a failed poll: marked down, last good data kept, one more failure in a row."""
        return replace(self, polled=True, up=False, last_poll_at=at, poll_duration=duration, error=error,
                       failures=self.failures + 1)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every target's state after one poll cycle; ``generation`` grows by one per cycle."""

    generation: int
    taken_at: float | None
    states: tuple[TargetState, ...] = field(default_factory=tuple)
    cycle_seconds: float | None = None  # how long the cycle took, listings, history and discovery included

    def all_polled(self) -> bool:
        """True once every target has been polled at least once."""
        return all(state.polled for state in self.states)

    def last_success(self) -> float | None:
        """When any target last succeeded; None if none ever has."""
        return max((s.last_success_at for s in self.states if s.last_success_at is not None), default=None)

    def all_up(self) -> bool:
        """True if the last poll of every target succeeded."""
        return all(state.up for state in self.states)
