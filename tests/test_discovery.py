"""Discovery of merge request pipelines and of a project's repositories, against the simulator on a fake clock."""

from __future__ import annotations

import math
import time

import pytest
import requests

from exporter.config import load_config
from exporter.runhistory.history import RunHistory
from exporter.sharding import ShardSpec
from exporter.simulator import Fault, World
from exporter.simulator.mergerequests import MergeRequestPlan
from exporter.sources.builtin import BUILTIN
from exporter.sources.repo.config import RepoSection
from exporter.sources.repo.models import parse_pipeline_job
from exporter.sources.repo.targets import pipeline_target
from exporter.wiring import Exporter

from .conftest import make_history, parse_samples, run_cli, wait_until, write_config

T0 = 1_763_900_000.0
PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
STATIC_REPO = 2111976239
# Merge requests open every 10 min and stay open 1..6 h: 6..36 open at a time, pipelines of all ages.
PLAN = MergeRequestPlan(every_ms=600_000, open_ms=(3_600_000, 21_600_000), jobs=3)


def world_with(clock, repositories: dict[int, str]) -> World:
    return World(seed=5, clock=clock, pipelines={(STATIC_REPO, 6): 4},
                 merge_requests={repo: PLAN for repo in repositories},
                 project_repositories={PROJECT: list(repositories.items())})


def head_pipelines(world: World, repo: int, at: float, most: int, retention: float) -> list[str]:
    """Ground truth from the world: head pipelines of the newest ``most`` open merge requests, newest first,
    less the old finished ones. Written from the simulator's model, not from the exporter's code."""
    at_ms = math.floor(at * 1000)
    book = world.merge_request_book(repo)
    newest = sorted(world.open_merge_requests(repo, at), key=lambda mr: mr.opened, reverse=True)[:most]
    found = []
    for mr in newest:
        pipeline = mr.pipeline_at(at_ms)
        if pipeline is None:
            continue
        _, finished = book.pipeline_status(mr, at_ms)
        if finished is not None and at_ms - finished > retention * 1000:
            continue
        found.append(f"{repo}/{pipeline}")
    return found


def expected_pipelines(world: World, repo: int, at: float, most: int, retention: float) -> set[str]:
    """The pipelines a first discovery pass watches."""
    return set(head_pipelines(world, repo, at, most, retention))


def finished_at(world: World, key: str, at: float) -> float | None:
    """When a head pipeline finished, as its job listing at ``at`` shows (None while it runs)."""
    repo, pipeline = (int(part) for part in key.split("/"))
    at_ms = math.floor(at * 1000)
    book = world.merge_request_book(repo)
    _, finished = book.pipeline_status(book.pipeline_mr(pipeline, at_ms), at_ms)
    return None if finished is None else finished / 1000


def expected_after(world: World, repo: int, before: set[str], listed_at: float, at: float, most: int,
                   retention: float) -> set[str]:
    """The pipelines a later pass watches: the heads, then former heads (no longer heads of the newest
    merge requests) watched ``before`` that had not finished more than ``retention`` ago by their last job
    listing (at ``listed_at``), newest first."""
    heads = head_pipelines(world, repo, at, most, retention)
    every_head = head_pipelines(world, repo, at, most, math.inf)  # an expired head is no former head either
    former = sorted((key for key in before if key.startswith(f"{repo}/") and key not in every_head),
                    key=lambda key: int(key.split("/")[1]), reverse=True)
    kept = [key for key in former
            if (done := finished_at(world, key, listed_at)) is None or at - done <= retention]
    return set((heads + kept)[:most])


