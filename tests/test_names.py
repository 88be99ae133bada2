"""Names instead of ids: the CodeArts projects' names from ProjectMan and the repositories' names from Repo,
read once per discovery interval, against the simulator over real HTTP."""

from __future__ import annotations

import json
import logging

from exporter.config import load_config
from exporter.simulator import Fault, World
from exporter.simulator.names import project_name
from exporter.sources.builtin import BUILTIN
from exporter.sources.projectman.models import PROJECT, Name, parse_project
from exporter.wiring import Exporter

from .conftest import parse_samples, write_config
from .fakeclock import FakeClock

P1, P2, UNWATCHED = "6ecbc5bac7c8442fb3d2563d53c13582", "72271b5446614062a01b8be944c9f372", "ab" * 16
REPO, DISCOVERY_PROJECT = 2111976239, "c3" * 16
LISTED = ((501, "orders-service"), (502, "orders-web"))
T0 = 1_750_000_000.0
# ListProjectsV4's published example body (API Explorer, schemas/ProjectMan/src/ListProjectsV4.json).
EXPLORER_EXAMPLE = """{"projects": [{"project_num_id": 3183801, "project_id": "41bd3eab86544863b8fc92ffcd35e3c8",
  "project_name": "aaa", "description": "demo", "created_time": 1576114296000, "updated_time": 1576114296000,
  "project_type": "xboard", "creator": {"user_num_id": 4097, "user_id": "c4bd39f0573a436589714bedbcca8536",
  "user_name": "modile_user", "domain_id": "2489d8cbba804db8bcd35384685ff3ac", "domain_name": "modile_user",
  "nick_name": "Tom.M.Riddle"}}], "total": 10}"""


def test_the_published_project_list_example_parses_to_its_name():
    (item,) = json.loads(EXPLORER_EXAMPLE)["projects"]
    assert parse_project(item) == Name("41bd3eab86544863b8fc92ffcd35e3c8", "aaa", PROJECT)


def rig(tmp_path, simulator_factory, clock):
    world = World(seed=3, clock=clock, projects={P1: 3, P2: 2, UNWATCHED: 1}, pipelines={(REPO, 6): 4},
                  project_repositories={DISCOVERY_PROJECT: LISTED})
    sim = simulator_factory(world)
    config = write_config(tmp_path / "c.yaml", sim.url, repositories={REPO: [6]}, projects=[P1, P2],
                          extra="discovery:\n  interval_seconds: 120\n  projects:\n"
                                f"    - project_id: {DISCOVERY_PROJECT}\n      discover: merge_requests\n")
    config.write_text(config.read_text().replace("endpoints:\n", f"endpoints:\n  projectman: {sim.url}\n", 1))
    return world, sim, Exporter(load_config(config, sources=BUILTIN), clock=clock)


def infos(exporter, family: str, key: str, name: str) -> dict[str, str]:
    samples = parse_samples(exporter.metrics_text().decode())
    return {dict(labels)[key]: dict(labels)[name] for (metric, labels), value in samples.items()
            if metric == family and value == 1}


def test_projects_and_repositories_are_named_once_per_discovery_interval(tmp_path, simulator_factory):
    clock = FakeClock(T0)
    world, sim, exporter = rig(tmp_path, simulator_factory, clock)
    try:
        exporter.poll_once()
        # ProjectMan lists every project the world knows; the watched ones (configured or discovered in) are kept
        assert infos(exporter, "codearts_project_info", "project_id", "project") == {
            P1: project_name(P1), P2: project_name(P2), DISCOVERY_PROJECT: project_name(DISCOVERY_PROJECT)}
        assert infos(exporter, "codearts_repo_repository_info", "repository_id", "repository") == {
            str(REPO): world.repository(REPO)[1], "501": "orders-service", "502": "orders-web"}
        asked = sim.request_count("projectman_projects"), sim.request_count("repo_repository")
        assert asked == (1, 1)
        # a repository the Repo API does not know goes unnamed; the others keep their names
        sim.set_fault("repo_repository", Fault.NOT_FOUND)
        for _ in range(2):  # within the discovery interval (less half a poll interval): not asked again
            clock.advance(30)
            exporter.poll_once()
        assert (sim.request_count("projectman_projects"), sim.request_count("repo_repository")) == asked
        clock.advance(60)  # 120 s after the first listing
        exporter.poll_once()
        assert (sim.request_count("projectman_projects"), sim.request_count("repo_repository")) == (2, 2)
        assert infos(exporter, "codearts_repo_repository_info", "repository_id", "repository") == {
            "501": "orders-service", "502": "orders-web"}
    finally:
        exporter.close()


def test_without_projectman_permission_projects_keep_their_ids_and_nothing_goes_down(
        tmp_path, simulator_factory, caplog):
    clock = FakeClock(T0)
    world, sim, exporter = rig(tmp_path, simulator_factory, clock)
    world.projectman_denied = True
    try:
        with caplog.at_level(logging.WARNING):
            snapshot = exporter.poll_once()
        assert snapshot.all_up()
        assert infos(exporter, "codearts_project_info", "project_id", "project") == {}
        assert len(infos(exporter, "codearts_repo_repository_info", "repository_id", "repository")) == 3
        samples = parse_samples(exporter.metrics_text().decode())
        assert samples[("codearts_records_skipped_total",
                        frozenset({"api": "projectman", "reason": "forbidden"}.items()))] == 1
        assert sum("ProjectMan refused to list projects" in record.getMessage() for record in caplog.records) == 1
    finally:
        exporter.close()


def test_without_a_projectman_endpoint_nothing_is_asked_and_no_names_target_exists(tmp_path, simulator_factory):
    world = World(seed=3, projects={P1: 2})
    sim = simulator_factory(world)
    config = write_config(tmp_path / "c.yaml", sim.url, projects=[P1])  # region "test": no ProjectMan endpoint
    exporter = Exporter(load_config(config, sources=BUILTIN))
    try:
        assert [state.target.api for state in exporter.poll_once().states] == ["build"]
        assert infos(exporter, "codearts_project_info", "project_id", "project") == {}
        assert sim.request_count("projectman_projects") == 0
    finally:
        exporter.close()
