"""Repo pipeline job run history: every job run that reached a terminal status counted once, from the
listings alone (a job's listing entry carries its whole run; no request of its own).

A run is new when its job id was not in the pipeline's previous listing as a terminal job, or came back
with another creation time. The first listing of a pipeline (no saved state) counts nothing: no back-fill.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from exporter.runhistory.counts import Labels, RunCounts, RunKind
from exporter.runhistory.history import Task
from exporter.snapshot import Target
from exporter.sources.repo.models import PipelineJob
from exporter.statefile import check, count, exactly, finite, items, mapping
from exporter.timebounds import span

PIPELINE_RUN_STATUSES: tuple[str, ...] = ("success", "failed", "canceled", "skipped", "timedout")
KIND = RunKind("repo", "pipeline", PIPELINE_RUN_STATUSES, label_count=4)


class PipelineHistory:
    """Counts the finished runs of Repo pipeline jobs from their listings."""

    kind = KIND

    def __init__(self, counts: RunCounts) -> None:
        self.counts = counts
        counts.add_kind(KIND)
        self._lock = counts.lock
        self._seen: dict[str, dict[int, float | None]] = {}  # target key -> job id -> created

    def after_listing(self, target: Target, records: Iterable[Any]) -> None:
        """Count the runs that finished since the previous listing of the pipeline."""
        repo, pipeline = target.key.split("/", 1)
        jobs: tuple[PipelineJob, ...] = tuple(records)
        with self._lock:
            seen = self._seen.get(target.key)
            fresh: dict[int, float | None] = {}
            for job in jobs:
                labels = (repo, pipeline, job.stage, job.name)
                self.counts.init_job(KIND.name, labels)
                if job.status not in PIPELINE_RUN_STATUSES:
                    continue
                fresh[job.id] = job.created
                if seen is not None and (job.id not in seen or seen[job.id] != job.created):
                    self._count(labels, job)
            # Terminal jobs only: a job seen running and gone before it finished is not kept either way.
            self._seen[target.key] = fresh

    def catch_up_tasks(self, within: float | None = None) -> list[Task]:
        """None: a listing holds every run."""
        return []

    def _count(self, labels: Labels, job: PipelineJob) -> None:
        # A job that never started (skipped, canceled while pending) ran for 0 s; other times within bounds.
        duration = 0.0 if job.started is None else span(job.started, job.finished)
        self.counts.count(KIND.name, labels, job.status, duration)

    def retain_pipelines(self, keys: Collection[str], keep_repositories: Collection[str] = ()) -> None:
        """Forget the pipelines whose ``repository_id/pipeline_id`` is not in ``keys`` (no longer watched),
        but those of ``keep_repositories``: their counters leave /metrics, and if one is watched again it
        starts afresh from first sight, so nothing is counted twice."""
        def kept(labels: Labels) -> bool:
            return labels[0] in keep_repositories or f"{labels[0]}/{labels[1]}" in keys

        with self._lock:
            self._seen = {key: seen for key, seen in self._seen.items()
                          if key in keys or key.split("/", 1)[0] in keep_repositories}
            self.counts.retain(KIND.name, kept)

    def marks_to_state(self) -> dict[str, Any]:
        """``pipeline_seen``: pipeline key -> [[job id, created], ...] of its last listing's terminal jobs."""
        return {"pipeline_seen": {key: [[job_id, created] for job_id, created in seen.items()]
                                  for key, seen in self._seen.items()}}

    def marks_from_state(self, state: Mapping[str, Any]) -> Callable[[], None]:
        """Read ``pipeline_seen`` (ValueError if malformed); the step returned takes it over."""
        seen: dict[str, dict[int, float | None]] = {}
        for full_key, rows in mapping(state.get("pipeline_seen", {}), "pipeline_seen").items():
            where = f"pipeline_seen.{full_key[:64]}"
            jobs = seen[full_key] = {}
            for index, row in enumerate(items(rows, where)):
                job_id, created = exactly(row, f"{where}[{index}]", 2)
                check(job_id, f"{where}[{index}][0]", count)
                check(created, f"{where}[{index}][1]", lambda value: value is None or finite(value))
                jobs[job_id] = created

        def take_over() -> None:
            self._seen = seen

        return take_over
