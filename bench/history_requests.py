"""Run history cost: records requests per poll cycle against jobs with new runs and runs counted.

Drives the exporter against the simulator on a fake clock (no sleeps) and prints one row per gap
between polls, then writes the rows as JSON. Usage: python bench/history_requests.py [out.json] [history.api]
(``auto``, the default, uses the batch call ``POST /v1/record/brief``: one request per project with runs;
``v1`` one request per job with runs). Records requests are those of both calls.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from exporter.config import load_config
from exporter.simulator import DEFAULT_TOKEN, Simulator, World, generated_project_id
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

T0 = 1_750_000_000.0
PROJECTS, JOBS_PER_PROJECT = 4, 100
GAPS = (15, 60, 300, 900, 3600)  # seconds between polls
CYCLES_PER_GAP = 5


def _history_requests(sim: Simulator) -> int:
    return sim.request_count("build_records") + sim.request_count("build_brief")


def main(out: str, api: str = "auto") -> None:
    now = [T0]
    world = World.generated(projects=PROJECTS, jobs_per_project=JOBS_PER_PROJECT, repositories=0,
                            seed=5, clock=lambda: now[0])
    projects = [generated_project_id(i) for i in range(PROJECTS)]
    with Simulator(world, token=DEFAULT_TOKEN) as sim, tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "c.yaml"
        config_path.write_text(
            f"region: bench\nendpoints:\n  repo: {sim.url}\n  build: {sim.url}\nauth:\n  token: {DEFAULT_TOKEN}\n"
            f"history:\n  api: {api}\n" + "projects:\n" + "".join(f"  - id: {p}\n" for p in projects))
        exporter = Exporter(load_config(config_path, sources=BUILTIN), clock=lambda: now[0])
        exporter.poll_once()
        rows = []
        for gap in GAPS:
            requests = changed = runs = 0
            started = time.perf_counter()
            for _ in range(CYCLES_PER_GAP):
                before, previous = _history_requests(sim), now[0]
                now[0] += gap
                exporter.poll_once()
                requests += _history_requests(sim) - before
                finished = [run for p in projects for run in world.finished_build_runs(p, previous, now[0])]
                changed += len({job["id"] for job, _ in finished})
                runs += len(finished)
            kept = [world.build_runs(world.build_spec(job["id"]))[0] for p in projects for job in world.build_jobs(p)]
            rows.append({"gap_seconds": gap, "cycles": CYCLES_PER_GAP, "jobs": PROJECTS * JOBS_PER_PROJECT,
                         "window_reread_requests_per_cycle": sum(-(-n // 100) for n in kept),
                         "records_requests_per_cycle": requests / CYCLES_PER_GAP,
                         "jobs_with_new_runs_per_cycle": changed / CYCLES_PER_GAP,
                         "runs_counted_per_cycle": runs / CYCLES_PER_GAP,
                         "poll_seconds_per_cycle": (time.perf_counter() - started) / CYCLES_PER_GAP})
        exporter.close()
    print(f"{'gap s':>6} {'jobs':>5} {'requests/cycle':>15} {'jobs w/ new runs':>17} {'runs/cycle':>11} "
          f"{'re-read window':>15} {'poll s':>7}")
    for row in rows:
        print(f"{row['gap_seconds']:>6} {row['jobs']:>5} {row['records_requests_per_cycle']:>15.1f} "
              f"{row['jobs_with_new_runs_per_cycle']:>17.1f} {row['runs_counted_per_cycle']:>11.1f} "
              f"{row['window_reread_requests_per_cycle']:>15} "
              f"{row['poll_seconds_per_cycle']:>7.3f}")
    Path(out).write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                     "api": api, "rows": rows}, indent=2))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "history_requests.json", *sys.argv[2:3])
