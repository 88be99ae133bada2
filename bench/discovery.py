"""Discovery cost: requests and time of one discovery pass, and the poll requests of what it watches.

Drives the exporter against an in-process simulator on a fake clock: repositories of one CodeArts project,
each with about 30 open merge requests, discovered with max_pipelines 20. For each size it prints the
requests of one pass by route (at the simulator), the pass's wall time unpaced and paced by the default
Repo rate limit (8 requests/s), and the poll requests per cycle of the pipelines watched; then the same
pass across 3 shards. Writes the rows as JSON. Usage: python bench/discovery.py [out.json]
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from exporter.config import load_config
from exporter.sharding import ShardSpec
from exporter.simulator import DEFAULT_TOKEN, Simulator, World
from exporter.simulator.mergerequests import MergeRequestPlan
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

T0 = 1_763_900_000.0
PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
PLAN = MergeRequestPlan(every_ms=600_000, open_ms=(10_800_000, 25_200_000))  # ~30 open at a time
SIZES = (1, 10, 40)  # repositories
PACED_SIZE = 4  # one pass at the default Repo rate limit takes requests / 8 s: keep it short
ROUTES = ("repo_repositories", "repo_merge_requests", "repo_head_pipeline")


def config_text(url: str, rate: str) -> str:
    return (f"region: bench\nendpoints:\n  repo: {url}\n  build: {url}\nauth:\n  token: {DEFAULT_TOKEN}\n"
            f"poll:\n  rate_limit: {rate}\nhistory:\n  enabled: false\n"
            f"discovery:\n  projects:\n    - project_id: {PROJECT}\n      max_pipelines: 20\n")


def one_pass(sim: Simulator, path: Path, now: list[float], shards: int = 1) -> dict:
    """Requests by route, discovered pipelines and seconds of one first poll cycle (discovery + polls)."""
    sim.reset_counts()
    pipelines: set[str] = set()
    started = time.perf_counter()
    for index in range(shards):
        exporter = Exporter(load_config(path, sources=BUILTIN), clock=lambda: now[0], shard=ShardSpec(index, shards))
        snapshot = exporter.poll_once()
        pipelines |= {state.target.key for state in snapshot.states}
        exporter.close()
    seconds = time.perf_counter() - started
    counts = {route: sim.request_count(route) for route in (*ROUTES, "repo_jobs")}
    return {"requests": {route: counts[route] for route in ROUTES},
            "discovery_requests": sum(counts[route] for route in ROUTES), "pipelines_watched": len(pipelines),
            "poll_requests": counts["repo_jobs"], "cycle_seconds": seconds}


def main(out: str) -> None:
    rows = []
    for size in SIZES:
        now = [T0]
        repositories = [(700 + i, f"service-{i}") for i in range(size)]
        world = World(seed=7, clock=lambda: now[0], merge_requests={repo: PLAN for repo, _ in repositories},  # noqa: B023
                      project_repositories={PROJECT: repositories})
        open_mrs = sum(len(world.open_merge_requests(repo)) for repo, _ in repositories)
        with Simulator(world, token=DEFAULT_TOKEN) as sim, tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "c.yaml"
            path.write_text(config_text(sim.url, "{repo: 1000, build: 1000}"))
            row = {"repositories": size, "open_merge_requests": open_mrs, **one_pass(sim, path, now)}
            row["sharded_3"] = one_pass(sim, path, now, shards=3)
            if size <= PACED_SIZE:
                path.write_text(config_text(sim.url, "{repo: 8, build: 5}"))
                row["paced_cycle_seconds"] = one_pass(sim, path, now)["cycle_seconds"]
            rows.append(row)
    print(f"{'repos':>5} {'open MRs':>8} {'list repos':>10} {'list MRs':>8} {'heads':>6} {'pass req':>8} "
          f"{'watched':>7} {'poll req':>8} {'cycle s':>8} {'3 shards: pass req':>19} {'watched':>7} {'paced s':>8}")
    for row in rows:
        r, sharded = row["requests"], row["sharded_3"]
        paced = f"{row['paced_cycle_seconds']:.1f}" if "paced_cycle_seconds" in row else "-"
        print(f"{row['repositories']:>5} {row['open_merge_requests']:>8} {r['repo_repositories']:>10} "
              f"{r['repo_merge_requests']:>8} {r['repo_head_pipeline']:>6} {row['discovery_requests']:>8} "
              f"{row['pipelines_watched']:>7} {row['poll_requests']:>8} {row['cycle_seconds']:>8.2f} "
              f"{sharded['discovery_requests']:>19} {sharded['pipelines_watched']:>7} {paced:>8}")
    Path(out).write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                     "rows": rows}, indent=2))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "discovery.json")
