"""The CodeArts Pipeline source against the simulator: latest runs equal to the simulator's ground truth with
both readings of ``offset``, what a cycle costs, bad input, and every auth mode on the Pipeline host."""

from __future__ import annotations

import math
import re

import pytest

from exporter.config import load_config
from exporter.simulator import Fault, World
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import SIM_TOKEN, parse_samples
from .helpers.iam import AUTH_MODES
from .helpers.pipelinerig import P1, P2, T0, Rig, pipeline_config

# Written out here, independently of the exporter: CodeArts status -> exported status.
RUN_STATUS = {"COMPLETED": "success", "FAILED": "failed", "CANCELED": "canceled", "RUNNING": "running",
              "PAUSED": "paused", "SUSPEND": "paused", "IGNORED": "skipped"}
STAGE_STATUS = {**RUN_STATUS, "INIT": "pending", "SKIPPED": "skipped"}
LATEST_FAMILIES = ("codearts_pipeline_last_run_status", "codearts_pipeline_last_run_start_timestamp_seconds",
                   "codearts_pipeline_last_run_end_timestamp_seconds", "codearts_pipeline_last_run_duration_seconds",
                   "codearts_pipeline_last_run_stage_status", "codearts_pipeline_last_run_stage_duration_seconds")
NO_HISTORY = "history:\n  enabled: false\n"


