"""Turns a snapshot (and the exporter's own counters) into Prometheus samples, through each target's source.
No I/O.

The same functions fill the served text (:mod:`exporter.textformat`'s sinks) and the tests' reference
rendering into prometheus_client families (``tests/helpers/reference.py``), proven byte-identical.
"""

from __future__ import annotations

from exporter import metrics as m
from exporter.runhistory.counts import JobHistory, JobKey
from exporter.sharding import ShardSpec
from exporter.sinks import HistogramSink, Sink
from exporter.snapshot import DiscoveryView, Snapshot, TargetState
from exporter.sourcetable import SourceTable
from exporter.stats import RequestStats


def add_target_data(families: Sink, sources: SourceTable, state: TargetState) -> None:
    """The job families of one target's last good data (nothing if it never had any), through its source."""
    if state.data_at is None:
        return
    sources.get(state.target.api).render(families, state)


def data_depends_on_poll_time(sources: SourceTable, state: TargetState) -> bool:
    """True if a target's job families change with ``data_at`` alone (a running job's duration)."""
    return sources.get(state.target.api).moves_with_poll_time(state)


def add_target_health(families: Sink, state: TargetState) -> None:
    """The up / last success / poll duration samples of one target."""
    labels = (state.target.api, state.target.key)
    families.add(m.UP, labels, 1 if state.up else 0)
    if state.last_success_at is not None:
        families.add(m.LAST_SUCCESS, labels, state.last_success_at)
    if state.poll_duration is not None:
        families.add(m.POLL_DURATION, labels, state.poll_duration)


def add_cycle(families: Sink, snapshot: Snapshot, version: str) -> None:
    """The poller's samples of the cycle that made ``snapshot`` (when, how long, its requests against the
    budget), and the build info."""
    if snapshot.taken_at is not None:
        families.add(m.POLLER_LAST_CYCLE, (), snapshot.taken_at)
    if snapshot.cycle_seconds is not None:
        families.add(m.POLLER_CYCLE_DURATION, (), snapshot.cycle_seconds)
    for api, count in snapshot.cycle_requests:
        families.add(m.POLLER_CYCLE_REQUESTS, (api,), count)
    for api, allowed in snapshot.budget_requests:
        families.add(m.RATE_LIMIT_BUDGET, (api,), allowed)
    families.add(m.BUILD_INFO, (version,), 1)


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
    for family, count in sorted(stats.series_dropped().items()):
        families.add(m.SERIES_DROPPED, (family,), count)
    for (api, assumption), count in sorted(stats.assumptions.counts().items()):
        families.add(m.ASSUMPTION_FAILURES, (api, assumption), count)
    failures = stats.state_write_failures()
    if failures is not None:
        families.add(m.STATE_WRITE_FAILURES, (), failures)
    loaded = stats.config_loads()
    if loaded is not None:
        succeeded, at = loaded
        families.add(m.CONFIG_RELOAD_SUCCESS, (), 1 if succeeded else 0)
        families.add(m.CONFIG_RELOAD_TIME, (), at)


def add_shard(families: Sink, shard: ShardSpec) -> None:
    """Which shard this replica is and how many there are (for the shard alerts)."""
    families.add(m.SHARD, (str(shard.index),), 1)
    families.add(m.TOTAL_SHARDS, (), shard.total)


def add_auth(families: Sink, token_expiry: float | None) -> None:
    """The auth mode's token expiry, rendered per scrape (a renewal does not wait for the next poll)."""
    if token_expiry is not None:
        families.add(m.AUTH_TOKEN_EXPIRY, (), token_expiry)


def add_job_history(families: HistogramSink, sources: SourceTable, key: JobKey, job: JobHistory,
                    duration_bounds: tuple[float, ...], queued_bounds: tuple[float, ...]) -> None:
    """One job's run counters and histograms, through the source that counted them."""
    kind, labels = key
    sources.get(kind).render_history(families, labels, job, duration_bounds, queued_bounds)


def add_discovery(families: Sink, view: DiscoveryView) -> None:
    """How the last discovery of each source went, what it holds, and how long the last pass took."""
    for status in view.statuses:
        labels = (status.source, status.id)
        families.add(m.DISCOVERY_UP, labels, 1 if status.up else 0)
        if status.last_success_at is not None:
            families.add(m.DISCOVERY_LAST_SUCCESS, labels, status.last_success_at)
        families.add(m.DISCOVERY_TARGETS, labels, status.found)
    if view.pass_seconds is not None:
        families.add(m.DISCOVERY_PASS_DURATION, (), view.pass_seconds)
