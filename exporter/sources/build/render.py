"""The Build source's samples: each build job's last build, per project. No I/O."""

from __future__ import annotations

from collections import Counter

from exporter.runhistory.counts import Labels
from exporter.sinks import Sink
from exporter.snapshot import TargetState
from exporter.sources.base import FAILING_STATUSES, FailingJob
from exporter.sources.build import metrics as m
from exporter.sources.build.models import BUILD_STATUSES, BuildJob
from exporter.sources.build.testmodels import RESULTS, TestTally

NEVER_BUILT = "none"  # the status of a job that has no build yet


def build_job_duration(job: BuildJob) -> float | None:
    """The last build's duration; a running job's 0 means "not finished", not zero seconds, and a job never
    built has none (CodeArts lists 0)."""
    if job.last_build_duration is None or job.status == NEVER_BUILT or (job.running and job.last_build_duration == 0):
        return None
    return job.last_build_duration


def build_job_health(job: BuildJob) -> float | None:
    """The job's health score; a job never built has none (CodeArts lists 0, which would read as "all failed")."""
    return None if job.status == NEVER_BUILT else job.health_score


def render_project(sink: Sink, state: TargetState) -> None:
    """The job families of one build project's last good listing."""
    project = state.target.key
    per_status: Counter[str] = Counter()
    jobs: list[BuildJob] = sorted(state.records, key=lambda job: job.id)
    for job in jobs:
        labels = (project, job.id, job.name)
        per_status[job.status] += 1
        sink.add(m.JOB_STATUS, (*labels, job.status), 1)
        optional = (
            (m.JOB_HEALTH, build_job_health(job)),
            (m.JOB_LAST_BUILD, job.last_build_time),
            (m.JOB_LAST_DURATION, build_job_duration(job)),
        )
        for spec, value in optional:
            if value is not None:
                sink.add(spec, labels, value)
        sink.add(m.JOB_RUNNING, labels, 1 if job.running else 0)
        sink.add(m.JOB_DISABLED, labels, 1 if job.disabled else 0)
        info = (job.branch, job.scm_type, job.trigger_type, job.build_type, job.repo_id)
        sink.add(m.JOB_INFO, (*labels, *info), 1)
    for status in BUILD_STATUSES:
        sink.add(m.JOBS, (project, status), per_status[status])


def render_test_tally(sink: Sink, labels: Labels, tally: TestTally) -> None:
    """One build job's unit-test families, from its first report on."""
    for result, total, last in zip(RESULTS, tally.cases, tally.last.cases, strict=True):
        sink.add(m.TEST_CASES, (*labels, result), total)
        sink.add(m.LAST_TEST_CASES, (*labels, result), last)
    sink.add(m.LAST_TEST_REPORT, labels, tally.last.build_no)
    sink.add(m.TEST_REPORTS, labels, tally.reports)


def failing_jobs(state: TargetState) -> tuple[FailingJob, ...]:
    """The project's enabled jobs whose last build failed or timed out (the Build API gives no job URL)."""
    project = state.target.key
    return tuple(FailingJob(job.name, job.status, f"build project {project}, job id {job.id}", job.last_build_time,
                            owner=project)
                 for job in state.records if job.status in FAILING_STATUSES and not job.disabled)
