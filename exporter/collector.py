"""Turns a snapshot (and the exporter's own counters) into Prometheus metric families. No I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter import metrics as m
from exporter.history import BUILD, Histogram, JobHistory, JobKey
from exporter.models import BUILD_STATUSES, PIPELINE_STATUSES, BuildJob, PipelineJob
from exporter.sharding import ShardSpec
from exporter.snapshot import REPO_API, Snapshot, TargetState
from exporter.stats import RequestStats

if TYPE_CHECKING:  # the collector does no I/O: it only reads discovery's status records
    from exporter.discovery import SourceStatus

MetricSpec = m.MetricSpec


_FAMILY_TYPES = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily}


class Sink(Protocol):
    """Where the collector's rows go: prometheus_client families, or text lines (:mod:`exporter.textformat`)."""

    def add(self, spec: MetricSpec, labels: Iterable[str], value: float) -> None:
        """One sample of the family ``spec``."""


class HistogramSink(Sink, Protocol):
    """A sink that takes histogram series too (text lines; the run history is rendered only that way)."""

    def add_histogram(self, spec: MetricSpec, labels: Iterable[str], bounds: Sequence[float],
                      histogram: Histogram) -> None:
        """One series of the histogram family ``spec``."""


class _Families:
    """One family per spec, created on first use, emitted in table order (the reference rendering)."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def add(self, spec: MetricSpec, labels: Iterable[str], value: float) -> None:
        self._family(spec).add_metric(list(labels), value)

    def _family(self, spec: MetricSpec) -> Metric:
        family = self._families.get(spec.name)
        if family is None:
            family_type = _FAMILY_TYPES[spec.type]
            family = family_type(spec.name, spec.help, labels=spec.labels)
            self._families[spec.name] = family
        return family

    def ordered(self) -> list[Metric]:
        return [self._families[spec.name] for spec in m.ALL_METRICS if spec.name in self._families]


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


def _add_pipeline_target(families: Sink, state: TargetState) -> None:
    target = state.target
    repo, pipeline = str(target.repository_id), str(target.pipeline_id)
    per_status: Counter[str] = Counter()
    for job in latest_pipeline_jobs(state.pipeline_jobs):
        labels = (repo, pipeline, job.stage, job.name)
        per_status[job.status] += 1
        families.add(m.PIPELINE_JOB_STATUS, (*labels, job.status), 1)
        optional = (
            (m.PIPELINE_JOB_QUEUED, pipeline_job_queued(job)),
            (m.PIPELINE_JOB_CREATED, job.created),
            (m.PIPELINE_JOB_STARTED, job.started),
            (m.PIPELINE_JOB_FINISHED, job.finished),
        )
        for spec, value in optional:
            if value is not None:
                families.add(spec, labels, value)
        families.add(m.PIPELINE_JOB_INFO, (*labels, str(job.id), job.ref, job.sha), 1)
    for status in PIPELINE_STATUSES:
        families.add(m.PIPELINE_JOBS, (repo, pipeline, status), per_status[status])
    add_pipeline_durations(families, state)


def add_pipeline_durations(families: Sink, state: TargetState) -> None:
    """The duration samples of a pipeline target: the only ones that move with the poll time alone."""
    target = state.target
    repo, pipeline = str(target.repository_id), str(target.pipeline_id)
    for job in latest_pipeline_jobs(state.pipeline_jobs):
        duration = pipeline_job_duration(job, state.data_at)
        if duration is not None:
            families.add(m.PIPELINE_JOB_DURATION, (repo, pipeline, job.stage, job.name), duration)


def build_job_duration(job: BuildJob) -> float | None:
    """The last build's duration; a running job's 0 means "not finished", not zero seconds."""
    if job.last_build_duration is None or (job.running and job.last_build_duration == 0):
        return None
    return job.last_build_duration


def _add_build_target(families: Sink, state: TargetState) -> None:
    project = state.target.project_id
    per_status: Counter[str] = Counter()
    for job in sorted(state.build_jobs, key=lambda job: job.id):
        labels = (project, job.id, job.name)
        per_status[job.status] += 1
        families.add(m.BUILD_JOB_STATUS, (*labels, job.status), 1)
        optional = (
            (m.BUILD_JOB_HEALTH, job.health_score),
            (m.BUILD_JOB_LAST_BUILD, job.last_build_time),
            (m.BUILD_JOB_LAST_DURATION, build_job_duration(job)),
        )
        for spec, value in optional:
            if value is not None:
                families.add(spec, labels, value)
        families.add(m.BUILD_JOB_RUNNING, labels, 1 if job.running else 0)
        families.add(m.BUILD_JOB_DISABLED, labels, 1 if job.disabled else 0)
        info = (job.branch, job.scm_type, job.trigger_type, job.build_type, job.repo_id)
        families.add(m.BUILD_JOB_INFO, (*labels, *info), 1)
    for status in BUILD_STATUSES:
        families.add(m.BUILD_JOBS, (project, status), per_status[status])


def add_target_data(families: Sink, state: TargetState) -> None:
    """The job families of one target's last good data (nothing if it never had any)."""
    if state.data_at is None:
        return
    if state.target.api == REPO_API:
        _add_pipeline_target(families, state)
    else:
        _add_build_target(families, state)


