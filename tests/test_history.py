"""Run history against the simulator on a fake clock: every finished run counted exactly once."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import load_config
from exporter.poller import Poller, PollerHooks, PollerSettings
from exporter.simulator import Fault, World
from exporter.sources.builtin import BUILTIN
from exporter.sources.repo.targets import pipeline_target
from exporter.wiring import Exporter

from .conftest import make_history, parse_samples, write_config
from .helpers.historyrig import (
    BOUNDS,
    P1,
    REPO,
    T0,
    TERMINAL,
    assert_build_counts_equal,
    assert_pipeline_counts_equal,
    build_truth,
    by_duration,
    duration_series,
    pipeline_truth,
    rig_factory,  # noqa: F401 - a fixture
    run_cycles,
    series,
)


@pytest.mark.parametrize("split", ["outcome", "status", "none"])
def test_fifty_cycles_count_every_finished_run_exactly_once(rig_factory, split):  # noqa: F811 - the fixture imported above
    rig = rig_factory(state=False, split=split)
    rig.poll()
    first = rig.samples()
    assert set(series(first, "codearts_build_runs_total").values()) == {0.0}  # pre-initialised, no back-fill
    assert set(series(first, "codearts_repo_pipeline_job_runs_total").values()) == {0.0}
    assert rig.sim.request_count("build_records") == 0  # the first poll only sets high-water marks
    per_cycle: list[tuple[int, int]] = []
    run_cycles(rig, range(50), per_cycle)
    truth = build_truth(rig.world, T0, rig.now[0])
    assert sum(truth[0].values()) > 200  # a busy world: the test means something
    assert max(Counter(key[:2] for key in truth[0].elements()).values()) >= 20
    found = rig.samples()
    assert_build_counts_equal(found, truth, split)
    assert_pipeline_counts_equal(found, pipeline_truth(rig.world, T0, rig.polls[1:]), split)
    # One records request per job that finished runs in the cycle, whatever the number of runs.
    assert all(requests == changed for requests, changed in per_cycle), per_cycle
    assert min(changed for _, changed in per_cycle) < 18 // 2  # most jobs idle in short cycles: no requests
    assert sum(requests for requests, _ in per_cycle) < sum(truth[0].values())  # not one request per run


def test_restart_with_state_file_ends_equal_to_ground_truth(rig_factory, tmp_path):  # noqa: F811 - the fixture imported above
    rig = rig_factory(state=True)
    rig.poll()
    run_cycles(rig, range(25))
    before_restart = rig.samples()
    rig.now[0] += 1800  # down for half an hour: runs finish meanwhile
    rig.restart()
    restored = rig.samples()
    for name in ("codearts_build_runs_total", "codearts_repo_pipeline_job_runs_total",
                 "codearts_build_run_duration_seconds_bucket"):
        assert series(restored, name) == series(before_restart, name)  # restored before the first poll
    rig.poll()
    run_cycles(rig, range(25, 50))
    found = rig.samples()
    assert_build_counts_equal(found, build_truth(rig.world, T0, rig.now[0]))
    assert_pipeline_counts_equal(found, pipeline_truth(rig.world, T0, rig.polls[1:]))
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["version"] == 1 and saved["build_marks"]
    assert not list(tmp_path.glob(".state.json.*"))  # no temporary file left behind


def test_restart_without_state_file_never_jumps(rig_factory):  # noqa: F811 - the fixture imported above
    rig = rig_factory(state=False)
    rig.poll()
    run_cycles(rig, range(25))
    rig.now[0] += 1800
    rig.restart()
    rig.poll()
    restarted_at = rig.now[0]
    found = rig.samples()
    assert set(series(found, "codearts_build_runs_total").values()) == {0.0}
    assert set(series(found, "codearts_repo_pipeline_job_runs_total").values()) == {0.0}
    run_cycles(rig, range(25, 50))
    found = rig.samples()
    assert_build_counts_equal(found, build_truth(rig.world, restarted_at, rig.now[0]))
    assert_pipeline_counts_equal(found, pipeline_truth(rig.world, restarted_at, rig.polls[-25:]))


def test_v3_history_api_counts_the_same_runs_without_queue_times(rig_factory):  # noqa: F811 - the fixture imported above
    rig = rig_factory(state=False, api="v3")
    rig.poll()
    run_cycles(rig, range(12))
    found = rig.samples()
    runs, seconds, _, _ = build_truth(rig.world, T0, rig.now[0])
    counters = series(found, "codearts_build_runs_total")
    assert sum(runs.values()) > 50
    assert counters == {key: runs[key] for key in counters}
    assert duration_series(found, "codearts_build_run_duration_seconds_count", 3) == {
        key: n for key, n in by_duration(counters, "outcome").items() if n}
    for key, value in duration_series(found, "codearts_build_run_duration_seconds_sum", 3).items():
        assert value == pytest.approx(by_duration(seconds, "outcome")[key], abs=1e-3), key
    # No queue time reported, so no queue histogram: no series that could only ever be zero.
    assert not series(found, "codearts_build_run_queued_seconds_count")
    assert rig.sim.request_count("build_history") > 0 and rig.sim.request_count("build_records") == 0


def test_runs_older_than_the_window_are_reported_as_skipped_not_counted(rig_factory):  # noqa: F811 - the fixture imported above
    rig = rig_factory(state=True, window_ms=3_600_000)
    rig.poll()
    run_cycles(rig, range(3))
    rig.exporter.close()
    rig.now[0] += 3 * 3600  # down for longer than the API keeps runs
    rig.restart()
    rig.poll()
    found = rig.samples()
    truth_runs = build_truth(rig.world, T0, rig.now[0])[0]
    counters = series(found, "codearts_build_runs_total")
    lost = sum(truth_runs.values()) - sum(counters.values())
    assert lost > 0
    skipped = found[("codearts_records_skipped_total",
                     frozenset({"api": "build_history", "reason": "not_listed"}.items()))]
    assert skipped == lost
    for key, value in counters.items():
        assert value <= truth_runs[key]


def test_a_failing_history_request_is_retried_next_cycle_without_loss(rig_factory):  # noqa: F811 - the fixture imported above
    rig = rig_factory(state=False)
    rig.poll()
    rig.sim.set_fault("build_records", Fault.HTTP_500)
    run_cycles(rig, range(3))
    found = rig.samples()
    assert set(series(found, "codearts_build_runs_total").values()) == {0.0}
    assert found[("codearts_up", frozenset({"api": "build", "target": P1}.items()))] == 1
    rig.sim.set_fault("build_records", None)
    run_cycles(rig, range(3, 6))
    assert_build_counts_equal(rig.samples(), build_truth(rig.world, T0, rig.now[0]))


def test_max_pages_bounds_requests_and_reports_what_it_gave_up(tmp_path, simulator_factory):
    now = [T0]
    world = World(seed=11, clock=lambda: now[0], projects={P1: 3})
    sim = simulator_factory(world)
    config = load_config(write_config(tmp_path / "c.yaml", sim.url, projects=[P1],
                                      extra="history:\n  api: v1\n  max_pages: 1\n"), sources=BUILTIN)
    exporter = Exporter(config, clock=lambda: now[0])
    try:
        exporter.poll_once()
        now[0] += 12 * 3600  # far more than 100 runs for most jobs
        exporter.poll_once()
        found = parse_samples(exporter.metrics_text().decode())
    finally:
        exporter.close()
    truth_runs = build_truth(world, T0, now[0])[0]
    jobs = {key[:2] for key in truth_runs}
    assert sim.request_count("build_records") == len(jobs)  # one page each, however far behind
    per_job = Counter()
    for key, value in series(found, "codearts_build_runs_total").items():
        per_job[key[:2]] += value
    assert max(per_job.values()) <= 100 and max(Counter(key[:2] for key in truth_runs.elements()).values()) > 100
    counted = sum(per_job.values())
    truth = sum(truth_runs.values())
    skipped = found[("codearts_records_skipped_total",
                     frozenset({"api": "build_history", "reason": "not_listed"}.items()))]
    assert skipped > 0 and counted + skipped == truth


def test_history_families_match_the_metrics_table(rig_factory):  # noqa: F811 - the fixture imported above
    rig = rig_factory(state=False, default_buckets=True, pipeline_projects={P1: 6}, deploy_projects={P1: 6})
    rig.poll()
    run_cycles(rig, range(3))
    table = {spec.name: spec for spec in BUILTIN.specs() if spec.group == "history"}
    text = rig.exporter.metrics_text().decode()
    served = {family.name: family for family in text_string_to_metric_families(text)}
    for name, spec in table.items():
        family = served[name]
        assert family.type == spec.type and family.documentation == spec.help
        for sample in family.samples:
            extra = {"le"} if sample.name.endswith("_bucket") else set()
            assert set(sample.labels) == set(spec.labels) | extra
    buckets = [s for s in served["codearts_build_run_duration_seconds"].samples if s.name.endswith("_bucket")]
    assert {s.labels["le"] for s in buckets} == {"30.0", "60.0", "120.0", "300.0", "600.0", "1200.0", "3600.0", "+Inf"}


def test_a_corrupt_state_file_is_ignored_and_counting_starts_afresh(rig_factory, tmp_path, caplog):  # noqa: F811 - the fixture imported above
    (tmp_path / "state.json").write_text("{not json")
    rig = rig_factory(state=True)
    rig.poll()
    assert "not valid JSON" in caplog.text
    assert set(series(rig.samples(), "codearts_build_runs_total").values()) == {0.0}
    run_cycles(rig, range(5))
    assert_build_counts_equal(rig.samples(), build_truth(rig.world, T0, rig.now[0]))
    assert json.loads((tmp_path / "state.json").read_text())["version"] == 1  # replaced by a good one


def test_state_from_other_buckets_restarts_counts_at_zero_but_keeps_the_marks(rig_factory, tmp_path):  # noqa: F811 - the fixture imported above
    rig = rig_factory(state=True)
    rig.poll()
    run_cycles(rig, range(5))
    saved = json.loads((tmp_path / "state.json").read_text())
    saved["buckets"] = [1, 2]
    (tmp_path / "state.json").write_text(json.dumps(saved))
    rig.restart()
    rig.poll()
    restarted_at = rig.now[0]
    run_cycles(rig, range(5, 10))
    found = rig.samples()
    # Counted from the saved marks on: what finished since the last save, but no earlier run again.
    truth = build_truth(rig.world, rig.polls[5], rig.now[0])
    assert restarted_at == rig.polls[6]
    assert_build_counts_equal(found, truth)


def test_a_state_file_without_the_zero_series_still_counts_every_run(rig_factory, tmp_path):  # noqa: F811 - the fixture imported above
    # A state file written by hand or by an older version may lack the pre-initialised (zero) series.
    rig = rig_factory(state=True)
    rig.poll()
    run_cycles(rig, range(5))
    saved = json.loads((tmp_path / "state.json").read_text())
    for table in ("build_runs", "pipeline_runs"):
        kept = [entry for entry in saved[table] if entry[1] > 0]
        assert len(kept) < len(saved[table])  # some series are gone: the test means something
        saved[table] = kept
    kept_jobs = {tuple(key[:-1]) for key, _ in saved["build_runs"]}
    saved["build_durations"] = [entry for entry in saved["build_durations"] if tuple(entry[0][:-1]) in kept_jobs]
    (tmp_path / "state.json").write_text(json.dumps(saved))
    rig.restart()
    rig.poll()
    run_cycles(rig, range(5, 15))
    found = rig.samples()
    assert_build_counts_equal(found, build_truth(rig.world, T0, rig.now[0]))
    assert_pipeline_counts_equal(found, pipeline_truth(rig.world, T0, rig.polls[1:]))

def test_disabled_history_sends_no_records_request_and_serves_no_run_metrics(tmp_path, simulator_factory):
    now = [T0]
    world = World(seed=11, clock=lambda: now[0], projects={P1: 5}, pipelines={(REPO, 6): 3})
    sim = simulator_factory(world)
    config = load_config(write_config(tmp_path / "c.yaml", sim.url, repositories={REPO: [6]}, projects=[P1],
                                      extra="history:\n  enabled: false\n"), sources=BUILTIN)
    exporter = Exporter(config, clock=lambda: now[0])
    try:
        for _ in range(4):
            exporter.poll_once()
            now[0] += 900
        text = exporter.metrics_text().decode()
    finally:
        exporter.close()
    assert "codearts_build_job_status{" in text
    assert "codearts_build_runs" not in text and "codearts_repo_pipeline_job_runs" not in text
    assert sim.request_count("build_records") == 0


def test_a_listing_answered_after_its_cycle_gave_up_counts_no_run_twice(tmp_path, simulator_factory):
    now = [T0]
    world = World(seed=11, clock=lambda: now[0], pipelines={(REPO, 6): 9, (REPO, 7): 6})
    sim = simulator_factory(world)
    config = load_config(write_config(tmp_path / "c.yaml", sim.url, repositories={REPO: [6, 7]},
                                      extra=f"history:\n  buckets: [{BOUNDS}]\n"), sources=BUILTIN)
    exporter = Exporter(config, clock=lambda: now[0])
    history = make_history(exporter.client, config=config)
    poller = Poller([pipeline_target(REPO, 6), pipeline_target(REPO, 7)], exporter.client,
                    PollerSettings(interval=60, concurrency=2, cycle_timeout=0.5), stats=exporter.stats,
                    rate_limits=exporter.client.rate_limits, hooks=PollerHooks(history=history), clock=lambda: now[0],
                    sources=BUILTIN)
    polls: list[float] = []
    try:
        assert poller.poll_once().all_up()  # first sight
        now[0] += 600
        held_at = now[0]
        sim.set_fault(f"repo:{REPO}/6", Fault.LATENCY, delay=120, times=1)
        abandoned = poller._pool._workers  # the pool whose worker waits for the held listing
        assert not poller.poll_once().all_up()  # the cycle gives that listing up
        now[0] += 1500
        assert poller.poll_once().all_up()
        polls.append(now[0])
        sim.clear_faults()  # the listing of ``held_at`` is answered now, after a newer one was counted
        abandoned.shutdown(wait=True)
        now[0] += 10
        assert poller.poll_once().all_up()
        polls.append(now[0])
    finally:
        sim.clear_faults()
        poller.stop()
        exporter.close()

    def terminal(at: float) -> set:
        return {(job["id"], job["created_at"]) for job in world.pipeline_jobs(REPO, 6, at=at)
                if job["status"] in TERMINAL}

    # The case at stake: runs that ended after the held listing and before the newer one, unchanged since.
    assert (terminal(polls[0]) & terminal(polls[1])) - terminal(held_at)
    counted = {(*labels, status): count for (kind, labels), job in history.view().jobs.items()
               if kind != "build" for status, count in job.runs if count}
    # Pipeline 7 was listed in every cycle; pipeline 6's held listing never made it into one.
    truth = {key: n for key, n in pipeline_truth(world, T0, [held_at, *polls])[0].items() if key[1] == "7"}
    truth |= {key: n for key, n in pipeline_truth(world, T0, polls)[0].items() if key[1] == "6"}
    assert counted == truth
