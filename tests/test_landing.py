"""The landing page: per-target poll times and errors, failing jobs, discovery, version and configuration."""

from __future__ import annotations

import html
import re
import time
from dataclasses import replace

import pytest
import requests

from exporter import __version__
from exporter.config import load_config
from exporter.demo import start_demo
from exporter.landing import LandingInfo, next_poll, render_landing
from exporter.simulator import Fault, World
from exporter.snapshot import DiscoveryStatus, DiscoveryView, Snapshot, TargetState
from exporter.sources.build.models import BuildJob
from exporter.sources.build.targets import project_target
from exporter.sources.builtin import BUILTIN
from exporter.sources.repo.models import PipelineJob
from exporter.sources.repo.targets import pipeline_target
from exporter.wiring import Exporter

from .conftest import SIM_TOKEN, wait_until, write_config

PROJECT, BROKEN = "6ecbc5bac7c8442fb3d2563d53c13582", "a" * 32
REPO, PIPELINE = 2111976239, 6
NOW = 1_750_000_000.0


@pytest.fixture
def served(tmp_path, simulator_factory):
    """An exporter with a healthy build project, a broken one, a pipeline and a missing pipeline."""
    # A frozen World: seed 13 has failing build jobs and two failing pipeline jobs at this time.
    world = World(seed=13, clock=lambda: NOW, projects={PROJECT: 40, BROKEN: 5}, pipelines={(REPO, PIPELINE): 12})
    sim = simulator_factory(world)
    sim.set_fault("build:" + BROKEN, Fault.TRUNCATED_JSON)
    config = write_config(tmp_path / "c.yaml", sim.url, repositories={REPO: [PIPELINE, 999]},
                          projects=[PROJECT, BROKEN], interval=3600)
    exporter = Exporter(load_config(config, sources=BUILTIN))
    server = exporter.serve(("127.0.0.1", 0))
    wait_until(lambda: requests.get(f"{server.url}/readyz", timeout=5).status_code == 200)
    yield sim, server.url, exporter
    exporter.close()


def cells(page: str, key: str) -> list[str]:
    """The cells of the targets table's row for ``key``, tags stripped."""
    row = re.search(rf"<tr[^>]*><td>[a-z]+</td><td><code>{re.escape(key)}</code></td>(.*?)</tr>", page, re.S)
    assert row, f"no row for {key}"
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))]


def test_each_target_shows_when_it_was_polled_when_it_is_polled_next_and_its_full_error(served):
    sim, url, exporter = served
    page = requests.get(f"{url}/", timeout=5).text
    snapshot = exporter.poller.snapshot
    assert len(snapshot.states) == 5, "2 pipelines, 2 build projects and the configured repository's name"
    names = {name.id: name.name for state in snapshot.states if state.target.api == "projectman"
             for name in state.records}
    assert names == {str(REPO): sim.world.repository(REPO)[1]}
    for state in snapshot.states:
        name, last, due, success, jobs, result = cells(page, state.target.key)
        assert name == (names[str(REPO)] if state.target.api == "repo" else "—")
        polled = time.strftime("%H:%M:%S UTC", time.gmtime(state.last_poll_at))
        assert last.startswith(polled) and last.endswith(" ago)")
        assert due.startswith(time.strftime("%H:%M:%S UTC", time.gmtime(next_poll(state, 3600, None))))
        assert "(in " in due
        if state.up:
            # when the poll succeeded, which can be the second after it started
            assert result == "ok" and success.startswith(time.strftime("%H:%M:%S UTC",
                                                                       time.gmtime(state.last_success_at)))
        else:
            assert state.error and result == f"failed: {state.error}", "the error in full"
    errors = {state.target.key: state.error for state in snapshot.states if not state.up}
    assert set(errors) == {BROKEN, f"{REPO}/999"}
    assert SIM_TOKEN not in page


