"""The exporter against the simulator over real HTTP: values equal the simulator's data exactly."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime

import pytest
import requests

from exporter.config import load_config
from exporter.simulator import Fault, World
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import SIM_TOKEN, parse_samples, run_cli, scrape, wait_until, write_config

FROZEN_AT = 1_750_000_000.0
PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
REPO, PIPELINE = 2111976239, 6

# Written out here, independently of the exporter's own table.
COLOURS = {"blue": "success", "red": "failed", "timeout": "timedout", "aborted": "aborted",
           "building": "running", "none": "none"}
PIPELINE_STATUSES = ("pending", "running", "success", "failed", "canceled", "skipped", "timedout", "unknown")
BUILD_STATUSES = ("success", "failed", "timedout", "aborted", "running", "none", "unknown")


def iso(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def frozen_world() -> World:
    return World(seed=7, clock=lambda: FROZEN_AT, projects={PROJECT: 250}, pipelines={(REPO, PIPELINE): 130})


def build_expectations(world: World) -> dict:
    expected = {}
    for job in world.build_jobs(PROJECT, at=FROZEN_AT):
        status = COLOURS.get(job["last_build_status"], "unknown")
        expected[job["id"]] = dict(name=job["job_name"], status=status, health=job["health_score"],
                                   last_build=job["last_build_time"] / 1000,
                                   duration=job["build_time"] / 1000, disabled=job["disabled"])
    return expected


def pipeline_expectations(world: World) -> dict:
    expected = {}
    for job in world.pipeline_jobs(REPO, PIPELINE, at=FROZEN_AT):
        key = (job["stage"], job["name"])
        if key in expected and expected[key]["id"] > job["id"]:
            continue
        expected[key] = dict(id=job["id"], status=job["status"], created=iso(job.get("created_at")),
                             started=iso(job.get("started_at")), finished=iso(job.get("finished_at")))
    return expected


SEMANTICS = [("item", "zero"), ("page0", "one-repeat"), ("page1", "one-reject")]


@pytest.mark.parametrize(("repo_paging", "build_paging"), SEMANTICS)
def test_once_output_matches_the_simulator_under_every_paging_semantics(
        tmp_path, simulator_factory, repo_paging, build_paging):
    world = frozen_world()
    sim = simulator_factory(world, repo_paging=repo_paging, build_paging=build_paging)
    config = write_config(tmp_path / "c.yaml", sim.url, repositories={REPO: [PIPELINE]}, projects=[PROJECT])
    before = time.time()
    result = run_cli("--once", "--config.file", str(config))
    after = time.time()
    assert result.returncode == 0, result.stderr
    found = parse_samples(result.stdout)
    disabled = {dict(labels)["job_id"] for (name, labels), value in found.items()
                if name == "codearts_build_job_disabled" and value == 1}
    failing = sum(1 for (name, labels), value in found.items() if value == 1 and dict(labels).get("status") in
                  ("failed", "timedout") and dict(labels).get("job_id") not in disabled
                  and name in ("codearts_build_job_status", "codearts_repo_pipeline_job_status"))
    summary = result.stderr.strip().splitlines()[-1]
    # the two targets, and the names of the configured repository (region "test" has no ProjectMan)
    assert summary.startswith(f"codearts-exporter --once: 3 of 3 targets up, {250 + 130} jobs read, "), summary
    assert f" {failing} failing or timed out, in " in summary and "down" not in summary

    def get(name, **labels):
        return found.get((name, frozenset({k: str(v) for k, v in labels.items()}.items())))

    builds = build_expectations(world)
    assert len(builds) == 250
    for job_id, want in builds.items():
        labels = dict(project_id=PROJECT, job_id=job_id, job=want["name"])
        assert get("codearts_build_job_status", **labels, status=want["status"]) == 1, job_id
        if want["status"] == "none":  # never built: CodeArts lists 0 for both, which is no score and no duration
            assert get("codearts_build_job_health_score", **labels) is None
            assert get("codearts_build_job_last_build_duration_seconds", **labels) is None
        else:
            assert get("codearts_build_job_health_score", **labels) == want["health"]
        assert get("codearts_build_job_disabled", **labels) == (1 if want["disabled"] else 0)
        assert get("codearts_build_job_running", **labels) == (1 if want["status"] == "running" else 0)
        if want["status"] != "none":
            assert get("codearts_build_job_last_build_timestamp_seconds", **labels) == want["last_build"]
        if want["status"] not in ("running", "none"):
            assert get("codearts_build_job_last_build_duration_seconds", **labels) == want["duration"]
    assert any(want["status"] == "none" for want in builds.values())
    status_counts = Counter(want["status"] for want in builds.values())
    for status in BUILD_STATUSES:
        assert get("codearts_build_jobs", project_id=PROJECT, status=status) == status_counts[status]
    assert sum(1 for name, _ in found if name == "codearts_build_job_status") == 250

    pipes = pipeline_expectations(world)
    assert len(pipes) >= 125
    for (stage, name), want in pipes.items():
        labels = dict(repository_id=REPO, pipeline_id=PIPELINE, stage=stage, job=name)
        assert get("codearts_repo_pipeline_job_status", **labels, status=want["status"]) == 1
        assert get("codearts_repo_pipeline_job_created_timestamp_seconds", **labels) == want["created"]
        assert get("codearts_repo_pipeline_job_started_timestamp_seconds", **labels) == want["started"]
        assert get("codearts_repo_pipeline_job_finished_timestamp_seconds", **labels) == want["finished"]
        duration = get("codearts_repo_pipeline_job_duration_seconds", **labels)
        if want["started"] is not None and want["finished"] is not None:
            assert duration == pytest.approx(want["finished"] - want["started"])
        elif want["status"] == "running":
            assert before - want["started"] - 1 <= duration <= after - want["started"] + 1
        else:
            assert duration is None
        if want["started"] is not None and want["created"] is not None:
            assert get("codearts_repo_pipeline_job_queued_seconds", **labels) == pytest.approx(
                want["started"] - want["created"])
    pipe_counts = Counter(want["status"] for want in pipes.values())
    for status in PIPELINE_STATUSES:
        assert get("codearts_repo_pipeline_jobs", repository_id=REPO, pipeline_id=PIPELINE, status=status) == \
            pipe_counts[status]
    assert get("codearts_up", api="repo", target=f"{REPO}/{PIPELINE}") == 1
    assert get("codearts_up", api="build", target=PROJECT) == 1


def test_build_jobs_are_filtered_by_include_and_exclude_regexes(tmp_path, simulator_factory):
    world = frozen_world()
    sim = simulator_factory(world)
    config = write_config(tmp_path / "c.yaml", sim.url, projects=[PROJECT])
    text = config.read_text().replace(f"  - id: {PROJECT}\n",
                                      f"  - id: {PROJECT}\n    include: ['^b']\n    exclude: ['-1\\d$']\n")
    config.write_text(text)
    exporter = Exporter(load_config(config, sources=BUILTIN), clock=lambda: FROZEN_AT)
    try:
        exporter.poll_once()
        found = parse_samples(exporter.metrics_text().decode())
    finally:
        exporter.close()
    names = {want["name"] for want in build_expectations(world).values()}
    watched = {name for name in names if name.startswith("b") and not re.search(r"-1[0-9]$", name)}
    exported = {dict(labels)["job"] for name, labels in found if name == "codearts_build_job_status"}
    assert exported == watched and 0 < len(watched) < len(names)
    assert sum(count for (name, _), count in found.items() if name == "codearts_build_jobs") == len(watched)


def test_paging_costs_at_most_three_extra_requests(simulator_factory, tmp_path):
    world = frozen_world()
    for repo_paging, build_paging in SEMANTICS:
        sim = simulator_factory(world, repo_paging=repo_paging, build_paging=build_paging)
        exporter = Exporter(load_config(write_config(tmp_path / "c.yaml", sim.url, repositories={REPO: [PIPELINE]},
                                                     projects=[PROJECT]), sources=BUILTIN))
        try:
            assert exporter.poll_once().all_up()
        finally:
            exporter.close()
        assert sim.request_count("repo_jobs") <= 2 + 3  # ceil(130/100) + 3
        assert sim.request_count("build_jobs") <= 3 + 3  # ceil(250/100) + 3


@pytest.fixture
def served(tmp_path, simulator_factory):
    """An exporter serving on a free port against a living simulator with a broken and a missing target."""
    world = World(seed=3, projects={PROJECT: 40, "a" * 32: 10, "b" * 32: 5}, pipelines={(REPO, PIPELINE): 12})
    sim = simulator_factory(world)
    sim.set_fault("build:" + "a" * 32, Fault.TRUNCATED_JSON)
    config = write_config(tmp_path / "c.yaml", sim.url, repositories={REPO: [PIPELINE, 999]},
                          projects=[PROJECT, "a" * 32, "b" * 32], interval=3600)
    exporter = Exporter(load_config(config, sources=BUILTIN))
    server = exporter.serve(("127.0.0.1", 0))
    wait_until(lambda: requests.get(f"{server.url}/readyz", timeout=5).status_code == 200)
    yield sim, server.url, world
    exporter.close()


def test_scrapes_never_call_codearts(served):
    sim, url, _ = served
    sim.reset_counts()
    for _ in range(100):
        assert scrape(url).status_code == 200
    assert sim.request_count() == 0


def test_a_broken_target_is_down_and_the_others_are_intact(served):
    _, url, world = served
    found = parse_samples(scrape(url).text)
    assert found[("codearts_up", frozenset({"api": "build", "target": "a" * 32}.items()))] == 0
    assert found[("codearts_up", frozenset({"api": "repo", "target": f"{REPO}/999"}.items()))] == 0
    assert found[("codearts_up", frozenset({"api": "build", "target": PROJECT}.items()))] == 1
    assert found[("codearts_up", frozenset({"api": "build", "target": "b" * 32}.items()))] == 1
    assert found[("codearts_up", frozenset({"api": "repo", "target": f"{REPO}/{PIPELINE}"}.items()))] == 1
    per_project = Counter(dict(labels)["project_id"] for name, labels in found
                          if name == "codearts_build_job_status")
    assert per_project == {PROJECT: 40, "b" * 32: 5}
    assert found[("codearts_api_requests_total", frozenset({"api": "repo", "code": "404"}.items()))] >= 1


def test_endpoints_answer(served):
    _, url, _ = served
    assert requests.get(f"{url}/healthz", timeout=5).text == "ok\n"
    landing = requests.get(f"{url}/", timeout=5)
    assert landing.headers["Content-Type"].startswith("text/html")
    assert f"{REPO}/999" in landing.text and "failed" in landing.text and 'href="/metrics"' in landing.text
    assert SIM_TOKEN not in landing.text
    assert requests.get(f"{url}/nope", timeout=5).status_code == 404


def test_openmetrics_and_gzip_are_negotiated(served):
    _, url, _ = served
    plain = scrape(url)
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    om = scrape(url, Accept="application/openmetrics-text; version=1.0.0")
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")
    zipped = scrape(url, **{"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert set(parse_samples(zipped.text)) == set(parse_samples(plain.text))


def test_readyz_waits_for_the_first_poll(tmp_path, simulator_factory):
    sim = simulator_factory(World(seed=1, projects={PROJECT: 3}))
    exporter = Exporter(load_config(write_config(tmp_path / "c.yaml", sim.url, projects=[PROJECT]), sources=BUILTIN))
    from exporter.server import ExporterHTTPServer

    server = ExporterHTTPServer(("127.0.0.1", 0), exporter.exposition, lambda: exporter.poller.snapshot)
    server.serve_in_background()
    try:
        assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 503
        exporter.poll_once()
        assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200
    finally:
        server.shutdown()
        server.server_close()
        exporter.close()


def test_a_job_that_finishes_upstream_shows_only_its_new_status(tmp_path, simulator_factory):
    now = [FROZEN_AT]
    world = World(seed=5, clock=lambda: now[0], projects={PROJECT: 30})
    sim = simulator_factory(world)
    exporter = Exporter(load_config(write_config(tmp_path / "c.yaml", sim.url, projects=[PROJECT]), sources=BUILTIN))
    try:
        for step in range(12):
            now[0] = FROZEN_AT + step * 45
            exporter.poll_once()
            found = parse_samples(exporter.metrics_text().decode())
            statuses = Counter(dict(labels)["job_id"] for name, labels in found if name == "codearts_build_job_status")
            assert set(statuses.values()) == {1}  # one status per job, never two
            truth = {job["id"]: COLOURS.get(job["last_build_status"], "unknown") for job in world.build_jobs(PROJECT)}
            shown = {dict(labels)["job_id"]: dict(labels)["status"] for name, labels in found
                     if name == "codearts_build_job_status"}
            assert shown == truth
    finally:
        exporter.close()


def test_a_repeated_stage_and_name_shows_the_highest_job_id(tmp_path, simulator_factory):
    world = World(seed=2, clock=lambda: FROZEN_AT, pipelines={(REPO, PIPELINE): 6}, duplicate_names=True)
    raw = world.pipeline_jobs(REPO, PIPELINE)
    by_key: dict[tuple[str, str], list[int]] = {}
    for job in raw:
        by_key.setdefault((job["stage"], job["name"]), []).append(job["id"])
    (repeated,) = [key for key, ids in by_key.items() if len(ids) > 1]
    sim = simulator_factory(world)
    exporter = Exporter(load_config(write_config(tmp_path / "c.yaml", sim.url, repositories={REPO: [PIPELINE]}),
                                    sources=BUILTIN))
    try:
        exporter.poll_once()
        found = parse_samples(exporter.metrics_text().decode())
    finally:
        exporter.close()
    infos = [dict(labels) for name, labels in found if name == "codearts_repo_pipeline_job_info"
             and (dict(labels)["stage"], dict(labels)["job"]) == repeated]
    assert [info["job_id"] for info in infos] == [str(max(by_key[repeated]))]
    assert len([1 for name, _ in found if name == "codearts_repo_pipeline_job_status"]) == len(by_key)


def test_readyz_never_runs_ahead_of_metrics(tmp_path, simulator_factory):
    sim = simulator_factory(World(seed=1, projects={PROJECT: 3}))
    exporter = Exporter(load_config(write_config(tmp_path / "c.yaml", sim.url, projects=[PROJECT]), sources=BUILTIN))
    seen_by_render: list[int] = []
    original = exporter.exposition.update

    def update(snapshot):
        assert exporter.poller.snapshot.generation == snapshot.generation - 1  # not yet published
        original(snapshot)
        seen_by_render.append(snapshot.generation)

    exporter.poller.hooks = replace(exporter.poller.hooks, on_swap=update)
    try:
        exporter.poll_once()
        assert seen_by_render == [1] and exporter.poller.snapshot.generation == 1
    finally:
        exporter.close()
