"""Scrape latency of /metrics at 1k, 10k and 100k series while polling runs every second, next to a baseline.

    .venv/bin/python bench/scrape.py                    # 1k, 10k, 100k series; a few minutes
    .venv/bin/python bench/scrape.py --series 10000 --scrapes 200

For each size, one simulator (living data, real time) runs in a child process. The exporter
(``python -m exporter``, poll interval 1 s, or targets/100 s if longer) is started against it and
scraped over HTTP on one keep-alive connection, one scrape every ``--gap`` seconds; then the
baseline (bench/_baseline_server.py: the same poller, prometheus_client rendering every family on
every scrape via ``start_http_server``) gets the same scrapes. With ``--history-series``, the
exporter is also measured with run history on (no baseline). Latency is from sending the request
to holding the whole body. Targets: p99 <= 10 ms at 10k series and <= 60 ms at 100k; the
exporter's median >= 20x faster than the baseline's at 10k. Results go to
bench/results/scrape-*.json.
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

from _common import SimulatorProcess, WorldSize, free_port, median, percentile, print_table, save, write_config
from prometheus_client.parser import text_string_to_metric_families

BENCH = Path(__file__).parent
TARGETS_P99 = {10_000: 0.010, 100_000: 0.060}
TARGET_RATIO = 20.0
ACCEPT = {"text": "text/plain", "openmetrics": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"}


def start_server(impl: str, config: Path, port: int) -> subprocess.Popen[bytes]:
    if impl.startswith("exporter"):
        command = [sys.executable, "-m", "exporter", "--config.file", str(config),
                   "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "error"]
    else:
        command = [sys.executable, str(BENCH / "_baseline_server.py"), str(config), str(port)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def scrape(conn: http.client.HTTPConnection, headers: dict[str, str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    conn.request("GET", "/metrics", headers=headers)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"/metrics answered {response.status}")
    return elapsed, body


def wait_until_polled(port: int, targets: int, timeout: float, server: subprocess.Popen[bytes]) -> None:
    """Until every target has been polled once, successfully (codearts_up 1 for each)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} (try its command by hand)")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            _, body = scrape(conn, {"Accept": "text/plain"})
            conn.close()
            # Up and holding data: the first poll with run history on takes seconds to publish.
            if sum(1 for line in body.splitlines() if line.startswith(b"codearts_up{") and line.endswith(b" 1.0")) \
                    >= targets:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not poll its {targets} targets within {timeout}s")


def count_series(body: bytes) -> int:
    return sum(len(family.samples) for family in text_string_to_metric_families(body.decode()))


def measure(impl: str, size: WorldSize, sim: SimulatorProcess, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        # A cycle must end within 5 intervals (the poller's cycle timeout): at 300 targets against one
        # simulator process on a loaded 2-core machine, 1 s is too short and targets drop out.
        interval = max(args.interval, size.targets / 100)
        config = write_config(Path(tmp) / "config.yaml", sim.url, size, interval=interval,
                              concurrency=args.concurrency, history=impl.endswith("+history"))
        port = free_port()
        server = start_server(impl, config, port)
        try:
            wait_until_polled(port, size.targets, timeout=300, server=server)
            headers = {"Accept": ACCEPT[args.format], "Accept-Encoding": "gzip" if args.gzip else "identity"}
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for _ in range(5):
                scrape(conn, headers)
            latencies: list[float] = []
            deadline = time.monotonic() + args.max_seconds
            body = b""
            while len(latencies) < args.scrapes and time.monotonic() < deadline:
                elapsed, body = scrape(conn, headers)
                latencies.append(elapsed)
                time.sleep(args.gap)
            conn.close()
            _, plain = scrape(http.client.HTTPConnection("127.0.0.1", port, timeout=60), {"Accept": "text/plain"})
        finally:
            server.terminate()
            server.wait(30)
    return {"impl": impl, "series": count_series(plain), "targets": size.targets, "interval": interval,
            "scrapes": len(latencies),
            "body_bytes": len(body), "p50_ms": median(latencies) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "max_ms": max(latencies) * 1000}


def verdicts(nominal: int, ours: dict[str, Any], base: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if nominal in TARGETS_P99:
        out["p99_target_ms"] = TARGETS_P99[nominal] * 1000
        out["p99_pass"] = ours["p99_ms"] <= TARGETS_P99[nominal] * 1000
    if base is not None:
        out["ratio_p50"] = base["p50_ms"] / ours["p50_ms"]
        out["ratio_p99"] = base["p99_ms"] / ours["p99_ms"]
        if nominal == 10_000:
            out["ratio_pass"] = out["ratio_p50"] >= TARGET_RATIO
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--scrapes", type=int, default=500, help="scrapes per server and size (default 500)")
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between scrapes (default 0.01)")
    parser.add_argument("--max-seconds", type=float, default=45.0,
                        help="stop a server's scrapes after this long (the baseline at 100k needs it)")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="poll interval in seconds, at least targets/100 (default 1: 3 s at 100k series)")
    parser.add_argument("--concurrency", type=int, default=4, help="poll concurrency (default 4)")
    parser.add_argument("--format", choices=sorted(ACCEPT), default="text")
    parser.add_argument("--gzip", action="store_true", help="ask for gzip, as Prometheus does")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--history-series", type=int, nargs="*", default=[10_000],
                        help="worlds (nominal series without history) also measured with run history on; "
                             "~86 more series per build job (default 10000; none to skip)")
    args = parser.parse_args()
    rows = []
    for nominal in args.history_series:
        size = WorldSize.for_series(nominal)
        with SimulatorProcess(size) as sim:
            ours = measure("exporter+history", size, sim, args)
        rows.append({"nominal": nominal, **ours})
        print_table(rows[-1:], COLUMNS)
        print()
    for nominal in args.series:
        size = WorldSize.for_series(nominal)
        with SimulatorProcess(size) as sim:
            ours = measure("exporter", size, sim, args)
            base = None if args.no_baseline else measure("baseline", size, sim, args)
        checks = verdicts(nominal, ours, base)
        rows.append({"nominal": nominal, **ours, **checks})
        if base is not None:
            rows.append({"nominal": nominal, **base})
        print_table(rows[-2:] if base else rows[-1:], COLUMNS)
        print()
    print_table(rows, COLUMNS)
    path = save("scrape", {"options": vars(args), "rows": rows})
    print(f"\nwrote {path}")
    failed = [row for row in rows if row.get("p99_pass") is False or row.get("ratio_pass") is False]
    print("PASS" if not failed else f"FAIL: {len(failed)} size(s) missed a target")
    return 0 if not failed else 1


COLUMNS = ("nominal", "impl", "series", "targets", "interval", "scrapes", "body_bytes", "p50_ms", "p99_ms", "max_ms",
           "p99_target_ms", "p99_pass", "ratio_p50", "ratio_p99", "ratio_pass")

if __name__ == "__main__":
    sys.exit(main())
