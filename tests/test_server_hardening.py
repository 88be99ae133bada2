"""The HTTP server against hostile clients: idle and slow connections, descriptor exhaustion, encodings."""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from exporter.config import load_config
from exporter.limits import LISTEN_BACKLOG, ServerTimeouts
from exporter.server import ExporterHTTPServer, accepts_gzip
from exporter.simulator import World
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import wait_until, write_config

PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
IDLE = 1.0
HEADER = 0.5


@pytest.fixture
def served(tmp_path, simulator_factory):
    """An exporter that polled the simulator once, served with short timeouts."""
    sim = simulator_factory(World(seed=3, clock=lambda: 1_750_000_000.0, projects={PROJECT: 20}))
    exporter = Exporter(load_config(write_config(tmp_path / "c.yaml", sim.url, projects=[PROJECT]), sources=BUILTIN))
    exporter.poll_once()
    server = ExporterHTTPServer(("127.0.0.1", 0), exporter.exposition, lambda: exporter.poller.snapshot,
                                timeouts=ServerTimeouts(idle=IDLE, header=HEADER, write=5.0))
    server.serve_in_background()
    yield server
    server.shutdown()
    server.server_close()
    exporter.close()


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except BlockingIOError:
        return False


def test_defaults_close_idle_connections_within_30s_and_slow_headers_sooner():
    defaults = ServerTimeouts()
    assert defaults.idle <= 30 and defaults.header < defaults.idle
    assert ExporterHTTPServer.request_queue_size == LISTEN_BACKLOG >= 128


def test_500_idle_connections_are_closed_at_the_idle_timeout_and_a_scrape_meanwhile_is_fast(served):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    idle = [socket.create_connection(served.server_address[:2]) for _ in range(500)]
    opened = time.monotonic()
    try:
        with requests.Session() as session:
            session.get(f"{served.url}/healthz", timeout=5)  # the scrape's connection is made
            took = []
            for _ in range(5):
                started = time.monotonic()
                assert session.get(f"{served.url}/metrics", timeout=5).status_code == 200
                took.append(time.monotonic() - started)
        assert min(took) < 0.1, took
        for sock in idle:
            sock.setblocking(False)
        selector = selectors.DefaultSelector()
        for sock in idle:
            selector.register(sock, selectors.EVENT_READ)
        open_ = set(idle)

        def all_closed() -> bool:
            for key, _ in selector.select(timeout=0.05):
                if closed_by_server(key.fileobj):
                    selector.unregister(key.fileobj)
                    open_.discard(key.fileobj)
            return not open_

        wait_until(all_closed, timeout=IDLE + 5)
        assert time.monotonic() - opened < IDLE + 3  # closed at the idle timeout, give or take the 500 accepts
    finally:
        for sock in idle:
            sock.close()


def test_headers_dripped_a_byte_at_a_time_are_cut_at_the_header_timeout(served):
    with socket.create_connection(served.server_address[:2]) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        sock.settimeout(0.1)
        answer = b""
        for _ in range(100):  # one header byte every 0.1 s: each read far inside the idle timeout
            try:
                sock.sendall(b"X")
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                break
            answer += chunk
            if not chunk:
                break
        took = time.monotonic() - started
    assert answer == b""  # no response to a request whose headers never ended
    assert HEADER - 0.1 < took < HEADER + 1.0, took


def test_gzip_only_when_acceptable_and_the_answer_varies_by_encoding(served):
    refused = requests.get(f"{served.url}/metrics", headers={"Accept-Encoding": "gzip;q=0, identity"}, timeout=5)
    assert "Content-Encoding" not in refused.headers and refused.headers["Vary"] == "Accept-Encoding"
    assert refused.text.startswith("#")
    with requests.get(f"{served.url}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5, stream=True) as zipped:
        assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["Vary"] == "Accept-Encoding"
        assert gzip.decompress(zipped.raw.read(decode_content=False)).decode() == refused.text


@pytest.mark.parametrize(("header", "gzipped"), [
    (None, False), ("", False), ("gzip", True), ("GZIP", True), ("deflate, gzip;q=0.5", True),
    ("gzip;q=0", False), ("gzip; q=0.0", False), ("*", True), ("*;q=0", False), ("identity", False),
    ("x-gzip", True), ("gzip;q=zero", False), ("*, gzip;q=0", False),
])
def test_accept_encoding_is_read_with_its_q_values(header, gzipped):
    assert accepts_gzip(header) is gzipped


def test_running_out_of_descriptors_is_logged_without_spinning_and_serving_recovers(tmp_path):
    path = write_config(tmp_path / "c.yaml", "http://127.0.0.1:9", projects=[PROJECT])
    log = tmp_path / "exporter.log"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))

    with log.open("w") as err:
        process = subprocess.Popen([sys.executable, "-m", "exporter", "--config.file", str(path), "--log.level",
                                    "debug", "--web.listen-address", "127.0.0.1:0"], stderr=err,
                                   stdout=subprocess.DEVNULL, preexec_fn=limit)
    clients: list[socket.socket] = []
    try:
        wait_until(lambda: "serving metrics on" in log.read_text(), timeout=30)
        url = re.search(r"serving metrics on (http://\S+)/metrics", log.read_text()).group(1)
        host, port = url.removeprefix("http://").split(":")
        for _ in range(60):
            clients.append(socket.create_connection((host, int(port))))
        wait_until(lambda: "cannot accept connections: Too many open files" in log.read_text(), timeout=10)
        cpu_before = process_cpu(process.pid)
        started = time.monotonic()
        time.sleep(1.0)  # measuring CPU use over a span of time: there is no condition to poll
        busy = (process_cpu(process.pid) - cpu_before) / (time.monotonic() - started)
        assert busy < 0.3, busy  # it was ~100 % spinning in accept
        for sock in clients:
            sock.close()
        clients.clear()
        wait_until(lambda: requests.get(f"{url}/healthz", timeout=2).status_code == 200, timeout=20)
        wait_until(lambda: "accepting connections again" in log.read_text(), timeout=10)
        # The debug access log escapes what a client puts in its request line.
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"GET /\x1b[2Jx HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 404")
        wait_until(lambda: "\\x1b[2Jx" in log.read_text(), timeout=10)
    finally:
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    text = log.read_text()
    assert "\x1b" not in text and "Traceback" not in text
    assert text.count("cannot accept connections") == 1  # once, not once per attempt


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
