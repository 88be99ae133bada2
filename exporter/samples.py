"""Turns a snapshot (and the exporter's own counters) into Prometheus samples, through each target's source.
No I/O.

:func:`snapshot_families` and :func:`live_families` build prometheus_client families: the reference
rendering the served text (:mod:`exporter.exposition`) is proven byte-identical to.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter import metrics as m
from exporter.metrics import MetricSpec
from exporter.registry import all_specs, source_for
from exporter.runhistory.counts import JobHistory, JobKey
from exporter.sharding import ShardSpec
from exporter.sinks import HistogramSink, Sink
from exporter.snapshot import DiscoveryView, Snapshot, TargetState
from exporter.stats import RequestStats

_FAMILY_TYPES = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily}


class _Families:
    """One family per spec, created on first use, emitted in table order (the reference rendering)."""

    def __init__(self) -> None:
        self._families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}

    def add(self, spec: MetricSpec, labels: Iterable[str], value: float) -> None:
        self._family(spec).add_metric(list(labels), value)

    def _family(self, spec: MetricSpec) -> GaugeMetricFamily | CounterMetricFamily:
        family = self._families.get(spec.name)
        if family is None:
            family_type = _FAMILY_TYPES[spec.type]
            family = family_type(spec.name, spec.help, labels=spec.labels)
            self._families[spec.name] = family
        return family

    def ordered(self) -> list[Metric]:
        return [self._families[spec.name] for spec in all_specs() if spec.name in self._families]


def add_target_data(families: Sink, state: TargetState) -> None:
    """The job families of one target's last good data (nothing if it never had any)."""
    if state.data_at is None:
        return
    source_for(state.target.api).render(families, state)


def data_depends_on_poll_time(state: TargetState) -> bool:
    """True if a target's job families change with ``data_at`` alone (a running job's duration)."""
    return source_for(state.target.api).moves_with_poll_time(state)


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
    for api, count in snapshot.cycle_requests:
        families.add(m.POLLER_CYCLE_REQUESTS, (api,), count)
    for api, allowed in snapshot.budget_requests:
        families.add(m.RATE_LIMIT_BUDGET, (api,), allowed)
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
    for family, count in sorted(stats.series_dropped().items()):
        families.add(m.SERIES_DROPPED, (family,), count)
    for (api, assumption), count in sorted(stats.assumptions.counts().items()):
        families.add(m.ASSUMPTION_FAILURES, (api, assumption), count)
    failures = stats.state_write_failures()
    if failures is not None:
        families.add(m.STATE_WRITE_FAILURES, (), failures)


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


def add_job_history(families: HistogramSink, key: JobKey, job: JobHistory, duration_bounds: tuple[float, ...],
                    queued_bounds: tuple[float, ...]) -> None:
    """One job's run counters and histograms, through the source that counted them."""
    kind, labels = key
    source_for(kind).render_history(families, labels, job, duration_bounds, queued_bounds)


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


def with_series(families: list[Metric]) -> list[Metric]:
    """``families`` (a snapshot's, in table order) with ``codearts_exporter_series`` in its place: each
    family's sample count, as the exposition counts its lines (the reference for that family)."""
    counted = _Families()
    for family in families:
        counted.add(m.SERIES, (family.name,), len(family.samples))
    series = counted.ordered()
    names = [spec.name for spec in all_specs()]
    position = names.index(m.SERIES.name)
    before = [family for family in families if names.index(family.name) < position]
    return [*before, *series, *families[len(before):]]