class Rig:
    """A world on a fake clock, its simulator, and exporters (one per shard) configured with ``extra``."""

    def __init__(self, tmp_path, simulator_factory, repositories: dict[int, str], extra: str,
                 static: dict[int, list[int]] | None = None):
        self.now = [T0]
        self.world = world_with(lambda: self.now[0], repositories)
        self.sim = simulator_factory(self.world)
        # Few buckets: the tests parse every scrape, and histogram lines would dominate their time.
        self.path = write_config(tmp_path / "c.yaml", self.sim.url, repositories=static,
                                 extra=extra + "history:\n  buckets: [60, 600]\n  queued_buckets: [10]\n")
        self.config = load_config(self.path, sources=BUILTIN)
        self.exporters: list[Exporter] = []

    def exporter(self, shard: ShardSpec | None = None) -> Exporter:
        exporter = Exporter(self.config, clock=lambda: self.now[0], shard=shard)
        self.exporters.append(exporter)
        return exporter

    def close(self) -> None:
        for exporter in self.exporters:
            exporter.close()


@pytest.fixture
def rigs():
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.close()


def repo_targets(samples: dict) -> set[str]:
    return {dict(labels)["target"] for name, labels in samples
            if name == "codearts_up" and dict(labels)["api"] == "repo"}


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series_of_pipeline(samples: dict, key: str) -> list:
    repo, pipeline = key.split("/")
    return [k for k in samples if dict(k[1]).get("repository_id") == repo and dict(k[1]).get("pipeline_id") == pipeline]


def discover_config(body: str, interval: float = 300) -> str:
    return f"discovery:\n  interval_seconds: {interval}\n{body}"


def test_discovery_watches_the_head_pipelines_of_the_newest_open_merge_requests(tmp_path, simulator_factory, rigs,
                                                                              caplog):
    extra = "".join(f"  - id: {repo}\n    discover: merge_requests\n    max_pipelines: 8\n"
                    "    pipeline_retention_seconds: 86400\n" for repo in (501, 502))
    rig = Rig(tmp_path, simulator_factory, {501: "a", 502: "b"}, "repositories:\n" + extra)
    rigs.append(rig)
    exporter = rig.exporter()

    assert exporter.poll_once().all_up()
    samples = parse_samples(exporter.metrics_text().decode())

    expected = set()
    for repo in (501, 502):
        found = expected_pipelines(rig.world, repo, T0, 8, 86400)
        assert len(rig.world.open_merge_requests(repo, T0)) > 8  # the bound matters here
        assert 0 < len(found) <= 8
        expected |= found
        assert value(samples, "codearts_discovery_targets", source="repository", id=str(repo)) == len(found)
        assert value(samples, "codearts_discovery_up", source="repository", id=str(repo)) == 1
        assert value(samples, "codearts_discovery_last_success_timestamp_seconds", source="repository",
                     id=str(repo)) == T0
    assert repo_targets(samples) == expected
    for key in expected:  # each discovered pipeline was polled: its jobs are on /metrics
        assert value(samples, "codearts_up", api="repo", target=key) == 1
        assert [k for k in series_of_pipeline(samples, key) if k[0] == "codearts_repo_pipeline_job_status"]
    # One merge request list and at most max_pipelines head pipeline requests per repository.
    assert rig.sim.request_count("repo_merge_requests") == 2
    assert rig.sim.request_count("repo_head_pipeline") == 16
    assert "reported total" not in caplog.text  # the lists carry no X-Total: a short page is their end


def watch_one_repository(tmp_path, simulator_factory, rigs, retention: int) -> tuple[Rig, Exporter, set[str]]:
    """Repository 501 discovered with ``max_pipelines: 50`` and ``retention``, after its first poll: the rig,
    its exporter and the pipelines first watched."""
    extra = ("repositories:\n  - id: 501\n    discover: merge_requests\n    max_pipelines: 50\n"
             f"    pipeline_retention_seconds: {retention}\n" + discover_config("", interval=600))
    rig = Rig(tmp_path, simulator_factory, {501: "a"}, extra)
    rigs.append(rig)
    exporter = rig.exporter()
    exporter.poll_once()
    return rig, exporter, repo_targets(parse_samples(exporter.metrics_text().decode()))


