"""Run history in /metrics: byte for byte what prometheus_client writes, and only changed jobs rendered again."""

from __future__ import annotations

import gzip
import math
from dataclasses import replace

import pytest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics import exposition as om
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter import historylines
from exporter.config import HistoryConfig
from exporter.exposition import OPENMETRICS, TEXT, Exposition
from exporter.runhistory.counts import HistoryView
from exporter.runhistory.history import RunHistory
from exporter.sources.build import metrics as build_metrics
from exporter.sources.builtin import BUILTIN
from exporter.sources.repo.targets import pipeline_target
from exporter.stats import RequestStats
from exporter.textformat import LineSink

from .conftest import make_history
from .helpers.historyrig import Rig, run_cycles
from .helpers.reference import live_families, snapshot_families, with_series
from .helpers.snapshots import T0, awkward_snapshot, make_snapshot, pipeline_job

BOUNDS = (0.5, 10.0, 14400.0, 1e7)
QUEUED = (1.0, 100.0)
AWKWARD_JOB = ('pro"j\\1', "jöb\nid", "雪 job")


class _Families:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


def reference_history(view: HistoryView) -> list:
    """The history families as prometheus_client builds them, written out here from the view's copies."""
    def le(bound):
        return repr(float(bound))

    def cumulative(bounds, histogram):
        running, out = 0, []
        for bound, count in zip([*map(le, bounds), "+Inf"], histogram.counts, strict=True):
            running += count
            out.append((bound, running))
        return out

    families = {spec.name: (HistogramMetricFamily if spec.type == "histogram" else CounterMetricFamily)(
        spec.name, spec.help, labels=spec.labels) for spec in BUILTIN.specs() if spec.group == "history"}
    for (kind, labels), _ in view.versions:
        job = view.jobs[(kind, labels)]
        runs, durations = ("codearts_build_runs", "codearts_build_run_duration_seconds") if kind == "build" else (
            "codearts_repo_pipeline_job_runs", "codearts_repo_pipeline_job_run_duration_seconds")
        for status, count in job.runs:
            families[runs].add_metric([*labels, status], count)
        for status, histogram in job.durations:
            families[durations].add_metric([*labels, status], cumulative(view.duration_bounds, histogram),
                                           histogram.sum)
        if job.queued is not None:
            families["codearts_build_run_queued_seconds"].add_metric(
                list(labels), cumulative(view.queued_bounds, job.queued), job.queued.sum)
    return [family for family in families.values() if family.samples]


def expected_bodies(snapshot, stats: RequestStats, view: HistoryView) -> tuple[bytes, bytes]:
    order = {spec.name: index for index, spec in enumerate(BUILTIN.specs())}
    families = with_series(sorted(snapshot_families(snapshot, "1.2.3", BUILTIN) + reference_history(view),
                                  key=lambda f: order[f.name]), BUILTIN)
    live = live_families(stats, BUILTIN)
    text = generate_latest(_Families(families)) + generate_latest(_Families(live))
    openmetrics = om.generate_latest(_Families(families)).removesuffix(b"# EOF\n") + om.generate_latest(
        _Families(live))
    return text, openmetrics


def awkward_history(client) -> RunHistory:
    """Build jobs restored with awkward labels and sums, then pipeline runs counted from two listings."""
    history = make_history(client, HistoryConfig(buckets=BOUNDS, queued_buckets=QUEUED))
    build = [*AWKWARD_JOB]
    history.restore({
        "version": 1, "buckets": list(BOUNDS), "queued_buckets": list(QUEUED),
        "build_marks": {}, "pipeline_seen": {},
        "build_runs": [[[*build, status], n] for status, n in
                       (("success", 3), ("failed", 0), ("timedout", 1), ("aborted", 12_345_678))],
        "build_durations": [[[*build, "success"], [1, 0, 2, 0, 0], 123456.789],
                            [[*build, "timedout"], [0, 0, 0, 0, 1], 1e-7]],
        "build_queued": [[build, [1, 1, 1], 0.1 + 0.2]],
        "pipeline_runs": [], "pipeline_durations": [],
    })
    target = pipeline_target(7, 8)
    history.after_listing(target, (pipeline_job(1, 'say "hi"\\n\nbye', "running", stage="st\\age"),))
    history.after_listing(target, (
        pipeline_job(1, 'say "hi"\\n\nbye', "success", stage="st\\age", started=T0, finished=T0 + 0.25),
        pipeline_job(2, "ünïcødé", "skipped"),
    ))
    return history


