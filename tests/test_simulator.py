"""The built-in CodeArts simulator: exact API shapes, paging semantics, auth, faults, living data.

Everything HTTP goes over real loopback connections to a simulator on a free port.
"""

from __future__ import annotations

import json
import random
import select
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests

from exporter.simulator import BUILD_PAGING_MODES, REPO_PAGING_MODES, Fault, Simulator, World

T0 = 1_750_000_000.0  # 2025-06-15T15:06:40Z
TOKEN = "sim-token"
REPO, PIPE_A, PIPE_B = 2111976239, 6, 7  # demo pipelines: 9 and 5 jobs
PROJECT_A, PROJECT_B = "6ecbc5bac7c8442fb3d2563d53c13582", "72271b5446614062a01b8be944c9f372"  # 12 and 7 jobs
FIXTURES = Path(__file__).parent / "fixtures"

REPO_BAD_PARAM = {"error_code": "CH.010001", "error_msg": "Invalid parameter value format"}
BUILD_BAD_PARAM = {"error_code": "CB.00060200", "error_msg": "Invalid parameter"}


def frozen_demo(at: float = T0, **options: object) -> World:
    return World.demo(clock=lambda: at, **options)


@pytest.fixture
def world() -> World:
    return frozen_demo()


@pytest.fixture
def start() -> Iterator:
    """Start simulators on free ports; stop them all at the end."""
    started: list[Simulator] = []

    def run(world: World, **options: object) -> Simulator:
        sim = Simulator(world, **options)
        sim.start()
        started.append(sim)
        return sim

    yield run
    for sim in started:
        sim.stop()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.headers["X-Auth-Token"] = TOKEN
        yield http


def repo_get(http: requests.Session, sim: Simulator, repo: int = REPO, pipeline: int = PIPE_A,
             **params: object) -> requests.Response:
    return http.get(f"{sim.url}/v4/repositories/{repo}/pipelines/{pipeline}/jobs", params=params, timeout=5)


def build_get(http: requests.Session, sim: Simulator, project: str = PROJECT_A, **params: object) -> requests.Response:
    return http.get(f"{sim.url}/v3/{project}/jobs", params=params, timeout=5)


# -- paging ---------------------------------------------------------------------------------------

REPO_FIRST_PARAMETER = {"item": 0, "page0": 0, "page1": 1}


@pytest.mark.parametrize("mode", REPO_PAGING_MODES)
def test_walking_repo_pages_in_the_modes_own_semantics_yields_every_job_once_in_order(
        world, start, session, mode):
    sim = start(world, repo_paging=mode)
    expected = world.pipeline_jobs(REPO, PIPE_A)
    assert len(expected) == 9
    walked, parameter = [], REPO_FIRST_PARAMETER[mode]
    for _ in range(3):  # 9 jobs by 4: three pages
        response = repo_get(session, sim, offset=parameter, limit=4)
        assert response.status_code == 200
        assert response.headers["X-Total"] == "9"
        walked += response.json()
        parameter += 4 if mode == "item" else 1
    assert walked == expected
    beyond = repo_get(session, sim, offset=parameter, limit=4)
    assert beyond.json() == [] and beyond.headers["X-Total"] == "9"


@pytest.mark.parametrize(("mode", "offset", "first_item"), [
    ("item", 1, 1), ("item", 5, 5),  # an item offset, not a page number
    ("page0", 0, 0), ("page0", 1, 4), ("page0", 2, 8),
    ("page1", 0, 0), ("page1", 1, 0), ("page1", 2, 4),  # offset 0 is taken as page 1
])
def test_repo_offset_means_what_the_mode_says(world, start, session, mode, offset, first_item):
    sim = start(world, repo_paging=mode)
    expected_ids = [job["id"] for job in world.pipeline_jobs(REPO, PIPE_A)][first_item:first_item + 4]
    assert [job["id"] for job in repo_get(session, sim, offset=offset, limit=4).json()] == expected_ids


BUILD_FIRST_INDEX = {"zero": 0, "one-repeat": 1, "one-reject": 1}


