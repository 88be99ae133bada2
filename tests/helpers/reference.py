"""The reference rendering: the snapshot and self counters as prometheus_client families, through the same
:mod:`exporter.samples` functions the served text uses. Tests prove the served bytes equal
``generate_latest`` of these; bench/_baseline_server.py serves them the way prometheus_client does."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter import metrics as m
from exporter.metrics import MetricSpec
from exporter.samples import add_cycle, add_live, add_target_data, add_target_health
from exporter.snapshot import Snapshot
from exporter.sourcetable import SourceTable
from exporter.stats import RequestStats

_FAMILY_TYPES = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily}


class _Families:
    """One family per spec, created on first use, emitted in table order (the reference rendering)."""

    def __init__(self, specs: tuple[MetricSpec, ...]) -> None:
        self._specs = specs
        self._declared = {spec.name: spec for spec in specs}  # the table's, whose help may name the sources
        self._families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}

    def add(self, spec: MetricSpec, labels: Iterable[str], value: float) -> None:
        self._family(spec).add_metric(list(labels), value)

    def _family(self, spec: MetricSpec) -> GaugeMetricFamily | CounterMetricFamily:
        family = self._families.get(spec.name)
        if family is None:
            family_type = _FAMILY_TYPES[spec.type]
            family = family_type(spec.name, self._declared[spec.name].help, labels=spec.labels)
            self._families[spec.name] = family
        return family

    def ordered(self) -> list[Metric]:
        return [self._families[spec.name] for spec in self._specs if spec.name in self._families]


def snapshot_families(snapshot: Snapshot, version: str, sources: SourceTable) -> list[Metric]:
    """Every family that changes only when a new snapshot is swapped in."""
    families = _Families(sources.specs())
    for state in snapshot.states:
        add_target_data(families, sources, state)
    for state in snapshot.states:
        add_target_health(families, state)
    add_cycle(families, snapshot, version)
    return families.ordered()


def live_families(stats: RequestStats, sources: SourceTable) -> list[Metric]:
    """:func:`add_live` as prometheus_client families (the reference the tests and the baseline use)."""
    families = _Families(sources.specs())
    add_live(families, stats)
    return families.ordered()


def with_series(families: list[Metric], sources: SourceTable) -> list[Metric]:
    """``families`` (a snapshot's, in table order) with ``codearts_exporter_series`` in its place: each
    family's sample count, as the exposition counts its lines (the reference for that family)."""
    counted = _Families(m.CORE_SPECS)
    for family in families:
        counted.add(m.SERIES, (family.name,), len(family.samples))
    series = counted.ordered()
    names = [spec.name for spec in sources.specs()]
    position = names.index(m.SERIES.name)
    before = [family for family in families if names.index(family.name) < position]
    return [*before, *series, *families[len(before):]]
