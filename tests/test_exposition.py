"""The cached exposition: byte-compatible with prometheus_client, reuses unchanged targets, safe under swaps."""

from __future__ import annotations

import gzip
import socket
import threading
from dataclasses import replace

import pytest
import requests
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics import exposition as om
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from exporter import exposition as exposition_module
from exporter import server as server_module
from exporter.exposition import OPENMETRICS, TEXT, Exposition
from exporter.server import ExporterHTTPServer
from exporter.snapshot import Snapshot
from exporter.sources.build.targets import project_target
from exporter.sources.builtin import BUILTIN
from exporter.sources.repo import render as repo_render
from exporter.stats import RequestStats
from exporter.webconfig import load_web_config

from .conftest import parse_samples, wait_until
from .helpers.reference import live_families, snapshot_families, with_series
from .helpers.snapshots import T0, awkward_snapshot, make_snapshot
from .helpers.tls import write_web_config


class _Families:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


def test_bodies_equal_prometheus_client_rendering_byte_for_byte():
    stats = RequestStats()
    stats.count_request("repo", "200")
    stats.count_skipped("build", "malformed", 2)
    snapshot = awkward_snapshot()
    exposition = Exposition(BUILTIN, stats, "1.2.3")
    exposition.update(snapshot)
    families = with_series(snapshot_families(snapshot, "1.2.3", BUILTIN), BUILTIN)
    live = live_families(stats, BUILTIN)
    # The snapshot part comes first, then the live counters rendered per scrape.
    expected_text = generate_latest(_Families(families)) + generate_latest(_Families(live))
    expected_om = om.generate_latest(_Families(families)).removesuffix(b"# EOF\n") + om.generate_latest(
        _Families(live))
    assert exposition.body(TEXT, False) == expected_text
    assert exposition.body(OPENMETRICS, False) == expected_om
    assert gzip.decompress(exposition.body(OPENMETRICS, True)) == expected_om
    assert len(list(parse_openmetrics(expected_om.decode()))) == len(families) + len(live)


def test_a_target_whose_records_did_not_change_is_not_rendered_again(monkeypatch):
    rendered: list[str] = []
    real = exposition_module.add_target_data
    monkeypatch.setattr(exposition_module, "add_target_data",
                        lambda sink, sources, state: (rendered.append(state.target.key), real(sink, sources, state)))
    durations_only: list[str] = []
    real_durations = repo_render.render_durations
    monkeypatch.setattr(repo_render, "render_durations",
                        lambda sink, state: (durations_only.append(state.target.key), real_durations(sink, state)))
    first = make_snapshot()
    exposition = Exposition(BUILTIN, RequestStats(), "1.2.3")
    exposition.update(first)
    pipeline, project, failing, service, deploy, plans, names = first.states
    # Next poll: same records (the poller reuses them), new poll times, and the project's jobs changed.
    changed_jobs = (*project.records[:2], replace(project.records[2], name="renamed"))
    second = Snapshot(4, T0 + 61, (
        replace(pipeline, last_success_at=T0 + 60, data_at=T0 + 60),
        replace(project, last_success_at=T0 + 60, data_at=T0 + 60, records=changed_jobs),
        failing,
        replace(service, last_success_at=T0 + 60, data_at=T0 + 60),
        replace(deploy, last_success_at=T0 + 60, data_at=T0 + 60),
        replace(plans, last_success_at=T0 + 60, data_at=T0 + 60),  # re-rendered as moving: plans age by date
        names,
    ))
    rendered.clear()
    exposition.update(second)
    assert rendered == ["6ecbc5bac7c8442fb3d2563d53c13582"]
    # The pipeline has a running job, whose duration runs to the poll time: its durations are rendered again.
    assert durations_only == ["2111976239/6"]
    fresh = Exposition(BUILTIN, RequestStats(), "1.2.3")
    fresh.update(second)
    assert exposition.body(TEXT, False) == fresh.body(TEXT, False)
    assert parse_samples(exposition.body(TEXT, False).decode())[(
        "codearts_repo_pipeline_job_duration_seconds",
        frozenset(dict(repository_id="2111976239", pipeline_id="6", stage="test", job="unit").items()),
    )] == 100  # started at T0 - 40, polled at T0 + 60
    assert parse_samples(exposition.body(TEXT, False).decode())[(
        "codearts_pipeline_last_run_duration_seconds",
        frozenset(dict(project_id=project.target.key, pipeline_id="d" * 32, pipeline="nightly").items()),
    )] == 160  # a paused run: started at T0 - 100, polled at T0 + 60
    assert parse_samples(exposition.body(TEXT, False).decode())[(
        "codearts_deploy_app_last_duration_seconds",
        frozenset(dict(project_id=project.target.key, app_id="b" * 32, app="payments").items()),
    )] == 110  # a deployment still running: started at T0 - 50, polled at T0 + 60


def test_identical_finished_records_reuse_lines_and_serve_identical_job_metrics(monkeypatch):
    rendered: list[str] = []
    real = exposition_module.add_target_data
    monkeypatch.setattr(exposition_module, "add_target_data",
                        lambda sink, sources, state: (rendered.append(state.target.key), real(sink, sources, state)))
    project = make_snapshot().states[1]
    exposition = Exposition(BUILTIN, RequestStats(), "1.2.3")
    exposition.update(Snapshot(1, T0, (project,)))
    before = parse_samples(exposition.body(TEXT, False).decode())
    rendered.clear()
    equal_copy = tuple(replace(job) for job in project.records)  # equal records, not the same objects
    exposition.update(Snapshot(2, T0 + 60, (replace(project, data_at=T0 + 60, last_success_at=T0 + 60,
                                                    records=equal_copy),)))
    after = parse_samples(exposition.body(TEXT, False).decode())
    assert rendered == []
    jobs_only = {key: v for key, v in before.items() if key[0].startswith("codearts_build_job")}
    assert jobs_only and all(after[key] == v for key, v in jobs_only.items())
    target = frozenset(dict(api="build", target=project.target.key).items())
    assert after[("codearts_last_success_timestamp_seconds", target)] == T0 + 60


