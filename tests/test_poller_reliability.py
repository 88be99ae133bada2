"""The poll loop under faults: it keeps cycling, cuts hung workers, backs failing targets off, lets
vanished jobs go after their grace; /readyz notices when nothing has succeeded for a while."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import replace

import requests

from exporter.client import CodeArtsClient
from exporter.config import load_config
from exporter.cycleaccount import CycleAccounting, CycleCost
from exporter.joblist import merge_listing
from exporter.poller import Poller, PollerHooks, PollerSettings
from exporter.ratelimit import RateLimits
from exporter.retry import TargetBackoff
from exporter.server import ExporterHTTPServer
from exporter.simulator import Fault, World
from exporter.snapshot import Snapshot, TargetState
from exporter.sources.build.models import BuildJob
from exporter.sources.build.targets import project_target
from exporter.sources.builtin import BUILTIN
from exporter.stats import RequestStats
from exporter.wiring import Exporter

from .conftest import parse_samples, wait_until, write_config
from .fakeclock import FakeClock

PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
OTHER = "a" * 32
REPO, PIPELINE = 2111976239, 6


def exporter_for(tmp_path, sim, *, interval=60.0, clock=None, timeout=None, **targets):
    targets.setdefault("projects", [PROJECT, OTHER])
    targets.setdefault("repositories", {REPO: [PIPELINE]})
    config = write_config(tmp_path / "c.yaml", sim.url, interval=interval, extra="history:\n  enabled: false\n",
                          **targets)
    text = config.read_text()
    if timeout is not None:
        text = text.replace("timeout_seconds: 5", f"timeout_seconds: {timeout}")
    config.write_text(text)
    return Exporter(load_config(config, sources=BUILTIN), **({"clock": clock} if clock else {}))


def world(**options):
    options.setdefault("projects", {PROJECT: 12, OTHER: 5})
    options.setdefault("pipelines", {(REPO, PIPELINE): 9})
    return World(seed=4, **options)


def up(exporter):
    """codearts_up of the job targets (the names target reads other routes, not faulted here)."""
    found = parse_samples(exporter.metrics_text().decode())
    return {dict(labels)["target"]: value for (name, labels), value in found.items()
            if name == "codearts_up" and dict(labels)["api"] != "projectman"}


def test_the_loop_keeps_cycling_after_every_injected_fault(tmp_path, simulator_factory):
    sim = simulator_factory(world())
    exporter = exporter_for(tmp_path, sim, interval=0.1, timeout=0.08)
    # Keep polling through the faults.
    exporter.poller.settings = replace(exporter.poller.settings, backoff=TargetBackoff(0.1, 0.1))
    exporter.poller.start()
    try:
        for fault in Fault:
            sim.set_fault("build_jobs", fault)
            sim.set_fault("repo_jobs", fault)
            generation = exporter.poller.snapshot.generation
            wait_until(lambda g=generation: exporter.poller.snapshot.generation >= g + 2, timeout=10)
            assert exporter.poller._thread.is_alive(), fault
            assert not any(state.up for state in exporter.poller.snapshot.states
                           if state.target.api != "projectman"), fault
        sim.clear_faults()
        wait_until(lambda: exporter.poller.snapshot.all_up(), timeout=10)
    finally:
        exporter.close()
    found = parse_samples(exporter.metrics_text().decode())
    assert found[("codearts_poller_last_cycle_timestamp_seconds", frozenset())] > 0


def feeds(exporter: Exporter) -> dict[str, object]:
    """The sources, request stats and rate limiter a poller reads, as the exporter hands them."""
    return {"sources": exporter.sources, "stats": exporter.stats, "rate_limits": exporter.client.rate_limits}


class Blocking:
    """A client that hangs on one project until released, or dies once with the given exception."""

    def __init__(self, client, *, hang_on=None, die_with=None):
        self.client = client
        self.stats = client.stats
        self.hang_on = hang_on
        self.die_with = die_with
        self.release = threading.Event()

    def __getattr__(self, name):
        return getattr(self.client, name)

    def listing(self, api, url, *rest):
        if api == "build" and url.endswith(f"/{self.hang_on}/jobs") and not self.release.is_set():
            self.release.wait(30)
        if api == "build" and self.die_with is not None:
            error, self.die_with = self.die_with, None
            raise error
        return self.client.listing(api, url, *rest)


def test_a_hung_worker_is_left_behind_and_the_next_cycle_runs_on_fresh_workers(tmp_path, simulator_factory):
    sim = simulator_factory(world())
    exporter = exporter_for(tmp_path, sim)
    client = Blocking(exporter.client, hang_on=OTHER)
    clock = FakeClock(1_750_000_000.0)
    poller = Poller([s.target for s in exporter.poller.snapshot.states], client,
                    PollerSettings(interval=60, concurrency=2, cycle_timeout=0.5), **feeds(exporter), clock=clock)
    try:
        states = {s.target.key: s for s in poller.poll_once().states}
        assert states[OTHER].error == "poll made no progress for 0.5s" and not states[OTHER].up
        assert states[PROJECT].up and states[f"{REPO}/{PIPELINE}"].up
        client.release.set()
        clock.advance(60)
        assert poller.poll_once().all_up()
    finally:
        client.release.set()
        poller.stop()
        exporter.close()


def test_a_worker_killed_by_any_exception_costs_one_poll(tmp_path, simulator_factory):
    sim = simulator_factory(world())
    exporter = exporter_for(tmp_path, sim, projects=[PROJECT], repositories={})
    for error in (SystemExit(3), KeyboardInterrupt(), RuntimeError("bug")):
        client = Blocking(exporter.client, die_with=error)
        clock = FakeClock(1_750_000_000.0)
        poller = Poller([project_target(PROJECT)], client, PollerSettings(interval=60, concurrency=1),
                        **feeds(exporter), clock=clock)
        try:
            (state,) = poller.poll_once().states
            assert not state.up and state.error == f"internal error: {type(error).__name__}"
            clock.advance(60)
            assert poller.poll_once().all_up()
        finally:
            poller.stop()
    exporter.close()


def test_a_persistently_failing_target_backs_off_up_to_the_cap_and_recovers(tmp_path, simulator_factory):
    sim = simulator_factory(world())
    clock = FakeClock(1_750_000_000.0)
    exporter = exporter_for(tmp_path, sim, clock=clock)
    exporter.poller.settings = replace(exporter.poller.settings, backoff=TargetBackoff(60, 240))
    sim.set_fault(f"build:{OTHER}", Fault.NOT_FOUND)
    polled_at = []
    for cycle in range(12):
        before = sim.request_count("build_jobs")
        exporter.poll_once()
        if sim.request_count("build_jobs") - before == 2:
            polled_at.append(cycle)
        clock.advance(60)
    assert polled_at == [0, 1, 3, 7, 11]  # 1, 2, 4, then 4 (the cap) intervals apart
    assert up(exporter) == {PROJECT: 1, OTHER: 0, f"{REPO}/{PIPELINE}": 1}
    sim.set_fault(f"build:{OTHER}", None)
    for _ in range(4):
        exporter.poll_once()
        clock.advance(60)
    assert up(exporter)[OTHER] == 1
    exporter.close()


def test_after_an_outage_of_the_whole_api_every_target_is_back_at_the_next_cycle(tmp_path, simulator_factory):
    sim = simulator_factory(world())
    clock = FakeClock(1_750_000_000.0)
    exporter = exporter_for(tmp_path, sim, clock=clock)
    exporter.poller.settings = replace(exporter.poller.settings, backoff=TargetBackoff(60, 600))
    for route in ("build_jobs", "repo_jobs"):
        sim.set_fault(route, Fault.HTTP_500)  # not retried: one request per target and cycle
    for _ in range(6):  # six intervals of outage: a target backed off would now wait 8 intervals and more
        before = sim.request_count("build_jobs") + sim.request_count("repo_jobs")
        exporter.poll_once()
        assert sim.request_count("build_jobs") + sim.request_count("repo_jobs") - before == 3  # all polled
        clock.advance(60)
    assert set(up(exporter).values()) == {0}
    sim.clear_faults()
    exporter.poll_once()
    assert set(up(exporter).values()) == {1}
    exporter.close()


def statuses(exporter):
    found = parse_samples(exporter.metrics_text().decode())
    return {dict(labels)["job_id"]: dict(labels)["status"] for (name, labels), value in found.items()
            if name == "codearts_build_job_status"}


def test_a_job_that_vanishes_upstream_leaves_metrics_after_the_grace(tmp_path, simulator_factory):
    clock = FakeClock(1_750_000_000.0)
    sim = simulator_factory(world(projects={PROJECT: 12}, clock=clock))
    exporter = exporter_for(tmp_path, sim, clock=clock, projects=[PROJECT], repositories={})
    exporter.poller.settings = replace(exporter.poller.settings, job_grace=100)
    exporter.poll_once()
    everyone = statuses(exporter)
    assert len(everyone) == 12
    sim.world = world(projects={PROJECT: 9}, clock=clock)  # three jobs deleted upstream
    remaining = {job["id"] for job in sim.world.build_jobs(PROJECT)}
    shown = []
    for _ in range(4):
        clock.advance(60)
        exporter.poll_once()
        shown.append(len(statuses(exporter)))
    assert shown == [12, 12, 9, 9]  # missed at +60 and +120 (within 100 s of the first miss), gone at +180
    assert set(statuses(exporter)) == remaining
    exporter.close()


def test_a_listing_that_repeats_a_job_shows_one_status_the_last_one():
    def job(status):
        return BuildJob("j1", "deploy", status, None, None, None, False, False, "", "", "", "", "", "")

    jobs, missing = merge_listing((), (), (job("running"), job("success")), lambda j: j.id, 0.0, 0.0)
    assert [j.status for j in jobs] == ["success"] and missing == ()


def test_readyz_turns_unready_when_no_target_succeeded_for_three_intervals(tmp_path, simulator_factory):
    clock = FakeClock(1_750_000_000.0)
    sim = simulator_factory(world())
    exporter = exporter_for(tmp_path, sim, clock=clock)
    server = ExporterHTTPServer(("127.0.0.1", 0), exporter.exposition, lambda: exporter.poller.snapshot,
                                stale_after=180, clock=clock)
    server.serve_in_background()

    def readyz():
        return requests.get(f"{server.url}/readyz", timeout=5)

    try:
        exporter.poll_once()
        assert readyz().status_code == 200
        sim.set_fault("build_jobs", Fault.NOT_FOUND)  # not retried: no real sleeps in this test
        sim.set_fault("repo_jobs", Fault.NOT_FOUND)
        clock.advance(179)
        exporter.poll_once()
        assert readyz().status_code == 200
        clock.advance(2)
        assert (readyz().status_code, readyz().text) == (503, "no target has succeeded for over 180s\n")
        sim.clear_faults()
        exporter.poller.snapshot = replace(exporter.poller.snapshot, states=tuple(
            replace(s, next_poll_at=None) for s in exporter.poller.snapshot.states))
        exporter.poll_once()
        assert readyz().status_code == 200
    finally:
        server.shutdown()
        server.server_close()
        exporter.close()


def test_a_target_never_up_since_start_makes_readyz_fail_after_three_intervals():
    clock = FakeClock(100.0)
    state = TargetState(project_target(PROJECT), polled=True, up=False)
    server = ExporterHTTPServer(("127.0.0.1", 0), None, lambda: Snapshot(1, 100.0, (state,)),  # type: ignore[arg-type]
                                stale_after=30, clock=clock)
    try:
        assert server.readiness() == (True, "ready")
        clock.advance(31)
        assert server.readiness() == (False, "no target has succeeded for over 30s")
    finally:
        server.server_close()


def test_running_then_success_shows_only_success_on_the_next_scrape(tmp_path, simulator_factory):
    clock = FakeClock(1_750_000_000.0)
    sim = simulator_factory(world(projects={PROJECT: 40}, clock=clock))
    exporter = exporter_for(tmp_path, sim, clock=clock, projects=[PROJECT], repositories={})
    transitions = Counter()
    previous = {}
    for _ in range(25):
        exporter.poll_once()
        found = parse_samples(exporter.metrics_text().decode())
        per_job = Counter(dict(labels)["job_id"] for (name, labels) in found if name == "codearts_build_job_status")
        assert set(per_job.values()) == {1}
        now = statuses(exporter)
        for job_id, status in now.items():
            if previous.get(job_id) == "running" and status != "running":
                transitions[status] += 1
        previous = now
        clock.advance(60)
    assert transitions  # the world moved jobs out of running during the run, and each showed one status


def test_a_cycle_longer_than_the_interval_is_measured_and_logged_once(tmp_path, simulator_factory, caplog):
    sim = simulator_factory(world())
    exporter = exporter_for(tmp_path, sim, projects=[PROJECT, OTHER], repositories={})
    # Four build requests a second, one at a time: the second project's listing waits >= 0.25 s for its token.
    limits = RateLimits.per_second({"build": 4}, 1)
    paced = CodeArtsClient(base_urls={"repo": sim.url, "build": sim.url}, auth=exporter.auth, timeout=5,
                           stats=exporter.stats, rate_limits=limits)
    # From the second cycle on the bucket starts empty and a listing waits 0.5 s: the cycle timeout (by
    # default 5 intervals) must not cut it.
    poller = Poller([project_target(PROJECT), project_target(OTHER)], paced,
                    PollerSettings(interval=0.1, concurrency=2, cycle_timeout=10), stats=exporter.stats,
                    rate_limits=limits, hooks=PollerHooks(on_swap=exporter.exposition.update), sources=exporter.sources)
    try:
        with caplog.at_level(logging.WARNING, logger="exporter.poller"):
            cycles = [poller.poll_once() for _ in range(3)]
    finally:
        poller.stop()
        paced.close()
        exporter.close()
    assert all(cycle.all_up() and cycle.cycle_seconds >= 0.2 for cycle in cycles)
    overruns = [record.getMessage() for record in caplog.records if "longer than poll.interval_seconds" in
                record.getMessage()]
    assert len(overruns) == 1, overruns  # warned when it began, not at every cycle
    assert "waited" in overruns[0] and "raise poll.interval_seconds" in overruns[0]
    samples = parse_samples(exporter.metrics_text().decode())
    assert samples[("codearts_poller_cycle_duration_seconds", frozenset())] == cycles[-1].cycle_seconds


PROJECTS = [f"p{n:031d}" for n in range(1, 9)]


def test_a_cycle_waiting_for_the_rate_budget_stretches_and_keeps_every_target_up(tmp_path, simulator_factory,
                                                                                caplog):
    sim = simulator_factory(world(projects=dict.fromkeys(PROJECTS, 3)))
    exporter = exporter_for(tmp_path, sim, projects=PROJECTS, repositories={})
    # 8 listings a cycle at 8 requests/s, one at a time: a cycle takes ~0.9 s, past the default guard of
    # 5 intervals (0.625 s), while the budget allows one request per 0.125 s interval.
    limits = RateLimits.per_second({"build": 8}, 1)
    paced = CodeArtsClient(base_urls={"repo": sim.url, "build": sim.url}, auth=exporter.auth, timeout=5,
                           stats=exporter.stats, rate_limits=limits)
    poller = Poller([project_target(p) for p in PROJECTS], paced, PollerSettings(interval=0.125, concurrency=2),
                    stats=exporter.stats, rate_limits=limits, hooks=PollerHooks(on_swap=exporter.exposition.update),
                    sources=exporter.sources)
    try:
        with caplog.at_level(logging.WARNING, logger="exporter.poller"):
            cycles = [poller.poll_once() for _ in range(2)]
    finally:
        poller.stop()
        paced.close()
        exporter.close()
    assert all(cycle.all_up() for cycle in cycles), [s.error for c in cycles for s in c.states]
    assert cycles[-1].cycle_seconds > poller.settings.hang_after()  # the cycle stretched past the hung-poll guard
    messages = [record.getMessage() for record in caplog.records]
    assert not any("no progress" in message for message in messages), messages
    assert any("build: 8 requests, poll.rate_limit allows 1" in message for message in messages), messages
    samples = parse_samples(exporter.metrics_text().decode())
    assert samples[("codearts_poller_cycle_requests", frozenset({("api", "build")}))] == 8
    assert samples[("codearts_rate_limit_budget_requests", frozenset({("api", "build")}))] == 1
    assert sum(value for (name, _), value in samples.items() if name == "codearts_up") == len(PROJECTS)


class Recording(Blocking):
    """Records the order in which projects are listed."""

    def __init__(self, client):
        super().__init__(client)
        self.listed: list[str] = []

    def listing(self, api, url, *rest):
        self.listed.append(url.rsplit("/", 2)[-2])
        return self.client.listing(api, url, *rest)


def test_the_stalest_targets_are_polled_first(tmp_path, simulator_factory):
    sim = simulator_factory(world(projects=dict.fromkeys(PROJECTS[:4], 2)))
    exporter = exporter_for(tmp_path, sim, projects=PROJECTS[:4], repositories={})
    client = Recording(exporter.client)
    clock = FakeClock(1_750_000_000.0)
    poller = Poller([project_target(p) for p in PROJECTS[:4]], client, PollerSettings(interval=60, concurrency=1),
                    **feeds(exporter), clock=clock)
    # Polled last at different times: the second project longest ago, the fourth never.
    polled_at = {PROJECTS[0]: 300.0, PROJECTS[1]: 100.0, PROJECTS[2]: 200.0}
    poller.snapshot = replace(poller.snapshot, states=tuple(
        replace(state, last_poll_at=polled_at.get(state.target.key)) for state in poller.snapshot.states))
    try:
        poller.poll_once()
    finally:
        poller.stop()
        exporter.close()
    assert client.listed == [PROJECTS[3], PROJECTS[1], PROJECTS[2], PROJECTS[0]]


def test_a_shortfall_is_reported_when_it_first_shows_even_soon_after_an_overrun_warning(caplog):
    accounting = CycleAccounting(RequestStats(), RateLimits({}), interval=1)
    with caplog.at_level(logging.WARNING, logger="exporter.poller"):
        accounting.report(CycleCost(2.0, 1.5, (("build", 4),), (("build", 5.0),)))  # slow, within the budget
        accounting.report(CycleCost(2.0, 1.5, (("build", 9),), (("build", 5.0),)))  # now short of it
        accounting.report(CycleCost(2.0, 1.5, (("build", 9),), (("build", 5.0),)))  # still: not again for a while
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2 and "if that is most of it" in messages[0]
    assert "build: 9 requests, poll.rate_limit allows 5" in messages[1]