@pytest.mark.parametrize("mode", BUILD_PAGING_MODES)
def test_walking_build_pages_in_the_modes_own_semantics_yields_every_job_once_in_order(
        world, start, session, mode):
    sim = start(world, build_paging=mode)
    expected = world.build_jobs(PROJECT_A)
    assert len(expected) == 12
    walked, index = [], BUILD_FIRST_INDEX[mode]
    for _ in range(3):  # 12 jobs by 5: three pages
        body = build_get(session, sim, page_index=index, page_size=5).json()
        assert body["total"] == 12
        walked += body["jobs"]
        index += 1
    assert walked == expected
    assert build_get(session, sim, page_index=index, page_size=5).json() == {"total": 12, "jobs": []}


def test_build_page_index_zero_depends_on_the_mode(world, start, session):
    first_five = [job["id"] for job in world.build_jobs(PROJECT_A)][:5]
    second_five = [job["id"] for job in world.build_jobs(PROJECT_A)][5:10]
    zero, repeat, reject = (start(world, build_paging=mode) for mode in ("zero", "one-repeat", "one-reject"))

    def ids(sim: Simulator, index: int) -> list[str]:
        return [job["id"] for job in build_get(session, sim, page_index=index, page_size=5).json()["jobs"]]

    assert ids(zero, 0) == first_five and ids(zero, 1) == second_five
    assert ids(repeat, 0) == first_five and ids(repeat, 1) == first_five and ids(repeat, 2) == second_five
    refused = build_get(session, reject, page_index=0, page_size=5)
    assert (refused.status_code, refused.json()) == (400, BUILD_BAD_PARAM)
    assert ids(reject, 1) == first_five


def test_defaults_are_twenty_items_for_repo_and_ten_for_build(start, session):
    world = World(clock=lambda: T0, projects={PROJECT_A: 25}, pipelines={(REPO, PIPE_A): 25})
    sim = start(world)
    assert len(repo_get(session, sim).json()) == 20
    assert len(build_get(session, sim).json()["jobs"]) == 10


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"offset": -1},
                                    {"offset": "1.5"}])
def test_repo_rejects_parameters_out_of_range(world, start, session, params):
    response = repo_get(session, start(world), **params)
    assert (response.status_code, response.json()) == (400, REPO_BAD_PARAM)


@pytest.mark.parametrize("params", [{"page_size": 0}, {"page_size": 101}, {"page_index": -1},
                                    {"page_index": "two"}])
def test_build_rejects_parameters_out_of_range(world, start, session, params):
    response = build_get(session, start(world), **params)
    assert (response.status_code, response.json()) == (400, BUILD_BAD_PARAM)


def test_the_largest_page_is_served_whole(start, session):
    world = World(clock=lambda: T0, projects={PROJECT_A: 150}, pipelines={(REPO, PIPE_A): 150})
    sim = start(world)
    assert len(repo_get(session, sim, limit=100).json()) == 100
    assert len(build_get(session, sim, page_size=100).json()["jobs"]) == 100


def test_unknown_paging_modes_are_refused(world):
    with pytest.raises(ValueError, match="repo_paging"):
        Simulator(world, repo_paging="page2")
    with pytest.raises(ValueError, match="build_paging"):
        Simulator(world, build_paging="one")


# -- auth and errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"X-Auth-Token": "wrong"}, {"X-Auth-Token": ""}])
def test_requests_without_the_right_token_get_401_with_the_api_error_body(world, start, headers):
    sim = start(world)
    repo = requests.get(f"{sim.url}/v4/repositories/{REPO}/pipelines/{PIPE_A}/jobs", headers=headers, timeout=5)
    assert repo.status_code == 401
    assert repo.json() == json.loads((FIXTURES / "repo_401.json").read_text())
    build = requests.get(f"{sim.url}/v3/{PROJECT_A}/jobs", headers=headers, timeout=5)
    assert (build.status_code, build.json()) == (401, {"error_code": "CB.00060001",
                                                       "error_msg": "Authentication failed"})


