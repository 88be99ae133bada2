"""A listing whose pages are byte-identical to last time is not decoded or parsed again; a changed one is."""

from __future__ import annotations

import pytest

from exporter.auth.base import StaticTokenAuth
from exporter.client import CodeArtsClient
from exporter.config import load_config
from exporter.simulator import World
from exporter.sources.build.fetch import list_build_jobs
from exporter.sources.builtin import BUILTIN
from exporter.sources.repo.fetch import list_pipeline_jobs
from exporter.wiring import Exporter

from .conftest import SIM_TOKEN, nonzero, parse_samples, write_config

T0 = 1_750_000_000.0
PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
REPO, PIPELINE = 2111976239, 6


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_client(url: str) -> CodeArtsClient:
    return CodeArtsClient(base_urls={"repo": url, "build": url}, auth=StaticTokenAuth(SIM_TOKEN), timeout=5)


def count_decodes(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = CodeArtsClient.decode_json

    def counting(self, response):
        calls.append(1)
        return real(self, response)

    monkeypatch.setattr(CodeArtsClient, "decode_json", counting)
    return calls


def test_an_unchanged_listing_returns_the_same_records_without_decoding(simulator_factory, monkeypatch):
    clock = Clock(T0)
    sim = simulator_factory(World(seed=3, clock=clock, projects={PROJECT: 30}, pipelines={(REPO, PIPELINE): 20}))
    client = make_client(sim.url)
    first_build = list_build_jobs(client, PROJECT)
    first_repo = list_pipeline_jobs(client, REPO, PIPELINE)
    decodes = count_decodes(monkeypatch)
    sim.reset_counts()
    second_build = list_build_jobs(client, PROJECT)
    second_repo = list_pipeline_jobs(client, REPO, PIPELINE)
    assert second_build.records is first_build.records
    assert second_repo.records is first_repo.records
    assert decodes == []
    assert sim.request_count() == 2  # still one page per target: the data is always fetched


def test_a_changed_listing_is_parsed_again_and_equals_a_fresh_parse(simulator_factory, monkeypatch):
    clock = Clock(T0)
    sim = simulator_factory(World(seed=3, clock=clock, projects={PROJECT: 30}, pipelines={(REPO, PIPELINE): 20}))
    client = make_client(sim.url)
    first = list_build_jobs(client, PROJECT)
    clock.now = T0 + 86_400  # a day later every job has run again
    decodes = count_decodes(monkeypatch)
    second = list_build_jobs(client, PROJECT)
    assert decodes == [1]
    assert second.records != first.records
    assert second.records == list_build_jobs(make_client(sim.url), PROJECT).records


def test_only_the_changed_page_of_a_long_listing_is_decoded_again(simulator_factory, monkeypatch):
    def world(duplicate_names: bool) -> World:
        return World(seed=3, clock=lambda: T0, pipelines={(REPO, PIPELINE): 250}, duplicate_names=duplicate_names)

    before, after = world(False), world(True)  # the same jobs but one renamed: one page of three differs

    def pages(w: World) -> list:
        return [w.pipeline_jobs_page(REPO, PIPELINE, start, start + 100)[1] for start in (0, 100, 200)]

    assert sum(a != b for a, b in zip(pages(before), pages(after), strict=True)) == 1
    sim = simulator_factory(before)
    client = make_client(sim.url)
    first = list_pipeline_jobs(client, REPO, PIPELINE)
    sim.world = after
    decodes = count_decodes(monkeypatch)
    second = list_pipeline_jobs(client, REPO, PIPELINE)
    assert len(decodes) == 1
    assert second.records != first.records
    assert second.records == list_pipeline_jobs(make_client(sim.url), REPO, PIPELINE).records


def test_steady_state_polls_cost_one_page_per_target_and_serve_identical_job_metrics(tmp_path, simulator_factory):
    clock = Clock(T0)
    world = World.generated(projects=3, jobs_per_project=40, repositories=2, pipelines_per_repo=2,
                            jobs_per_pipeline=15, clock=lambda: T0)
    sim = simulator_factory(world)
    repos: dict[int, list[int]] = {}
    for repo, pipeline in world.pipeline_keys():
        repos.setdefault(repo, []).append(pipeline)
    config = write_config(tmp_path / "c.yaml", sim.url, repositories=repos, projects=world.project_ids())
    exporter = Exporter(load_config(config, sources=BUILTIN), clock=clock)
    try:
        exporter.poll_once()
        first = parse_samples(exporter.metrics_text().decode())
        sim.reset_counts()
        clock.now = T0 + 0.5  # the data is frozen, only the exporter's own clock moves
        exporter.poll_once()
        assert sim.request_count() == 7  # 3 projects + 4 pipelines, each one page
        second = parse_samples(exporter.metrics_text().decode())
    finally:
        exporter.close()
    moving = ("codearts_last_success_timestamp_seconds", "codearts_poll_duration_seconds",
              "codearts_api_requests_total", "codearts_repo_pipeline_job_duration_seconds",
              "codearts_poller_last_cycle_timestamp_seconds", "codearts_poller_cycle_duration_seconds",
              "codearts_poller_cycle_requests")  # the first cycle also read the repositories' names
    steady = {key: v for key, v in first.items() if key[0] not in moving}
    assert steady and {key: second[key] for key in steady} == steady
    cycle_requests = {dict(labels)["api"]: v for (name, labels), v in second.items()
                      if name == "codearts_poller_cycle_requests"}
    assert cycle_requests == {"build": 3, "repo": 4}
    # Running pipeline jobs' durations run to the poll time even though their records did not change.
    durations = [(key, v) for key, v in first.items() if key[0] == "codearts_repo_pipeline_job_duration_seconds"]
    running = {labels for (name, labels), v in first.items() if name == "codearts_repo_pipeline_job_status"
               and dict(labels)["status"] == "running"}
    assert running, "the frozen world should have a running pipeline job at T0"
    for (name, labels), v in durations:
        is_running = any(labels <= run for run in running)
        assert second[(name, labels)] == (pytest.approx(v + 0.5) if is_running else v)


def test_the_proxy_environment_read_once_is_still_honoured(simulator_factory, monkeypatch):
    sim = simulator_factory(World(seed=3, clock=lambda: T0, projects={PROJECT: 5}))
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", sim.url)  # the simulator answers absolute-form requests like a proxy
    client = CodeArtsClient(base_urls={"repo": "http://codearts.invalid", "build": "http://codearts.invalid"},
                            auth=StaticTokenAuth(SIM_TOKEN), timeout=5)
    monkeypatch.delenv("HTTP_PROXY")  # read at construction: later changes do not matter
    assert len(list_build_jobs(client, PROJECT).records) == 5
    assert sim.requests[0].path.startswith("http://codearts.invalid/v3/")


class WorldWithBadRecords:
    """A world whose project lists its real jobs plus two malformed items (served over real HTTP)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def build_jobs_page(self, project_id, start, stop, at=None):
        total, jobs = self.world.build_jobs_page(project_id, 0, None, at)
        jobs = [*jobs, {"id": ""}, "not an object"]
        return len(jobs), jobs[start:stop]


def test_malformed_records_are_skipped_and_counted_every_poll_even_when_reused(simulator_factory):
    clock = Clock(T0)
    sim = simulator_factory(World(seed=3, clock=clock, projects={PROJECT: 120}))
    sim.world = WorldWithBadRecords(sim.world)
    client = make_client(sim.url)
    first = list_build_jobs(client, PROJECT)
    second = list_build_jobs(client, PROJECT)
    assert second.records is first.records
    assert len(first.records) == 120 and first.skipped == second.skipped == 2 and second.complete
    assert nonzero(client.stats.skipped()) == {("build", "malformed"): 4}
    clock.now = T0 + 86_400
    third = list_build_jobs(client, PROJECT)
    assert third.records != first.records and len(third.records) == 120
    assert nonzero(client.stats.skipped()) == {("build", "malformed"): 6}
