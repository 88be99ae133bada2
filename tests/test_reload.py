"""Configuration reload against a running exporter process and the simulator, over real HTTP.

``python -m exporter --web.enable-lifecycle`` polls the simulator; the configuration file is rewritten and
reloaded (POST /-/reload, SIGHUP). The simulator's clock is held still around a reload, so a run counter
that moves across it would be a run counted twice.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import requests

from exporter.config import ConfigError, load_config
from exporter.simulator import World
from exporter.sources.builtin import BUILTIN
from exporter.statelock import StateLock, StateLockError

from .conftest import SIM_TOKEN, UNPACED, wait_until
from .helpers.process import ExporterProcess

T0 = 1_790_000_000.0
P1, P2, P3 = "6ecbc5bac7c8442fb3d2563d53c13582", "72271b5446614062a01b8be944c9f372", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
REPOSITORY = 2111976239
RUNS = ("codearts_build_runs_total", "codearts_repo_pipeline_job_runs_total")


def config_text(url: str, pipelines: list[int], projects: list[str], interval: float = 0.3,
                state: Path | None = None) -> str:
    return "\n".join([
        *([f"state: {{path: {state}}}"] if state is not None else []),
        "region: test", "endpoints:", f"  repo: {url}", f"  build: {url}", "auth:", f"  token: {SIM_TOKEN}",
        "poll:", f"  interval_seconds: {interval}", f"  timeout_seconds: {interval / 2}", f"  rate_limit: {UNPACED}",
        "repositories:", f"  - id: {REPOSITORY}", f"    pipelines: {pipelines}",
        "projects:", *(f"  - id: {project}" for project in projects),
    ]) + "\n"


def labels_of(samples: dict, name: str) -> dict[frozenset, float]:
    return {labels: value for (sample, labels), value in samples.items() if sample == name}


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def targets(samples: dict) -> set[str]:
    """The CI targets up or down (the names target, polled once per discovery interval, aside)."""
    return {dict(labels)["target"] for labels in labels_of(samples, "codearts_up")
            if dict(labels)["api"] != "projectman"}


def runs(samples: dict) -> dict[tuple[str, frozenset], float]:
    return {key: count for key, count in samples.items() if key[0] in RUNS}


def next_cycles(process: ExporterProcess, count: int = 2) -> dict:
    """Samples scraped after ``count`` more poll cycles finished (each published before the next starts)."""
    start = value(process.scrape(), "codearts_poller_last_cycle_timestamp_seconds") or 0.0
    seen = [start]

    def moved() -> bool:
        now = value(process.scrape(), "codearts_poller_last_cycle_timestamp_seconds") or 0.0
        if now != seen[-1]:
            seen.append(now)
        return len(seen) > count

    wait_until(moved, timeout=20)
    return process.scrape()


def start(tmp_path: Path, simulator_factory, *flags: str):
    now = [T0]
    world = World(seed=7, clock=lambda: now[0], projects={P1: 3, P2: 3, P3: 2},
                  pipelines={(REPOSITORY, 6): 2, (REPOSITORY, 7): 2})
    sim = simulator_factory(world)
    config = tmp_path / "config.yaml"
    config.write_text(config_text(sim.url, [6, 7], [P1, P2], state=tmp_path / "state.json"))
    process = ExporterProcess(tmp_path, "exporter", "--config.file", str(config), *flags)
    process.wait_ready()
    return now, sim, config, process


def test_a_reload_adds_and_removes_targets_and_keeps_the_counts_of_the_others(tmp_path, simulator_factory):
    now, sim, config, process = start(tmp_path, simulator_factory, "--web.enable-lifecycle")
    try:
        now[0] += 6 * 3600  # runs finish: counted over the next cycles
        before = next_cycles(process, 3)
        counted = runs(before)
        assert sum(counted.values()) > 0, "the simulator's runs were counted before the reload"
        requests_before = value(before, "codearts_api_requests_total", api="build", code="200")
        loaded_at = value(before, "codearts_config_last_reload_success_timestamp_seconds")
        assert value(before, "codearts_config_last_reload_successful") == 1

        config.write_text(config_text(sim.url, [6], [P1, P3], state=tmp_path / "state.json"))  # 7 and P2 out, P3 in
        answer = requests.post(f"{process.url}/-/reload", timeout=30)
        assert answer.status_code == 200, answer.text
        after = next_cycles(process, 2)

        assert targets(after) == {f"{REPOSITORY}/6", P1, P3}
        assert value(after, "codearts_up", api="build", target=P3) == 1
        kept = {key: count for key, count in counted.items()
                if dict(key[1]).get("project_id") == P1 or dict(key[1]).get("pipeline_id") == "6"}
        assert kept, "the kept targets had counters"
        # Nothing ran meanwhile: the kept targets' counters neither moved nor vanished, the removed ones' left,
        # and P3's start at zero from its first sight.
        assert {key: count for key, count in runs(after).items() if dict(key[1]).get("project_id") != P3} == kept
        assert all(count == 0 for key, count in runs(after).items() if dict(key[1]).get("project_id") == P3)
        for name, labels in after:
            shown = dict(labels)
            assert P2 not in shown.values() and shown.get("pipeline_id") != "7", f"{name} of a removed target"
        assert value(after, "codearts_api_requests_total", api="build", code="200") > requests_before
        assert value(after, "codearts_config_last_reload_successful") == 1
        assert value(after, "codearts_config_last_reload_success_timestamp_seconds") > loaded_at

        now[0] += 6 * 3600  # counting goes on after the reload, for the added target too
        later = next_cycles(process, 3)
        assert sum(runs(later).values()) > sum(runs(after).values())
        saved = json.loads((tmp_path / "state.json").read_text())  # the same state file, by the new exporter
        counted = {key[0] for key, _ in saved["build_runs"]}  # rows of (project, job id, job, status)
        assert P1 in counted and P3 in counted and P2 not in counted
        with pytest.raises(StateLockError):  # the reload handed the lock over, and nothing released it
            StateLock(tmp_path / "state.json")
    finally:
        process.stop()


def test_an_invalid_configuration_is_refused_with_the_startup_error_and_the_old_one_keeps_running(
        tmp_path, simulator_factory):
    _, sim, config, process = start(tmp_path, simulator_factory, "--web.enable-lifecycle")
    try:
        good = next_cycles(process)
        config.write_text(config_text(sim.url, [6], [P1]).replace("interval_seconds: 0.3", "interval_seconds: -1"))
        with pytest.raises(ConfigError) as refused:  # what the start (and --check-config) prints after the name
            load_config(config, sources=BUILTIN)
        startup_error = str(refused.value)
        answer = requests.post(f"{process.url}/-/reload", timeout=30)
        assert answer.status_code == 500
        assert answer.text == f"failed to reload config: {startup_error}\n"
        assert "\n" not in startup_error and "poll.interval_seconds" in startup_error
        after = next_cycles(process)
        assert targets(after) == targets(good) == {f"{REPOSITORY}/6", f"{REPOSITORY}/7", P1, P2}
        assert all(up == 1 for up in labels_of(after, "codearts_up").values())
        assert value(after, "codearts_config_last_reload_successful") == 0
        assert value(after, "codearts_config_last_reload_success_timestamp_seconds") == \
            value(good, "codearts_config_last_reload_success_timestamp_seconds")
        assert startup_error in process.log.read_text()

        empty = tmp_path / "token"
        empty.write_text("")  # valid as a configuration, refused when the credentials are read
        config.write_text(config_text(sim.url, [6], [P1], state=tmp_path / "state.json")
                          .replace(f"  token: {SIM_TOKEN}", f"  token_file: {empty}"))
        answer = requests.post(f"{process.url}/-/reload", timeout=30)
        assert answer.status_code == 500 and f"token_file {empty} is empty" in answer.text
        assert targets(next_cycles(process)) == targets(good)
        with pytest.raises(StateLockError):  # the refused exporter shared the running one's lock: still held
            StateLock(tmp_path / "state.json")
    finally:
        process.stop()


def test_sighup_reloads_and_the_reload_endpoint_needs_the_lifecycle_flag(tmp_path, simulator_factory):
    _, sim, config, process = start(tmp_path, simulator_factory)
    try:
        assert requests.post(f"{process.url}/-/reload", timeout=10).status_code == 403
        assert requests.get(f"{process.url}/-/reload", timeout=10).status_code == 404
        config.write_text(config_text(sim.url, [6, 7], [P1, P2, P3]))
        process.process.send_signal(signal.SIGHUP)
        wait_until(lambda: P3 in targets(process.scrape()), timeout=20)
        assert process.process.poll() is None
        assert value(process.scrape(), "codearts_config_last_reload_successful") == 1
    finally:
        process.stop()
