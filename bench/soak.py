"""Soak: the exporter (its own process) against the simulator with every fault mode mixed in.

Scrapes /metrics once a second for ``--duration`` seconds (default 10 minutes). Faults change every
``--fault-period`` seconds until ``--recovery`` seconds before the end, then stop. Reports polls,
failures by reason, scrape latency p50/p99, the exporter's RSS at start and end, and checks that no
counter ever decreased, that no scrape failed, that no exception escaped into the log, and that every
target was up again within two poll intervals after the faults stopped.

    python bench/soak.py                       # 10 minutes
    python bench/soak.py --duration 60 --json /tmp/soak.json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from exporter.simulator import Fault, Simulator, World

TOKEN = "soak-token"  # noqa: S105 - the simulator's token for this run
RATES = (0.3, 0.7, 1.0)
FAILED_POLL = re.compile(r"poll of (\w+) target (\S+) failed: ([^|]+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def write_config(path: Path, url: str, world: World, interval: float, timeout: float, history: bool) -> None:
    repos: dict[int, list[int]] = {}
    for repo, pipeline in world.pipeline_keys():
        repos.setdefault(repo, []).append(pipeline)
    lines = ["region: soak", "endpoints:", f"  repo: {url}", f"  build: {url}", "auth:", f"  token: {TOKEN}",
             "poll:", f"  interval_seconds: {interval}", f"  timeout_seconds: {timeout}", "  concurrency: 4",
             # Backoff capped at one interval: the soak checks recovery within two intervals of the end of
             # faults; with the default cap (600 s) a long-failing target would take up to that long.
             f"  max_backoff_seconds: {interval}", "repositories:"]
    for repo, pipelines in repos.items():
        lines += [f"  - id: {repo}", f"    pipelines: {pipelines}"]
    lines.append("projects:")
    lines += [f"  - id: {project}" for project in world.project_ids()]
    lines += ["history:", f"  enabled: {'true' if history else 'false'}"]
    path.write_text("\n".join(lines) + "\n")


def targets_of(world: World) -> list[str]:
    return [f"repo:{r}/{p}" for r, p in world.pipeline_keys()] + [f"build:{p}" for p in world.project_ids()]


def shuffle_faults(sim: Simulator, targets: list[str], rng: random.Random, timeout: float) -> Counter[str]:
    """A fresh mix: about half the targets get a fault, on a random share of their requests."""
    sim.clear_faults()
    chosen: Counter[str] = Counter()
    faults = list(Fault)
    for target in targets:
        if rng.random() < 0.5:
            continue
        fault = rng.choice(faults)
        delay = rng.uniform(0.1, 2 * timeout) if fault is Fault.LATENCY else None
        sim.set_fault(target, fault, rate=rng.choice(RATES), delay=delay)
        chosen[fault.value] += 1
    for route in ("repo_jobs", "build_jobs"):  # and a light background of throttling everywhere
        sim.set_fault(route, Fault.THROTTLED if route == "repo_jobs" else Fault.BUILD_THROTTLED, rate=0.1)
    return chosen


class Scraper:
    """Scrapes, times, and checks every counter against its previous value."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()
        self.decreases: list[str] = []
        self.counters: dict[tuple[str, frozenset], float] = {}
        self.heartbeats: set[float] = set()
        self.last: dict[tuple[str, frozenset], float] = {}

    def scrape(self) -> None:
        started = time.perf_counter()
        try:
            response = self.session.get(self.url + "/metrics", timeout=5)
            body = response.text
        except requests.RequestException as err:
            self.failures[type(err).__name__] += 1
            return
        self.latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            self.failures[f"http_{response.status_code}"] += 1
            return
        try:
            samples = {(s.name, frozenset(s.labels.items())): s.value
                       for family in text_string_to_metric_families(body) for s in family.samples}
        except ValueError:
            self.failures["unparsable"] += 1
            return
        self.last = samples
        for key, value in samples.items():
            if key[0].endswith("_total"):
                previous = self.counters.get(key)
                if previous is not None and value < previous:
                    self.decreases.append(f"{key[0]}{dict(key[1])}: {previous} -> {value}")
                self.counters[key] = value
        beat = samples.get(("codearts_poller_last_cycle_timestamp_seconds", frozenset()))
        if beat is not None:
            self.heartbeats.add(beat)

    def down(self) -> list[str]:
        return sorted(dict(labels)["target"] for (name, labels), value in self.last.items()
                      if name == "codearts_up" and value != 1)

    def total(self, name: str, label: str) -> dict[str, float]:
        found: Counter[str] = Counter()
        for (sample, labels), value in self.last.items():
            if sample == name:
                found[dict(labels)[label]] += value
        return dict(found)


