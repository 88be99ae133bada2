"""The simulator's ``latency`` option: every answer waits, answers to concurrent requests wait together."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from exporter.simulator import Simulator, World

from .conftest import SIM_TOKEN

T0 = 1_750_000_000.0


def timed_get(url: str) -> float:
    started = time.monotonic()
    response = requests.get(url, headers={"X-Auth-Token": SIM_TOKEN}, timeout=10)
    assert response.status_code == 200
    return time.monotonic() - started


def test_every_answer_waits_and_concurrent_answers_wait_in_parallel(simulator_factory):
    latency = 0.3
    sim = simulator_factory(World.demo(clock=lambda: T0), latency=latency)
    url = f"{sim.url}/v3/6ecbc5bac7c8442fb3d2563d53c13582/jobs?page_index=0&page_size=10"
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        elapsed = list(pool.map(timed_get, [url] * 8))
    total = time.monotonic() - started
    assert min(elapsed) >= latency
    assert total < 8 * latency * 0.75  # serialised answers would take 2.4 s
    assert sim.request_count("build_jobs") == 8


def test_a_negative_latency_is_refused():
    with pytest.raises(ValueError, match="latency"):
        Simulator(World.demo(), latency=-0.1)