def test_finished_pipelines_older_than_the_retention_stop_being_watched(tmp_path, simulator_factory, rigs):
    rig, exporter, first = watch_one_repository(tmp_path, simulator_factory, rigs, retention=1800)
    assert first == expected_pipelines(rig.world, 501, T0, 50, 1800)
    everything = expected_pipelines(rig.world, 501, T0, 50, 10**9)
    assert everything - first, "some open merge requests' pipelines must be past the retention already"

    rig.now[0] += 300  # before the discovery interval: the same targets
    exporter.poll_once()
    assert repo_targets(parse_samples(exporter.metrics_text().decode())) == first

    listed_at = rig.now[0]
    rig.now[0] += 3000  # discovery again: new merge requests come, expired ones go
    exporter.poll_once()
    samples = parse_samples(exporter.metrics_text().decode())
    second = repo_targets(samples)
    assert second == expected_after(rig.world, 501, first, listed_at, rig.now[0], 50, 1800)
    heads = set(head_pipelines(rig.world, 501, rig.now[0], 50, 1800))
    gone = first - second
    assert gone and second - first
    assert second <= heads  # the expired heads watched before did not come back as former heads
    for key in gone:  # their series vanish, run history included
        assert not series_of_pipeline(samples, key)
        assert value(samples, "codearts_up", api="repo", target=key) is None


def test_the_pipeline_of_a_merge_request_closed_within_the_retention_stays_watched(tmp_path, simulator_factory,
                                                                                   rigs):
    # A retention of 4 h: the pipelines of merge requests that close within the next hour are still watched.
    rig, exporter, first = watch_one_repository(tmp_path, simulator_factory, rigs, retention=14400)
    assert first == expected_pipelines(rig.world, 501, T0, 50, 14400)

    rig.now[0] += 3300
    exporter.poll_once()
    second = repo_targets(parse_samples(exporter.metrics_text().decode()))
    assert second == expected_after(rig.world, 501, first, T0, rig.now[0], 50, 14400)
    former = second - set(head_pipelines(rig.world, 501, rig.now[0], 50, 14400))
    assert former and former <= first, "pipelines of merge requests closed within the retention are still watched"


def test_a_projects_repositories_are_discovered_by_name_with_include_and_exclude(tmp_path, simulator_factory, rigs):
    repositories = {501: "backend-api", 502: "backend-docs", 503: "frontend", 504: "backend-billing"}
    extra = discover_config(f"  projects:\n    - project_id: {PROJECT}\n      include: ['^backend-']\n"
                            "      exclude: ['docs$']\n      max_pipelines: 3\n")
    rig = Rig(tmp_path, simulator_factory, repositories, extra)
    rigs.append(rig)
    exporter = rig.exporter()
    exporter.poll_once()
    samples = parse_samples(exporter.metrics_text().decode())

    expected = expected_pipelines(rig.world, 501, T0, 3, 86400) | expected_pipelines(rig.world, 504, T0, 3, 86400)
    assert repo_targets(samples) == expected
    assert value(samples, "codearts_discovery_targets", source="project", id=PROJECT) == 2
    assert {dict(labels)["id"] for name, labels in samples
            if name == "codearts_discovery_up" and dict(labels)["source"] == "repository"} == {"501", "504"}
    listed = {record.path.split("/")[3] for record in rig.sim.requests if record.route == "repo_merge_requests"}
    assert listed == {"501", "504"}