@pytest.fixture
def rig_factory(tmp_path, simulator_factory):
    rigs: list[Rig] = []

    def make(projects: dict[str, int], **options) -> Rig:
        rig = Rig(tmp_path, simulator_factory, projects, **options)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def latest_truth(rig: Rig, at: float) -> dict:
    """The latest-run samples the simulator's ground truth implies at ``at``."""
    at_ms = math.floor(at * 1000)
    expected: dict = {}
    for project, size in rig.service.projects.items():
        for pipeline in rig.service.pipelines(project)[:size]:
            truth = rig.service.latest(pipeline, at_ms)
            if truth is None:
                continue
            labels = {"project_id": project, "pipeline_id": pipeline.id, "pipeline": pipeline.name}

            def put(name, value, labels=labels, **more):
                expected[(name, frozenset({**labels, **more}.items()))] = value

            put("codearts_pipeline_last_run_status", 1.0, status=RUN_STATUS[truth.status])
            put("codearts_pipeline_last_run_start_timestamp_seconds", truth.start / 1000)
            if truth.end is not None:
                put("codearts_pipeline_last_run_end_timestamp_seconds", truth.end / 1000)
            put("codearts_pipeline_last_run_duration_seconds",
                ((truth.end if truth.end is not None else at_ms) - truth.start) / 1000)
            for stage in truth.stages:
                put("codearts_pipeline_last_run_stage_status", 1.0, stage=stage.name, status=STAGE_STATUS[stage.status])
                if stage.start is not None and stage.end is not None:  # stage times are strings to the second
                    put("codearts_pipeline_last_run_stage_duration_seconds",
                        float(stage.end // 1000 - stage.start // 1000), stage=stage.name)
    return expected


def served(samples: dict, families=LATEST_FAMILIES) -> dict:
    return {key: value for key, value in samples.items() if key[0] in families}


@pytest.mark.parametrize("paging", ["item", "page"])
def test_every_latest_run_and_stage_equals_the_simulators_ground_truth(rig_factory, paging):
    rig = rig_factory({P1: 130, P2: 17}, paging=paging, extra=NO_HISTORY)  # history: test_pipeline_history
    statuses: set[str] = set()
    for step in range(8):
        rig.now[0] = T0 + step * 173.5
        assert rig.poll().all_up()
        expected = latest_truth(rig, rig.now[0])
        assert served(rig.samples()) == pytest.approx(expected)
        statuses |= {dict(key[1])["status"] for key in expected if key[0] == "codearts_pipeline_last_run_status"}
    assert {"success", "failed", "running", "paused"} <= statuses  # the truth covered what matters


@pytest.mark.parametrize("paging", ["item", "page"])
def test_a_steady_cycle_costs_one_request_per_100_pipelines_and_history_asks_only_changed_ones(rig_factory, paging):
    rig = rig_factory({P1: 250, P2: 40}, paging=paging)
    assert rig.poll().all_up()
    rig.sim.reset_counts()
    assert rig.poll().all_up()  # nothing changed
    assert rig.sim.request_count("pipeline_list") == math.ceil(250 / 100) + math.ceil(40 / 100)
    assert rig.sim.request_count() == rig.sim.request_count("pipeline_list")
    rig.sim.reset_counts()
    rig.now[0] = T0 + 45
    assert rig.poll().all_up()
    asked = {re.search(r"/pipelines/([0-9a-f]{32})/pipeline-runs/", record.path)[1]
             for record in rig.sim.requests if record.route == "pipeline_runs"}
    finished = {pipeline.id for project in (P1, P2)
                for pipeline, _ in rig.service.finished_runs(project, int(T0 * 1000), int(rig.now[0] * 1000))}
    assert asked == finished and finished  # exactly the pipelines that finished a run, one request each
    assert rig.sim.request_count("pipeline_runs") == len(finished)


@pytest.mark.parametrize("paging", ["item", "page"])
def test_a_project_of_10000_pipelines_is_listed_whole_in_100_requests(rig_factory, paging):
    rig = rig_factory({P1: 10_000}, paging=paging, extra=NO_HISTORY)
    snapshot = rig.poll()
    assert snapshot.all_up() and len(snapshot.states[0].records) == 10_000
    # Page-style offsets cost one request to detect, the first time only.
    assert rig.sim.request_count("pipeline_list") == 100 + (paging == "page")
    rig.sim.reset_counts()
    snapshot = rig.poll()
    assert len({pipeline.id for pipeline in snapshot.states[0].records}) == 10_000
    assert rig.sim.request_count("pipeline_list") == 100


def test_names_are_filtered_and_branches_outside_the_list_are_other(rig_factory, tmp_path):
    rig = rig_factory({P1: 24})
    config = pipeline_config(tmp_path / "f.yaml", rig.sim.url, [])
    config.write_text(config.read_text() + f"  - id: {P1}\n    include: ['^(backend|auth)-']\n"
                      "    exclude: ['-12$']\n    branches: ['^main$']\n")
    exporter = Exporter(load_config(config, sources=BUILTIN), clock=lambda: rig.now[0])
    try:
        records = exporter.poll_once().states[0].records
        names = sorted(pipeline.name for pipeline in records)
        assert names == ["auth-pipeline-20", "auth-pipeline-4", "backend-pipeline-0", "backend-pipeline-16",
                         "backend-pipeline-8"]
        branches = {pipeline.latest.branch for pipeline in records if pipeline.latest is not None}
        assert branches <= {"main", "other"} and "other" in branches
        # The latest run's one info series names the branch it built, outside the allowlist too.
        samples = parse_samples(exporter.metrics_text().decode())
        info = {dict(labels)["pipeline"]: dict(labels)["branch"] for name, labels in samples
                if name == "codearts_pipeline_last_run_info"}
        built = {pipeline.name: pipeline.latest.ref for pipeline in records if pipeline.latest is not None}
        assert info == built and "other" not in info.values() and set(info.values()) - {"main"}
    finally:
        exporter.close()


# -- bad input --------------------------------------------------------------------------------------------


def test_a_permission_error_inside_http_200_takes_that_project_down_with_its_message(rig_factory):
    rig = rig_factory({P1: 5, P2: 5})
    rig.service.denied.add(P2)
    snapshot = rig.poll()
    states = {state.target.key: state for state in snapshot.states}
    assert states[P1].up and not states[P2].up
    assert "DEVCP.00014031" in states[P2].error and "Insufficient permissions" in states[P2].error
    assert sum(P2 in record.path for record in rig.sim.requests) == 1  # not retried, not read as another paging
    samples = rig.samples()
    assert samples[("codearts_up", frozenset({"api": "pipeline", "target": P2}.items()))] == 0


def test_an_unknown_service_error_500_is_retried_and_a_429_throttles(rig_factory):
    rig = rig_factory({P1: 5})
    rig.sim.set_fault("pipeline_list", Fault.HTTP_500, times=1)
    assert rig.poll().all_up()
    rig.sim.set_fault("pipeline_list", Fault.THROTTLED, times=1)
    assert rig.poll().all_up()
    samples = rig.samples()
    assert samples[("codearts_api_retries_total", frozenset({"api": "pipeline", "reason": "http_500"}.items()))] == 1
    assert samples[("codearts_api_retries_total", frozenset({"api": "pipeline", "reason": "throttled"}.items()))] == 1
    assert samples[("codearts_api_throttled_total", frozenset({"api": "pipeline"}.items()))] == 1
    assert [record.status for record in rig.sim.requests] == [500, 200, 429, 200]


def test_an_end_time_of_zero_null_or_before_the_start_means_not_finished(rig_factory):
    rig = rig_factory({P1: 8})
    pipelines = [p for p in rig.service.pipelines(P1) if rig.service.latest(p, int(T0 * 1000)) is not None][:3]
    start = {p.id: rig.service.latest(p, int(T0 * 1000)).start for p in pipelines}
    rig.service.overrides.update({
        pipelines[0].id: {"status": "RUNNING", "end_time": 0},
        pipelines[1].id: {"status": "RUNNING", "end_time": None},
        pipelines[2].id: {"status": "COMPLETED", "end_time": start[pipelines[2].id] - 1000},
    })
    assert rig.poll().all_up()
    samples = rig.samples()
    for pipeline in pipelines:
        labels = {"project_id": P1, "pipeline_id": pipeline.id, "pipeline": pipeline.name}
        assert ("codearts_pipeline_last_run_end_timestamp_seconds", frozenset(labels.items())) not in samples
        duration = samples.get(("codearts_pipeline_last_run_duration_seconds", frozenset(labels.items())))
        running = pipeline is not pipelines[2]
        assert duration == (pytest.approx(T0 - start[pipeline.id] / 1000) if running else None)


def test_an_unknown_status_becomes_unknown_and_is_counted_and_a_malformed_run_is_skipped(rig_factory):
    rig = rig_factory({P1: 8})
    odd, bad = [p for p in rig.service.pipelines(P1) if rig.service.latest(p, int(T0 * 1000)) is not None][:2]
    rig.service.overrides.update({odd.id: {"status": "WAITING_FOR_GODOT"}, bad.id: {"run_number": "seven"}})
    assert rig.poll().all_up()
    samples = rig.samples()
    labels = {"project_id": P1, "pipeline_id": odd.id, "pipeline": odd.name, "status": "unknown"}
    assert samples[("codearts_pipeline_last_run_status", frozenset(labels.items()))] == 1
    skipped = {reason: samples[("codearts_records_skipped_total", frozenset({"api": "pipeline", "reason": reason}
                                                                             .items()))]
               for reason in ("unknown_status", "malformed")}
    assert skipped == {"unknown_status": 1, "malformed": 1}
    assert not any(dict(key[1]).get("pipeline_id") == bad.id for key in samples)


# -- auth modes against the Pipeline host ----------------------------------------------------------------




@pytest.mark.parametrize("mode", AUTH_MODES)
def test_every_auth_mode_works_against_the_pipeline_host(tmp_path, simulator_factory, mode):
    now = [T0]
    world = World(seed=7, clock=lambda: now[0], pipeline_projects={P1: 12})
    iam, auth = AUTH_MODES[mode]
    sim = (simulator_factory(world) if iam is None
           else simulator_factory(world, token=None, iam=iam(lambda: now[0])))
    exporter = Exporter(load_config(pipeline_config(tmp_path / "c.yaml", sim.url, [P1], auth=auth), sources=BUILTIN),
                        clock=lambda: now[0])
    try:
        assert exporter.poll_once().all_up()
        now[0] += 600  # runs finish: the run list is asked for, a POST with a body the signature covers
        assert exporter.poll_once().all_up()
    finally:
        exporter.close()
    answered = [(record.route, record.status) for record in sim.requests if record.route.startswith("pipeline")]
    assert {route for route, _ in answered} == {"pipeline_list", "pipeline_runs"}
    assert {status for _, status in answered} == {200}


def test_the_demo_polls_a_pipeline_project():
    from exporter.demo import start_demo

    simulator, config = start_demo(BUILTIN)
    exporter = Exporter(config)
    try:
        snapshot = exporter.poll_once()
    finally:
        exporter.close()
        simulator.stop()
    (state,) = [state for state in snapshot.states if state.target.api == "pipeline" and state.target.key == P1]
    assert state.up and len(state.records) == 10
    assert any(pipeline.latest is not None for pipeline in state.records)


def test_the_simulator_serves_the_run_detail_and_the_batch_status_routes(simulator_factory):
    import requests

    world = World(seed=7, clock=lambda: T0, pipeline_projects={P1: 6})
    sim = simulator_factory(world)
    headers = {"X-Auth-Token": SIM_TOKEN}
    pipeline = next(p for p in world.pipeline_service.pipelines(P1) if world.pipeline_service.latest(p, int(T0 * 1000)))
    latest = world.pipeline_service.latest(pipeline, int(T0 * 1000))
    base = f"{sim.url}/v5/{P1}/api/pipelines"
    status = requests.post(f"{base}/status", json=[pipeline.id, "0" * 32], headers=headers, timeout=10).json()
    assert [(run["pipeline_id"], run["run_number"]) for run in status] == [(pipeline.id, latest.number)]
    detail = requests.get(f"{base}/{pipeline.id}/pipeline-runs/detail", headers=headers, timeout=10).json()
    assert (detail["run_number"], detail["status"]) == (latest.number, latest.status)
    assert [stage["name"] for stage in detail["stages"]] == ["Build", "Test", "Deploy"]
    wrong = requests.get(f"{base}/{pipeline.id}/pipeline-runs/detail", params={"pipeline_run_id": "nope"},
                         headers=headers, timeout=10)
    assert wrong.status_code == 200 and wrong.json()["error_code"] == "DEVCP.00012002"
    assert requests.get(f"{base}/list", headers=headers, timeout=10).status_code == 405  # a POST route


def test_with_detail_each_finished_run_is_read_once_for_its_jobs_and_its_failure_message(rig_factory, caplog):

    from exporter.simulator.cloudpipelines import FAILED_MESSAGE, stage_jobs

    rig = rig_factory({P1: 12}, detail=(P1,), extra=NO_HISTORY)
    seen: set[str] = set()
    failed_seen = False
    paused_total = 0
    for step, gap in enumerate((0, 0, 45, 600, 0)):
        rig.now[0] += gap
        at_ms = math.floor(rig.now[0] * 1000)
        before = rig.sim.request_count("pipeline_run_detail")
        state = rig.poll().states[0]
        latest = {p.id: rig.service.latest(p, at_ms) for p in rig.service.pipelines(P1)}
        finished = {pid: truth for pid, truth in latest.items() if truth is not None and truth.end is not None}
        previous_ids, seen = seen, {rig.service.run_id(truth) for truth in finished.values()}
        assert rig.sim.request_count("pipeline_run_detail") - before == len(seen - previous_ids), step
        samples = rig.samples()
        expected = {}
        for pipeline in rig.service.pipelines(P1):
            truth = finished.get(pipeline.id)
            for stage in truth.stages if truth else ():
                for job in stage_jobs(stage):
                    labels = {"project_id": P1, "pipeline_id": pipeline.id, "pipeline": pipeline.name,
                              "stage": stage.name, "job": job.name}
                    if job.start is not None and job.end is not None:
                        expected[("codearts_pipeline_last_run_job_duration_seconds",
                                  frozenset(labels.items()))] = (job.end - job.start) / 1000
                    if job.start is not None and stage.start is not None:
                        expected[("codearts_pipeline_last_run_job_queued_seconds",
                                  frozenset(labels.items()))] = (job.start - stage.start) / 1000
        assert served(samples, ("codearts_pipeline_last_run_job_duration_seconds",
                                "codearts_pipeline_last_run_job_queued_seconds")) == pytest.approx(expected)
        for pipeline in rig.service.pipelines(P1):  # a finished run's duration leaves out its paused time
            truth = finished.get(pipeline.id)
            key = ("codearts_pipeline_last_run_duration_seconds",
                   frozenset({"project_id": P1, "pipeline_id": pipeline.id, "pipeline": pipeline.name}.items()))
            if truth is not None:
                paused = rig.service.pause_ms(pipeline, truth, at_ms)
                paused_total += paused
                assert samples[key] == pytest.approx((truth.end - truth.start - paused) / 1000)
        failing = BUILTIN.get("pipeline").failing_jobs(state)
        failed_seen |= any(FAILED_MESSAGE in job.where for job in failing)
        assert FAILED_MESSAGE not in rig.exporter.metrics_text().decode()  # never a label value
    assert failed_seen and FAILED_MESSAGE in caplog.text
    assert rig.sim.request_count("pipeline_run_detail") >= 8  # reads happened, once per finished run
    assert paused_total > 0  # a gated pipeline's finished run was among them
