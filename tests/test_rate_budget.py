"""Acceptance: with the simulator throttling 30% of requests, the exporter's request rate measured at the
simulator never exceeds the configured budget over any window, and every target ends up fresh."""

from __future__ import annotations

import time

from exporter.config import load_config
from exporter.simulator import Fault, World, generated_project_id
from exporter.sources.build.targets import project_target
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import parse_samples, wait_until, write_config

INTERVAL = 3.0
BURST = 2
RATES = {"build_jobs": 4.0, "repo_jobs": 2.0}
# A request's arrival at the simulator lags its token by a little; allow that much clock skew per window.
ARRIVAL_JITTER = 0.15


def max_in_window(times: list[float], window: float) -> int:
    """The most requests that arrived within any half-open window of ``window`` seconds."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_request_rate_stays_within_budget_while_throttled_and_targets_end_fresh(tmp_path, simulator_factory):
    projects = [generated_project_id(i) for i in range(6)]
    pipelines = {1_000_001: [1, 2, 3, 4]}
    world = World(seed=9, projects={p: 15 for p in projects}, pipelines={(1_000_001, p): 6 for p in range(1, 5)})
    sim = simulator_factory(world, seed=30)
    sim.set_fault("build_jobs", Fault.BUILD_THROTTLED, rate=0.3)
    sim.set_fault("repo_jobs", Fault.THROTTLED, rate=0.3)
    config = write_config(tmp_path / "c.yaml", sim.url, repositories=pipelines, projects=projects, interval=INTERVAL,
                          rate_limit=f"{{repo: 2, build: 4, burst: {BURST}}}")
    config.write_text(config.read_text().replace("timeout_seconds: 5", "timeout_seconds: 2"))
    exporter = Exporter(load_config(config, sources=BUILTIN))
    started = time.time()
    exporter.serve(("127.0.0.1", 0))
    try:
        wait_until(lambda: exporter.poller.snapshot.generation >= 2, timeout=30)
        ended = time.time()
        text = exporter.metrics_text().decode()
        states = exporter.poller.snapshot.states
    finally:
        exporter.close()

    records = sim.requests
    for route, rate in RATES.items():
        times = sorted(r.at for r in records if r.route == route)
        for window in (0.5, 1.0, 2.0):
            assert max_in_window(times, window) <= BURST + rate * (window + ARRIVAL_JITTER), (route, window)
        assert len(times) <= BURST + rate * (times[-1] - times[0] + ARRIVAL_JITTER)
    throttled = sum(1 for r in records if r.status in (429, 500))
    assert 0.15 * len(records) <= throttled <= 0.45 * len(records)  # the simulator did throttle ~30%

    found = parse_samples(text)
    waits = {dict(labels)["api"]: v for (name, labels), v in found.items()
             if name == "codearts_rate_limit_wait_seconds_total"}
    assert waits.get("build", 0) > 0 and waits.get("repo", 0) > 0  # the budget, not the demand, set the pace
    retries = sum(v for (name, labels), v in found.items() if name == "codearts_api_retries_total")
    assert retries >= 1
    # the names target is read once per discovery interval, not every cycle: only the job targets here
    states = tuple(state for state in states if state.target.api != "projectman")
    assert len(states) == 10
    for state in states:  # every target succeeded in one of the last two cycles
        assert state.last_success_at is not None and state.last_success_at >= max(started, ended - 2 * INTERVAL)


def test_each_shard_keeps_to_its_share_of_the_budget(tmp_path, simulator_factory):
    from concurrent.futures import ThreadPoolExecutor

    from exporter.sharding import ShardSpec

    total_rate, burst, shards = 6.0, 3, 3  # each shard: 2 requests/s, a burst of 1
    projects = [generated_project_id(i) for i in range(24)]
    sim = simulator_factory(World(seed=4, projects={p: 3 for p in projects}))
    config = load_config(write_config(tmp_path / "c.yaml", sim.url, projects=projects,
                                      rate_limit=f"{{repo: 8, build: {total_rate}, burst: {burst}}}"), sources=BUILTIN)
    exporters = [Exporter(config, shard=ShardSpec(i, shards)) for i in range(shards)]
    owner = {p: i for i in range(shards) for p in projects if ShardSpec(i, shards).owns(project_target(p))}
    try:
        with ThreadPoolExecutor(shards) as pool:
            assert all(s.all_up() for s in pool.map(lambda e: e.poll_once(), exporters))
    finally:
        for exporter in exporters:
            exporter.close()
    per_shard: dict[int, list[float]] = {}
    for record in sim.requests:
        project = record.path.split("/")[2]
        per_shard.setdefault(owner[project], []).append(record.at)
    assert sorted(per_shard) == list(range(shards))
    share = total_rate / shards
    for shard, times in per_shard.items():
        times.sort()
        for window in (0.5, 1.0, 2.0):
            assert max_in_window(times, window) <= 1 + share * (window + ARRIVAL_JITTER), (shard, window)
    everything = sorted(t for times in per_shard.values() for t in times)
    assert max_in_window(everything, 1.0) <= burst + total_rate * (1.0 + ARRIVAL_JITTER)