@pytest.mark.parametrize("fault", [Fault.HTTP_500, Fault.TRUNCATED_JSON])
def test_a_discovery_fault_keeps_the_previous_targets_and_shows_in_the_metrics(tmp_path, simulator_factory, rigs,
                                                                              fault):
    extra = discover_config(f"  projects:\n    - project_id: {PROJECT}\n", interval=60)
    rig = Rig(tmp_path, simulator_factory, {501: "a", 502: "b"}, extra)
    rigs.append(rig)
    exporter = rig.exporter()
    exporter.poll_once()
    before = repo_targets(parse_samples(exporter.metrics_text().decode()))
    assert before

    rig.sim.set_fault("merge_requests:501", fault)
    rig.sim.set_fault("repo_repositories", fault)
    rig.now[0] += 7200  # long enough for the merge requests to have changed
    exporter.poll_once()
    samples = parse_samples(exporter.metrics_text().decode())
    after = repo_targets(samples)
    assert {key for key in after if key.startswith("501/")} == {key for key in before if key.startswith("501/")}
    assert {key for key in after if key.startswith("502/")} == expected_after(rig.world, 502, before, T0,
                                                                               rig.now[0], 20, 86400)
    assert value(samples, "codearts_discovery_up", source="repository", id="501") == 0
    assert value(samples, "codearts_discovery_last_success_timestamp_seconds", source="repository", id="501") == T0
    assert value(samples, "codearts_discovery_up", source="repository", id="502") == 1
    assert value(samples, "codearts_discovery_up", source="project", id=PROJECT) == 0
    assert value(samples, "codearts_discovery_targets", source="project", id=PROJECT) == 2  # kept

    rig.sim.clear_faults()
    listed_at = rig.now[0]
    rig.now[0] += 60
    exporter.poll_once()
    samples = parse_samples(exporter.metrics_text().decode())
    assert value(samples, "codearts_discovery_up", source="repository", id="501") == 1
    assert {key for key in repo_targets(samples) if key.startswith("501/")} == \
        expected_after(rig.world, 501, before, listed_at, rig.now[0], 20, 86400)



def test_a_later_pass_runs_beside_the_cycles_and_what_it_finds_is_polled_from_the_next_cycle(
        tmp_path, simulator_factory, rigs, caplog):
    extra = discover_config(f"  projects:\n    - project_id: {PROJECT}\n", interval=60)
    rig = Rig(tmp_path, simulator_factory, {501: "a", 502: "b"}, extra)
    rigs.append(rig)
    exporter = rig.exporter()
    exporter.discoverers["repo"].run_in_background()
    exporter.poll_once()  # the first pass runs inside the first cycle, so it polls what the pass found
    before = repo_targets(parse_samples(exporter.metrics_text().decode()))
    assert before == expected_pipelines(rig.world, 501, T0, 20, 86400) | expected_pipelines(rig.world, 502, T0, 20,
                                                                                              86400)

    # 501's merge request list is held until the faults are cleared: the pass due now stays in flight.
    rig.sim.set_fault("merge_requests:501", Fault.LATENCY, delay=120)
    rig.now[0] += 7200
    held = exporter.poll_once()
    pass_started_by = time.monotonic()
    assert exporter.discoverers["repo"].passing()
    assert held.all_up() and {state.target.key for state in held.states if state.target.api == "repo"} == before
    rig.now[0] += 60  # the next pass is due, but one still runs: skipped, not doubled
    exporter.poll_once()
    assert any("still running; skipping" in record.getMessage() for record in caplog.records)

    released_at = time.monotonic()
    rig.sim.clear_faults()
    wait_until(lambda: not exporter.discoverers["repo"].passing(), timeout=30)
    exporter.poll_once()
    samples = parse_samples(exporter.metrics_text().decode())
    # The pass began before the cycle that started it returned, and ended after the list was released.
    assert value(samples, "codearts_discovery_pass_duration_seconds") >= released_at - pass_started_by
    passed_at = T0 + 7200
    assert repo_targets(samples) == (expected_after(rig.world, 501, before, T0, passed_at, 20, 86400)
                                     | expected_after(rig.world, 502, before, T0, passed_at, 20, 86400))
    assert value(samples, "codearts_discovery_last_success_timestamp_seconds", source="repository", id="501") \
        == passed_at


