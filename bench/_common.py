"""Shared by the benchmarks: the simulator in its own process, worlds of a given size, tables, JSON results.

The simulator runs in a child process so that its CPU does not compete with the exporter for one
interpreter lock; the parent asks it for request counts over a pipe, so requests are counted where
they arrive.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from exporter.simulator import Simulator, World

RESULTS = Path(__file__).parent / "results"
SIM_TOKEN = "bench-token"  # noqa: S105 - the simulator's token in a benchmark, not a secret
JOBS_PER_TARGET = 50  # every target fits one page of 100
# The default poll.rate_limit (5 build requests/s) would make a 300-target cycle take a minute: the
# benchmarks measure the exporter, so they lift it (bench/poll.py and the soak pass their own).
UNPACED = "{repo: 1000, build: 1000, burst: 1000}"
# Series per job, measured on World.generated data (status, timestamps, info...) plus per-target rows.
SERIES_PER_JOB = 6.6


@dataclass(frozen=True)
class WorldSize:
    """A generated world: half the targets Build projects, half Repo pipelines (in one repository each)."""

    projects: int
    pipelines: int
    jobs_per_target: int = JOBS_PER_TARGET

    @classmethod
    def for_series(cls, series: int) -> WorldSize:
        """About ``series`` exported series."""
        targets = max(2, round(series / SERIES_PER_JOB / JOBS_PER_TARGET))
        return cls(projects=targets - targets // 2, pipelines=targets // 2)

    @classmethod
    def for_targets(cls, targets: int, jobs_per_target: int = 20) -> WorldSize:
        """Exactly ``targets`` targets."""
        return cls(projects=targets - targets // 2, pipelines=targets // 2, jobs_per_target=jobs_per_target)

    @property
    def targets(self) -> int:
        return self.projects + self.pipelines

    def world(self, frozen_at: float | None) -> World:
        clock = time.time if frozen_at is None else (lambda: frozen_at)
        return World.generated(projects=self.projects, jobs_per_project=self.jobs_per_target,
                               repositories=self.pipelines, pipelines_per_repo=1 if self.pipelines else 0,
                               jobs_per_pipeline=self.jobs_per_target, clock=clock)


def _serve(size: WorldSize, frozen_at: float | None, latency: float, conn: Any) -> None:
    with Simulator(size.world(frozen_at), token=SIM_TOKEN, latency=latency) as sim:
        conn.send(sim.url)
        while True:
            command = conn.recv()
            if command == "count":
                conn.send(sim.request_count())
            elif isinstance(command, tuple) and command[0] == "count":  # ("count", route): one route's
                conn.send(sim.request_count(command[1]))
            elif command == "reset":
                sim.reset_counts()
                conn.send(None)
            else:
                conn.send(None)
                return


class SimulatorProcess:
    """A simulator serving a generated world in a child process."""

    def __init__(self, size: WorldSize, *, frozen_at: float | None = None, latency: float = 0.0) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(size, frozen_at, latency, child), daemon=True)
        self._process.start()
        self.url: str = self._conn.recv()
        self.size = size

    def request_count(self, route: str | None = None) -> int:
        """Requests answered, on one route of the simulator's table (``build_test_report``) or on all."""
        self._conn.send("count" if route is None else ("count", route))
        return self._conn.recv()

    def reset_counts(self) -> None:
        self._conn.send("reset")
        self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._conn.recv()
        self._process.join(10)

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_config(path: Path, url: str, size: WorldSize, *, interval: float, concurrency: int,
                 timeout: float = 10.0, history: bool = False) -> Path:
    """An exporter config naming every target of ``size``'s world.

    Run history is off unless asked for: it adds ~86 series per build job (measured in its own section
    of docs/performance.md), which would make "N series" mean something else.
    """
    world = size.world(0.0)
    lines = ["region: bench", "endpoints:", f"  repo: {url}", f"  build: {url}", "auth:", f"  token: {SIM_TOKEN}",
             "poll:", f"  interval_seconds: {interval}", f"  timeout_seconds: {min(timeout, interval * 0.9)}",
             f"  concurrency: {concurrency}", f"  rate_limit: {UNPACED}",
             "history:", f"  enabled: {'true' if history else 'false'}"]
    if size.pipelines:
        lines.append("repositories:")
        for repo, pipeline in world.pipeline_keys():
            lines += [f"  - id: {repo}", f"    pipelines: [{pipeline}]"]
    if size.projects:
        lines.append("projects:")
        lines += [f"  - id: {project}" for project in world.project_ids()]
    path.write_text("\n".join(lines) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout  # noqa: S607
        model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                      if line.startswith("Model name")), "")
    except OSError:
        pass
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0")
    return {
        "nproc": os.cpu_count(), "cpu_model": model, "memory_gib": round(int(memory) / 1024 / 1024, 1),
        "loadavg": os.getloadavg(), "python": platform.python_version(),
        "prometheus_client": version("prometheus-client"), "requests": version("requests"),
        "urllib3": version("urllib3"),
    }


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """A plain aligned table on stdout."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(row[i]) for row in cells)) for i, column in enumerate(columns)]
    print("  ".join(column.rjust(width) for column, width in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


def save(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the machine) to bench/results/<name>-<UTC time>.json."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps({"machine": machine(), "argv": sys.argv, **payload}, indent=2) + "\n")
    return path
