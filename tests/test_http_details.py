"""HTTP details a client relies on: HEAD on every endpoint, and self counters present from the first scrape."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest
import requests

from exporter.config import load_config
from exporter.server import ExporterHTTPServer
from exporter.simulator import World
from exporter.sources.builtin import BUILTIN
from exporter.stats import RETRY_REASONS
from exporter.wiring import Exporter

from .conftest import parse_samples, scrape, wait_until, write_config

PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
PATHS = ("/metrics", "/healthz", "/readyz", "/", "/nope")


@pytest.fixture
def served(tmp_path, simulator_factory):
    sim = simulator_factory(World(seed=5, projects={PROJECT: 4}, pipelines={(2111976239, 6): 3}))
    config = write_config(tmp_path / "c.yaml", sim.url, repositories={2111976239: [6]}, projects=[PROJECT],
                          interval=3600)
    exporter = Exporter(load_config(config, sources=BUILTIN))
    server = exporter.serve(("127.0.0.1", 0))
    wait_until(lambda: requests.get(f"{server.url}/readyz", timeout=5).status_code == 200)
    yield server.url
    exporter.close()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_head_answers_like_get_without_a_body(served, path, encoding):
    connection = http.client.HTTPConnection(urlsplit(served).netloc, timeout=10)
    try:
        headers = {"Accept-Encoding": encoding}
        connection.request("GET", path, headers=headers)
        get = connection.getresponse()
        get_body = get.read()
        connection.request("HEAD", path, headers=headers)
        head = connection.getresponse()
        assert head.read() == b""
        assert head.status == get.status != 501
        assert head.getheader("Content-Type") == get.getheader("Content-Type")
        assert head.getheader("Content-Encoding") == get.getheader("Content-Encoding")
        if path != "/metrics":  # the counters of /metrics move between the two requests
            assert int(head.getheader("Content-Length")) == len(get_body)
        # Had HEAD sent a body, this response on the same keep-alive connection would start with it.
        connection.request("GET", "/healthz")
        after = connection.getresponse()
        assert (after.status, after.read()) == (200, b"ok\n")
    finally:
        connection.close()


def test_retry_throttle_and_skip_counters_are_zero_before_the_first_poll(tmp_path, simulator_factory):
    sim = simulator_factory(World(seed=1, projects={PROJECT: 3}))
    exporter = Exporter(load_config(write_config(tmp_path / "c.yaml", sim.url, projects=[PROJECT]), sources=BUILTIN))
    server = ExporterHTTPServer(("127.0.0.1", 0), exporter.exposition, lambda: exporter.poller.snapshot)
    server.serve_in_background()  # the poller is not started: nothing has happened yet
    try:
        found = parse_samples(scrape(server.url).text)
    finally:
        server.shutdown()
        server.server_close()
        exporter.close()
    assert sim.request_count() == 0

    def sample(name: str, **labels: str) -> float | None:
        return found.get((name, frozenset(labels.items())))

    skip_reasons = [("repo", "malformed"), ("build", "malformed"), ("build_history", "malformed"),
                    ("build_history", "not_listed"), ("build_history", "unknown_status")]
    assert len(RETRY_REASONS) == 5
    for api in ("repo", "build"):
        assert sample("codearts_api_throttled_total", api=api) == 0
        for reason in RETRY_REASONS:
            assert sample("codearts_api_retries_total", api=api, reason=reason) == 0
    for api, reason in skip_reasons:
        assert sample("codearts_records_skipped_total", api=api, reason=reason) == 0