def test_closing_cuts_a_background_pass_short_without_a_word_or_a_change(tmp_path, simulator_factory, rigs, caplog):
    extra = discover_config(f"  projects:\n    - project_id: {PROJECT}\n", interval=60)
    rig = Rig(tmp_path, simulator_factory, {501: "a", 502: "b"}, extra)
    rigs.append(rig)
    exporter = rig.exporter()
    exporter.discoverers["repo"].run_in_background()
    exporter.poll_once()
    statuses = exporter.discoverers["repo"].statuses()
    # The pass's merge request lists are held (not its project's repository list: the names target, due in
    # the same cycle, lists that too and must not wait beside it).
    rig.sim.set_fault("repo_merge_requests", Fault.LATENCY, delay=120)
    rig.now[0] += 7200
    exporter.poll_once()
    assert exporter.discoverers["repo"].passing()
    exporter.close()
    asked = [record for record in rig.sim.requests if record.route == "repo_merge_requests"]
    rig.sim.clear_faults()
    wait_until(lambda: not exporter.discoverers["repo"].passing(), timeout=30)
    assert exporter.discoverers["repo"].statuses() == statuses
    assert [r.getMessage() for r in caplog.records if r.name == "exporter.sources.repo.discovery"] == []
    # It stopped before the next request: no merge request list was asked for after the held ones.
    lists = [record.route for record in rig.sim.requests if record.route == "repo_merge_requests"]
    assert len(lists) == len(asked) <= 2 + 2  # the first pass's, one per repository, and the held ones



def test_a_serving_exporter_discovers_again_in_the_background(tmp_path, simulator_factory):
    sim = simulator_factory(world_with(time.time, {501: "a"}))
    path = write_config(tmp_path / "c.yaml", sim.url, repositories={STATIC_REPO: [6]}, interval=2,
                        extra=discover_config(f"  projects:\n    - project_id: {PROJECT}\n", interval=1)
                        + "history:\n  enabled: false\n")
    path.write_text(path.read_text().replace("timeout_seconds: 5", "timeout_seconds: 1"))  # below the interval
    exporter = Exporter(load_config(path, sources=BUILTIN))
    server = exporter.serve(("127.0.0.1", 0))

    def last_pass() -> float | None:
        samples = parse_samples(requests.get(f"{server.url}/metrics", timeout=5).text)
        return value(samples, "codearts_discovery_last_success_timestamp_seconds", source="repository", id="501")

    try:
        wait_until(lambda: last_pass() is not None, timeout=30)
        first = last_pass()
        wait_until(lambda: (last_pass() or 0) > first, timeout=30)
        samples = parse_samples(requests.get(f"{server.url}/metrics", timeout=5).text)
    finally:
        exporter.close()
    assert {key for key in repo_targets(samples) if key.startswith("501/")}
    assert value(samples, "codearts_up", api="repo", target=f"{STATIC_REPO}/6") == 1
    assert value(samples, "codearts_discovery_up", source="repository", id="501") == 1


def test_shards_together_discover_and_watch_each_pipeline_exactly_once(tmp_path, simulator_factory, rigs):
    repositories = {500 + i: f"service-{i}" for i in range(1, 9)}
    extra = discover_config(f"  projects:\n    - project_id: {PROJECT}\n      max_pipelines: 4\n")
    rig = Rig(tmp_path, simulator_factory, repositories, extra, static={STATIC_REPO: [6]})
    rigs.append(rig)
    whole = rig.exporter()
    whole.poll_once()
    unsharded = repo_targets(parse_samples(whole.metrics_text().decode()))
    assert len(unsharded) > 10 and f"{STATIC_REPO}/6" in unsharded
    whole_lists = rig.sim.request_count("repo_merge_requests")
    rig.sim.reset_counts()

    union: set[str] = set()
    for index in range(3):
        shard = rig.exporter(ShardSpec(index, 3))
        shard.poll_once()
        mine = repo_targets(parse_samples(shard.metrics_text().decode()))
        assert not mine & union, f"pipelines on two shards: {mine & union}"
        union |= mine
    assert union == unsharded
    # Each repository's merge requests were listed by one shard only; each shard listed the project, and
    # the shard owning the names target listed it once more for the repositories' names.
    assert rig.sim.request_count("repo_merge_requests") == whole_lists == len(repositories)
    assert rig.sim.request_count("repo_repositories") == 3 + 1


