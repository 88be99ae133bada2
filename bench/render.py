"""CPU per swap with run history on: the first render of every job's history lines, then steady cycles.

    .venv/bin/python bench/render.py
    .venv/bin/python bench/render.py --jobs 400 1600 --changed 17

In-process, no HTTP: a RunHistory counts pipeline job runs from listings (which send no request),
``--jobs`` pipeline jobs in targets of 50, default buckets (95 history series per pipeline job).
Each cycle, ``--changed`` jobs finish a new run; the time is that of ``Exposition.update`` (history
view, rendering the changed jobs, joining; with and without gzip of the text body), median
of ``--cycles``. The first swap renders every job (what every swap cost before lines were kept per
job, without prometheus_client's own overhead). Results go to bench/results/render-*.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from typing import Any

from _common import median, print_table, save

from exporter.auth.base import StaticTokenAuth
from exporter.client import CodeArtsClient
from exporter.config import HistoryConfig
from exporter.exposition import TEXT, Exposition
from exporter.snapshot import Snapshot
from exporter.sources.base import PollSettings
from exporter.sources.builtin import BUILTIN
from exporter.sources.repo.config import RepoSection
from exporter.sources.repo.models import PipelineJob
from exporter.sources.repo.source import SOURCE as REPO
from exporter.sources.repo.targets import pipeline_target
from exporter.sourcetable import SourceTable
from exporter.stats import RequestStats
from exporter.wiring import run_history

JOBS_PER_TARGET = 50
T0 = 1_750_000_000.0


def listing(target: int, generation: dict[int, int]) -> tuple[PipelineJob, ...]:
    return tuple(PipelineJob(target * 1000 + index * 10 + generation.get(index, 0), f"job-{index}", "build",
                             "success", "main", "abc", T0, T0 + 1, T0 + 30.5, None)
                 for index in range(JOBS_PER_TARGET))


def measure(jobs: int, changed: int, cycles: int, gzipped: bool) -> dict[str, Any]:
    client = CodeArtsClient(base_urls={"repo": "http://127.0.0.1:9"},
                            auth=StaticTokenAuth("unused"), timeout=1.0)  # pipeline counting sends nothing
    history = run_history(SourceTable((REPO,)), client, HistoryConfig(), {"repo": RepoSection()}, PollSettings(60.0, 4))
    targets = [pipeline_target(1000 + n, 1) for n in range(max(1, jobs // JOBS_PER_TARGET))]
    generations: list[dict[int, int]] = [{} for _ in targets]
    for number, target in enumerate(targets):
        history.after_listing(target, listing(number, generations[number]))
    exposition = Exposition(BUILTIN, RequestStats(), "bench")
    if gzipped:
        exposition.body(TEXT, True)  # a scrape asked for text + gzip: each swap prepares it
    empty = Snapshot(1, T0, ())
    started = time.perf_counter()
    exposition.update(replace(empty, history=history.view()))
    first = time.perf_counter() - started
    series = exposition.body(TEXT, False).count(b"\n") - exposition.body(TEXT, False).count(b"\n#")
    steady = []
    for cycle in range(cycles):
        for offset in range(changed):  # ``changed`` jobs each finish one more run
            slot = (cycle * changed + offset) % (len(targets) * JOBS_PER_TARGET)
            number, index = divmod(slot, JOBS_PER_TARGET)
            generations[number][index] = generations[number].get(index, 0) + 1
        for number, target in enumerate(targets):
            history.after_listing(target, listing(number, generations[number]))
        started = time.perf_counter()
        exposition.update(replace(empty, history=history.view()))
        steady.append(time.perf_counter() - started)
    client.close()
    return {"jobs": len(targets) * JOBS_PER_TARGET, "series": series, "gzip": gzipped, "changed_per_cycle": changed,
            "first_swap_s": first, "steady_swap_ms": median(steady) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, nargs="+", default=[400, 1600])
    parser.add_argument("--changed", type=int, default=17, help="jobs with a new run per cycle (default 17)")
    parser.add_argument("--cycles", type=int, default=9)
    args = parser.parse_args()
    rows = [measure(jobs, args.changed, args.cycles, gzipped) for jobs in args.jobs for gzipped in (False, True)]
    print_table(rows, COLUMNS)
    path = save("render", {"options": vars(args), "rows": rows})
    print(f"\nwrote {path}")
    return 0


COLUMNS = ("jobs", "series", "gzip", "changed_per_cycle", "first_swap_s", "steady_swap_ms")

if __name__ == "__main__":
    sys.exit(main())