def test_failing_jobs_are_listed_with_their_codearts_links(served):
    _, url, exporter = served
    page = requests.get(f"{url}/", timeout=5).text
    failing = page.split("<h2>Failing now</h2>", 1)[1].split("<h2>", 1)[0]
    states = exporter.poller.snapshot.states
    builds = [job for state in states if state.target.api == "build" for job in state.records
              if job.status in ("failed", "timedout") and not job.disabled]
    pipeline_jobs = {(job.stage, job.name): job for state in states if state.target.api == "repo"
                     for job in sorted(state.records, key=lambda job: job.id)}
    failed_pipeline = [job for job in pipeline_jobs.values() if job.status in ("failed", "timedout")]
    assert len(builds) == 4 and len(failed_pipeline) == 2, "what the seeded world holds"
    assert f"<p>{len(builds) + len(failed_pipeline)} jobs whose latest run failed or timed out" in failing
    for job in builds:
        assert f"job id {job.id}" in failing
    repository = exporter.poller.snapshot.states[-1].records[0].name  # the names target, polled last
    assert failing.count(f"{repository}: repository {REPO}, pipeline {PIPELINE}") == len(failed_pipeline)
    for job in failed_pipeline:
        assert job.target_url.startswith("https://")
        link = f'<a href="{html.escape(job.target_url)}" rel="noreferrer noopener">{html.escape(job.name)}</a>'
        assert link in failing


def test_version_configuration_and_no_discovery(served):
    _, url, _ = served
    page = requests.get(f"{url}/", timeout=5).text
    assert f"<h1>CodeArts exporter {__version__}</h1>" in page
    settings = page.split("<h2>Configuration</h2>", 1)[1]
    assert "<th>Polling</th><td>every 3600 s, timeout 5 s, 4 requests in flight" in settings
    assert "<th>Configured targets</th><td>2 pipelines in 1 repository, 2 build projects</td>" in settings
    assert "<th>Authentication</th><td>token (a ready IAM token; it is not renewed)</td>" in settings
    assert "Discovery is not configured" in page


def test_page_views_never_call_codearts_and_head_sends_no_body(served):
    sim, url, _ = served
    sim.reset_counts()
    for _ in range(20):
        assert "Failing now" in requests.get(f"{url}/", timeout=5).text
    head = requests.head(f"{url}/", timeout=5)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["Content-Length"]) > 1000
    assert sim.request_count() == 0


def hostile_snapshot() -> Snapshot:
    evil = '<script>alert("x")</script>'
    pipeline = TargetState(
        pipeline_target(REPO, PIPELINE), polled=True, up=True, last_poll_at=NOW - 30, last_success_at=NOW - 30,
        data_at=NOW - 30,
        records=(PipelineJob(1, evil, "st<age", "failed", "main", "abc", None, NOW - 100, NOW - 90, None,
                                   target_url='javascript:alert("x")'),
                       PipelineJob(2, "ok-job", "build", "timedout", "main", "abc", None, NOW - 80, NOW - 70, None,
                                   target_url='https://codearts.example/job?a=1&b="2"')))
    build = TargetState(
        project_target(PROJECT), polled=True, up=False, last_poll_at=NOW - 10, poll_duration=0.2,
        error=f"HTTP 500 CB.00060101: {evil}", failures=3, next_poll_at=NOW + 230, data_at=NOW - 600,
        records=(BuildJob("j1", evil, "failed", 40, NOW - 900, 60, False, False, "main", "codehub", "", "branch",
                             "1", "7"),
                    BuildJob("j2", "off", "failed", 0, NOW - 900, 60, False, True, "main", "codehub", "", "branch",
                             "1", "7")))
    return Snapshot(5, NOW - 30, (pipeline, build, TargetState(project_target("b" * 32))))


