"""IAM password mode against the simulator's IAM: sharing, renewal before expiry, 401 renewal, backoff."""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
import threading
from collections import Counter
from email.utils import formatdate
from pathlib import Path

import pytest
import requests

from exporter.auth.factory import build_auth
from exporter.auth.iam import BACKOFF_STEPS, backoff_delay
from exporter.config import PasswordAuth, Secret, load_config
from exporter.payload import parse_timestamp
from exporter.ratelimit import RateLimits
from exporter.simulator import IamService, IamUser, Simulator, World
from exporter.sources.builtin import BUILTIN
from exporter.stats import RequestStats
from exporter.wiring import Exporter

from .conftest import parse_samples, run_cli, wait_until
from .fakeclock import FakeClock
from .helpers.iam import DOMAIN, IAM_PROJECT, PASSWORD, USER, password_config

T0 = 1_750_000_000.0
PROJECTS = [f"proj{index:028d}" for index in range(1, 7)]


def iam_service(**options: object) -> IamService:
    return IamService(users=[IamUser(DOMAIN, USER, PASSWORD, IAM_PROJECT)], **options)  # type: ignore[arg-type]


def exporter_for(tmp_path: Path, sim: Simulator, *, password: str = PASSWORD, projects: list[str] | None = None,
                 clock=None, **options: object) -> Exporter:
    config = load_config(password_config(tmp_path / "c.yaml", sim.url, projects=projects or PROJECTS[:1],
                                         **options),  # type: ignore[arg-type]
                         env={"TEST_IAM_PASSWORD": password}, sources=BUILTIN)
    return Exporter(config, clock=clock) if clock else Exporter(config)


def statuses(sim: Simulator, route: str) -> list[int]:
    return [record.status for record in sim.requests if record.route == route]


@pytest.fixture
def world() -> World:
    return World(seed=5, clock=lambda: T0, projects={project: 3 for project in PROJECTS})


def test_a_two_second_token_is_renewed_before_expiry_under_continuous_polling(tmp_path, simulator_factory, world):
    iam = iam_service(token_lifetime=2.0)
    sim = simulator_factory(world, token=None, iam=iam)
    exporter = exporter_for(tmp_path, sim, projects=PROJECTS[:2])
    failed: list[str] = []
    polls = Counter[str]()

    def renewed_twice() -> bool:
        snapshot = exporter.poll_once()
        polls["total"] += 1
        failed.extend(state.error for state in snapshot.states if not state.up)
        return iam.issued >= 3

    try:
        wait_until(renewed_twice, timeout=30, interval=0.05)
    finally:
        exporter.close()
    assert failed == []
    assert polls["total"] >= 20  # polling went on across both renewals
    assert 401 not in statuses(sim, "build_jobs"), "a token was used after its expiry"
    # Each renewal happened while the previous token was still valid (at ~80 % of its 2 s life).
    gaps = [later - earlier for earlier, later in zip(iam.issue_times, iam.issue_times[1:], strict=False)]
    assert len(gaps) >= 2 and all(1.2 < gap < 1.95 for gap in gaps), gaps
    assert statuses(sim, "iam_tokens") == [201] * iam.issued


def test_a_token_revoked_server_side_costs_one_renewal_and_one_retry(tmp_path, simulator_factory, world):
    iam = iam_service()
    sim = simulator_factory(world, token=None, iam=iam)
    now = [T0]
    exporter = exporter_for(tmp_path, sim, clock=lambda: now[0])
    try:
        assert exporter.poll_once().all_up()
        assert iam.issued == 1
        now[0] += 120  # the token is two minutes old when IAM revokes it
        iam.revoke_tokens()
        sim.reset_counts()
        assert exporter.poll_once().all_up()
    finally:
        exporter.close()
    assert statuses(sim, "iam_tokens") == [201]
    assert statuses(sim, "build_jobs") == [401, 200]
    samples = parse_samples(exporter.metrics_text().decode())
    assert samples[("codearts_api_requests_total", frozenset({("api", "build"), ("code", "401")}))] == 1
    assert samples[("codearts_api_requests_total", frozenset({("api", "iam"), ("code", "201")}))] == 2


def test_concurrent_workers_share_one_token_and_one_renewal(tmp_path, simulator_factory, world):
    iam = iam_service()
    sim = simulator_factory(world, token=None, iam=iam)
    now = [T0]
    exporter = exporter_for(tmp_path, sim, clock=lambda: now[0], projects=PROJECTS, concurrency=4)
    try:
        assert exporter.poll_once().all_up()
        assert statuses(sim, "iam_tokens") == [201]  # six targets, four workers, one token
        now[0] += 120
        iam.revoke_tokens()
        sim.reset_counts()
        assert exporter.poll_once().all_up()
    finally:
        exporter.close()
    assert statuses(sim, "iam_tokens") == [201]
    builds = Counter(statuses(sim, "build_jobs"))
    assert builds[200] == len(PROJECTS) and 1 <= builds[401] <= 4 and set(builds) == {200, 401}