def test_a_vanished_target_vanishes_from_the_body():
    exposition = Exposition(BUILTIN, RequestStats(), "1.2.3")
    snapshot = make_snapshot()
    exposition.update(snapshot)
    exposition.update(Snapshot(5, T0, snapshot.states[:1]))
    assert b"6ecbc5bac7c8442fb3d2563d53c13582" not in exposition.body(TEXT, False)


def _count_series(body: bytes, fmt: str) -> int:
    text = body.decode()
    if fmt == OPENMETRICS:
        return sum(len(family.samples) for family in parse_openmetrics(text))
    return len(parse_samples(text))


def test_concurrent_scrapes_during_swaps_all_get_complete_valid_bodies():
    small, big = make_snapshot(), awkward_snapshot()
    exposition = Exposition(BUILTIN, RequestStats(), "1.2.3")
    sizes = {}
    for snapshot in (small, big):
        exposition.update(snapshot)
        sizes[snapshot.generation] = _count_series(exposition.body(TEXT, False), TEXT)
    server = ExporterHTTPServer(("127.0.0.1", 0), exposition, lambda: big)
    server.serve_in_background()
    stop = threading.Event()
    swaps = [0]

    def swap_forever():
        while not stop.is_set():
            exposition.update(small if swaps[0] % 2 else big)
            swaps[0] += 1

    failures: list[str] = []
    seen: list[int] = []

    def scrape_many(accept: str, encoding: str):
        fmt = OPENMETRICS if "openmetrics" in accept else TEXT
        with requests.Session() as session:
            for _ in range(40):
                response = session.get(f"{server.url}/metrics", timeout=10,
                                       headers={"Accept": accept, "Accept-Encoding": encoding})
                try:
                    seen.append(_count_series(response.content, fmt))
                except Exception as err:  # noqa: BLE001 - any parse failure is the finding
                    failures.append(f"{accept} {encoding}: {err!r}")

    swapper = threading.Thread(target=swap_forever)
    swapper.start()
    scrapers = [threading.Thread(target=scrape_many, args=args) for args in (
        ("text/plain", "identity"), ("text/plain", "gzip"),
        ("application/openmetrics-text;version=1.0.0", "identity"),
        ("application/openmetrics-text;version=1.0.0", "gzip"),
    )]
    try:
        wait_until(lambda: swaps[0] >= 2)
        for thread in scrapers:
            thread.start()
        for thread in scrapers:
            thread.join(60)
    finally:
        stop.set()
        swapper.join(10)
        server.shutdown()
        server.server_close()
    assert failures == []
    assert len(seen) == 160
    assert set(seen) <= set(sizes.values())  # every body is one whole snapshot, never a mix
    assert swaps[0] > 2


def many_targets_snapshot(count: int) -> Snapshot:
    """``count`` build projects of three jobs each."""
    project = make_snapshot().states[1]
    states = tuple(replace(project, target=project_target(f"{index:032x}")) for index in range(count))
    return Snapshot(9, T0, states)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_large_body_arrives_whole_over_plain_http_and_tls(tmp_path, tls):
    exposition = Exposition(BUILTIN, RequestStats(), "1.2.3")
    exposition.update(many_targets_snapshot(400))
    assert len(exposition.body(TEXT, False)) > 4 * server_module.TLS_WRITE_BYTES // 10
    web = load_web_config(write_web_config(tmp_path)) if tls else None
    server = ExporterHTTPServer(("127.0.0.1", 0), exposition, make_snapshot, web)
    server.serve_in_background()
    try:
        with requests.Session() as session:
            verify = str(tmp_path / "server.crt") if tls else True
            for accept in ("text/plain", "application/openmetrics-text;version=1.0.0"):
                fmt = OPENMETRICS if "openmetrics" in accept else TEXT
                response = session.get(f"{server.url}/metrics", headers={"Accept": accept}, timeout=30, verify=verify)
                assert response.content == exposition.body(fmt, False)
                assert _count_series(response.content, fmt) > 400 * 3 * 7
    finally:
        server.shutdown()
        server.server_close()


def test_send_buffers_sends_more_than_iov_max_buffers_in_order_through_partial_sends():
    buffers = tuple(f"{index:06d}".encode() * (1 + index % 50) for index in range(3 * server_module.IOV_MAX + 7))
    expected = b"".join(buffers)
    left, right = socket.socketpair()
    left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # the kernel takes a little per call
    received = bytearray()

    def read_all():
        while len(received) < len(expected):
            received.extend(right.recv(65536))

    reader = threading.Thread(target=read_all)
    reader.start()
    try:
        server_module.send_buffers(left, buffers)
        reader.join(30)
    finally:
        left.close()
        right.close()
    assert bytes(received) == expected


def test_a_family_whose_chunks_did_not_change_is_not_joined_again():
    exposition = Exposition(BUILTIN, RequestStats(), "1.2.3")
    snapshot = make_snapshot()
    exposition.update(snapshot)
    before = dict(exposition._published.families)
    exposition.update(Snapshot(4, T0 + 60, snapshot.states))  # same records: every target keeps its lines
    after = dict(exposition._published.families)
    status = [spec for spec in before if spec.name == "codearts_build_job_status"][0]
    assert after[status] is before[status]
