"""The Pipeline source's samples: each pipeline's latest run and its stages, per project. No I/O."""

from __future__ import annotations

from collections import Counter

from exporter.sinks import Sink
from exporter.snapshot import TargetState
from exporter.sources.base import FailingJob
from exporter.sources.pipeline import metrics as m
from exporter.sources.pipeline.models import RUN_STATUSES, Pipeline, PipelineRun, RunDetail
from exporter.timebounds import span

NEVER_RAN = "none"


def run_duration(run: PipelineRun, now: float | None, paused: float = 0.0) -> float | None:
    """A finished run's end minus start minus ``paused`` (known from its detail only); a running or paused
    run's time so far (up to ``now``)."""
    if run.start is None:
        return None
    if run.end is not None:
        return span(run.start, run.end, paused)
    if run.status in ("running", "paused") and now is not None:
        return max(0.0, now - run.start)
    return None


def _detail(pipeline: Pipeline) -> RunDetail | None:
    """The detail of the pipeline's latest run, if read."""
    detail, latest = pipeline.detail, pipeline.latest
    return detail if detail is not None and latest is not None and detail.run_id == latest.id else None


def _duration(pipeline: Pipeline, now: float | None) -> float | None:
    detail = _detail(pipeline)
    latest = pipeline.latest
    return None if latest is None else run_duration(latest, now, detail.paused if detail is not None else 0.0)


def _pipelines(state: TargetState) -> list[Pipeline]:
    return sorted(state.records, key=lambda pipeline: pipeline.id)


def render_project(sink: Sink, state: TargetState) -> None:
    """The families of one project's last good listing."""
    project = state.target.key
    per_status: Counter[str] = Counter()
    for pipeline in _pipelines(state):
        labels = (project, pipeline.id, pipeline.name)
        sink.add(m.INFO, (*labels, pipeline.project_name, pipeline.group), 1)
        run = pipeline.latest
        per_status[run.status if run is not None else NEVER_RAN] += 1
        if run is None:
            continue
        sink.add(m.LAST_RUN_STATUS, (*labels, run.status), 1)
        if run.start is not None:
            sink.add(m.LAST_RUN_START, labels, run.start)
        if run.end is not None:
            sink.add(m.LAST_RUN_END, labels, run.end)
        detail = _detail(pipeline)
        duration = _duration(pipeline, state.data_at)
        if duration is not None:
            sink.add(m.LAST_RUN_DURATION, labels, duration)
        for stage in run.stages:
            sink.add(m.LAST_RUN_STAGE_STATUS, (*labels, stage.name, stage.status), 1)
            if stage.duration is not None:
                sink.add(m.LAST_RUN_STAGE_DURATION, (*labels, stage.name), stage.duration)
        if detail is not None:
            for job in detail.jobs:
                if job.duration is not None:
                    sink.add(m.LAST_RUN_JOB_DURATION, (*labels, job.stage, job.name), job.duration)
                if job.queued is not None:
                    sink.add(m.LAST_RUN_JOB_QUEUED, (*labels, job.stage, job.name), job.queued)
        sink.add(m.LAST_RUN_INFO, (*labels, run.id, str(run.number), run.trigger, run.ref, run.commit), 1)
    for status in (*RUN_STATUSES, NEVER_RAN):
        sink.add(m.PIPELINES, (project, status), per_status[status])


def render_durations(sink: Sink, state: TargetState) -> None:
    """The samples that move with the poll time alone: the latest runs' durations."""
    project = state.target.key
    for pipeline in _pipelines(state):
        duration = _duration(pipeline, state.data_at)
        if duration is not None:
            sink.add(m.LAST_RUN_DURATION, (project, pipeline.id, pipeline.name), duration)


def has_running_run(state: TargetState) -> bool:
    """True if a latest run is still going (its duration moves with the poll time)."""
    return any(pipeline.latest is not None and pipeline.latest.end is None and pipeline.latest.start is not None
               and pipeline.latest.status in ("running", "paused") for pipeline in state.records)


def failing_jobs(state: TargetState) -> tuple[FailingJob, ...]:
    """The project's pipelines whose latest run failed."""
    project = state.target.key
    return tuple(FailingJob(pipeline.name, "failed", _where(project, pipeline),
                            pipeline.latest.end or pipeline.latest.start, owner=project)
                 for pipeline in state.records if pipeline.latest is not None and pipeline.latest.status == "failed")


def _where(project: str, pipeline: Pipeline) -> str:
    """Where a failed pipeline lives, and (with its run's detail) which job failed and why."""
    where = f"pipeline project {project}, pipeline id {pipeline.id}"
    detail = pipeline.detail
    if detail is None or pipeline.latest is None or detail.run_id != pipeline.latest.id or not detail.failed_job:
        return where
    return f"{where}; job {detail.failed_job} failed: {detail.failed_message or '(no message)'}"
