"""The Deploy source's samples: each application's last deployment, per project. No I/O."""

from __future__ import annotations

from exporter.sinks import Sink
from exporter.snapshot import TargetState
from exporter.sources.base import FAILING_STATUSES, FailingJob
from exporter.sources.deploy import metrics as m
from exporter.sources.deploy.models import Application, Deployment

UNFINISHED = ("running", "pending")  # a deployment whose duration moves with the poll time


def last_duration(deployment: Deployment, now: float | None) -> float | None:
    """A finished deployment's end minus start (or Deploy's own duration when a time is missing); a running or
    queued one's time so far, up to ``now``."""
    if deployment.end is None and deployment.status in UNFINISHED:
        return None if deployment.start is None or now is None else max(0.0, now - deployment.start)
    duration = deployment.duration
    return None if duration is None else max(0.0, duration)


def _applications(state: TargetState) -> list[Application]:
    return sorted(state.records, key=lambda app: app.id)


def render_project(sink: Sink, state: TargetState) -> None:
    """The families of one project's last good application list."""
    project = state.target.key
    for app in _applications(state):
        labels = (project, app.id, app.name)
        sink.add(m.INFO, (*labels, app.deploy_system), 1)
        sink.add(m.LAST_STATUS, (*labels, app.status), 1)
        last = app.last
        if last is None:
            continue
        if last.start is not None:
            sink.add(m.LAST_START, labels, last.start)
        if last.end is not None:
            sink.add(m.LAST_END, labels, last.end)
        duration = last_duration(last, state.data_at)
        if duration is not None:
            sink.add(m.LAST_DURATION, labels, duration)


def render_durations(sink: Sink, state: TargetState) -> None:
    """The samples that move with the poll time alone: the last deployments' durations."""
    project = state.target.key
    for app in _applications(state):
        duration = None if app.last is None else last_duration(app.last, state.data_at)
        if duration is not None:
            sink.add(m.LAST_DURATION, (project, app.id, app.name), duration)


def has_unfinished_deployment(state: TargetState) -> bool:
    """True if a last deployment is still running or queued (its duration moves with the poll time)."""
    return any(app.last is not None and app.last.end is None and app.last.start is not None
               and app.last.status in UNFINISHED for app in state.records)


def failing_jobs(state: TargetState) -> tuple[FailingJob, ...]:
    """The project's applications whose last deployment failed or timed out."""
    project = state.target.key
    return tuple(FailingJob(app.name, app.status, f"deploy project {project}, application id {app.id}",
                            app.last.end or app.last.start)
                 for app in _applications(state) if app.last is not None and app.status in FAILING_STATUSES)
