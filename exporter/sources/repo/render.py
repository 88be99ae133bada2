"""The Repo source's samples: each pipeline job's latest run, per pipeline. No I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from exporter.sinks import Sink
from exporter.snapshot import TargetState
from exporter.sources.base import FAILING_STATUSES, FailingJob
from exporter.sources.repo import metrics as m
from exporter.sources.repo.models import PIPELINE_STATUSES, PipelineJob


def latest_pipeline_jobs(jobs: Iterable[PipelineJob]) -> list[PipelineJob]:
    """One job per (stage, name): where a pipeline repeats a name, the highest id wins."""
    latest: dict[tuple[str, str], PipelineJob] = {}
    for job in jobs:
        key = (job.stage, job.name)
        if key not in latest or job.id > latest[key].id:
            latest[key] = job
    return sorted(latest.values(), key=lambda job: job.id)


def pipeline_job_duration(job: PipelineJob, now: float | None) -> float | None:
    """Finished minus started; for a running job, ``now`` minus started."""
    if job.started is None:
        return None
    if job.finished is not None:
        end = job.finished
    elif job.status == "running" and now is not None:
        end = now
    else:
        return None
    return end - job.started if end >= job.started else None


def pipeline_job_queued(job: PipelineJob) -> float | None:
    """Started minus created, when both are known."""
    if job.started is None or job.created is None or job.started < job.created:
        return None
    return job.started - job.created


def _ids(state: TargetState) -> tuple[str, str]:
    repository, pipeline = state.target.key.split("/", 1)
    return repository, pipeline


def render_pipeline(sink: Sink, state: TargetState) -> None:
    """The job families of one pipeline's last good listing."""
    repo, pipeline = _ids(state)
    per_status: Counter[str] = Counter()
    for job in latest_pipeline_jobs(state.records):
        labels = (repo, pipeline, job.stage, job.name)
        per_status[job.status] += 1
        sink.add(m.JOB_STATUS, (*labels, job.status), 1)
        optional = (
            (m.JOB_QUEUED, pipeline_job_queued(job)),
            (m.JOB_CREATED, job.created),
            (m.JOB_STARTED, job.started),
            (m.JOB_FINISHED, job.finished),
        )
        for spec, value in optional:
            if value is not None:
                sink.add(spec, labels, value)
        sink.add(m.JOB_INFO, (*labels, str(job.id), job.ref, job.sha), 1)
    for status in PIPELINE_STATUSES:
        sink.add(m.JOBS, (repo, pipeline, status), per_status[status])
    render_durations(sink, state)


def render_durations(sink: Sink, state: TargetState) -> None:
    """The duration samples of a pipeline: the only ones that move with the poll time alone."""
    repo, pipeline = _ids(state)
    for job in latest_pipeline_jobs(state.records):
        duration = pipeline_job_duration(job, state.data_at)
        if duration is not None:
            sink.add(m.JOB_DURATION, (repo, pipeline, job.stage, job.name), duration)


def has_running_job(state: TargetState) -> bool:
    """True if a job's duration moves with the poll time alone: a running job's."""
    return any(job.status == "running" and job.started is not None and job.finished is None
               for job in state.records)


def failing_jobs(state: TargetState) -> tuple[FailingJob, ...]:
    """The pipeline's jobs whose latest run failed or timed out, with their CodeArts page."""
    repo, pipeline = _ids(state)
    return tuple(FailingJob(job.name, job.status, f"repository {repo}, pipeline {pipeline}, stage {job.stage}",
                            job.finished or job.updated or job.started, job.target_url, owner=repo)
                 for job in latest_pipeline_jobs(state.records) if job.status in FAILING_STATUSES)
