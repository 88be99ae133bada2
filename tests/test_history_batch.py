"""Build run history through the batch records API (POST /v1/record/brief): one request per project with runs,
counts exact, and the fall back to the per-job records API where the account does not answer it."""

from __future__ import annotations

import logging

import pytest

from exporter.simulator import Fault

from .conftest import SIM_TOKEN
from .helpers.historyrig import (
    GAPS,
    P1,
    T0,
    Rig,
    assert_build_counts_equal,
    assert_pipeline_counts_equal,
    build_truth,
    pipeline_truth,
)


@pytest.fixture
def rig_factory(tmp_path, simulator_factory):
    rigs: list[Rig] = []

    def make(**options) -> Rig:
        directory = tmp_path / str(len(rigs))
        directory.mkdir()
        rigs.append(Rig(directory, simulator_factory, **options))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.close()


def cycles_with_requests(rig, count: int) -> list[tuple[int, int, int]]:
    """Poll ``count`` cycles; per cycle (batch requests, per-job records requests, projects with new runs)."""
    out = []
    for cycle in range(count):
        rig.now[0] += GAPS[cycle % len(GAPS)]
        previous = rig.polls[-1]
        brief, records = rig.sim.request_count("build_brief"), rig.sim.request_count("build_records")
        rig.poll()
        projects = {key[0] for key in build_truth(rig.world, previous, rig.now[0])[0]}
        out.append((rig.sim.request_count("build_brief") - brief, rig.sim.request_count("build_records") - records,
                    len(projects)))
    return out


def test_the_batch_api_costs_at_most_one_request_per_project_with_runs_and_counts_exactly(rig_factory):
    rig = rig_factory(state=False, api="auto")
    rig.poll()
    per_cycle = cycles_with_requests(rig, 30)
    truth = build_truth(rig.world, T0, rig.now[0])
    assert sum(truth[0].values()) > 100  # a busy world: the test means something
    assert_build_counts_equal(rig.samples(), truth)
    assert_pipeline_counts_equal(rig.samples(), pipeline_truth(rig.world, T0, rig.polls[1:]))
    assert all(brief <= projects and records == 0 for brief, records, projects in per_cycle), per_cycle
    assert sum(brief for brief, _, _ in per_cycle) >= 20  # it was used, not skipped
    # 18 build jobs in 2 projects: per job, the same cycles would have cost one request per job that ran.
    assert max(projects for _, _, projects in per_cycle) == 2


def test_an_account_without_the_batch_api_falls_back_to_per_job_records_and_counts_exactly(rig_factory, caplog):
    rig = rig_factory(state=False, api="auto")
    rig.sim.set_fault("build_brief", Fault.NOT_FOUND)
    rig.poll()
    with caplog.at_level(logging.WARNING, logger="exporter.sources.build.history"):
        per_cycle = cycles_with_requests(rig, 20)
    assert_build_counts_equal(rig.samples(), build_truth(rig.world, T0, rig.now[0]))
    tried = [brief for brief, _, _ in per_cycle if brief]
    assert tried and sum(tried) <= 2 and per_cycle.index(next(c for c in per_cycle if c[0])) == next(
        i for i, c in enumerate(per_cycle) if c[2])  # tried once, in the first cycle with runs, per project
    assert sum(records for _, records, _ in per_cycle) > 20  # then every job alone, as before
    assert caplog.text.count("not available") == 1  # said once, whatever the batches refused in parallel


def test_a_job_the_batch_answer_leaves_out_is_fetched_alone_and_counted_exactly(rig_factory, caplog):
    rig = rig_factory(state=False, api="brief")
    rig.poll()
    left_out = [job["build_project_id"] for job in rig.world.build_jobs_page(P1, 0, 3)[1]]
    rig.world.brief_leaves_out.update(left_out)
    with caplog.at_level(logging.WARNING, logger="exporter.sources.build.history"):
        per_cycle = cycles_with_requests(rig, 20)
    assert_build_counts_equal(rig.samples(), build_truth(rig.world, T0, rig.now[0]))
    assert sum(brief for brief, _, _ in per_cycle) > 0 and sum(records for _, records, _ in per_cycle) > 0
    assert caplog.text.count("assumption batch_answers_every_id") == 1  # once per project, not per cycle
    assert 'codearts_api_assumption_failures_total{api="build",assumption="batch_answers_every_id"} 1.0' in \
        rig.exporter.metrics_text().decode()


def test_history_api_brief_is_used_without_detection_and_v1_never_tries_it(rig_factory):
    rig = rig_factory(state=False, api="brief")
    rig.poll()
    brief = cycles_with_requests(rig, 6)
    assert sum(b for b, _, _ in brief) > 0 and sum(r for _, r, _ in brief) == 0
    other = rig_factory(state=False, api="v1")
    other.poll()
    per_job = cycles_with_requests(other, 6)
    assert sum(b for b, _, _ in per_job) == 0 and sum(r for _, r, _ in per_job) > 0


def test_the_simulator_answers_the_batch_call_with_the_documented_fields(rig_factory):
    import requests

    rig = rig_factory(state=False, api="v1")
    rig.now[0] += 3600
    ids = [job["build_project_id"] for job in rig.world.build_jobs_page(P1, 0, 3)[1]]
    answer = requests.post(f"{rig.sim.url}/v1/record/brief", params={"limit": 2}, json=[*ids, "unknown"],
                           headers={"X-Auth-Token": SIM_TOKEN}, timeout=5)
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert [entry["project_id"] for entry in result] == ids
    records = [record for entry in result for record in entry["brief_build_record_dtos"]]
    assert records and all(len(entry["brief_build_record_dtos"]) <= 2 for entry in result)
    assert set(records[0]) >= {"id", "build_no", "daily_build_number", "status", "create_time", "queued_time",
                               "schedule_time", "start_time", "finish_time", "duration", "build_duration",
                               "pending_duration", "branch", "revision", "trigger_name", "project_id"}
    bad = requests.post(f"{rig.sim.url}/v1/record/brief", data=b"{}", headers={"X-Auth-Token": SIM_TOKEN},
                        timeout=5)
    assert bad.status_code == 400


@pytest.mark.parametrize("spelling", [lambda n: f"#{n}", float, lambda n: f"{n}.0"], ids=["hash", "float", "text"])
def test_build_numbers_spelt_12_0_or_hash_12_are_read_and_every_run_counted(rig_factory, spelling):
    rig = rig_factory(state=False, api="v1")
    rig.world.build_number_spelling = spelling
    rig.poll()
    cycles_with_requests(rig, 12)
    assert_build_counts_equal(rig.samples(), build_truth(rig.world, T0, rig.now[0]))


@pytest.mark.parametrize("api", ["v1", "auto"])
@pytest.mark.parametrize("spelling", [lambda n: None, lambda n: f"build-{n}"], ids=["absent", "no_number"])
def test_without_a_build_number_new_runs_are_found_through_the_records_api_and_named(rig_factory, caplog,
                                                                                     spelling, api):
    rig = rig_factory(state=False, api=api)
    rig.world.build_number_spelling = spelling
    with caplog.at_level(logging.WARNING):
        rig.poll()
        cycles_with_requests(rig, 12)
    assert_build_counts_equal(rig.samples(), build_truth(rig.world, T0, rig.now[0]))
    assert caplog.text.count("assumption build_number_present") == 2  # once per project, not per job or cycle
