"""Soak: the exporter and the simulator, each in its own process, with every fault mode mixed in.

Scrapes /metrics once a second for ``--duration`` seconds (default 10 minutes). Faults change every
``--fault-period`` seconds until ``--recovery`` seconds before the end, then stop. Reports polls and
cycle lengths, failures by reason, scrape latency p50/p99, the exporter's RSS sampled every
``--rss-every`` seconds from its start, and checks
that no counter ever decreased, that no scrape failed, that no exception escaped into the log, and
that every target was up again within two poll intervals after the faults stopped.

RSS growth compares the highest RSS of the first ``--rss-window`` seconds after the warm-up with the
highest of the last ``--rss-window`` seconds: the RSS of an exporter serving an ~85,000-sample body
swings by tens of MB within each poll cycle (each render and each parsed page allocates, and the
allocator gives some of it back), so two single readings would compare two random points of that
swing, not the memory the process holds on to. The lowest readings of both windows are reported too.

The simulator runs in a child process (this script with ``--simulator-child``), driven over its
stdin, so neither its CPU nor its memory is the exporter's or the scrape loop's.

    python bench/soak.py                       # 10 minutes
    python bench/soak.py --duration 60 --json /tmp/soak.json
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import requests
import urllib3
from prometheus_client.parser import text_string_to_metric_families

import exporter as exporter_package
from exporter.simulator import Fault, Simulator, World
from exporter.simulator.deployments import DeployService

TOKEN = "soak-token"  # noqa: S105 - the simulator's token for this run
RATES = (0.3, 0.7, 1.0)
FAILED_POLL = re.compile(r"poll of (\w+) target (\S+) failed: ([^|]+)")
FAILED_HISTORY = re.compile(r"run history of build job \S+ failed, fetched again in a later cycle: ([^|]+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def exporter_command() -> list[str]:
    """The installed ``codearts-exporter`` beside this interpreter, else ``python -m exporter``."""
    script = Path(sys.executable).with_name("codearts-exporter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "exporter"]


DEPLOY_PROJECT = "d5" * 16  # a CodeArts Deploy project of DEPLOY_APPS applications beside the generated world
DEPLOY_APPS = 150


def make_world(seed: int) -> World:
    world = World.generated(projects=6, jobs_per_project=120, repositories=2, pipelines_per_repo=3,
                            jobs_per_pipeline=25, seed=seed)
    world.deploy_service = DeployService(seed, {DEPLOY_PROJECT: DEPLOY_APPS})
    return world


def write_config(path: Path, url: str, world: World, interval: float, timeout: float, history: bool) -> None:
    repos: dict[int, list[int]] = {}
    for repo, pipeline in world.pipeline_keys():
        repos.setdefault(repo, []).append(pipeline)
    lines = ["region: soak", "endpoints:", f"  repo: {url}", f"  build: {url}", f"  deploy: {url}", "auth:",
             f"  token: {TOKEN}",
             "poll:", f"  interval_seconds: {interval}", f"  timeout_seconds: {timeout}", "  concurrency: 4",
             # Backoff capped at one interval: the soak checks recovery within two intervals of the end of
             # faults; with the default cap (600 s) a long-failing target would take up to that long.
             f"  max_backoff_seconds: {interval}", "repositories:"]
    for repo, pipelines in repos.items():
        lines += [f"  - id: {repo}", f"    pipelines: {pipelines}"]
    lines.append("projects:")
    lines += [f"  - id: {project}" for project in world.project_ids()]
    lines += ["deploy_projects:", f"  - id: {DEPLOY_PROJECT}"]
    lines += ["history:", f"  enabled: {'true' if history else 'false'}"]
    path.write_text("\n".join(lines) + "\n")


def targets_of(world: World) -> list[str]:
    return ([f"repo:{r}/{p}" for r, p in world.pipeline_keys()] + [f"build:{p}" for p in world.project_ids()]
            + [f"deploy:{DEPLOY_PROJECT}"])


def fault_mix(targets: list[str], rng: random.Random, timeout: float) -> list[dict[str, Any]]:
    """A fresh mix: about half the targets get a fault, on a random share of their requests."""
    mix = []
    faults = list(Fault)
    for target in targets:
        if rng.random() < 0.5:
            continue
        fault = rng.choice(faults)
        delay = rng.uniform(0.1, 2 * timeout) if fault is Fault.LATENCY else None
        mix.append({"on": target, "fault": fault.value, "rate": rng.choice(RATES), "delay": delay})
    for route in ("repo_jobs", "build_jobs", "deploy_list"):  # and a light background of throttling everywhere
        fault = Fault.BUILD_THROTTLED if route == "build_jobs" else Fault.THROTTLED
        mix.append({"on": route, "fault": fault.value, "rate": 0.1, "delay": None})
    # Run history's records requests: a random fault half of the time, else the background throttling.
    fault = rng.choice(faults) if rng.random() < 0.5 else Fault.BUILD_THROTTLED
    delay = rng.uniform(0.1, 2 * timeout) if fault is Fault.LATENCY else None
    rate = 0.1 if fault is Fault.BUILD_THROTTLED else rng.choice(RATES)
    mix.append({"on": "build_records", "fault": fault.value, "rate": rate, "delay": delay})
    return mix


def simulator_child(seed: int) -> int:
    """Serve the soak's world; read commands from stdin (JSON lines), answer each on stdout."""
    sim = Simulator(make_world(seed), token=TOKEN, seed=seed)
    sim.start()
    print(json.dumps({"url": sim.url}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "faults":
            sim.clear_faults()
            for item in command["mix"]:
                sim.set_fault(item["on"], Fault(item["fault"]), rate=item["rate"], delay=item["delay"])
        elif command["op"] == "clear":
            sim.clear_faults()
        elif command["op"] == "stop":
            break
        print(json.dumps({"requests": sim.request_count()}), flush=True)
    sim.stop()
    return 0


class SimulatorProcess:
    """The simulator in a child process, driven over its stdin."""

    def __init__(self, seed: int) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--simulator-child", "--seed", str(seed)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self._read()["url"]
        self.requests = 0

    def _read(self) -> dict[str, Any]:
        stdout: IO[str] = self.process.stdout  # type: ignore[assignment]
        return json.loads(stdout.readline())

    def command(self, op: str, **fields: Any) -> None:
        stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        stdin.write(json.dumps({"op": op, **fields}) + "\n")
        stdin.flush()
        self.requests = self._read()["requests"]

    def stop(self) -> None:
        try:
            self.command("clear")
            stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
            stdin.write(json.dumps({"op": "stop"}) + "\n")
            stdin.close()
            self.process.wait(10)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            self.process.kill()


class RssSampler(threading.Thread):
    """Reads a process's RSS every ``every`` seconds: (seconds since start, KiB)."""

    def __init__(self, pid: int, every: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.started = time.monotonic()
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.samples.append((round(time.monotonic() - self.started, 1), rss_kib(self.pid)))
            except OSError:
                return
            self.done.wait(self.every)


class Scraper:
    """Scrapes, times, and checks every counter against its previous value.

    Every scrape is checked line by line (name and labels as written, value after the last space: the
    exporter writes no timestamps); the last body is also parsed with prometheus_client's parser
    (:meth:`check_last`), which takes ~8 s for a body of ~85,000 samples and, done per scrape, set the
    pace of the old scrape loop (69 scrapes in 600 s). The latency is the exporter's: the time to the
    last byte of the gzipped body, decompressed after the clock stops.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()
        self.decreases: list[str] = []
        self.counters: dict[str, float] = {}
        self.heartbeats: list[float] = []
        self.last: dict[str, float] = {}
        self.last_body = ""

    def scrape(self) -> None:
        started = time.perf_counter()
        try:
            response = self.session.get(self.url + "/metrics", timeout=5, stream=True,
                                        headers={"Accept-Encoding": "gzip"})
            raw = response.raw.read(decode_content=False)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
            self.failures[type(err).__name__] += 1
            return
        self.latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            self.failures[f"http_{response.status_code}"] += 1
            return
        try:
            gzipped = response.headers.get("Content-Encoding") == "gzip"
            body = (gzip.decompress(raw) if gzipped else raw).decode("utf-8")
            samples = {}
            for line in body.splitlines():
                if line and line[0] != "#":
                    series, _, value = line.rpartition(" ")
                    samples[series] = float(value)
        except (ValueError, OSError, EOFError):
            self.failures["unparsable"] += 1
            return
        self.last, self.last_body = samples, body
        for series, value in samples.items():
            if series.split("{", 1)[0].endswith("_total"):
                previous = self.counters.get(series)
                if previous is not None and value < previous:
                    self.decreases.append(f"{series}: {previous} -> {value}")
                self.counters[series] = value
        beat = samples.get("codearts_poller_last_cycle_timestamp_seconds")
        if beat is not None and (not self.heartbeats or beat != self.heartbeats[-1]):
            self.heartbeats.append(beat)

    def check_last(self) -> None:
        """Parse the last body with prometheus_client's parser; a failure counts as a failed scrape."""
        try:
            for _ in text_string_to_metric_families(self.last_body):
                pass
        except ValueError:
            self.failures["unparsable"] += 1

    def _labelled(self, name: str) -> list[tuple[dict[str, str], float]]:
        found = []
        for series, value in self.last.items():
            if series.startswith(name + "{"):
                labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', series[len(name):]))
                found.append((labels, value))
        return found

    def down(self) -> list[str]:
        return sorted(labels["target"] for labels, value in self._labelled("codearts_up") if value != 1)

    def total(self, name: str, label: str) -> dict[str, float]:
        found: Counter[str] = Counter()
        for labels, value in self._labelled(name):
            found[labels[label]] += value
        return dict(found)

    def cycle_seconds(self) -> list[float]:
        """Seconds between successive heartbeats seen (a cycle's length, start to start)."""
        return [round(b - a, 2) for a, b in itertools.pairwise(self.heartbeats)]


def rss_summary(curve: list[tuple[float, int]], step: float) -> list[str]:
    """Lowest and highest RSS (MiB) of each ``step`` seconds of the curve, e.g. ``"30-60s:112-181"``."""
    spans: dict[int, list[int]] = {}
    for at, kib in curve:
        spans.setdefault(int(at // step), []).append(kib)
    return [f"{index * step:g}-{(index + 1) * step:g}s:{min(kibs) // 1024}-{max(kibs) // 1024}"
            for index, kibs in sorted(spans.items())]


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
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds with faults before the first RSS reading that growth is measured from")
    parser.add_argument("--rss-every", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--rss-window", type=float, default=60.0,
                        help="seconds at the start and the end of the measured run whose peak RSS is compared")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-history", action="store_true", help="run with history.enabled: false")
    parser.add_argument("--json", type=Path, default=Path("bench/results/soak.json"))
    parser.add_argument("--simulator-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.simulator_child:
        return simulator_child(args.seed)

    world = make_world(args.seed)  # the child builds the same world from the same seed
    sim = SimulatorProcess(args.seed)
    rng = random.Random(args.seed)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    config = workdir / "config.yaml"
    write_config(config, sim.url, world, args.interval, args.timeout, not args.no_history)
    log_path = workdir / "exporter.log"
    with open(log_path, "w") as log_file:
        exporter = subprocess.Popen([*exporter_command(), "--config.file", str(config),
                                     "--web.listen-address", f"127.0.0.1:{port}"], stdout=log_file, stderr=log_file)
    sampler = RssSampler(exporter.pid, args.rss_every)
    sampler.start()
    scraper = Scraper(f"http://127.0.0.1:{port}")
    targets = targets_of(world)
    faults_used: Counter[str] = Counter()
    records_faults: Counter[str] = Counter()

    def apply(mix: list[dict[str, Any]]) -> None:
        sim.command("faults", mix=mix)
        faults_used.update(item["fault"] for item in mix if item["on"] in targets)
        records_faults.update(item["fault"] for item in mix if item["on"] == "build_records")

    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not scraper.last:
            time.sleep(0.2)
            scraper.scrape()
        # Warm up with faults on and the scrape loop running, so the first RSS reading is of an exporter
        # that has met them, has counted runs, and has served the formats it will serve.
        warm_until = time.monotonic() + args.warmup
        next_mix = time.monotonic()
        while (now := time.monotonic()) < warm_until:
            if now >= next_mix:
                apply(fault_mix(targets, rng, args.timeout))
                next_mix = now + args.fault_period
            scraper.scrape()
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
        measured_from = time.monotonic() - sampler.started
        scraper = Scraper(scraper.url)  # the measured run starts here
        requests_before = sim.requests
        started = time.monotonic()
        faults_end = started + args.duration - args.recovery
        recovered_after: float | None = None
        faults_on = True
        while (now := time.monotonic()) < started + args.duration:
            if faults_on and now >= faults_end:
                sim.command("clear")
                faults_on = False
            elif faults_on and now >= next_mix:
                apply(fault_mix(targets, rng, args.timeout))
                next_mix = now + args.fault_period
            scraper.scrape()
            if not faults_on and recovered_after is None and scraper.last and not scraper.down():
                recovered_after = time.monotonic() - faults_end
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
        measured_until = time.monotonic() - sampler.started
        still_down = scraper.down()
        scraper.check_last()
        sim.command("clear")
        simulator_requests = sim.requests - requests_before
    finally:
        sampler.done.set()
        exporter.terminate()
        exporter.wait(10)
        sim.stop()

    log_text = log_path.read_text(errors="replace")
    failed_polls = Counter(_reason(match[3]) for match in FAILED_POLL.finditer(log_text))
    failed_history = Counter(_reason(match[1]) for match in FAILED_HISTORY.finditer(log_text))
    cycles = scraper.cycle_seconds()
    curve = sampler.samples
    first = [kib for at, kib in curve if measured_from <= at <= measured_from + args.rss_window]
    last = [kib for at, kib in curve if measured_until - args.rss_window <= at <= measured_until]
    rss_start, rss_end = max(first, default=0), max(last, default=0)
    report = {
        "machine": f"{platform.node()} {platform.machine()} {platform.python_version()}",
        # Which code ran: a stale non-editable install beside this interpreter would be measured instead
        # of the checkout, without this line in the report.
        "exporter_package": str(Path(exporter_package.__file__).parent),
        "history": not args.no_history,
        "duration_seconds": args.duration, "warmup_seconds": args.warmup, "recovery_seconds": args.recovery,
        "interval_seconds": args.interval, "timeout_seconds": args.timeout,
        "targets": len(targets), "fault_modes_used": dict(faults_used),
        "records_route_faults": dict(records_faults),
        "poll_cycles": len(scraper.heartbeats),
        "cycle_seconds_p50": percentile(cycles, 0.5), "cycle_seconds_max": max(cycles, default=float("nan")),
        "api_requests_by_code": scraper.total("codearts_api_requests_total", "code"),
        "api_retries_by_reason": scraper.total("codearts_api_retries_total", "reason"),
        "api_throttled": scraper.total("codearts_api_throttled_total", "api"),
        "failed_polls_by_reason": dict(failed_polls.most_common()),
        "failed_history_fetches_by_reason": dict(failed_history.most_common()),
        "simulator_requests": simulator_requests,
        "scrapes": len(scraper.latencies) + sum(scraper.failures.values()),
        "scrape_failures": dict(scraper.failures),
        "scrape_p50_ms": round(percentile(scraper.latencies, 0.50) * 1000, 2),
        "scrape_p99_ms": round(percentile(scraper.latencies, 0.99) * 1000, 2),
        "body_samples": len(scraper.last),
        "rss_measured_from_seconds": round(measured_from, 1),
        "rss_peak_first_window_kib": rss_start, "rss_peak_last_window_kib": rss_end,
        "rss_low_first_window_kib": min(first, default=0), "rss_low_last_window_kib": min(last, default=0),
        "rss_growth_percent": round(100 * (rss_end - rss_start) / max(rss_start, 1), 1),
        "rss_curve_kib": rss_summary(curve, 30.0),
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
    report["rss_samples"] = curve
    report["heartbeats"] = scraper.heartbeats
    report["faults_stopped_at"] = time.time() - (time.monotonic() - faults_end)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    width = max(len(key) for key in report)
    for key, value in report.items():
        if key not in ("checks", "rss_samples", "heartbeats", "faults_stopped_at"):
            print(f"{key:<{width}}  {value}")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print(f"log: {log_path}   json: {args.json}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