def test_a_simulator_without_a_token_needs_no_header(world, start):
    sim = start(world, token=None)
    assert requests.get(f"{sim.url}/v3/{PROJECT_A}/jobs", timeout=5).status_code == 200


def test_unknown_targets_get_the_documented_404_bodies(world, start, session):
    sim = start(world)
    for repo, pipeline in ((REPO, 99), (12345, PIPE_A)):
        response = repo_get(session, sim, repo, pipeline)
        assert response.status_code == 404
        assert response.json() == json.loads((FIXTURES / "repo_404.json").read_text())
    response = build_get(session, sim, "0" * 32)
    assert (response.status_code, response.json()) == (404, {"error_code": "CB.00060214",
                                                             "error_msg": "URL not found"})
    for path in ("/", "/v3/jobs", "/v4/repositories/1/pipelines/x/jobs", f"/v3/{PROJECT_A}/jobs/1"):
        response = session.get(sim.url + path, timeout=5)
        assert response.status_code == 404 and response.json()["error_code"] == "APIGW.0101"


def test_responses_are_json_with_exact_lengths(world, start, session):
    sim = start(world)
    response = repo_get(session, sim)
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert response.headers["X-Request-Id"]


# -- payload shapes -------------------------------------------------------------------------------

def test_build_jobs_have_every_field_of_the_documented_example_with_the_same_types(world):
    example = json.loads((FIXTURES / "build_project_jobs_200.json").read_text())["jobs"][0]
    # The example omits last_build_status, which the field table lists right after source_code.
    keys = list(example)
    keys.insert(keys.index("source_code") + 1, "last_build_status")
    example["last_build_status"] = "blue"
    jobs = world.build_jobs(PROJECT_A) + world.build_jobs(PROJECT_B)
    for job in jobs:
        assert list(job) == keys
        assert {key: type(value) for key, value in job.items()} == \
            {key: type(value) for key, value in example.items()}
        assert len(job["id"]) == 32 and int(job["id"], 16) >= 0
        assert len(job["build_project_id"]) == 36 and job["build_project_id"].count("-") == 4
        assert 0 <= job["health_score"] <= 100
    assert len({job["id"] for job in jobs}) == len(jobs)


def test_pipeline_jobs_have_every_field_of_the_documented_example_with_the_same_types(world):
    example = json.loads((FIXTURES / "repo_pipeline_jobs_200.json").read_text())[0]
    example["updated_at"] = example.pop('updated_at"')  # the docs' typo, corrected
    for job in world.pipeline_jobs(REPO, PIPE_A) + world.pipeline_jobs(REPO, PIPE_B):
        assert set(job) == set(example)
        assert {key: type(value) for key, value in job.items()} == \
            {key: type(value) for key, value in example.items()}
        assert 1 <= job["id"] <= 2_147_483_647 and 1 <= job["stage_id"] <= 2_147_483_647
        datetime.fromisoformat(job["created_at"])
        assert job["created_at"].endswith("+08:00") and len(job["created_at"]) == len(example["created_at"])


def test_pipeline_job_ids_are_distinct_across_the_world_and_names_unique_per_pipeline():
    world = World.generated(repositories=3, pipelines_per_repo=4, jobs_per_pipeline=40, clock=lambda: T0)
    ids = []
    for key in world.pipeline_keys():
        jobs = world.pipeline_jobs(*key)
        ids += [job["id"] for job in jobs]
        assert len({(job["stage"], job["name"]) for job in jobs}) == 40
        assert {job["stage"] for job in jobs} == {"build", "test", "deploy"}
    assert len(ids) == len(set(ids)) == 12 * 40


def test_duplicate_names_gives_each_pipeline_one_shared_stage_and_name_with_two_ids():
    plain, doubled = frozen_demo(), frozen_demo(duplicate_names=True)
    for key in doubled.pipeline_keys():
        pairs = Counter((job["stage"], job["name"]) for job in doubled.pipeline_jobs(*key))
        assert sorted(pairs.values())[-2:] == [1, 2] and list(pairs.values()).count(2) == 1
        twins = [job["id"] for job in doubled.pipeline_jobs(*key)
                 if pairs[(job["stage"], job["name"])] == 2]
        assert len(set(twins)) == 2
        assert [job["id"] for job in plain.pipeline_jobs(*key)] == [job["id"] for job in doubled.pipeline_jobs(*key)]
        assert len({(job["stage"], job["name"]) for job in plain.pipeline_jobs(*key)}) == len(pairs) + 1