def test_a_fresh_token_refused_by_codearts_is_not_renewed_again_and_again(tmp_path, simulator_factory, world):
    iam = iam_service()
    sim = simulator_factory(world, token=None, iam=iam)
    now = [T0]
    exporter = exporter_for(tmp_path, sim, clock=lambda: now[0], projects=PROJECTS, concurrency=2)
    try:
        exporter.poll_once()
        now[0] += 120
        iam.revoke_tokens()
        exporter.poll_once()  # renews once: the new token is fresh
        iam.revoke_tokens()  # ...and refused at once (as CodeArts does when a permission is missing)
        sim.reset_counts()
        snapshot = exporter.poll_once()
    finally:
        exporter.close()
    assert not any(state.up for state in snapshot.states)
    assert statuses(sim, "iam_tokens") == []  # no IAM request per refused target
    assert Counter(statuses(sim, "build_jobs")) == {401: len(PROJECTS)}


def test_a_wrong_password_is_reported_once_per_attempt_and_backs_off(tmp_path, simulator_factory, world, caplog):
    sim = simulator_factory(world, token=None, iam=iam_service())
    now = [T0]
    exporter = exporter_for(tmp_path, sim, password="not-the-password", clock=lambda: now[0],
                            projects=PROJECTS, concurrency=4)
    caplog.set_level(logging.INFO, logger="exporter")
    try:
        snapshot = exporter.poll_once()
        iam_requests = [len(statuses(sim, "iam_tokens"))]
        for step in BACKOFF_STEPS[:3]:
            exporter.poll_once()  # within the step: no request
            now[0] += step - 0.5
            exporter.poll_once()
            iam_requests.append(len(statuses(sim, "iam_tokens")))
            now[0] += 0.5  # the step has passed: exactly one more request
            exporter.poll_once()
            iam_requests.append(len(statuses(sim, "iam_tokens")))
        text = exporter.metrics_text().decode()
    finally:
        exporter.close()
    assert iam_requests == [1, 1, 2, 2, 3, 3, 4]
    assert statuses(sim, "build_jobs") == []  # nothing was sent without a token
    # Whichever worker asked IAM carries its answer; the targets that found the backoff running say so.
    refusal = f"IAM refused the credentials of user {USER} in domain {DOMAIN}: The username or password is wrong."
    errors = sorted(state.error for state in snapshot.states)
    asked = [e for e in errors if e.startswith(refusal + " | HTTP 401 | ")]
    waited = [e for e in errors if e.startswith(f"no IAM token: {refusal} (next attempt in 5s)")]
    assert len(asked) == 1 and len(waited) == len(PROJECTS) - 1
    samples = parse_samples(text)
    assert all(samples[("codearts_up", frozenset({("api", "build"), ("target", p)}))] == 0 for p in PROJECTS)
    assert samples[("codearts_api_requests_total", frozenset({("api", "iam"), ("code", "401")}))] == 4
    assert not any(name == "codearts_api_requests_total" and ("api", "build") in labels for name, labels in samples)
    assert not any(name == "codearts_auth_token_expiry_timestamp_seconds" for name, _ in samples)
    reports = [r for r in caplog.records if r.name == "exporter.auth.iam" and r.levelno == logging.ERROR]
    assert len(reports) == 4 and all("The username or password is wrong." in r.getMessage() for r in reports)


def test_backoff_doubles_up_to_five_minutes_and_honours_retry_after():
    assert [backoff_delay(n) for n in range(1, 10)] == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    assert backoff_delay(1, retry_after=30) == 30


BACKOFF_CEILING = BACKOFF_STEPS[-1]
FAR_FUTURE_DATE = "Fri, 31 Dec 9999 23:59:59 GMT"


def iam_refusals_until(tmp_path: Path, sim: Simulator, now: list[float], waits: list[float]) -> list[int]:
    """Poll at T0, then after each of ``waits`` (seconds, cumulative); the IAM statuses seen so far after each."""
    exporter = exporter_for(tmp_path, sim, clock=lambda: now[0])
    seen = []
    try:
        exporter.poll_once()
        seen.append(len(statuses(sim, "iam_tokens")))
        for wait in waits:
            now[0] += wait
            exporter.poll_once()
            seen.append(len(statuses(sim, "iam_tokens")))
        assert exporter.poller.snapshot.states[0].up
    finally:
        exporter.close()
    return seen


