"""Signals: SIGTERM ends the process within 10 s whatever upstream does; SIGHUP and SIGUSR1 are ignored."""

from __future__ import annotations

import re
import signal
import time

import requests

from .conftest import wait_until, write_config
from .helpers.process import ExporterProcess
from .hostile import HostileServer, response

PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"


def test_sigterm_exits_within_10s_while_a_poll_worker_is_stuck_and_sighup_does_not_kill(tmp_path):
    def drip(server, conn, request):
        server.drip(conn, response(200, {"total": 0, "jobs": []}), every=0.5)  # ~50 s for the whole answer

    with HostileServer(drip) as hostile:
        path = write_config(tmp_path / "c.yaml", hostile.url, projects=[PROJECT], interval=120)
        path.write_text(path.read_text().replace("timeout_seconds: 5", "timeout_seconds: 30"))
        exporter = ExporterProcess(tmp_path, "stuck", "--config.file", str(path))
        process = exporter.process
        try:
            wait_until(lambda: re.search(r"serving metrics on (http://\S+)/metrics", exporter.log.read_text())
                       is not None, timeout=30)
            url = re.search(r"serving metrics on (http://\S+)/metrics", exporter.log.read_text()).group(1)
            wait_until(lambda: len(hostile.requests) == 1)  # a poll worker is now inside the dripped answer

            process.send_signal(signal.SIGUSR1)
            wait_until(lambda: "received SIGUSR1: ignored" in exporter.log.read_text())
            process.send_signal(signal.SIGHUP)  # a reload: the new configuration's first poll is stuck too
            wait_until(lambda: "configuration reloaded" in exporter.log.read_text())
            wait_until(lambda: len(hostile.requests) == 2)
            assert process.poll() is None
            assert requests.get(f"{url}/healthz", timeout=5).status_code == 200

            sent = len(hostile.requests)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=20)
            took = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    log = exporter.log.read_text()
    assert code == 0, log
    assert took < 10.0, (took, log)
    assert len(hostile.requests) == sent  # nothing was polled after SIGTERM
    assert "exiting without waiting for 2 busy threads (poll_0, poll_0)" in log
    assert "Traceback" not in log