def test_once_with_discovery_prints_the_discovered_pipelines(tmp_path, simulator_factory):
    world = World(seed=5, merge_requests={501: PLAN}, project_repositories={PROJECT: [(501, "backend")]})
    sim = simulator_factory(world)
    extra = discover_config(f"  projects:\n    - project_id: {PROJECT}\n      max_pipelines: 5\n")
    config = write_config(tmp_path / "c.yaml", sim.url, extra=extra)
    result = run_cli("--once", "--config.file", str(config))
    assert result.returncode == 0, result.stderr
    samples = parse_samples(result.stdout)
    found = repo_targets(samples)
    assert found and all(key.startswith("501/") for key in found)
    assert value(samples, "codearts_discovery_up", source="project", id=PROJECT) == 1
    assert value(samples, "codearts_discovery_targets", source="repository", id="501") == len(found)

    sim.set_fault("merge_requests:501", Fault.HTTP_500)  # the repository's pipelines go unwatched: a failure
    failed = run_cli("--once", "--config.file", str(config))
    assert failed.returncode == 1
    samples = parse_samples(failed.stdout)
    assert value(samples, "codearts_discovery_up", source="repository", id="501") == 0 and not repo_targets(samples)


def pipeline_runs(history: RunHistory) -> dict[tuple[str, ...], int]:
    view = history.view()
    return {(*labels, status): count for (kind, labels), job in view.jobs.items() if kind == "repo"
            for status, count in job.runs}


def test_a_pipeline_watched_again_is_not_counted_twice():
    history = make_history(None, sections={"repo": RepoSection()})  # pipeline runs need no requests
    target = pipeline_target(501, 100_007, "discovery:repo:501")
    job = {"id": 9, "name": "compile", "stage": "build", "status": "success", "created_at": "2025-11-23T10:00:00Z",
           "started_at": "2025-11-23T10:00:05Z", "finished_at": "2025-11-23T10:03:05Z"}
    running = {**job, "status": "running", "finished_at": ""}
    history.after_listing(target, [parse_pipeline_job(running)])
    history.after_listing(target, [parse_pipeline_job(job)])  # finished between two listings: counted once
    assert pipeline_runs(history)[("501", "100007", "build", "compile", "success")] == 1

    history.part("repo").retain_pipelines(set())  # no longer watched: its series leave
    assert not pipeline_runs(history) and not history.view().versions
    history.after_listing(target, [parse_pipeline_job(job)])  # watched again: first sight, nothing re-counted
    assert pipeline_runs(history)[("501", "100007", "build", "compile", "success")] == 0
    assert history.to_state()["pipeline_seen"] == {"501/100007": [[9, parse_pipeline_job(job).created]]}


