"""Every simulator fault mode, seen over real HTTP from an ordinary client."""

from __future__ import annotations

import time

import pytest
import requests

from exporter.simulator import Fault, World

from .conftest import SIM_TOKEN

PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
REPO, PIPELINE = 2111976239, 6


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(World(seed=2, clock=lambda: 1_750_000_000.0, projects={PROJECT: 30},
                                   pipelines={(REPO, PIPELINE): 10}))


def get(sim, path="/v3/" + PROJECT + "/jobs?page_index=0&page_size=100", **options):
    return requests.get(sim.url + path, headers={"X-Auth-Token": SIM_TOKEN}, timeout=10, **options)


@pytest.mark.parametrize(("fault", "status", "code"), [
    (Fault.THROTTLED, 429, "APIGW.0308"),
    (Fault.BUILD_THROTTLED, 500, "CB.00060211"),
    (Fault.HTTP_502, 502, "APIGW.0202"),
    (Fault.HTTP_503, 503, "APIGW.0203"),
    (Fault.HTTP_504, 504, "CH.080504"),
    (Fault.TOKEN_EXPIRED, 401, "APIGW.0301"),
])
def test_error_faults_answer_with_their_status_and_code(sim, fault, status, code):
    sim.set_fault("build_jobs", fault)
    response = get(sim)
    assert (response.status_code, response.json()["error_code"]) == (status, code)
    assert "Retry-After" not in response.headers


def test_repo_is_throttled_with_429_even_in_build_throttle_mode(sim):
    sim.set_fault("repo_jobs", Fault.BUILD_THROTTLED)
    assert get(sim, f"/v4/repositories/{REPO}/pipelines/{PIPELINE}/jobs").status_code == 429


def test_throttled_with_retry_after_says_when(sim):
    sim.set_fault(f"build:{PROJECT}", Fault.THROTTLED_RETRY_AFTER, delay=3)
    response = get(sim)
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"


def test_reset_gives_the_client_a_connection_error(sim):
    sim.set_fault("build_jobs", Fault.RESET)
    with pytest.raises(requests.ConnectionError):
        get(sim)
    sim.set_fault("build_jobs", None)
    assert get(sim).status_code == 200  # the server survives


def test_wrong_content_type_is_a_200_html_page(sim):
    sim.set_fault("build_jobs", Fault.WRONG_CONTENT_TYPE)
    response = get(sim)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")


def test_latency_delays_the_normal_answer(sim):
    sim.set_fault("build_jobs", Fault.LATENCY, delay=0.3)
    started = time.monotonic()
    response = get(sim)
    assert time.monotonic() - started >= 0.3
    assert len(response.json()["jobs"]) == 30


def test_slow_drip_sends_the_whole_body_in_slow_pieces(sim):
    normal = get(sim).content
    sim.set_fault("build_jobs", Fault.SLOW_DRIP, delay=0.002)
    started = time.monotonic()
    assert get(sim).content == normal
    assert time.monotonic() - started >= 0.002 * (len(normal) // 64)


def test_a_fault_can_hit_a_share_of_requests_or_a_number_of_them(sim):
    sim.set_fault("build_jobs", Fault.HTTP_503, rate=0.3)
    statuses = [get(sim).status_code for _ in range(200)]
    assert 30 <= statuses.count(503) <= 90 and statuses.count(503) + statuses.count(200) == 200
    sim.set_fault("build_jobs", Fault.HTTP_503, times=2)
    assert [get(sim).status_code for _ in range(4)] == [503, 503, 200, 200]


def test_a_target_fault_beats_the_route_fault_and_clear_faults_removes_all(sim):
    sim.set_fault("build_jobs", Fault.HTTP_503)
    sim.set_fault(f"build:{PROJECT}", Fault.HTTP_502)
    assert get(sim).status_code == 502
    sim.clear_faults()
    assert get(sim).status_code == 200


def test_fault_rate_must_be_a_share(sim):
    with pytest.raises(ValueError, match="rate must be within 0..1"):
        sim.set_fault("build_jobs", Fault.HTTP_503, rate=1.5)
