"""Shards on one machine against one simulator: does the union of the shards equal one unsharded exporter?

Starts the simulator (a frozen clock, so every process sees the same data), one unsharded exporter
process, then N shard processes at once (``--shard i --total-shards N``), scrapes each once every target
has been polled, and compares job-level series (everything but each process's own counters, and the
moment and duration of its polls). Prints a table, writes bench/results/shards.json.

    python bench/shards.py [--shards 4] [--projects 60] [--jobs 40] [--pipelines 40]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from exporter.simulator import DEFAULT_TOKEN, Simulator, World

FROZEN_AT = 1_750_000_000.0
PER_PROCESS = {"codearts_api_requests_total", "codearts_records_skipped_total", "codearts_exporter_build_info",
               "codearts_exporter_shard", "codearts_exporter_total_shards"}
POLL_TIME = {"codearts_last_success_timestamp_seconds", "codearts_poll_duration_seconds"}
RESULTS = Path(__file__).parent / "results"


def write_config(path: Path, url: str, world: World) -> None:
    repos: dict[int, list[int]] = {}
    for repo, pipeline in world.pipeline_keys():
        repos.setdefault(repo, []).append(pipeline)
    lines = ["region: bench", "endpoints:", f"  repo: {url}", f"  build: {url}", "auth:", f"  token: {DEFAULT_TOKEN}",
             "poll:", "  interval_seconds: 3600", "  timeout_seconds: 30", "  concurrency: 4", "repositories:"]
    for repo, pipelines in repos.items():
        lines += [f"  - id: {repo}", f"    pipelines: {pipelines}"]
    lines += ["projects:"] + [f"  - id: {project}" for project in world.project_ids()]
    path.write_text("\n".join(lines) + "\n")


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(workdir: Path, config: Path, shard_args: list[list[str]]) -> list[dict]:
    """Start the processes together; once each has polled every target, scrape and measure it."""
    started = time.monotonic()
    procs = []
    for i, extra in enumerate(shard_args):
        log = workdir / f"{len(shard_args)}-{i}.log"
        with log.open("w") as handle:
            procs.append((subprocess.Popen([sys.executable, "-m", "exporter", "--config.file", str(config),
                                            "--web.listen-address", "127.0.0.1:0", *extra],
                                           stdout=subprocess.DEVNULL, stderr=handle), log))
    results = []
    try:
        for proc, log in procs:
            results.append(wait_and_scrape(proc, log, started))
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(timeout=10)
    return results


def wait_and_scrape(proc: subprocess.Popen, log: Path, started: float) -> dict:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        match = re.search(r"serving metrics on (http://\S+)/metrics", log.read_text())
        if match:
            found = samples(requests.get(f"{match.group(1)}/metrics", timeout=30).text)
            up = {labels for name, labels in found if name == "codearts_up"}
            if up == {labels for name, labels in found if name == "codearts_poll_duration_seconds"}:
                return {"samples": found, "ready_s": time.monotonic() - started, "rss_mib": rss_mib(proc.pid),
                        "targets": len(up)}
        time.sleep(0.05)
    raise RuntimeError(f"not ready: {log}")


def job_level(found: dict) -> dict:
    return {key: value for key, value in found.items() if key[0] not in PER_PROCESS}


def requests_of(found: dict) -> float:
    return sum(v for (name, _), v in found.items() if name == "codearts_api_requests_total")


def compare(whole: dict, shards: list[dict]) -> dict:
    """Series and value equality of the union of the shards with the unsharded scrape."""
    union: dict = {}
    overlaps = 0
    for shard in shards:
        series = job_level(shard["samples"])
        overlaps += len(set(series) & set(union))
        union.update(series)
    expected = job_level(whole["samples"])
    differing = [key for key in set(union) & set(expected) if key[0] not in POLL_TIME
                 and not (union[key] == expected[key] or (key[0] == "codearts_repo_pipeline_job_duration_seconds"
                                                          and abs(union[key] - expected[key]) < 600))]
    return {"series_unsharded": len(expected), "series_union": len(union), "overlapping_series": overlaps,
            "missing": len(set(expected) - set(union)), "extra": len(set(union) - set(expected)),
            "differing_values": len(differing)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--projects", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=40, help="build jobs per project")
    parser.add_argument("--pipelines", type=int, default=40)
    args = parser.parse_args()
    world = World.generated(projects=args.projects, jobs_per_project=args.jobs, repositories=4,
                            pipelines_per_repo=args.pipelines // 4, jobs_per_pipeline=14, seed=3,
                            clock=lambda: FROZEN_AT)
    with tempfile.TemporaryDirectory() as tmp, Simulator(world, token=DEFAULT_TOKEN) as sim:
        workdir = Path(tmp)
        config = workdir / "config.yaml"
        write_config(config, sim.url, world)
        [whole] = run(workdir, config, [[]])
        whole_requests = sim.request_count()
        sim.reset_counts()
        shards = run(workdir, config, [["--shard", str(i), "--total-shards", str(args.shards)]
                                       for i in range(args.shards)])
        shard_requests = sim.request_count()
    rows = [("unsharded", whole)] + [(f"shard {i}/{args.shards}", shard) for i, shard in enumerate(shards)]
    print(f"{'process':<14}{'targets':>8}{'job series':>12}{'requests':>10}{'ready s':>9}{'RSS MiB':>9}")
    table = []
    for name, row in rows:
        line = {"process": name, "targets": row["targets"], "series": len(job_level(row["samples"])),
                "requests": requests_of(row["samples"]), "ready_s": round(row["ready_s"], 2),
                "rss_mib": round(row["rss_mib"], 1)}
        table.append(line)
        print(f"{name:<14}{line['targets']:>8}{line['series']:>12}{line['requests']:>10.0f}"
              f"{line['ready_s']:>9.2f}{line['rss_mib']:>9.1f}")
    verdict = compare(whole, shards)
    verdict.update(requests_unsharded_at_simulator=whole_requests, requests_sharded_at_simulator=shard_requests)
    print(" ".join(f"{key}={value}" for key, value in verdict.items()))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "shards.json").write_text(json.dumps({"args": vars(args), "rows": table, "verdict": verdict}, indent=2))
    same = (verdict["missing"] == verdict["extra"] == verdict["overlapping_series"] == verdict["differing_values"] == 0
            and whole_requests == shard_requests)
    print("union of the shards == unsharded output: " + ("yes" if same else "NO"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
