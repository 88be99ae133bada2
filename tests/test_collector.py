"""Snapshot to metric families: values, labels, every-status counts, and one golden rendering."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition import OPENMETRICS, TEXT, Exposition
from exporter.sharding import ShardSpec
from exporter.snapshot import DiscoveryStatus, DiscoveryView, Snapshot, TargetState
from exporter.sources.build.models import BUILD_STATUSES
from exporter.sources.builtin import BUILTIN
from exporter.sources.repo.models import PIPELINE_STATUSES
from exporter.sources.repo.targets import pipeline_target
from exporter.stats import RequestStats
from exporter.wiring import request_stats

from .conftest import parse_samples
from .helpers.snapshots import T0, make_snapshot, pipeline_job

GOLDEN = Path(__file__).parent / "golden" / "metrics.txt"


def render(snapshot: Snapshot, stats: RequestStats | None = None, fmt: str = TEXT) -> str:
    exposition = Exposition(BUILTIN, stats or request_stats(BUILTIN), "1.2.3")
    exposition.update(snapshot)
    return exposition.body(fmt, gzipped=False).decode()


def value(found, name, **labels):
    return found[(name, frozenset(labels.items()))]


PIPE = dict(repository_id="2111976239", pipeline_id="6")
PROJ = dict(project_id="6ecbc5bac7c8442fb3d2563d53c13582")


def test_pipeline_job_values():
    found = parse_samples(render(make_snapshot()))
    compile_job = dict(PIPE, stage="build", job="compile")
    assert value(found, "codearts_repo_pipeline_job_status", **compile_job, status="success") == 1
    # The older 'compile' (id 9, failed) is shadowed by the newer id 10.
    assert ("codearts_repo_pipeline_job_status", frozenset(dict(compile_job, status="failed").items())) not in found
    assert value(found, "codearts_repo_pipeline_job_duration_seconds", **compile_job) == 60
    assert value(found, "codearts_repo_pipeline_job_queued_seconds", **compile_job) == 10
    assert value(found, "codearts_repo_pipeline_job_created_timestamp_seconds", **compile_job) == T0 - 100
    assert value(found, "codearts_repo_pipeline_job_finished_timestamp_seconds", **compile_job) == T0 - 30
    assert value(found, "codearts_repo_pipeline_job_info", **compile_job, job_id="10", ref="main", sha="abc123") == 1
    unit = dict(PIPE, stage="test", job="unit")
    assert value(found, "codearts_repo_pipeline_job_duration_seconds", **unit) == 40.25  # running: poll time - start
    lint = dict(PIPE, stage="build", job="lint")
    assert ("codearts_repo_pipeline_job_started_timestamp_seconds", frozenset(lint.items())) not in found
    assert ("codearts_repo_pipeline_job_duration_seconds", frozenset(lint.items())) not in found


def test_pipeline_status_counts_cover_every_status():
    found = parse_samples(render(make_snapshot()))
    counts = {status: value(found, "codearts_repo_pipeline_jobs", **PIPE, status=status)
              for status in PIPELINE_STATUSES}
    assert counts == dict.fromkeys(PIPELINE_STATUSES, 0) | {"success": 1, "running": 1, "pending": 1}


def test_build_job_values():
    found = parse_samples(render(make_snapshot()))
    nightly = dict(PROJ, job_id="b2", job="nightly")
    assert value(found, "codearts_build_job_status", **nightly, status="failed") == 1
    assert value(found, "codearts_build_job_health_score", **nightly) == 40
    assert value(found, "codearts_build_job_last_build_timestamp_seconds", **nightly) == T0 - 600
    assert value(found, "codearts_build_job_last_build_duration_seconds", **nightly) == 120
    assert value(found, "codearts_build_job_running", **nightly) == 0
    running = dict(PROJ, job_id="b1", job="ci-main")
    assert value(found, "codearts_build_job_running", **running) == 1
    assert ("codearts_build_job_last_build_duration_seconds", frozenset(running.items())) not in found
    old = dict(PROJ, job_id="b3", job="old")
    assert value(found, "codearts_build_job_disabled", **old) == 1
    info = dict(nightly, branch="master", scm_type="codehub", trigger_type="MANUAL", build_type="branch",
                repository_id="569802")
    assert value(found, "codearts_build_job_info", **info) == 1
    counts = {status: value(found, "codearts_build_jobs", **PROJ, status=status) for status in BUILD_STATUSES}
    assert counts == dict.fromkeys(BUILD_STATUSES, 0) | {"failed": 1, "running": 1, "none": 1}


def test_a_failed_target_is_down_and_exports_no_jobs():
    found = parse_samples(render(make_snapshot()))
    assert value(found, "codearts_up", api="build", target="ffffffffffffffffffffffffffffffff") == 0
    assert value(found, "codearts_up", api="repo", target="2111976239/6") == 1
    assert value(found, "codearts_last_success_timestamp_seconds", api="build", target=PROJ["project_id"]) == T0 + 0.5
    assert not any(dict(labels).get("project_id") == "ffffffffffffffffffffffffffffffff" for _, labels in found)


def test_request_counters_are_rendered_live_between_snapshots():
    stats = RequestStats()
    exposition = Exposition(BUILTIN, stats, "1.2.3")
    exposition.update(make_snapshot())
    stats.count_request("build", "200")
    first = parse_samples(exposition.body(TEXT, False).decode())
    stats.count_request("build", "200")
    stats.count_request("repo", "404")
    second = parse_samples(exposition.body(TEXT, False).decode())
    assert value(first, "codearts_api_requests_total", api="build", code="200") == 1
    assert value(second, "codearts_api_requests_total", api="build", code="200") == 2
    assert value(second, "codearts_api_requests_total", api="repo", code="404") == 1


def test_every_family_served_is_in_the_metrics_table_with_its_help_text():
    stats = RequestStats()
    stats.count_request("repo", "200")
    stats.count_skipped("repo", "malformed")
    stats.count_retry("build", "throttled")
    stats.count_throttled("build")
    stats.count_rate_limit_wait("repo", 0.25)
    statuses = (DiscoveryStatus("project", PROJ["project_id"], True, T0, 3),
                DiscoveryStatus("repository", "501", False, T0 - 60, 4))
    stats.set_token_expiry(T0 + 86_400)  # password mode
    stats.track_state_writes()  # with state.path
    stats.count_series_dropped("codearts_build_job_status", 3)  # over metrics.max_series
    stats.assumptions.contradicted("build", "total_is_integer", "a target", "total '3'")
    stats.count_config_load(True, T0)  # by the exporter at start
    exposition = Exposition(BUILTIN, stats, "1.2.3", ShardSpec(1, 2))
    exposition.update(dataclasses.replace(make_snapshot(), cycle_seconds=1.5, cycle_requests=(("build", 12),),
                                          budget_requests=(("build", 300.0),),
                                          discovery=DiscoveryView(statuses, pass_seconds=2.5)))
    text = exposition.body(TEXT, gzipped=False).decode()
    # test_history, test_build_tests and test_dora check the families the run history renders
    table = {spec.name: spec for spec in BUILTIN.specs() if spec.group not in ("history", "tests", "dora")}
    served = list(text_string_to_metric_families(text))
    assert {family.name for family in served} == set(table)
    for family in served:
        spec = table[family.name]
        assert family.documentation == spec.help
        assert family.type == spec.type
        for sample in family.samples:
            assert set(sample.labels) == set(spec.labels)


def test_openmetrics_body_has_a_single_eof_at_the_end():
    stats = RequestStats()
    stats.count_request("repo", "200")
    text = render(make_snapshot(), stats, fmt=OPENMETRICS)
    assert text.endswith("# EOF\n")
    assert text.count("# EOF") == 1


def test_label_values_are_escaped():
    weird = TargetState(
        pipeline_target(1, 2), polled=True, up=True, data_at=T0,
        records=(pipeline_job(1, 'say "hi"\\n\nbye', "success", stage="st\\age"),),
    )
    found = parse_samples(render(Snapshot(1, T0, (weird,))))
    assert value(found, "codearts_repo_pipeline_job_status", repository_id="1", pipeline_id="2", stage="st\\age",
                 job='say "hi"\\n\nbye', status="success") == 1


def test_golden_rendering_is_byte_for_byte_stable():
    stats = request_stats(BUILTIN)
    stats.count_request("repo", "200")
    stats.count_request("build", "200")
    stats.count_request("build", "404")
    text = render(make_snapshot(), stats)
    if not GOLDEN.exists():
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
        raise AssertionError(f"wrote {GOLDEN}: review it and run again")
    assert text == GOLDEN.read_text()
