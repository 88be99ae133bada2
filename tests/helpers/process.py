"""`python -m exporter` in a child process on a free port, shared by the sharding, TLS, shutdown and image tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import requests

from ..conftest import parse_samples, wait_until


class ExporterProcess:
    """``python -m exporter`` serving on a free loopback port; its URL read from its log."""

    def __init__(self, tmp_path: Path, name: str, *args: str) -> None:
        self.log = tmp_path / f"{name}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "exporter", "--web.listen-address", "127.0.0.1:0", *args],
                stdout=subprocess.DEVNULL, stderr=log)
        self.url = ""

    def wait_ready(self) -> None:
        def found_url() -> bool:
            assert self.process.poll() is None, self.log.read_text()
            match = re.search(r"serving metrics on (http://\S+)/metrics", self.log.read_text())
            self.url = match.group(1) if match else ""
            return bool(match)

        wait_until(found_url, timeout=30)
        wait_until(lambda: requests.get(f"{self.url}/readyz", timeout=5).status_code == 200, timeout=30)
        # /readyz reads the poller's snapshot a moment before /metrics is re-rendered from it.
        wait_until(lambda: all_polled(self.scrape()), timeout=10)

    def scrape(self) -> dict[tuple[str, frozenset], float]:
        return parse_samples(requests.get(f"{self.url}/metrics", timeout=10).text)


    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def all_polled(samples: dict) -> bool:
    targets = {labels for name, labels in samples if name == "codearts_up"}
    return targets == {labels for name, labels in samples if name == "codearts_poll_duration_seconds"}