def test_discovered_pipelines_count_each_job_run_once_from_first_sight(tmp_path, simulator_factory, rigs):
    extra = ("repositories:\n  - id: 501\n    discover: merge_requests\n    max_pipelines: 50\n"
             + discover_config("", interval=100))
    rig = Rig(tmp_path, simulator_factory, {501: "a"}, extra)
    rigs.append(rig)
    exporter = rig.exporter()
    first_seen: dict[str, float] = {}
    for _ in range(20):  # an hour: merge requests open, pipelines run and finish between polls
        snapshot = exporter.poll_once()
        assert snapshot.all_up()
        for state in snapshot.states:
            if state.target.api == "repo":
                first_seen.setdefault(state.target.key, rig.now[0])
        rig.now[0] += 180
    last = rig.now[0] - 180
    samples = parse_samples(exporter.metrics_text().decode())
    assert set(first_seen) >= repo_targets(samples)
    assert len(first_seen) > 8

    book = rig.world.merge_request_book(501)
    counted = 0
    for key, seen in first_seen.items():
        pipeline = int(key.split("/")[1])
        for job in book.jobs(book.pipeline_mr(pipeline, math.floor(last * 1000))):
            runs = sum(value for (name, labels), value in samples.items()
                       if name == "codearts_repo_pipeline_job_runs_total"
                       and dict(labels) | {"status": ""} == {"repository_id": "501", "pipeline_id": str(pipeline),
                                                             "stage": job.stage, "job": job.name, "status": ""})
            expected = 1 if seen * 1000 < job.finished <= last * 1000 else 0
            assert runs == expected, (key, job)
            counted += runs
    assert counted > 10


def test_discovery_config_is_read_into_its_records_and_summarised_by_check_config(tmp_path):
    extra = ("repositories:\n  - id: 501\n    pipelines: [6]\n    discover: merge_requests\n    max_pipelines: 7\n"
             + discover_config(f"  projects:\n    - project_id: {PROJECT}\n      include: ['^api-', 'web$']\n"
                               "      exclude: ['-old']\n      pipeline_retention_seconds: 0\n", interval=120))
    path = write_config(tmp_path / "c.yaml", "http://127.0.0.1:9", extra=extra)
    config = load_config(path, sources=BUILTIN)
    [repo] = config.section("repo").repositories
    assert (repo.pipelines, repo.discover.max_pipelines, repo.discover.retention_seconds) == ((6,), 7, 86400)
    [project] = config.section("repo").discovery.projects
    assert (config.section("repo").discovery.interval_seconds, project.merge_requests.max_pipelines,
            project.merge_requests.retention_seconds) == (120, 20, 0)
    assert [name for name in ("api-gateway", "my-web", "api-old", "webapp", "docs") if project.matches(name)] == \
        ["api-gateway", "my-web"]
    result = run_cli("--check-config", "--config.file", str(path))
    assert result.returncode == 0, result.stderr
    assert ("1 pipeline in 1 repository, merge request discovery in 1 repository and "
            "the repositories of 1 project every 120s;") in result.stdout


def runs_of(samples: dict, repo: str) -> dict[tuple, float]:
    """The run counters of a repository's pipelines on /metrics."""
    return {labels: count for (name, labels), count in samples.items()
            if name == "codearts_repo_pipeline_job_runs_total" and dict(labels)["repository_id"] == repo}


def test_a_restart_whose_project_answers_only_in_a_later_pass_keeps_the_restored_run_history(
        tmp_path, simulator_factory, rigs):
    state = tmp_path / "state.json"
    extra = discover_config(f"  projects:\n    - project_id: {PROJECT}\n", interval=60) + f"state:\n  path: {state}\n"
    rig = Rig(tmp_path, simulator_factory, {501: "a"}, extra)
    rigs.append(rig)
    before = rig.exporter()
    for _ in range(10):  # half an hour: runs of the watched pipelines are counted
        before.poll_once()
        rig.now[0] += 180
    counted = {labels: count for labels, count in runs_of(parse_samples(before.metrics_text().decode()), "501").items()
               if count > 0}
    assert counted
    before.close()

    # The restarted exporter's first pass cannot list the project: it keeps the restored counters.
    rig.sim.set_fault(f"repositories:{PROJECT}", Fault.NOT_FOUND)
    after = rig.exporter()
    after.discoverers["repo"].run_in_background()
    after.poll_once()
    assert runs_of(parse_samples(after.metrics_text().decode()), "501").items() >= counted.items()

    # The next pass lists the project, then waits for the head pipelines: until it ends, nothing more is
    # known of the project's pipelines, so their counters must stay.
    rig.sim.clear_faults()
    rig.sim.reset_counts()
    rig.sim.set_fault("repo_head_pipeline", Fault.LATENCY, delay=120)
    rig.now[0] += 60
    after.poll_once()
    wait_until(lambda: rig.sim.request_count("repo_merge_requests") >= 1)  # the project's list is read
    rig.now[0] += 10
    after.poll_once()
    assert after.discoverers["repo"].passing()
    assert runs_of(parse_samples(after.metrics_text().decode()), "501").items() >= counted.items()

    rig.sim.clear_faults()
    wait_until(lambda: not after.discoverers["repo"].passing(), timeout=30)
    rig.now[0] += 10
    after.poll_once()
    runs = runs_of(parse_samples(after.metrics_text().decode()), "501")
    watched = {key.split("/")[1] for key in repo_targets(parse_samples(after.metrics_text().decode()))}
    still = {labels: count for labels, count in counted.items() if dict(labels)["pipeline_id"] in watched}
    assert still and all(runs[labels] >= count for labels, count in still.items())