# -- determinism and life -------------------------------------------------------------------------

def test_equal_seeds_and_times_give_identical_data_in_id_order():
    first, second = World.demo(seed=3), World.demo(seed=3)
    for at in (T0, T0 + 61.5, T0 + 86_400):
        for project in first.project_ids():
            jobs = first.build_jobs(project, at=at)
            assert jobs == second.build_jobs(project, at=at)
            assert [job["id"] for job in jobs] == sorted(job["id"] for job in jobs)
        for key in first.pipeline_keys():
            jobs = first.pipeline_jobs(*key, at=at)
            assert jobs == second.pipeline_jobs(*key, at=at)
            assert [job["id"] for job in jobs] == sorted(job["id"] for job in jobs)


def test_the_clock_is_the_default_moment():
    world = frozen_demo(T0 + 7)
    assert world.build_jobs(PROJECT_A) == world.build_jobs(PROJECT_A, at=T0 + 7)
    assert world.pipeline_jobs(REPO, PIPE_B) == world.pipeline_jobs(REPO, PIPE_B, at=T0 + 7)
    assert world.build_jobs("f" * 32) is None and world.pipeline_jobs(REPO, 1) is None


def test_answers_reused_across_calls_equal_fresh_answers_at_any_moment():
    reused, moments = World.demo(), random.Random(5)
    for _ in range(100):
        at = T0 + moments.uniform(-1_800, 1_800)
        fresh = World.demo()
        for project in reused.project_ids():
            assert reused.build_jobs(project, at=at) == fresh.build_jobs(project, at=at)
        for key in reused.pipeline_keys():
            assert reused.pipeline_jobs(*key, at=at) == fresh.pipeline_jobs(*key, at=at)


def test_the_seed_changes_the_timing_but_not_the_ids():
    zero, one = World.demo(seed=0), World.demo(seed=1)
    for project in zero.project_ids():
        a, b = zero.build_jobs(project, at=T0), one.build_jobs(project, at=T0)
        assert [job["id"] for job in a] == [job["id"] for job in b]
        assert [job["last_build_time"] for job in a] != [job["last_build_time"] for job in b]


def test_data_lives_statuses_change_over_minutes(world):
    def statuses(at: float) -> list[str]:
        return [job["last_build_status"] for project in world.project_ids()
                for job in world.build_jobs(project, at=at)] + \
               [job["status"] for key in world.pipeline_keys() for job in world.pipeline_jobs(*key, at=at)]

    now = statuses(T0)
    assert now == statuses(T0)
    assert sum(a != b for a, b in zip(now, statuses(T0 + 300), strict=True)) >= 3


def test_a_day_of_the_demo_world_shows_every_status():
    world, seen_pipeline, seen_build, health = World.demo(), set(), set(), defaultdict(set)
    for step in range(0, 86_400, 97):
        for key in world.pipeline_keys():
            seen_pipeline |= {job["status"] for job in world.pipeline_jobs(*key, at=T0 + step)}
        for project in world.project_ids():
            for job in world.build_jobs(project, at=T0 + step):
                seen_build.add((job["last_build_status"], job["disabled"]))
                health[job["id"]].add(job["health_score"])
    assert seen_pipeline == {"pending", "running", "success", "failed", "canceled", "skipped", "timedout"}
    assert {status for status, _ in seen_build} == {"blue", "red", "timeout", "aborted", "building", "none"}
    assert any(disabled for _, disabled in seen_build)
    assert sum(len(scores) > 1 for scores in health.values()) >= 10  # health drifts