@pytest.fixture
def rig(tmp_path, simulator_factory):
    rig = Rig(tmp_path, simulator_factory, state=False, default_buckets=True)
    yield rig
    rig.close()


def test_history_lines_equal_prometheus_client_rendering_byte_for_byte(rig):
    history = awkward_history(rig.exporter.client)
    stats = RequestStats()
    stats.count_request("build_history", "200")
    snapshot = awkward_snapshot()
    exposition = Exposition(BUILTIN, stats, "1.2.3")
    snapshot = replace(snapshot, history=history.view())
    exposition.update(snapshot)
    text, openmetrics = expected_bodies(snapshot, stats, snapshot.history)
    assert exposition.body(TEXT, False) == text
    assert exposition.body(OPENMETRICS, False) == openmetrics
    assert gzip.decompress(exposition.body(OPENMETRICS, True)) == openmetrics
    served = {family.name: family for family in parse_openmetrics(openmetrics.decode())}
    queued = served["codearts_build_run_queued_seconds"].samples
    assert [s.value for s in queued if s.name.endswith("_bucket")] == [1, 2, 3]
    names = {family.name for family in parse_text(text.decode())}
    assert names >= {"codearts_build_runs", "codearts_repo_pipeline_job_runs"}


def test_served_history_of_a_polled_world_renders_as_prometheus_client_does(rig):
    rig.poll()
    run_cycles(rig, range(4))
    stats = rig.exporter.stats
    body = rig.exporter.exposition.body(TEXT, False)
    text, _ = expected_bodies(rig.exporter.poller.snapshot, stats, rig.exporter.history.view())
    ours = [line for line in body.splitlines() if b"_run" in line]
    reference = [line for line in text.splitlines() if b"_run" in line]
    assert len(ours) > 500 and ours == reference
    counts = [float(line.rsplit(b" ", 1)[1]) for line in ours if line.startswith(b"codearts_build_runs_total{")]
    assert sum(counts) > 0  # the world ran builds between the polls


def test_only_jobs_that_counted_a_run_are_rendered_again(rig, monkeypatch):
    history = awkward_history(rig.exporter.client)
    rendered = []
    real = historylines.add_job_history
    monkeypatch.setattr(historylines, "add_job_history",
                        lambda sink, sources, key, *rest: (rendered.append(key), real(sink, sources, key, *rest)))
    exposition = Exposition(BUILTIN, RequestStats(), "1.2.3")
    exposition.update(replace(make_snapshot(), history=history.view()))
    assert len(rendered) == 3  # the build job and both pipeline jobs, once
    rendered.clear()
    exposition.update(replace(make_snapshot(), history=history.view()))
    assert rendered == []
    target = pipeline_target(7, 8)
    history.after_listing(target, (pipeline_job(3, "ünïcødé", "failed", started=T0, finished=T0 + 3),))
    exposition.update(replace(make_snapshot(), history=history.view()))
    assert rendered == [("repo", ("7", "8", "build", "ünïcødé"))]
    fresh = Exposition(BUILTIN, RequestStats(), "1.2.3")
    fresh.update(replace(make_snapshot(), history=history.view()))
    assert exposition.body(TEXT, False) == fresh.body(TEXT, False)
    assert b'codearts_repo_pipeline_job_runs_total{job="\xc3\xbcn\xc3\xafc\xc3\xb8d\xc3\xa9",pipeline_id="8",' \
           b'repository_id="7",stage="build",status="failed"} 1.0' in exposition.body(TEXT, False)


def test_a_histogram_with_a_negative_first_bound_has_no_count_or_sum_like_prometheus_client():
    from exporter.runhistory.counts import Histogram

    spec = build_metrics.RUN_QUEUED
    histogram = Histogram([1, 2, 0], 4.5)
    sink = LineSink()
    sink.add_histogram(spec, AWKWARD_JOB, (-1.0, math.inf), histogram)
    reference = HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
    reference.add_metric(list(AWKWARD_JOB), [("-1.0", 1), ("inf", 3), ("+Inf", 3)], 4.5)
    expected = generate_latest(_Families([reference])).split(b"\n", 2)[2]
    assert sink.chunks()[spec.name] == expected