def test_a_source_that_never_answers_keeps_only_its_own_repositorys_run_history(tmp_path, simulator_factory, rigs):
    # 502's merge requests are never readable (a repository the token may not see): that must not stop the
    # run history of 501's pipelines from going when they stop being watched.
    extra = discover_config(f"  projects:\n    - project_id: {PROJECT}\n      max_pipelines: 50\n"
                            "      pipeline_retention_seconds: 1800\n", interval=600)
    rig = Rig(tmp_path, simulator_factory, {501: "a", 502: "b"}, extra)
    rigs.append(rig)
    rig.sim.set_fault("merge_requests:502", Fault.NOT_FOUND)
    exporter = rig.exporter()
    exporter.poll_once()
    first = repo_targets(parse_samples(exporter.metrics_text().decode()))
    assert first and all(key.startswith("501/") for key in first)
    rig.now[0] += 300
    exporter.poll_once()
    rig.now[0] += 3000
    exporter.poll_once()
    samples = parse_samples(exporter.metrics_text().decode())
    assert value(samples, "codearts_discovery_up", source="repository", id="502") == 0
    gone = first - repo_targets(samples)
    assert gone
    for key in gone:
        assert not series_of_pipeline(samples, key), key


def test_a_restart_whose_first_pass_fails_for_a_repository_keeps_that_repositorys_run_history(
        tmp_path, simulator_factory, rigs):
    state = tmp_path / "state.json"
    extra = (discover_config(f"  projects:\n    - project_id: {PROJECT}\n      pipeline_retention_seconds: 1800\n",
                             interval=60) + f"state:\n  path: {state}\n")
    rig = Rig(tmp_path, simulator_factory, {501: "a", 502: "b"}, extra)
    rigs.append(rig)
    before = rig.exporter()
    for _ in range(10):
        before.poll_once()
        rig.now[0] += 180
    samples = parse_samples(before.metrics_text().decode())
    counted = {repo: {labels: count for labels, count in runs_of(samples, repo).items() if count > 0}
               for repo in ("501", "502")}
    assert counted["501"] and counted["502"]
    before.close()

    rig.sim.set_fault("merge_requests:502", Fault.NOT_FOUND)
    rig.now[0] += 7200  # 501's pipelines of then are no longer watched
    after = rig.exporter()
    after.poll_once()
    samples = parse_samples(after.metrics_text().decode())
    assert runs_of(samples, "502").items() >= counted["502"].items()  # its pipelines are not known yet
    watched = {key.split("/")[1] for key in repo_targets(samples) if key.startswith("501/")}
    assert watched and {dict(labels)["pipeline_id"] for labels in counted["501"]} - watched
    assert all(dict(labels)["pipeline_id"] in watched for labels in runs_of(samples, "501"))  # the rest went