@pytest.mark.parametrize(("status", "retry_after"), [
    (429, "inf"), (503, "Infinity"), (429, "1e400"), (503, "1e12"), (429, "86400"), (503, FAR_FUTURE_DATE),
])
def test_an_iam_retry_after_beyond_the_backoff_ceiling_delays_renewal_by_the_ceiling_only(
        tmp_path, simulator_factory, world, caplog, status, retry_after):
    iam = iam_service()
    iam.refuse(status, retry_after=retry_after)
    sim = simulator_factory(world, token=None, iam=iam)
    caplog.set_level(logging.WARNING, logger="exporter")
    seen = iam_refusals_until(tmp_path, sim, [T0], [BACKOFF_CEILING - 1, 1])
    assert seen == [1, 1, 2]  # nothing before the ceiling, the renewal at it
    assert statuses(sim, "iam_tokens") == [status, 201]
    clamped = [r.getMessage() for r in caplog.records if "Retry-After" in r.getMessage()]
    assert len(clamped) == 1 and f"waiting {BACKOFF_CEILING:g}s" in clamped[0], clamped


def test_an_iam_retry_after_http_date_is_honoured(tmp_path, simulator_factory, world):
    iam = iam_service()
    iam.refuse(429, retry_after=formatdate(T0 + 120, usegmt=True))
    sim = simulator_factory(world, token=None, iam=iam)
    seen = iam_refusals_until(tmp_path, sim, [T0], [BACKOFF_STEPS[0], 119 - BACKOFF_STEPS[0], 1])
    assert seen == [1, 1, 1, 2]  # not after the 5 s first step: at the date IAM named
    assert statuses(sim, "iam_tokens") == [429, 201]


def test_a_rotated_password_file_is_read_at_the_next_attempt(tmp_path, simulator_factory, world):
    secret = tmp_path / "password"
    secret.write_text("old-password\n")
    sim = simulator_factory(world, token=None, iam=iam_service())
    now = [T0]
    exporter = exporter_for(tmp_path, sim, clock=lambda: now[0], password_file=secret)
    try:
        assert not exporter.poll_once().all_up()
        secret.write_text(PASSWORD + "\n")  # rotated, no restart
        now[0] += BACKOFF_STEPS[0]
        assert exporter.poll_once().all_up()
    finally:
        exporter.close()
    assert statuses(sim, "iam_tokens") == [401, 201]


def test_token_expiry_metric_is_iams_expires_at(tmp_path, simulator_factory, world):
    iam = iam_service(clock=lambda: T0, token_lifetime=3600)
    sim = simulator_factory(world, token=None, iam=iam)
    exporter = exporter_for(tmp_path, sim, clock=lambda: T0)
    try:
        assert "codearts_auth_token_expiry_timestamp_seconds" not in exporter.metrics_text().decode()
        exporter.poll_once()
        samples = parse_samples(exporter.metrics_text().decode())
    finally:
        exporter.close()
    assert samples[("codearts_auth_token_expiry_timestamp_seconds", frozenset())] == T0 + 3600


def test_iam_refuses_a_token_for_another_project(tmp_path, simulator_factory, world):
    sim = simulator_factory(world, token=None, iam=IamService(users=[IamUser(DOMAIN, USER, PASSWORD, "f" * 32)]))
    exporter = exporter_for(tmp_path, sim)
    try:
        snapshot = exporter.poll_once()
    finally:
        exporter.close()
    assert not snapshot.all_up() and "HTTP 400" in snapshot.states[0].error


def test_the_simulator_command_serves_iam_and_the_exporter_logs_in_with_a_password(tmp_path):
    env = {**os.environ, "SIM_IAM_PASSWORD": PASSWORD}
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter.simulator", "--iam-user", f"{DOMAIN}:{USER}:{IAM_PROJECT}", "--token", "",
         "--token-lifetime", "600"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "no listening line within 20 s"
        url = process.stdout.readline().split()[-1]
        user = {"name": USER, "password": PASSWORD, "domain": {"name": DOMAIN}}
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                         "scope": {"project": {"id": IAM_PROJECT}}}}
        answer = requests.post(f"{url}/v3/auth/tokens", json=body, timeout=5)
        assert answer.status_code == 201 and answer.headers["X-Subject-Token"]
        token = answer.json()["token"]
        assert parse_timestamp(token["expires_at"]) - parse_timestamp(token["issued_at"]) == pytest.approx(600)
        project = World.demo().project_ids()[0]
        config = password_config(tmp_path / "c.yaml", url, projects=[project])
        result = run_cli("--config.file", str(config), "--once", env={"TEST_IAM_PASSWORD": PASSWORD})
        assert result.returncode == 0, result.stderr
        assert f'codearts_up{{api="build",target="{project}"}} 1.0' in result.stdout
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_the_simulator_command_takes_iam_secrets_from_the_environment_only():
    from exporter.simulator.__main__ import build_iam, build_parser

    args = build_parser().parse_args(["--iam-user", "d:u:p", "--access-key", "AK1:p", "--token-lifetime", "2"])
    iam = build_iam(args, env={"SIM_IAM_PASSWORD": "pw", "SIM_IAM_SK": "sk"})
    assert iam is not None and iam.token_lifetime == 2
    assert iam.users[("d", "u")].password == "pw" and iam.access_keys["AK1"].sk == "sk"
    with pytest.raises(ValueError, match="SIM_IAM_PASSWORD"):
        build_iam(args, env={"SIM_IAM_SK": "sk"})
    assert build_iam(build_parser().parse_args([]), env={}) is None


