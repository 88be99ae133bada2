"""Shared fixtures: a simulator on a free loopback port, config files pointing at it, scraping."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import HistoryConfig
from exporter.simulator import Simulator, World
from exporter.sources.base import PollSettings
from exporter.sources.build.config import BuildSection
from exporter.sources.builtin import BUILTIN
from exporter.sources.repo.config import RepoSection
from exporter.sourcetable import SourceTable
from exporter.wiring import run_history

K = TypeVar("K")

SIM_TOKEN = "sim-token-5e3c1f"  # a distinctive value, so tests can grep logs for it
UNPACED = "{repo: 1000, build: 1000, pipeline: 1000, deploy: 1000}"  # tests about the rate limit pass their own


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def nonzero(counts: dict[K, int]) -> dict[K, int]:
    """The counts that moved (RequestStats starts its known label values at zero)."""
    return {key: count for key, count in counts.items() if count}


def parse_samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition, keyed by (name, labels); fails on a duplicate series."""
    found: dict[tuple[str, frozenset], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in found, f"duplicate series {key}"
            found[key] = sample.value
    return found


def write_config(path: Path, url: str, *, repositories: dict[int, list[int]] | None = None,
                 projects: list[str] | None = None, interval: float = 60, token: str = SIM_TOKEN,
                 extra: str = "", rate_limit: str = UNPACED, pipeline_projects: list[str] | None = None,
                 deploy_projects: list[str] | None = None) -> Path:
    """A config file against a simulator at ``url``; its rate limit does not pace tests that are not about it."""
    lines = [
        "region: test",
        "endpoints:",
        f"  repo: {url}",
        f"  build: {url}",
        *([f"  pipeline: {url}"] if pipeline_projects else []),
        *([f"  deploy: {url}"] if deploy_projects else []),
        "auth:",
        f"  token: {token}",
        "poll:",
        f"  interval_seconds: {interval}",
        "  timeout_seconds: 5",
        "  concurrency: 4",
        f"  rate_limit: {rate_limit}",
    ]
    if repositories:
        lines.append("repositories:")
        for repo, pipelines in repositories.items():
            lines += [f"  - id: {repo}", f"    pipelines: {list(pipelines)}"]
    if projects:
        lines.append("projects:")
        lines += [f"  - id: {project}" for project in projects]
    if pipeline_projects:
        lines.append("pipeline_projects:")
        lines += [f"  - id: {project}" for project in pipeline_projects]
    if deploy_projects:
        lines.append("deploy_projects:")
        lines += [f"  - id: {project}" for project in deploy_projects]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


class ClockedRig:
    """An exporter on a fake clock (``now[0]``) against a simulated world: what the source tests drive."""

    now: list[float]
    config: object

    def start_exporter(self, config: object) -> None:
        from exporter.wiring import Exporter

        self.config = config
        self.exporter = Exporter(config, clock=lambda: self.now[0])  # type: ignore[arg-type]

    def poll(self):  # type: ignore[no-untyped-def]
        return self.exporter.poll_once()

    def samples(self) -> dict[tuple[str, frozenset], float]:
        return parse_samples(self.exporter.metrics_text().decode())

    def close(self) -> None:
        self.exporter.close()


@pytest.fixture
def closing() -> Iterator[Callable[[K], K]]:
    """Hand rigs (anything with ``close()``) to this; each is closed at the end of the test."""
    held: list = []

    def keep(rig: K) -> K:
        held.append(rig)
        return rig

    yield keep
    for rig in held:
        rig.close()  # type: ignore[attr-defined]


@pytest.fixture
def simulator_factory() -> Iterator[Callable[..., Simulator]]:
    """Start simulators on free loopback ports; all are stopped at the end of the test."""
    started: list[Simulator] = []

    def start(world: World, **options: object) -> Simulator:
        options.setdefault("token", SIM_TOKEN)
        sim = Simulator(world, **options)
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def run_cli(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m exporter`` with arguments, capturing output."""
    return subprocess.run([sys.executable, "-m", "exporter", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False)


def scrape(url: str, **headers: str) -> requests.Response:
    """GET /metrics."""
    return requests.get(f"{url}/metrics", headers=headers, timeout=10)


def make_history(client, options=None, *, requests_per_cycle=None, monotonic=time.monotonic, sections=None,
                 config=None):
    """A run history of the built-in sources, as the exporter builds it (``requests_per_cycle``: the Build
    part's budget, None for no limit); ``config``: take the history options and Build's section from it."""
    if config is not None:
        options, sections = config.history, {"repo": RepoSection(), "build": config.section("build")}
    sections = sections if sections is not None else {"repo": RepoSection(), "build": BuildSection()}
    options = options or HistoryConfig()
    if client is None:  # no rate to derive the budget from: one is set below
        options = dataclasses.replace(options, max_requests_per_cycle=options.max_requests_per_cycle or 1)
    sources = SourceTable(source for source in BUILTIN if source.name in sections)
    history = run_history(sources, client, options, sections, PollSettings(60.0, 4),
                          monotonic)
    build = history.part("build")
    if build is not None:
        build.requests_per_cycle = requests_per_cycle
    return history
