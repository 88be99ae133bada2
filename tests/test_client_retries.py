"""The client against simulator faults over real HTTP: what is retried, what is not, what is counted."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import requests

from exporter import client as client_module
from exporter.auth.base import StaticTokenAuth
from exporter.client import CodeArtsClient
from exporter.errors import AuthError, NotFoundError, PayloadError, ServerError, ThrottledError, TransportError
from exporter.retry import RetryPolicy, retry_reason
from exporter.simulator import Fault, World
from exporter.sources.build.fetch import list_build_jobs
from exporter.sources.builtin import BUILTIN
from exporter.sources.repo.fetch import list_pipeline_jobs

from .conftest import SIM_TOKEN, nonzero

PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
REPO, PIPELINE = 2111976239, 6
QUICK = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, deadline=5.0)


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(World(seed=2, clock=lambda: 1_750_000_000.0, projects={PROJECT: 30},
                                   pipelines={(REPO, PIPELINE): 10}))


@pytest.fixture
def client(sim):
    client = CodeArtsClient(base_urls={"repo": sim.url, "build": sim.url}, auth=StaticTokenAuth(SIM_TOKEN), timeout=2.0,
                            retry=QUICK, error_codes=BUILTIN.error_codes())
    yield client
    client.close()


@pytest.mark.parametrize(("fault", "reason"), [
    (Fault.THROTTLED, "throttled"),
    (Fault.BUILD_THROTTLED, "throttled"),
    (Fault.HTTP_502, "http_502"),
    (Fault.HTTP_503, "http_503"),
    (Fault.HTTP_504, "http_504"),
    (Fault.RESET, "transport"),
])
def test_a_transient_failure_is_retried_and_the_listing_completes(sim, client, fault, reason):
    sim.set_fault("build_jobs", fault, times=2)
    listing = list_build_jobs(client, PROJECT)
    assert len(listing.records) == 30
    assert sim.request_count("build_jobs") == 3
    assert nonzero(client.stats.retries()) == {("build", reason): 2}
    assert nonzero(client.stats.throttled()) == ({"build": 2} if reason == "throttled" else {})


def test_build_throttling_is_an_http_500_with_its_code_and_other_500s_are_not_retried(sim, client):
    sim.set_fault("build_jobs", Fault.HTTP_500)
    with pytest.raises(ServerError) as caught:
        list_build_jobs(client, PROJECT)
    assert caught.value.error_code == "CB.00060101"
    assert sim.request_count("build_jobs") == 1 and nonzero(client.stats.retries()) == {}


@pytest.mark.parametrize(("fault", "error"), [
    (Fault.NOT_FOUND, NotFoundError),
    (Fault.TOKEN_EXPIRED, AuthError),
    (Fault.WRONG_CONTENT_TYPE, PayloadError),
    (Fault.TRUNCATED_JSON, PayloadError),
])
def test_permanent_failures_are_sent_once(sim, client, fault, error):
    sim.set_fault("repo_jobs", fault)
    with pytest.raises(error):
        list_pipeline_jobs(client, REPO, PIPELINE)
    assert sim.request_count("repo_jobs") == 1 and nonzero(client.stats.retries()) == {}


def test_retry_after_is_honoured(sim, client):
    sim.set_fault("repo_jobs", Fault.THROTTLED_RETRY_AFTER, delay=0.4, times=1)
    assert len(list_pipeline_jobs(client, REPO, PIPELINE).records) == 10
    first, second = sim.requests[:2]
    assert second.at - first.at >= 0.4


def test_an_infinite_retry_after_gives_the_request_up_at_once_instead_of_waiting(sim, client):
    sim.set_fault("repo_jobs", Fault.THROTTLED_RETRY_AFTER, delay=float("inf"), times=1)  # "Retry-After: inf"
    started = time.monotonic()
    with pytest.raises(ThrottledError) as caught:
        list_pipeline_jobs(client, REPO, PIPELINE)
    assert caught.value.retry_after == QUICK.deadline  # the longest wait a retry could have had
    assert sim.request_count("repo_jobs") == 1 and time.monotonic() - started < QUICK.deadline


def test_a_throttle_that_never_ends_gives_up_after_the_bounded_attempts(sim, client):
    sim.set_fault("build_jobs", Fault.BUILD_THROTTLED)
    with pytest.raises(ThrottledError) as caught:
        list_build_jobs(client, PROJECT)
    assert caught.value.error_code == "CB.00060211" and caught.value.status == 500
    assert sim.request_count("build_jobs") == QUICK.max_attempts
    assert client.stats.requests() == {("build", "500"): QUICK.max_attempts}


def test_a_body_that_trickles_in_is_cut_at_the_timeout(sim):
    client = CodeArtsClient(base_urls={"repo": sim.url, "build": sim.url}, auth=StaticTokenAuth(SIM_TOKEN), timeout=0.5,
                            retry=RetryPolicy(max_attempts=1))
    sim.set_fault("build_jobs", Fault.SLOW_DRIP, delay=0.1)  # ~15 KB at 640 B/s: far longer than 0.5 s
    started = time.monotonic()
    try:
        with pytest.raises(TransportError, match="no complete answer from the server within 0.5s"):
            list_build_jobs(client, PROJECT)
    finally:
        client.close()
    assert time.monotonic() - started < 2.0


def test_a_request_slower_than_the_timeout_fails_as_transport_and_is_retried(sim):
    client = CodeArtsClient(base_urls={"repo": sim.url, "build": sim.url}, auth=StaticTokenAuth(SIM_TOKEN), timeout=0.2,
                            retry=QUICK)
    sim.set_fault("build_jobs", Fault.LATENCY, delay=0.5, times=1)
    try:
        assert len(list_build_jobs(client, PROJECT).records) == 30
    finally:
        client.close()
    assert nonzero(client.stats.retries()) == {("build", "transport"): 1}
    assert client.stats.requests()[("build", "error")] == 1


@pytest.mark.parametrize(("status", "code", "kind"), [
    (401, "CB.00060211", "AuthError"), (403, "CB.00060211", "AuthError"), (404, "CB.00060211", "NotFoundError"),
    (500, "CB.00060211", "ThrottledError"), (400, "CB.00060211", "ThrottledError"), (429, "", "ThrottledError"),
    (500, "CB.00060101", "ServerError"), (400, "", "ClientError"),
])
def test_an_error_is_classed_by_its_status_before_builds_throttle_code(status, code, kind):
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps({"error_code": code, "error_msg": "busy"}).encode()
    error = client_module._error_for(response, "https://cloudbuild.example/v3/p/jobs", BUILTIN.error_codes()["build"])
    assert type(error).__name__ == kind


@pytest.mark.parametrize(("api", "code", "reason"), [
    ("pipeline", "DEVCP.00010000", "http_500"), ("build", "DEVCP.00010000", None), ("pipeline", "DEVCP.00010001", None),
    ("build", "CB.00060211", "throttled"), ("pipeline", "CB.00060211", None), ("repo", "", None),
])
def test_what_an_error_code_means_comes_from_its_source(api, code, reason):
    response = requests.Response()
    response.status_code = 500
    response._content = json.dumps({"error_code": code, "error_msg": "x"}).encode()
    codes = BUILTIN.error_codes().get(api, client_module.NO_CODES)
    assert retry_reason(client_module._error_for(response, "https://codearts.example/x", codes)) == reason


def test_no_core_module_names_a_codearts_error_code():
    root = Path(__file__).resolve().parent.parent / "exporter"
    core = [path for path in root.rglob("*.py") if not {"sources", "simulator"} & set(path.relative_to(root).parts)]
    found = [f"{path.relative_to(root)}: {match}" for path in core
             for match in re.findall(r"\b[A-Z]{2,10}\.\d{4,8}\b", path.read_text(encoding="utf-8"))]
    assert not found, "error codes belong to their source (Source.throttle_codes, retryable_codes)"