def test_a_failing_background_renewal_keeps_the_valid_token_in_use_and_backs_off(tmp_path, simulator_factory, world):
    iam = iam_service()
    sim = simulator_factory(world, token=None, iam=iam)
    now = [T0]
    exporter = exporter_for(tmp_path, sim, clock=lambda: now[0])
    earlier_threads = set(threading.enumerate())

    def renewal_ended() -> bool:
        # The simulator records IAM's 401 before the renewal thread reads it and sets the backoff (from the
        # fake clock): the clock may only move once that thread is done.
        return not any(thread.name == "iam-renewal" for thread in set(threading.enumerate()) - earlier_threads)

    try:
        assert exporter.poll_once().all_up()
        iam.users = {(DOMAIN, USER): IamUser(DOMAIN, USER, "changed-elsewhere", IAM_PROJECT)}
        now[0] += 0.85 * 24 * 3600  # past 80 % of the token's life: due for renewal, still valid
        assert exporter.poll_once().all_up()  # the renewal runs in the background
        wait_until(lambda: statuses(sim, "iam_tokens") == [201, 401] and renewal_ended())
        for _ in range(3):
            assert exporter.poll_once().all_up()  # within the backoff step: the old token, no IAM call
        assert statuses(sim, "iam_tokens") == [201, 401]
        now[0] += BACKOFF_STEPS[0]
        assert exporter.poll_once().all_up()
        wait_until(lambda: statuses(sim, "iam_tokens") == [201, 401, 401])
    finally:
        exporter.close()
    assert 401 not in statuses(sim, "build_jobs")


def test_token_requests_take_from_the_iam_bucket(simulator_factory, world):
    iam = iam_service(token_lifetime=2.0)
    sim = simulator_factory(world, token=None, iam=iam)
    bucket_clock = FakeClock()
    limits = RateLimits.per_second({"iam": 0.2}, 1, clock=bucket_clock, sleep=bucket_clock.sleep)
    stats = RequestStats()
    settings = PasswordAuth(DOMAIN, USER, Secret(PASSWORD), None, IAM_PROJECT, None)
    auth = build_auth(settings, iam_url=sim.url, timeout=5, stats=stats, rate_limits=limits)
    request = requests.Request("GET", f"{sim.url}/v3/x/jobs").prepare()

    def renewed() -> bool:
        auth(request)
        return iam.issued >= 2

    try:
        wait_until(renewed, timeout=10, interval=0.05)
    finally:
        auth.close()
    # The first token took the bucket's only token; the renewal waited for the next one, 1/0.2 s later.
    assert bucket_clock.sleeps == [pytest.approx(5.0)]
    assert stats.rate_limit_waits() == {"iam": pytest.approx(5.0)}


def test_the_token_expiry_leaves_metrics_once_the_token_is_refused_and_not_renewed(tmp_path, simulator_factory,
                                                                                    world):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    iam = iam_service(clock=lambda: T0, token_lifetime=3600)
    sim = simulator_factory(world, token=None, iam=iam)
    now = [T0]
    exporter = exporter_for(tmp_path, sim, clock=lambda: now[0], password_file=secret)
    try:
        exporter.poll_once()
        assert "codearts_auth_token_expiry_timestamp_seconds" in exporter.metrics_text().decode()
        secret.write_text("no-longer-the-password\n")
        now[0] += 120
        iam.revoke_tokens()  # CodeArts refuses the token, and IAM the renewal
        snapshot = exporter.poll_once()
        text = exporter.metrics_text().decode()
    finally:
        exporter.close()
    assert not snapshot.all_up() and statuses(sim, "iam_tokens") == [201, 401]
    assert "codearts_auth_token_expiry_timestamp_seconds" not in text