def ms(text: str) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def test_pipeline_jobs_move_forward_through_each_run_with_ordered_timestamps():
    world = World(seed=2, pipelines={(REPO, PIPE_A): 40})
    order = {"pending": 0, "running": 1}
    runs: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for step in range(0, 1_800, 2):
        for job in world.pipeline_jobs(REPO, PIPE_A, at=T0 + step):
            runs[(job["id"], job["created_at"])].append(job)
            created, started, finished, updated = (ms(job[key]) for key in
                                                   ("created_at", "started_at", "finished_at", "updated_at"))
            assert created <= T0 + step
            assert (started is None) == (job["status"] in ("pending", "skipped"))
            assert (finished is None) == (job["status"] in ("pending", "running"))
            assert created <= (started or created) <= (finished or started or created) <= T0 + step
            assert updated == max(t for t in (created, started, finished) if t is not None)
    terminal_seen = set()
    for samples in runs.values():
        ranks = [order.get(job["status"], 2) for job in samples]
        assert ranks == sorted(ranks), [job["status"] for job in samples]
        ends = {job["status"] for job in samples if job["status"] not in order}
        assert len(ends) <= 1  # a finished run never changes its result
        terminal_seen |= ends
        assert len({job["started_at"] for job in samples if job["started_at"]}) <= 1
    assert len(runs) > 100 and len(terminal_seen) >= 3


def test_build_jobs_count_builds_and_report_durations_only_when_finished():
    world = World(seed=4, projects={PROJECT_A: 32})
    history: dict[str, list[dict]] = defaultdict(list)
    for step in range(0, 1_800, 3):
        for job in world.build_jobs(PROJECT_A, at=T0 + step):
            history[job["id"]].append(job)
            building = job["last_build_status"] == "building"
            if job["last_build_status"] != "none":
                assert job["last_build_time"] <= (T0 + step) * 1000
            if not job["disabled"] and job["last_build_status"] != "none":
                assert job["task_id"].startswith("#2025061")
            assert job["is_finished"] is not building
            assert job["last_job_running_status"] == ("Running" if building else
                                                      "" if job["last_build_status"] == "none" else "Finished")
            assert (job["build_time"] == 0) or not building
    advanced = 0
    for samples in history.values():
        numbers = [int(job["build_number"]) for job in samples]
        assert all(0 <= b - a <= 1 for a, b in zip(numbers, numbers[1:], strict=False))
        starts = [job["last_build_time"] for job in samples]
        assert starts == sorted(starts)
        advanced += numbers[-1] > numbers[0]
        for job in samples:
            if job["last_build_status"] not in ("building", "none"):
                assert job["build_time"] > 0
    assert advanced >= 20  # runs every 2-10 minutes: most jobs built in half an hour


def test_disabled_and_never_run_jobs_stand_still(world):
    early, late = world.build_jobs(PROJECT_A, at=T0), world.build_jobs(PROJECT_A, at=T0 + 86_400)
    still = [(a, b) for a, b in zip(early, late, strict=True) if a["disabled"] or a["last_build_status"] == "none"]
    assert len(still) == 2
    for a, b in still:
        assert a == b
    never = next(a for a, _ in still if a["last_build_status"] == "none")
    assert (never["last_build_time"], never["build_number"], never["task_id"]) == (0, "0", "")


def test_a_big_project_is_cheap_to_list_again():
    world = World(projects={PROJECT_A: 5_000})
    assert len(world.build_jobs(PROJECT_A, at=T0)) == 5_000
    began = time.perf_counter()
    world.build_jobs(PROJECT_A, at=T0 + 1)
    assert time.perf_counter() - began < 0.25  # typically ~10 ms; generous for loaded CI machines


# -- faults and counters --------------------------------------------------------------------------