def _reason(error: str) -> str:
    """A failed poll's error text without its variable parts (sizes, seconds)."""
    return re.sub(r"\d+(\.\d+)?s\b", "Ns", error.strip())


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds in all (default 600)")
    parser.add_argument("--interval", type=float, default=5.0, help="exporter poll interval (default 5)")
    parser.add_argument("--timeout", type=float, default=1.0, help="exporter request timeout (default 1)")
    parser.add_argument("--fault-period", type=float, default=15.0, help="seconds between fault mixes")
    parser.add_argument("--recovery", type=float, default=45.0, help="fault-free seconds at the end")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds with faults before RSS is first read")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-history", action="store_true", help="run with history.enabled: false")
    parser.add_argument("--json", type=Path, default=Path("bench/results/soak.json"))
    args = parser.parse_args()

    world = World.generated(projects=6, jobs_per_project=120, repositories=2, pipelines_per_repo=3,
                            jobs_per_pipeline=25, seed=args.seed)
    sim = Simulator(world, token=TOKEN, seed=args.seed)
    sim.start()
    rng = random.Random(args.seed)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    config = workdir / "config.yaml"
    write_config(config, sim.url, world, args.interval, args.timeout, not args.no_history)
    log_path = workdir / "exporter.log"
    with open(log_path, "w") as log_file:
        exporter = subprocess.Popen([sys.executable, "-m", "exporter", "--config.file", str(config),
                                     "--web.listen-address", f"127.0.0.1:{port}"], stdout=log_file, stderr=log_file)
    scraper = Scraper(f"http://127.0.0.1:{port}")
    targets = targets_of(world)
    faults_used: Counter[str] = Counter()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not scraper.last:
            time.sleep(0.2)
            scraper.scrape()
        # Warm up with faults on, so the first RSS reading is of an exporter that has met them.
        warm_until = time.monotonic() + args.warmup
        while time.monotonic() < warm_until:
            faults_used += shuffle_faults(sim, targets, rng, args.timeout)
            time.sleep(min(args.fault_period, max(0.0, warm_until - time.monotonic())))
        rss_start = rss_kib(exporter.pid)
        scraper = Scraper(scraper.url)  # the measured run starts here
        started = time.monotonic()
        faults_end = started + args.duration - args.recovery
        next_mix = started
        recovered_after: float | None = None
        faults_on = True
        while (now := time.monotonic()) < started + args.duration:
            if faults_on and now >= faults_end:
                sim.clear_faults()
                faults_on = False
            elif faults_on and now >= next_mix:
                faults_used += shuffle_faults(sim, targets, rng, args.timeout)
                next_mix = now + args.fault_period
            scraper.scrape()
            if not faults_on and recovered_after is None and scraper.last and not scraper.down():
                recovered_after = time.monotonic() - faults_end
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
        rss_end = rss_kib(exporter.pid)
        still_down = scraper.down()
    finally:
        exporter.terminate()
        exporter.wait(10)
        sim.stop()

    log_text = log_path.read_text(errors="replace")
    failed_polls = Counter(_reason(match[3]) for match in FAILED_POLL.finditer(log_text))
    report = {
        "machine": f"{platform.node()} {platform.machine()} {platform.python_version()}",
        "duration_seconds": args.duration, "warmup_seconds": args.warmup, "recovery_seconds": args.recovery,
        "interval_seconds": args.interval, "timeout_seconds": args.timeout,
        "targets": len(targets), "fault_modes_used": dict(faults_used),
        "poll_cycles": len(scraper.heartbeats),
        "api_requests_by_code": scraper.total("codearts_api_requests_total", "code"),
        "api_retries_by_reason": scraper.total("codearts_api_retries_total", "reason"),
        "api_throttled": scraper.total("codearts_api_throttled_total", "api"),
        "failed_polls_by_reason": dict(failed_polls.most_common()),
        "simulator_requests": sim.request_count(),
        "scrapes": len(scraper.latencies) + sum(scraper.failures.values()),
        "scrape_failures": dict(scraper.failures),
        "scrape_p50_ms": round(percentile(scraper.latencies, 0.50) * 1000, 2),
        "scrape_p99_ms": round(percentile(scraper.latencies, 0.99) * 1000, 2),
        "rss_start_kib": rss_start, "rss_end_kib": rss_end,
        "rss_growth_percent": round(100 * (rss_end - rss_start) / rss_start, 1),
        "counter_decreases": scraper.decreases[:20],
        "exceptions_in_log": log_text.count("Traceback"),
        "all_up_seconds_after_faults_stopped": None if recovered_after is None else round(recovered_after, 1),
        "down_at_end": still_down,
    }
    checks = {
        "no exception escaped": report["exceptions_in_log"] == 0,
        "no scrape failed": not scraper.failures,
        "no counter decreased": not scraper.decreases,
        "RSS growth under 10%": report["rss_growth_percent"] < 10,
        "all up within two intervals after faults stopped":
            recovered_after is not None and recovered_after <= 2 * args.interval,
    }
    report["checks"] = checks
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    width = max(len(key) for key in report)
    for key, value in report.items():
        if key != "checks":
            print(f"{key:<{width}}  {value}")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print(f"log: {log_path}   json: {args.json}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
