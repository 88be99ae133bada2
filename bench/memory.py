"""Resident memory of the exporter process per exported series, at 10k and 100k series.

    .venv/bin/python bench/memory.py
    .venv/bin/python bench/memory.py --series 10000 --polls 3

Runs ``python -m exporter`` (poll interval 1 s, or targets/100 s if longer) against a simulator
process with living data, scrapes every body variant once per poll (text, OpenMetrics, each plain
and gzip, so every cached body exists), and samples the exporter's RSS after each of ``--polls``
polls. Reports the peak RSS, the RSS per series (target <= 1.5 KB at 100k series, everything
included), and the marginal bytes per series over a near-empty exporter measured the same way.
Results go to bench/results/memory-*.json.
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SimulatorProcess, WorldSize, free_port, print_table, rss_bytes, save, write_config

TARGET_BYTES_PER_SERIES = 1536
VARIANTS = [(accept, encoding) for accept in ("text/plain", "application/openmetrics-text;version=1.0.0")
            for encoding in ("identity", "gzip")]


def get(port: int, path: str, accept: str = "text/plain", encoding: str = "identity") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Accept": accept, "Accept-Encoding": encoding})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def series_in(body: bytes) -> int:
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


def polls_done(port: int) -> float:
    _, body = get(port, "/metrics")
    return sum(float(line.rsplit(b" ", 1)[1]) for line in body.splitlines()
               if line.startswith(b"codearts_api_requests_total{"))


def measure(nominal: int, args: argparse.Namespace) -> dict[str, Any]:
    size = WorldSize.for_series(nominal)
    with SimulatorProcess(size) as sim, tempfile.TemporaryDirectory() as tmp:
        # A cycle must end within 5 intervals (the poller's cycle timeout); at 300 targets against one
        # simulator process on a loaded 2-core machine, 1 s is too short and targets would drop out.
        interval = max(args.interval, size.targets / 100)
        config = write_config(Path(tmp) / "config.yaml", sim.url, size, interval=interval, concurrency=4)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "exporter", "--config.file", str(config),
                                   "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "error"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if server.poll() is not None:
                    raise RuntimeError(f"the exporter exited with {server.returncode}")
                try:
                    if get(port, "/readyz")[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            samples = []
            for _ in range(args.polls):
                before = polls_done(port)
                while polls_done(port) < before + size.targets:  # one more cycle's worth of requests
                    time.sleep(0.1)
                for accept, encoding in VARIANTS:
                    get(port, "/metrics", accept, encoding)
                samples.append(rss_bytes(server.pid))
            series = series_in(get(port, "/metrics")[1])
        finally:
            server.terminate()
            server.wait(30)
    peak = max(samples)
    return {"nominal": nominal, "series": series, "targets": size.targets, "interval": interval,
            "rss_mib": peak / 2**20,
            "bytes_per_series": peak / series}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--polls", type=int, default=5, help="RSS samples, one after each poll (default 5)")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="poll interval in seconds, at least targets/100 (default 1: 3 s at 100k series)")
    args = parser.parse_args()
    floor = measure(100, args)
    rows = [floor]
    for nominal in args.series:
        row = measure(nominal, args)
        extra = (row["rss_mib"] - floor["rss_mib"]) * 2**20
        row["marginal_bytes_per_series"] = extra / (row["series"] - floor["series"])
        if nominal >= 100_000:
            row["pass"] = row["bytes_per_series"] <= TARGET_BYTES_PER_SERIES
        rows.append(row)
        print_table(rows[-1:], COLUMNS)
    print()
    print_table(rows, COLUMNS)
    path = save("memory", {"options": vars(args), "rows": rows})
    print(f"\nwrote {path}")
    failed = [row for row in rows if row.get("pass") is False]
    print("PASS" if not failed else "FAIL: over the bytes-per-series target")
    return 0 if not failed else 1


COLUMNS = ("nominal", "series", "targets", "interval", "rss_mib", "bytes_per_series", "marginal_bytes_per_series",
           "pass")

if __name__ == "__main__":
    sys.exit(main())