def test_a_fault_on_one_target_leaves_the_others_alone(world, start, session):
    sim = start(world)
    sim.set_fault(f"build:{PROJECT_A}", Fault.TRUNCATED_JSON)
    broken = build_get(session, sim, PROJECT_A)
    assert broken.status_code == 200
    whole = json.dumps({"total": 12, "jobs": world.build_jobs(PROJECT_A)[:10]}, separators=(",", ":"))
    assert broken.text == whole[: len(whole.encode()) // 2]
    with pytest.raises(ValueError):
        broken.json()
    assert build_get(session, sim, PROJECT_B).json()["total"] == 7
    assert repo_get(session, sim).status_code == 200
    sim.set_fault(f"build:{PROJECT_A}", None)
    assert build_get(session, sim, PROJECT_A).json()["total"] == 12


def test_route_faults_answer_with_the_api_error_bodies_and_targets_win(world, start, session):
    sim = start(world)
    sim.set_fault("build_jobs", Fault.HTTP_500)
    sim.set_fault(f"repo:{REPO}/{PIPE_B}", Fault.NOT_FOUND)
    for project in (PROJECT_A, PROJECT_B):
        response = build_get(session, sim, project)
        assert (response.status_code, response.json()) == (500, {"error_code": "CB.00060101",
                                                                 "error_msg": "Internal error"})
    assert repo_get(session, sim, pipeline=PIPE_A).status_code == 200
    missing = repo_get(session, sim, pipeline=PIPE_B)
    assert (missing.status_code, missing.json()["error_code"]) == (404, "CH.00402000")
    sim.set_fault(f"build:{PROJECT_B}", Fault.NOT_FOUND)
    assert build_get(session, sim, PROJECT_B).status_code == 404
    assert build_get(session, sim, PROJECT_A).status_code == 500
    unauthenticated = requests.get(f"{sim.url}/v3/{PROJECT_A}/jobs", timeout=5)
    assert unauthenticated.status_code == 401  # auth is checked before any fault


def test_set_fault_refuses_what_is_neither_a_route_nor_a_target(world):
    sim = Simulator(world)
    for bad in ("build", "repo:1", "repo:x/2", "builds_jobs"):
        with pytest.raises(ValueError):
            sim.set_fault(bad, Fault.HTTP_500)


def test_requests_are_counted_per_route_including_errors(world, start, session):
    sim = start(world)
    repo_get(session, sim)
    repo_get(session, sim, offset=1, limit=3)
    build_get(session, sim, page_index=0, page_size=5)
    requests.get(f"{sim.url}/v3/{PROJECT_A}/jobs", timeout=5)  # 401
    session.get(f"{sim.url}/nowhere", timeout=5)
    assert (sim.request_count("repo_jobs"), sim.request_count("build_jobs"), sim.request_count()) == (2, 2, 5)
    assert sim.requests[1][:4] == ("repo_jobs", "GET",
                                   f"/v4/repositories/{REPO}/pipelines/{PIPE_A}/jobs?offset=1&limit=3", 200)
    assert [record.status for record in sim.requests] == [200, 200, 200, 401, 404]
    sim.reset_counts()
    assert sim.request_count() == 0 and sim.requests == []


def test_keep_alive_serves_200_requests_quickly_on_one_session(world, start, session):
    sim = start(world)
    build_get(session, sim)
    began = time.perf_counter()
    for _ in range(200):
        assert repo_get(session, sim, limit=5).status_code == 200
    assert time.perf_counter() - began < 2.0


def test_stop_closes_open_connections(world, session):
    sim = Simulator(world)
    sim.start()
    assert build_get(session, sim).status_code == 200
    url = sim.url
    sim.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(f"{url}/v3/{PROJECT_A}/jobs", timeout=5)


def test_the_module_runs_a_simulator_and_prints_where(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter.simulator", "--port", "0", "--host", "127.0.0.1",
         "--build-paging", "one-reject", "--frozen-at", str(T0)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "no listening line within 20 s"
        line = process.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        response = requests.get(f"{url}/v3/{PROJECT_A}/jobs", params={"page_index": 1, "page_size": 100},
                                headers={"X-Auth-Token": TOKEN}, timeout=5)
        assert response.json() == {"total": 12, "jobs": frozen_demo().build_jobs(PROJECT_A)}
        assert requests.get(f"{url}/v3/{PROJECT_A}/jobs", params={"page_index": 0, "page_size": 10},
                            headers={"X-Auth-Token": TOKEN}, timeout=5).status_code == 400
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