def data_depends_on_poll_time(state: TargetState) -> bool:
    """True if a target's job families change with ``data_at`` alone: a running pipeline job's duration."""
    return state.target.api == REPO_API and any(
        job.status == "running" and job.started is not None and job.finished is None for job in state.pipeline_jobs
    )


def add_target_health(families: Sink, state: TargetState) -> None:
    """The up / last success / poll duration samples of one target."""
    labels = (state.target.api, state.target.key)
    families.add(m.UP, labels, 1 if state.up else 0)
    if state.last_success_at is not None:
        families.add(m.LAST_SUCCESS, labels, state.last_success_at)
    if state.poll_duration is not None:
        families.add(m.POLL_DURATION, labels, state.poll_duration)


def snapshot_families(snapshot: Snapshot, version: str) -> list[Metric]:
    """Every family that changes only when a new snapshot is swapped in."""
    families = _Families()
    for state in snapshot.states:
        add_target_data(families, state)
    for state in snapshot.states:
        add_target_health(families, state)
    if snapshot.taken_at is not None:
        families.add(m.POLLER_LAST_CYCLE, (), snapshot.taken_at)
    if snapshot.cycle_seconds is not None:
        families.add(m.POLLER_CYCLE_DURATION, (), snapshot.cycle_seconds)
    families.add(m.BUILD_INFO, (version,), 1)
    return families.ordered()


def add_live(families: Sink, stats: RequestStats) -> None:
    """The exporter's own counters, which move between snapshots and are rendered per scrape."""
    for (api, code), count in sorted(stats.requests().items()):
        families.add(m.API_REQUESTS, (api, code), count)
    for (api, reason), count in sorted(stats.skipped().items()):
        families.add(m.RECORDS_SKIPPED, (api, reason), count)
    for (api, reason), count in sorted(stats.retries().items()):
        families.add(m.API_RETRIES, (api, reason), count)
    for api, count in sorted(stats.throttled().items()):
        families.add(m.API_THROTTLED, (api,), count)
    for api, seconds in sorted(stats.rate_limit_waits().items()):
        families.add(m.RATE_LIMIT_WAIT, (api,), seconds)


def live_families(stats: RequestStats) -> list[Metric]:
    """:func:`add_live` as prometheus_client families (the reference the tests and the baseline use)."""
    families = _Families()
    add_live(families, stats)
    return families.ordered()


def add_shard(families: Sink, shard: ShardSpec) -> None:
    """Which shard this replica is and how many there are (for the shard alerts)."""
    families.add(m.SHARD, (str(shard.index),), 1)
    families.add(m.TOTAL_SHARDS, (), shard.total)


def add_auth(families: Sink, token_expiry: float | None) -> None:
    """The auth mode's token expiry, rendered per scrape (a renewal does not wait for the next poll)."""
    if token_expiry is not None:
        families.add(m.AUTH_TOKEN_EXPIRY, (), token_expiry)


def add_job_history(families: HistogramSink, key: JobKey, job: JobHistory, duration_bounds: Sequence[float],
                    queued_bounds: Sequence[float]) -> None:
    """One job's run counters and histograms, every pre-initialised status included."""
    kind, labels = key
    runs, durations = (m.BUILD_RUNS, m.BUILD_RUN_DURATION) if kind == BUILD else (
        m.PIPELINE_JOB_RUNS, m.PIPELINE_JOB_RUN_DURATION)
    for status, count in job.runs:
        families.add(runs, (*labels, status), count)
    for status, histogram in job.durations:
        families.add_histogram(durations, (*labels, status), duration_bounds, histogram)
    if job.queued is not None:
        families.add_histogram(m.BUILD_RUN_QUEUED, labels, queued_bounds, job.queued)


def add_discovery(families: Sink, statuses: Iterable[SourceStatus], pass_seconds: float | None = None) -> None:
    """How the last discovery of each source went, what it holds, and how long the last pass took."""
    for status in statuses:
        labels = (status.source, status.id)
        families.add(m.DISCOVERY_UP, labels, 1 if status.up else 0)
        if status.last_success_at is not None:
            families.add(m.DISCOVERY_LAST_SUCCESS, labels, status.last_success_at)
        families.add(m.DISCOVERY_TARGETS, labels, status.found)
    if pass_seconds is not None:
        families.add(m.DISCOVERY_PASS_DURATION, (), pass_seconds)
