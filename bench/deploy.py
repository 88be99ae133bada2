"""CodeArts Deploy at scale: 5,000 applications in one project, what a poll cycle costs and whether it fits.

    .venv/bin/python bench/deploy.py                    # 5,000 applications, unpaced, then one paced cycle
    .venv/bin/python bench/deploy.py --apps 2000 --no-paced

The simulator (a child process, as in the other benches) serves one project of ``--apps`` applications that
deploy every 4 to 20 hours (``period_scale`` 120: twice a day on average, about 7 deployments a minute over the
project; the tests' world deploys every few minutes), on a clock the bench moves. The exporter runs in this
process with run history on and the budget the default rate gives (``history.max_requests_per_cycle`` = a
quarter of 1/s over 60 s = 15).

Measured: the cold first poll; a steady poll (nothing deployed: must cost exactly ceil(apps/100) list
requests); a minute later, a poll with the deployments of that minute (list + details of changed
applications of several tasks + history within the budget), then 30 such minutes to show the history
backlog stays bounded; and, unless ``--no-paced``, the second cycle of a fresh exporter paced at the default
``poll.rate_limit.deploy`` of 1/s (burst 5): R requests must take no longer than the bucket's (R - 5) s plus
5 s, i.e. the exporter adds nothing to the rate limit's wait. A steady paced cycle of 50 requests takes
(50 - 5) / 1 = 45 s by the same rule, within the default 60 s interval; a cycle with that minute's
deployments (about 60 requests) stretches past it (docs/performance.md says what to set instead).

Bound (checked): a steady unpaced cycle of 5,000 applications within 5 s wall and 2.5 s CPU, exactly 50
requests; the history within its budget; the backlog after 30 minutes no larger than after 10; the paced
cycle within the rate limit's own time plus 5 s.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import SIM_TOKEN, SimulatorProcess, median, print_table, save

from exporter.config import load_config
from exporter.simulator import World
from exporter.simulator.deployments import DeployService
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

PROJECT = "d0" * 16
T0 = 1_750_000_000.0
PERIOD_SCALE = 120
STEADY_WALL, STEADY_CPU, PACED_SLACK = 5.0, 2.5, 5.0
BURST = 5


@dataclass(frozen=True)
class DeployWorld:
    """One Deploy project of ``apps`` applications on a clock shared with the bench (``now``)."""

    apps: int
    now: Any  # a multiprocessing Value('d'): the World's clock, set by the bench

    def world(self, frozen_at: float | None) -> World:
        world = World(seed=5, clock=lambda: self.now.value)
        world.deploy_service = DeployService(5, {PROJECT: self.apps}, period_scale=PERIOD_SCALE)
        return world


def config(path: Path, url: str, *, rate: str, interval: float = 60) -> Path:
    path.write_text("\n".join([
        "region: bench", "endpoints:", f"  repo: {url}", f"  build: {url}", f"  deploy: {url}",
        "auth:", f"  token: {SIM_TOKEN}",
        "poll:", f"  interval_seconds: {interval}", "  timeout_seconds: 30", "  concurrency: 4",
        f"  rate_limit: {rate}",
        "history:", "  max_requests_per_cycle: 15",  # what the default 1/s gives over 60 s
        "deploy_projects:", f"  - id: {PROJECT}",
    ]) + "\n")
    return path


def one_cycle(exporter: Exporter, sim: SimulatorProcess) -> dict[str, float]:
    sim.reset_counts()
    cpu, wall = time.process_time(), time.perf_counter()
    snapshot = exporter.poll_once()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if not snapshot.all_up():
        raise RuntimeError(f"the project failed: {[state.error for state in snapshot.states]}")
    history = exporter.history.part("deploy") if exporter.history is not None else None
    pending = history.pending_jobs() if history is not None else 0  # type: ignore[attr-defined]
    return {"wall": wall, "cpu": cpu, "requests": sim.request_count(), "pending": pending}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    now = multiprocessing.get_context("spawn").Value("d", T0)
    size = DeployWorld(args.apps, now)
    with SimulatorProcess(size, latency=args.latency) as sim, tempfile.TemporaryDirectory() as tmp:  # type: ignore[arg-type]
        unpaced = config(Path(tmp) / "c.yaml", sim.url, rate="{deploy: 1000}")
        exporter = Exporter(load_config(unpaced, sources=BUILTIN), clock=lambda: now.value)
        try:
            cold = one_cycle(exporter, sim)
            warm = [one_cycle(exporter, sim) for _ in range(args.apps // 100)]  # the several-task details
            steady = [one_cycle(exporter, sim) for _ in range(args.cycles)]
            minutes = []
            for _ in range(30):
                now.value += 60
                minutes.append(one_cycle(exporter, sim))
        finally:
            exporter.close()
        paced = None
        if args.paced:
            paced_config = config(Path(tmp) / "p.yaml", sim.url, rate="{deploy: 1}")
            exporter = Exporter(load_config(paced_config, sources=BUILTIN), clock=lambda: now.value)
            try:
                one_cycle(exporter, sim)  # first sight
                time.sleep(BURST)  # the bucket refills its burst, as between two cycles
                paced = one_cycle(exporter, sim)
            finally:
                exporter.close()
    pages = math.ceil(args.apps / 100)
    return {
        "apps": args.apps, "latency_ms": args.latency * 1000, "pages": pages,
        "cold_s": cold["wall"], "cold_cpu_s": cold["cpu"], "cold_requests": cold["requests"],
        "warm_polls": len(warm), "warm_requests": sum(cycle["requests"] for cycle in warm),
        "steady_s": median([c["wall"] for c in steady]), "steady_cpu_s": median([c["cpu"] for c in steady]),
        "steady_requests": median([c["requests"] for c in steady]),
        "minute_s": median([c["wall"] for c in minutes]), "minute_cpu_s": median([c["cpu"] for c in minutes]),
        "minute_requests": median([c["requests"] for c in minutes]),
        "minute_requests_max": max(c["requests"] for c in minutes),
        "backlog_10": minutes[9]["pending"], "backlog_30": minutes[-1]["pending"],
        "paced_s": paced["wall"] if paced else None, "paced_requests": paced["requests"] if paced else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=5_000)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request (default 0)")
    parser.add_argument("--cycles", type=int, default=5, help="steady cycles (default 5)")
    parser.add_argument("--no-paced", dest="paced", action="store_false", help="skip the paced cycle")
    args = parser.parse_args()
    row = measure(args)
    rows = [{"measure": key, "value": value} for key, value in row.items()]
    print_table(rows, ("measure", "value"))
    checks = {
        "steady cycle is the list alone": row["steady_requests"] == row["pages"],
        f"steady cycle within {STEADY_WALL:g} s wall": row["steady_s"] <= STEADY_WALL,
        f"steady cycle within {STEADY_CPU:g} s CPU": row["steady_cpu_s"] <= STEADY_CPU,
        "history within its budget (15 a cycle)": row["minute_requests_max"] <= row["pages"] + 20 + 15,
        "backlog bounded": row["backlog_30"] <= max(row["backlog_10"], 15),
    }
    if row["paced_s"] is not None:
        allowed = row["paced_requests"] - BURST + PACED_SLACK
        checks[f"paced cycle of {row['paced_requests']} requests within {allowed:g} s"] = row["paced_s"] <= allowed
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    path = save("deploy", {"options": vars(args), "result": row, "checks": checks})
    print(f"\nwrote {path}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
