"""Pipeline run history against the simulator on a fake clock: every finished run counted exactly once over
50 cycles, with and without a restart (state.path), both readings of offset, within the per-cycle budget."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from .conftest import parse_samples
from .helpers.counting import assert_counted_exactly, labelled
from .helpers.pipelinerig import P1, P2, T0, Rig

# Written out here, independently of the exporter.
TERMINAL = {"COMPLETED": "success", "FAILED": "failed", "CANCELED": "canceled", "IGNORED": "skipped"}
GAPS = (30, 90, 700, 45, 1500, 60, 240, 400, 20, 900)
HISTORY = "history:\n  buckets: [60, 600]\n"


def branch_label(branch: str) -> str:
    return branch if branch == "main" or branch.startswith("release/") else "other"


def truth(rig: Rig, after: float, until: float) -> tuple[Counter, Counter, Counter]:
    """Runs, run seconds and runs of at most 60 s per (project, pipeline id, name, trigger, branch, status)
    finished in (after, until]."""
    runs: Counter = Counter()
    seconds: Counter = Counter()
    short: Counter = Counter()
    for project in (P1, P2):
        for pipeline, run in rig.service.finished_runs(project, int(after * 1000), int(until * 1000)):
            key = (project, pipeline.id, pipeline.name, run.trigger, branch_label(run.branch), TERMINAL[run.status])
            runs[key] += 1
            seconds[key] += (run.end - run.start) / 1000
            short[key] += run.end - run.start <= 60_000
    return runs, seconds, short


ORDER = ("project_id", "pipeline_id", "pipeline", "trigger", "branch")


def series(found: dict, name: str) -> dict[tuple, float]:
    return labelled(found, name, (*ORDER, "status"))


def assert_counts_equal(rig: Rig, after: float) -> None:
    assert_counted_exactly(parse_samples(rig.exporter.metrics_text().decode()), "codearts_pipeline_runs_total",
                           "codearts_pipeline_run_duration_seconds", ORDER, truth(rig, after, rig.now[0]))


def cycles(rig: Rig, count: int, per_cycle: list | None = None) -> None:
    for cycle in range(count):
        rig.now[0] += GAPS[cycle % len(GAPS)]
        before = rig.sim.request_count("pipeline_runs")
        assert rig.poll().all_up()
        if per_cycle is not None:
            per_cycle.append(rig.sim.request_count("pipeline_runs") - before)


@pytest.fixture
def make_rig(tmp_path, simulator_factory):
    rigs: list[Rig] = []

    def make(extra: str = "", **options) -> Rig:
        rig = Rig(tmp_path, simulator_factory, {P1: 9, P2: 4}, extra=HISTORY + extra, **options)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def test_fifty_cycles_count_every_finished_run_exactly_once(make_rig):
    rig = make_rig()
    assert rig.poll().all_up()
    first = parse_samples(rig.exporter.metrics_text().decode())
    assert set(series(first, "codearts_pipeline_runs_total").values()) == {0.0}  # no back-fill
    assert rig.sim.request_count("pipeline_runs") == 0  # the first poll only sets the marks
    cycles(rig, 50)
    runs = truth(rig, T0, rig.now[0])[0]
    assert sum(runs.values()) > 300 and len({key[5] for key in runs}) == 4  # a busy world, every status
    assert_counts_equal(rig, T0)


@pytest.mark.parametrize("paging", ["item", "page"])
def test_a_restart_with_the_state_file_ends_equal_to_ground_truth(make_rig, tmp_path, paging):
    rig = make_rig(f"state:\n  path: {tmp_path / 'state.json'}\n", paging=paging)
    assert rig.poll().all_up()
    cycles(rig, 25)
    before = series(parse_samples(rig.exporter.metrics_text().decode()), "codearts_pipeline_runs_total")
    rig.exporter.close()
    rig.now[0] += 6 * 3600  # down for six hours: more than 100 runs of some pipelines, several pages each
    rig.exporter = type(rig.exporter)(rig.config, clock=lambda: rig.now[0])
    restored = series(parse_samples(rig.exporter.metrics_text().decode()), "codearts_pipeline_runs_total")
    assert restored == before  # restored before the first poll
    pages_before = rig.sim.request_count("pipeline_runs")
    assert rig.poll().all_up()
    # Every one of the 13 pipelines is behind, some by more than a page of 100 runs.
    assert rig.sim.request_count("pipeline_runs") - pages_before > 13
    cycles(rig, 25)
    assert_counts_equal(rig, T0)
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["cloud_pipeline_marks"] and saved["cloud_pipeline_runs"] and "pipeline_seen" in saved


def test_history_requests_stay_within_the_per_cycle_budget_and_catch_up_later(make_rig):
    rig = make_rig("  max_requests_per_cycle: 3\n")
    assert rig.poll().all_up()
    per_cycle: list[int] = []
    cycles(rig, 20, per_cycle)
    assert max(per_cycle) <= 3 and sum(per_cycle) > 20
    for _ in range(40):  # the clock stands still: what the budget left over is fetched, 3 a cycle
        assert rig.poll().all_up()
    assert_counts_equal(rig, T0)


def test_a_state_file_from_before_pipelines_were_watched_keeps_the_other_counters(make_rig, tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "buckets": [60, 600], "queued_buckets": [1, 5, 10, 30, 60, 120, 300,
                                                                                       600, 1200, 1800, 3600],
                                "pipeline_runs": [], "pipeline_durations": [], "pipeline_seen": {}}))
    rig = make_rig(f"state:\n  path: {path}\n")
    assert rig.poll().all_up()
    cycles(rig, 5)
    assert_counts_equal(rig, T0)


def test_old_version_pipelines_are_read_with_the_legacy_opt_in_and_counted_the_same(make_rig):
    rig = make_rig(legacy=(P2,))
    assert rig.poll().all_up()
    assert {state.target.key: len(state.records) for state in rig.exporter.poller.snapshot.states} == {P1: 9, P2: 4}
    cycles(rig, 10)
    assert_counts_equal(rig, T0)
    runs = [record.path for record in rig.sim.requests if record.route == "pipeline_runs"]
    assert all(path.endswith("/list-legacy") == (P2 in path) for path in runs)
    assert any(P2 in path for path in runs) and all(record.status == 200 for record in rig.sim.requests)


def test_without_the_opt_in_old_version_pipelines_are_not_listed(make_rig):
    rig = make_rig()
    rig.service.legacy.add(P2)
    assert rig.poll().all_up()
    assert {state.target.key: len(state.records) for state in rig.exporter.poller.snapshot.states} == {P1: 9, P2: 0}
