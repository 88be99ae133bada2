"""CPU per poll cycle that DORA adds: the ledger's view and its rendering into every swap's body.

    .venv/bin/python bench/dora.py
    .venv/bin/python bench/dora.py --services 10 100 1000 --deployments 20

In-process, no HTTP. ``--services`` DORA services, each with lead-time and recovery histograms already
filled; each cycle ``--deployments`` of them count a deployment (a success with a cached commit, or a
failure), then the ledger's view is taken and rendered: what a swap does after a cycle that counted a
deployment or read a commit (a cycle that did neither keeps the last view and its lines). Median of
``--cycles``. Results go to bench/results/dora-*.json.
"""

from __future__ import annotations

import argparse
import time

from _common import median, print_table, save

from exporter.dora.config import DoraConfig, Service
from exporter.dora.ledger import Deployment, Ledger
from exporter.dora.render import add_dora
from exporter.textformat import LineSink

T0 = 1_750_000_000.0


def measure(services: int, deployments: int, cycles: int) -> dict[str, float]:
    """Median microseconds per cycle of counting, view and render, and the series the services hold."""
    config = DoraConfig(tuple(Service(f"service-{index}", "production") for index in range(services)))
    ledger = Ledger(config)
    for index in range(services):  # every histogram present: the largest body
        key = (f"service-{index}", "production")
        ledger.count(Deployment(key, "failed", T0, None))
        ledger.count(Deployment(key, "success", T0 + 600, ("1", f"sha{index}")))
        ledger.commit_known(("1", f"sha{index}"), T0 - 3600)
    counting, viewing, rendering = [], [], []
    lines = 0
    for cycle in range(cycles):
        started = time.perf_counter()
        for step in range(deployments):
            index = (cycle * deployments + step) % services
            status = "success" if step % 3 else "failed"
            ledger.count(Deployment((f"service-{index}", "production"), status, T0 + cycle * 60,
                                    ("1", f"sha{index}")))
        counted = time.perf_counter()
        view = ledger.view()
        viewed = time.perf_counter()
        sink = LineSink()
        add_dora(sink, view)
        chunks = sink.chunks()
        rendered = time.perf_counter()
        counting.append(counted - started)
        viewing.append(viewed - counted)
        rendering.append(rendered - viewed)
        lines = sum(chunk.count(b"\n") for chunk in chunks.values())
    return {"services": services, "series": lines, "count_us": median(counting) * 1e6,
            "view_us": median(viewing) * 1e6, "render_us": median(rendering) * 1e6,
            "per_service_us": (median(viewing) + median(rendering)) * 1e6 / services}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--deployments", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=21)
    args = parser.parse_args()
    rows = [measure(services, args.deployments, args.cycles) for services in args.services]
    print_table(rows, ("services", "series", "count_us", "view_us", "render_us", "per_service_us"))
    print(save("dora", {"rows": rows}))


if __name__ == "__main__":
    main()
