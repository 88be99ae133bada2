"""Issue 20 B18: ``metrics.max_series`` holds: past it, series are left out and counted per family in
``codearts_exporter_series_dropped_total``, the exporter's own families always served."""

from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from exporter.config import load_config
from exporter.exposition import TEXT, Exposition
from exporter.simulator import World
from exporter.sources.builtin import BUILTIN
from exporter.stats import RequestStats
from exporter.wiring import Exporter

from .conftest import write_config

PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
CAP = 1_000


def lines_per_family(text: str) -> Counter:
    counted: Counter = Counter()
    for family in text_string_to_metric_families(text):
        counted[family.name] += len(family.samples)
    return counted


def test_a_tenant_past_the_cap_is_served_up_to_it_and_the_rest_counted_per_family(tmp_path, simulator_factory):
    sim = simulator_factory(World(seed=5, clock=lambda: 1_780_000_000.0, projects={PROJECT: 400}))
    config = load_config(write_config(tmp_path / "c.yaml", sim.url, projects=[PROJECT],
                                      extra=f"metrics:\n  max_series: {CAP}\n"), sources=BUILTIN)
    exporter = Exporter(config)
    try:
        snapshot = exporter.poll_once()
        capped = exporter.metrics_text().decode()
        exporter.exposition.update(snapshot)  # a second snapshot: the counter adds what it leaves out again
        twice = exporter.metrics_text().decode()
    finally:
        exporter.close()
    whole = Exposition(BUILTIN, RequestStats(), "x")
    whole.update(snapshot)
    uncapped = lines_per_family(whole.body(TEXT, False).decode())
    served = lines_per_family(capped)
    assert uncapped["codearts_build_job_status"] == 400  # the tenant is over the cap: the test means something
    snapshot_part = {name: n for name, n in served.items() if name in uncapped}
    assert sum(snapshot_part.values()) <= CAP
    assert served["codearts_up"] == 1 and served["codearts_poller_last_cycle_timestamp_seconds"] == 1
    dropped = {s.labels["family"]: s.value for f in text_string_to_metric_families(capped) for s in f.samples
               if s.name == "codearts_exporter_series_dropped_total"}
    assert dropped  # some were left out, and each family's left out + served is what it holds uncapped
    for family, count in dropped.items():
        assert count == uncapped[family] - served[family], family
    series = {s.labels["family"]: s.value for f in text_string_to_metric_families(capped) for s in f.samples
              if s.name == "codearts_exporter_series"}
    assert {name: n for name, n in series.items() if n} == {name: n for name, n in snapshot_part.items()
                                                            if name != "codearts_exporter_series"}
    again = {s.labels["family"]: s.value for f in text_string_to_metric_families(twice) for s in f.samples
             if s.name == "codearts_exporter_series_dropped_total"}
    assert again == {family: 2 * count for family, count in dropped.items()}


def test_the_default_cap_is_generous(tmp_path):
    from exporter.metricsconfig import DEFAULT_MAX_SERIES
    assert load_config(write_config(tmp_path / "a.yaml", "http://127.0.0.1:9", projects=[PROJECT]), sources=BUILTIN
                       ).metrics.max_series == DEFAULT_MAX_SERIES >= 1_000_000