def test_everything_from_upstream_is_escaped_and_only_http_urls_become_links():
    info = LandingInfo("1.2.3", 60.0, (("Region", "<b>x</b>"),), token_expiry=NOW + 3600, sources=BUILTIN)
    status = DiscoveryStatus("repository", "<i>", False, None, 0)
    snapshot = replace(hostile_snapshot(), discovery=DiscoveryView((status,)))
    page = render_landing(snapshot, info, NOW)
    assert "<script>" not in page and "<b>x</b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "javascript:" not in page
    assert '<a href="https://codearts.example/job?a=1&amp;b=&quot;2&quot;" rel="noreferrer noopener">ok-job</a>' in page
    # the failing target: its error in full, its failures in a row and its backoff
    name, last, due, success, jobs, result = cells(page, PROJECT)
    assert result == 'failed (3 polls in a row): HTTP 500 CB.00060101: <script>alert("x")</script>'
    assert due.endswith("(in 3 min)") and success == "—" and jobs == "2"
    assert cells(page, "b" * 32)[-1] == "waiting for the first poll"
    # a disabled job is not "failing now", as the alerts ignore it
    assert "3 jobs whose latest run failed or timed out" in page and "job id j2" not in page
    assert "failing (keeps what it found before)" in page
    assert "<th>IAM token expires</th>" in page and "(in 60 min)" in page


def test_discovery_sources_show_what_they_found():
    statuses = (DiscoveryStatus("project", PROJECT, True, NOW - 5, 3),
                DiscoveryStatus("repository", str(REPO), True, NOW - 5, 2, ("41", "42")))
    snapshot = Snapshot(1, NOW, (TargetState(pipeline_target(REPO, 41), polled=True, up=True, last_poll_at=NOW),
                                 TargetState(pipeline_target(REPO, 42), polled=True, up=True, last_poll_at=NOW)),
                        discovery=DiscoveryView(statuses))
    info = LandingInfo("1.2.3", 60.0, sources=BUILTIN)
    discovery = render_landing(snapshot, info, NOW).split("<h2>Discovery</h2>", 1)[1].split("<h2>", 1)[0]
    assert f"<td><code>{PROJECT}</code></td><td>ok</td>" in discovery and "3 repositories matched" in discovery
    assert "2 pipelines watched: 41, 42" in discovery


def test_with_every_target_down_what_is_failing_is_unknown_not_nothing():
    info = LandingInfo("1.2.3", 60.0, sources=BUILTIN)
    down = TargetState(project_target(PROJECT), polled=True, up=False, last_poll_at=NOW - 10, error="HTTP 503",
                       failures=2)
    page = render_landing(Snapshot(4, NOW - 10, (down, replace(down, target=pipeline_target(REPO, PIPELINE)))),
                          info, NOW)
    failing = page.split("<h2>Failing now</h2>", 1)[1].split("<h2>", 1)[0]
    assert "No job is failing" not in page
    assert "Unknown: the last poll of every target failed" in failing
    assert "jobs failing: <b>unknown</b>" in page and "<b>0</b> of 2 targets up" in page
    # stale failing jobs stay listed, marked as such
    hostile = hostile_snapshot()
    stale = replace(hostile, states=tuple(replace(state, up=False, polled=True) for state in hostile.states))
    failing = render_landing(stale, info, NOW).split("<h2>Failing now</h2>", 1)[1].split("<h2>", 1)[0]
    assert "Unknown: the last poll of every target failed" in failing and "from older polls" in failing
    assert "3 jobs whose latest run failed" in failing
    # before the first poll: unknown yet; with one target up, the usual sentence
    fresh = render_landing(Snapshot(0, None, (TargetState(project_target(PROJECT)),)), info, NOW)
    assert "Unknown yet: no target has been polled." in fresh and "No job is failing" not in fresh
    one_up = Snapshot(4, NOW, (down, TargetState(project_target("b" * 32), polled=True, up=True, last_poll_at=NOW)))
    page = render_landing(one_up, info, NOW)
    assert "No job is failing or timed out right now." in page and "<b>0</b> jobs failing" in page
    assert "<b>1</b> of 2 targets up" in page


def test_the_demo_links_every_repo_job_to_its_codearts_page():
    simulator, config = start_demo(BUILTIN)
    exporter = Exporter(config)
    try:
        snapshot = exporter.poll_once()
    finally:
        exporter.close()
        simulator.stop()
    repo_jobs = [(state.target.key, job) for state in snapshot.states if state.target.api == "repo"
                 for job in state.records]
    assert {key.split("/")[0] for key, _ in repo_jobs} == {"2111976239", "2111976240"}, "configured and discovered"
    assert all(job.target_url.startswith("https://") and "/pipeline/detail/" in job.target_url
               for _, job in repo_jobs)
