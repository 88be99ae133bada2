"""Poll cycle time against the simulator with injected latency, next to the ideal bound.

    .venv/bin/python bench/poll.py                                  # 10/100/1000 targets x 50/200 ms
    .venv/bin/python bench/poll.py --targets 100 --latency 0.05 --cycles 5

With per-request latency L, concurrency C and R requests per cycle, no cycle can beat
max(R*L/C, R/rate_limit); the exporter has no client-side rate limit of its own here (rate_limit is
infinite unless ``--rate`` is given), so the bound is R*L/C. The simulator runs in a child process,
counts the requests that reach it, and serves a frozen world (nothing changes between polls: the
steady state, where a cycle must cost one listing page per target). The exporter (``Exporter``,
its poller, client and exposition) runs in this process, so CPU seconds per cycle are the
exporter's own. Target: cycle within 1.25x of the bound at 100 and 1,000 targets. The first
(cold) cycle is reported apart; the steady numbers are medians over ``--cycles`` cycles.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SimulatorProcess, WorldSize, median, print_table, save, write_config

from exporter.config import load_config
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

FROZEN_AT = 1_750_000_000.0
TARGET_RATIO = 1.25
CHECKED_TARGETS = (100, 1_000)


def one_cycle(exporter: Exporter, sim: SimulatorProcess) -> dict[str, float]:
    sim.reset_counts()
    cpu, wall = time.process_time(), time.perf_counter()
    snapshot = exporter.poll_once()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if not snapshot.all_up():
        failed = [state.error for state in snapshot.states if not state.up][:3]
        raise RuntimeError(f"a target failed: {failed}")
    return {"wall": wall, "cpu": cpu, "requests": sim.request_count()}


def measure(targets: int, latency: float, args: argparse.Namespace) -> dict[str, Any]:
    size = WorldSize.for_targets(targets, args.jobs)
    with SimulatorProcess(size, frozen_at=FROZEN_AT, latency=latency) as sim, tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp) / "config.yaml", sim.url, size, interval=3600,
                              concurrency=args.concurrency, timeout=30)
        exporter = Exporter(load_config(config, sources=BUILTIN))
        try:
            cold = one_cycle(exporter, sim)
            steady = [one_cycle(exporter, sim) for _ in range(args.cycles)]
        finally:
            exporter.close()
    requests = median([c["requests"] for c in steady])
    bound = requests * latency / args.concurrency
    if args.rate:
        bound = max(bound, requests / args.rate)
    wall = median([c["wall"] for c in steady])
    row: dict[str, Any] = {
        "targets": targets, "latency_ms": latency * 1000, "concurrency": args.concurrency,
        "cold_s": cold["wall"], "cold_requests": cold["requests"], "requests": requests,
        "requests_per_target": requests / targets, "ideal_s": bound, "cycle_s": wall, "ratio": wall / bound,
        "cpu_s": median([c["cpu"] for c in steady]), "cold_cpu_s": cold["cpu"],
    }
    if targets in CHECKED_TARGETS:
        row["pass"] = row["ratio"] <= TARGET_RATIO and requests == targets
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, nargs="+", default=[10, 100, 1_000])
    parser.add_argument("--latency", type=float, nargs="+", default=[0.05, 0.2], help="seconds per request")
    parser.add_argument("--concurrency", type=int, default=10, help="poll.concurrency (default 10)")
    parser.add_argument("--cycles", type=int, default=3, help="steady cycles per case, after the cold one")
    parser.add_argument("--jobs", type=int, default=20, help="jobs per target (<= 100: one page each)")
    parser.add_argument("--rate", type=float, default=None, help="a rate limit (requests/s) for the bound")
    args = parser.parse_args()
    rows = []
    for latency in args.latency:
        for targets in args.targets:
            rows.append(measure(targets, latency, args))
            print_table(rows[-1:], COLUMNS)
    print()
    print_table(rows, COLUMNS)
    path = save("poll", {"options": vars(args), "rows": rows})
    print(f"\nwrote {path}")
    failed = [row for row in rows if row.get("pass") is False]
    print("PASS" if not failed else f"FAIL: {len(failed)} case(s) missed the target")
    return 0 if not failed else 1


COLUMNS = ("targets", "latency_ms", "concurrency", "requests", "requests_per_target", "ideal_s", "cycle_s",
           "ratio", "cpu_s", "cold_s", "cold_requests", "cold_cpu_s", "pass")

if __name__ == "__main__":
    sys.exit(main())
