"""The simulator's discovery routes: project repositories, merge requests, head pipelines, over real HTTP."""

from __future__ import annotations

import pytest
import requests

from exporter.simulator import REPO_PAGING_MODES, Fault, World
from exporter.simulator.mergerequests import PIPELINE_BASE, MergeRequestPlan

T0 = 1_763_900_000.0
PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
REPO = 501
PLAN = MergeRequestPlan(every_ms=300_000, open_ms=(3_600_000, 43_200_000))
REPOSITORIES = [(500 + i, f"service-{i:03d}") for i in range(1, 131)]  # more than one page of 100


def living_world(now: list[float]) -> World:
    return World(seed=3, clock=lambda: now[0], merge_requests={REPO: PLAN},
                 project_repositories={PROJECT: REPOSITORIES})


@pytest.fixture
def now() -> list[float]:
    return [T0]


@pytest.fixture
def url(simulator_factory, now) -> str:
    return simulator_factory(living_world(now), token=None).url


def walk(url: str, path: str, mode: str, limit: int, **params: str) -> list[dict]:
    items: list[dict] = []
    for page in range(100):
        offset = {"item": page * limit, "page0": page, "page1": page + 1}[mode]
        answer = requests.get(f"{url}{path}", params={"offset": offset, "limit": limit, **params}, timeout=5)
        assert answer.status_code == 200 and "X-Total" not in answer.headers
        items += answer.json()
        if len(answer.json()) < limit:
            return items
    raise AssertionError("no end")


@pytest.mark.parametrize("mode", REPO_PAGING_MODES)
def test_project_repositories_page_under_each_repo_paging_mode(simulator_factory, now, mode):
    sim = simulator_factory(living_world(now), token=None, repo_paging=mode)
    found = walk(sim.url, f"/v4/projects/{PROJECT}/repositories", mode, 100)
    assert [(repo["id"], repo["name"]) for repo in found] == REPOSITORIES


def test_open_merge_requests_are_listed_in_the_asked_order_and_open_and_close_over_time(url, now):
    path = f"/v4/repositories/{REPO}/merge-requests"
    first = walk(url, path, "item", 30, state="opened", order_by="updated_at", sort="desc")
    assert len(first) > 30  # paged
    assert all(mr["state"] == "opened" for mr in first)
    assert [mr["updated_at"] for mr in first] == sorted((mr["updated_at"] for mr in first), reverse=True)
    oldest_first = walk(url, path, "item", 100, state="opened", order_by="created_at", sort="asc")
    assert [mr["iid"] for mr in oldest_first] == sorted(mr["iid"] for mr in first)

    now[0] += 6 * 3600
    later = {mr["iid"] for mr in walk(url, path, "item", 100, state="opened")}
    assert later - {mr["iid"] for mr in first}, "new merge requests open"
    merged = {mr["iid"]: mr for mr in walk(url, path, "item", 100, state="merged")}
    assert {mr["iid"] for mr in first} - later <= set(merged) | {
        mr["iid"] for mr in walk(url, path, "item", 100, state="closed")}
    assert all(mr["merged_at"] for mr in merged.values())
    assert requests.get(f"{url}{path}", params={"state": "draft"}, timeout=5).status_code == 400


def test_head_pipelines_run_once_finish_and_serve_their_jobs(url, now):
    path = f"/v4/repositories/{REPO}/merge-requests"
    open_now = walk(url, path, "item", 100, state="opened")
    heads = {mr["iid"]: requests.get(f"{url}{path}/{mr['iid']}/actual-head-pipeline", timeout=5).json()
             for mr in open_now}
    without = [iid for iid, head in heads.items() if not head["is_valid"]]
    assert without and all(heads[iid]["data"] is None for iid in without)
    assert all((iid - 1) % 7 == 3 for iid in without)
    newest = max(iid for iid, head in heads.items() if head["is_valid"])
    pipeline = heads[newest]["data"]
    assert pipeline["id"] == PIPELINE_BASE + newest - 1 and pipeline["status"] in ("pending", "running")
    jobs_url = f"{url}/v4/repositories/{REPO}/pipelines/{pipeline['id']}/jobs"

    now[0] += 3600  # an hour later every job of it has finished, once
    later = requests.get(f"{url}{path}/{newest}/actual-head-pipeline", timeout=5).json()["data"]
    jobs = requests.get(jobs_url, timeout=5).json()
    assert later["status"] in ("success", "failed") and later["finished_at"]
    assert max(job["finished_at"] for job in jobs) == later["finished_at"]
    assert ("failed" in [job["status"] for job in jobs]) == (later["status"] == "failed")
    assert requests.get(f"{url}{path}/999999999/actual-head-pipeline", timeout=5).status_code == 404
    assert requests.get(f"{url}/v4/projects/{'0' * 32}/repositories", timeout=5).status_code == 404


def test_faults_work_on_the_discovery_routes_and_per_repository(simulator_factory, now):
    sim = simulator_factory(living_world(now), token=None)
    sim.set_fault("merge_requests:501", Fault.HTTP_500)
    sim.set_fault("repo_repositories", Fault.TRUNCATED_JSON)
    listed = requests.get(f"{sim.url}/v4/repositories/{REPO}/merge-requests", timeout=5)
    assert listed.status_code == 500 and listed.json()["error_code"] == "CH.000001"
    assert requests.get(f"{sim.url}/v4/repositories/{REPO}/merge-requests/1/actual-head-pipeline",
                        timeout=5).status_code == 500
    truncated = requests.get(f"{sim.url}/v4/projects/{PROJECT}/repositories", timeout=5)
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    assert sim.request_count("repo_merge_requests") == 1 and sim.request_count("repo_head_pipeline") == 1
