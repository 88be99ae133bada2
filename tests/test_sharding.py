"""Sharding: jump consistent hash, the shard flags, and 1 vs 3 exporter processes against one simulator."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from exporter.sharding import ShardSpec, jump_hash, key_hash, ordinal_from_hostname, shard_key
from exporter.simulator import World
from exporter.simulator.world import generated_project_id
from exporter.sources.build.targets import project_target
from exporter.sources.repo.targets import pipeline_target

from .conftest import parse_samples, run_cli, write_config
from .helpers.process import ExporterProcess

KEYS = [f"build:{generated_project_id(i)}" for i in range(4000)] + [f"repo:{r}/{p}" for r in range(40)
                                                                     for p in range(100)]


def test_jump_hash_stays_in_range_and_is_deterministic():
    rng = random.Random(1)
    for _ in range(2000):
        key, buckets = rng.getrandbits(64), rng.randint(1, 50)
        bucket = jump_hash(key, buckets)
        assert 0 <= bucket < buckets
        assert jump_hash(key, buckets) == bucket
    assert jump_hash(12345, 1) == 0
    with pytest.raises(ValueError, match="at least 1"):
        jump_hash(1, 0)


def test_key_hash_is_stable_across_processes():
    code = "from exporter.sharding import key_hash; print(key_hash('build:abc'))"
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert outputs == {f"{key_hash('build:abc')}\n"}


@pytest.mark.parametrize("shards", [2, 3, 4, 8])
def test_adding_a_shard_moves_about_one_in_m_targets_and_only_to_the_new_shard(shards):
    before = {key: jump_hash(key_hash(key), shards) for key in KEYS}
    after = {key: jump_hash(key_hash(key), shards + 1) for key in KEYS}
    moved = [key for key in KEYS if before[key] != after[key]]
    assert all(after[key] == shards for key in moved), "a moved target must land on the new shard"
    expected = len(KEYS) / (shards + 1)
    sigma = (len(KEYS) * (1 / (shards + 1)) * (1 - 1 / (shards + 1))) ** 0.5
    assert abs(len(moved) - expected) < 5 * sigma, (len(moved), expected)


@pytest.mark.parametrize("shards", [3, 4, 7])
def test_targets_spread_evenly_across_shards(shards):
    counts = Counter(jump_hash(key_hash(key), shards) for key in KEYS)
    p = 1 / shards
    sigma = (len(KEYS) * p * (1 - p)) ** 0.5
    assert set(counts) == set(range(shards))
    for count in counts.values():
        assert abs(count - len(KEYS) * p) < 5 * sigma, counts


def test_shards_partition_the_targets():
    targets = [project_target(generated_project_id(i)) for i in range(300)]
    targets += [pipeline_target(1000001, p) for p in range(1, 300)]
    picked = [ShardSpec(i, 4).select(targets) for i in range(4)]
    assert sorted(t.key for part in picked for t in part) == sorted(t.key for t in targets)
    assert all(part for part in picked)
    assert ShardSpec().select(targets) == tuple(targets)
    assert shard_key(pipeline_target(7, 9)) == "repo:7/9"
    assert shard_key(project_target("abc")) == "build:abc"


def test_each_shard_takes_its_share_of_the_budget():
    assert ShardSpec(0, 1).share(10.0) == 10.0
    assert sum(ShardSpec(i, 4).share(10.0) for i in range(4)) == pytest.approx(10.0)
    assert ShardSpec(2, 3).share(9.0) == pytest.approx(3.0)


@pytest.mark.parametrize(("index", "total", "message"), [
    (0, 0, "--total-shards must be at least 1, got 0"),
    (3, 3, "--shard must be in 0..2 for --total-shards 3, got 3"),
    (-1, 2, "--shard must be in 0..1 for --total-shards 2, got -1"),
])
def test_invalid_shard_specs_are_refused_with_the_flag_names(index, total, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ShardSpec(index, total)


def test_ordinal_comes_from_a_statefulset_pod_name():
    assert ordinal_from_hostname("codearts-exporter-3") == 3
    assert ordinal_from_hostname("codearts-exporter-12.codearts-exporter.monitoring.svc") == 12
    with pytest.raises(ValueError, match="does not end in -<ordinal>"):
        ordinal_from_hostname("laptop")


FLAG_ERRORS = [
    (["--shard", "3", "--total-shards", "3"], "--shard must be in 0..2 for --total-shards 3, got 3"),
    (["--shard", "0", "--total-shards", "0"], "--total-shards must be at least 1, got 0"),
    (["--total-shards", "2"], "--total-shards 2 needs --shard N or --shard.from-hostname"),
    (["--shard", "1", "--shard.from-hostname", "--total-shards", "2"], "not both"),
    (["--shard.from-hostname", "--total-shards", "2"], "host name 'laptop' does not end in -<ordinal>"),
    (["--shard.from-hostname", "--total-shards", "2", "--HOST", "codearts-exporter-2"], "got 2"),
]


@pytest.mark.parametrize(("flags", "message"), FLAG_ERRORS)
def test_bad_shard_flags_exit_2_with_one_line(tmp_path, flags, message):
    host = "laptop"
    if "--HOST" in flags:
        host = flags[-1]
        flags = flags[:-2]
    config = write_config(tmp_path / "c.yaml", "http://127.0.0.1:9", projects=[generated_project_id(0)])
    result = run_cli("--config.file", str(config), "--check-config", *flags, env={"HOSTNAME": host})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


# -- 1 process, then 3 shard processes, against one simulator -------------------------------------

FROZEN_AT = 1_750_000_000.0
PROJECTS = [generated_project_id(i) for i in range(12)]
PIPELINES = {1000001: list(range(1, 7)), 1000002: list(range(1, 7))}
PER_PROCESS = ("codearts_api_requests_total", "codearts_records_skipped_total", "codearts_exporter_build_info",
               "codearts_exporter_shard", "codearts_exporter_total_shards", "codearts_api_retries_total",
               "codearts_api_throttled_total", "codearts_rate_limit_wait_seconds_total",
               "codearts_poller_last_cycle_timestamp_seconds", "codearts_poller_cycle_duration_seconds",
               "codearts_poller_cycle_requests", "codearts_rate_limit_budget_requests", "codearts_exporter_series",
               "codearts_api_assumption_failures_total", "codearts_exporter_series_dropped_total",
               "codearts_config_last_reload_successful", "codearts_config_last_reload_success_timestamp_seconds")
POLL_TIME = ("codearts_last_success_timestamp_seconds", "codearts_poll_duration_seconds")
_REQUEST_PATH = re.compile(r"/v4/repositories/(\d+)/pipelines/(\d+)/jobs|/v3/([^/]+)/jobs|/v4/repositories/(\d+)")


def sharding_world() -> World:
    pipelines = {(repo, p): 12 for repo, ps in PIPELINES.items() for p in ps}
    return World(seed=11, clock=lambda: FROZEN_AT, projects={pid: 25 for pid in PROJECTS}, pipelines=pipelines)


def run_processes(tmp_path: Path, config: Path, shard_flags: list[list[str]]) -> list[dict]:
    processes = [ExporterProcess(tmp_path, f"p{len(shard_flags)}-{i}", "--config.file", str(config), *flags)
                 for i, flags in enumerate(shard_flags)]
    try:
        for process in processes:
            process.wait_ready()
        return [process.scrape() for process in processes]
    finally:
        for process in processes:
            process.stop()


def job_level(samples: dict) -> dict:
    return {key: value for key, value in samples.items() if key[0] not in PER_PROCESS}


def request_targets(sim) -> Counter:
    counts: Counter = Counter()
    for record in sim.requests:
        match = _REQUEST_PATH.match(record.path)
        assert match, record.path
        repo, pipeline, project, named = match.groups()
        # a repository's name is read by the names target, which one shard owns
        key = "projectman:names" if named else f"repo:{repo}/{pipeline}" if project is None \
            else f"build:{project}"
        counts[key] += 1
    return counts


def api_requests(samples: dict) -> float:
    return sum(value for (name, _), value in samples.items() if name == "codearts_api_requests_total")


def same_values(name: str, one: float, other: float) -> bool:
    if name in POLL_TIME:
        return True  # when and how long this process polled: not the data
    if name == "codearts_repo_pipeline_job_duration_seconds":
        return abs(one - other) < 120  # a running job's duration runs to the poll's own moment
    return one == other


@pytest.mark.integration
def test_union_of_three_shards_equals_the_unsharded_scrape(tmp_path, simulator_factory):
    sim = simulator_factory(sharding_world())
    config = write_config(tmp_path / "c.yaml", sim.url, repositories=PIPELINES, projects=PROJECTS, interval=600)

    [whole] = run_processes(tmp_path, config, [[]])
    whole_requests = request_targets(sim)
    sim.reset_counts()
    shards = run_processes(tmp_path, config, [["--shard", str(i), "--total-shards", "3"] for i in range(3)])
    sharded_requests = request_targets(sim)

    expected = job_level(whole)
    assert len(expected) > 1000
    union: dict = {}
    for index, shard in enumerate(shards):
        assert shard[("codearts_exporter_shard", frozenset({("shard", str(index))}))] == 1
        assert shard[("codearts_exporter_total_shards", frozenset())] == 3
        series = job_level(shard)
        assert series, f"shard {index} exports no job series"
        overlap = set(series) & set(union)
        assert not overlap, f"series on two shards: {sorted(overlap)[:3]}"
        union.update(series)
    assert set(union) == set(expected)
    differing = [key for key, value in union.items() if not same_values(key[0], value, expected[key])]
    assert not differing, differing[:5]

    # Every target was polled once, by one shard, with the requests the unsharded process needed for it.
    assert sharded_requests == whole_requests
    for index, shard in enumerate(shards):
        owned = {f"{dict(labels)['api']}:{dict(labels)['target']}" for name, labels in shard if name == "codearts_up"}
        assert owned == {key for key in whole_requests if ShardSpec(index, 3).owns_key(key)}
        assert api_requests(shard) == sum(whole_requests[key] for key in owned)
    assert sum(api_requests(shard) for shard in shards) == api_requests(whole) == sim.request_count()


def test_a_shard_without_targets_runs_exports_its_shard_and_says_why_it_is_empty(tmp_path):
    projects = [generated_project_id(i) for i in range(3)]
    empty = next(i for i in range(16) if not ShardSpec(i, 16).select([project_target(p) for p in projects]))
    config = write_config(tmp_path / "c.yaml", "http://127.0.0.1:9", projects=projects)
    result = run_cli("--config.file", str(config), "--once", "--shard", str(empty), "--total-shards", "16")
    assert result.returncode == 0, result.stderr
    found = parse_samples(result.stdout)
    assert not [key for key in found if key[0] == "codearts_up"]
    assert found[("codearts_exporter_shard", frozenset({("shard", str(empty))}))] == 1
    assert f"shard {empty} of 16 owns none of the 3 configured targets" in result.stderr
