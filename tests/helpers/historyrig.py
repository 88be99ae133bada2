"""The run-history rig and its ground truth, shared by the history, budget, batch, state-file and exposition tests."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from exporter.config import load_config
from exporter.simulator import World
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from ..conftest import parse_samples, write_config

P1, P2 = "6ecbc5bac7c8442fb3d2563d53c13582", "72271b5446614062a01b8be944c9f372"
T0 = 1_750_000_000.0


REPO = 2111976239


# Written out here, independently of the exporter: world outcome -> build run status.
BUILD_STATUS = {"success": "success", "failed": "failed", "timedout": "timedout", "canceled": "aborted"}


TERMINAL = ("success", "failed", "canceled", "skipped", "timedout")


# Poll gaps in seconds: short ones (nothing new), and long ones (several runs of a job per cycle).
GAPS = (30, 90, 700, 45, 1500, 60, 240, 400, 20, 900)


BOUNDS = "60, 150, 300"


class Rig:
    """A world on a fake clock, its simulator, and an exporter that can be restarted."""

    def __init__(self, tmp_path, simulator_factory, *, state: bool, api: str = "v1", window_ms: int | None = None,
                 default_buckets: bool = False, pipeline_projects: dict[str, int] | None = None,
                 deploy_projects: dict[str, int] | None = None,
                 split: str | None = None):
        self.now = [T0]
        options = {} if window_ms is None else {"history_window_ms": window_ms}
        self.world = World(seed=11, clock=lambda: self.now[0], projects={P1: 12, P2: 6},
                           pipelines={(REPO, 6): 9, (REPO, 7): 6}, pipeline_projects=pipeline_projects,
                           deploy_projects=deploy_projects, **options)
        self.sim = simulator_factory(self.world)
        # Few buckets keep the 50-cycle tests fast; test_history_families_match_the_metrics_table uses the defaults.
        extra = f"history:\n  api: {api}\n"
        if not default_buckets:
            extra += f"  buckets: [{BOUNDS}]\n  queued_buckets: [10, 100]\n"
        if state:
            extra += f"state:\n  path: {tmp_path / 'state.json'}\n"
        if split is not None:
            extra += f"metrics:\n  run_duration_by: {split}\n"
        self.split = split or "outcome"
        self.config = load_config(write_config(tmp_path / "c.yaml", self.sim.url, repositories={REPO: [6, 7]},
                                               projects=[P1, P2], extra=extra,
                                               pipeline_projects=list(pipeline_projects or ()),
                                               deploy_projects=list(deploy_projects or ())), sources=BUILTIN)
        self.exporter = Exporter(self.config, clock=lambda: self.now[0])
        self.polls: list[float] = []

    def poll(self) -> None:
        assert self.exporter.poll_once().all_up()
        self.polls.append(self.now[0])

    def restart(self) -> None:
        self.exporter.close()
        self.exporter = Exporter(self.config, clock=lambda: self.now[0])

    def samples(self) -> dict:
        return parse_samples(self.exporter.metrics_text().decode())

    def close(self) -> None:
        self.exporter.close()


def build_truth(world: World, after: float, until: float) -> tuple[Counter, Counter, Counter, Counter]:
    """Runs, run seconds, queue seconds and runs of at most 150 s per (project_id, job_id, job, status)
    finished in (after, until]."""
    runs: Counter = Counter()
    seconds: Counter = Counter()
    queued: Counter = Counter()
    short: Counter = Counter()
    for project in (P1, P2):
        for job, run in world.finished_build_runs(project, after, until):
            key = (project, job["id"], job["job_name"], BUILD_STATUS[run.outcome])
            runs[key] += 1
            short[(*key, "150.0")] += run.duration <= 150_000
            seconds[key] += run.duration / 1000
            queued[key[:3]] += (run.started - run.created) / 1000
    return runs, seconds, queued, short


def iso(text: str) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def pipeline_truth(world: World, baseline: float, polls: list[float]) -> tuple[Counter, Counter]:
    """Terminal pipeline job runs seen in a listing at a poll after ``baseline``, not already terminal then."""
    seen: set = set()
    runs: Counter = Counter()
    seconds: Counter = Counter()
    for at in [baseline, *polls]:
        for pipeline in (6, 7):
            for job in world.pipeline_jobs(REPO, pipeline, at=at):
                if job["status"] not in TERMINAL or (job["id"], job["created_at"]) in seen:
                    continue
                seen.add((job["id"], job["created_at"]))
                if at == baseline:
                    continue
                key = (str(REPO), str(pipeline), job["stage"], job["name"], job["status"])
                runs[key] += 1
                started, finished = iso(job["started_at"]), iso(job["finished_at"])
                seconds[key] += finished - started if started is not None and finished is not None else 0.0
    return runs, seconds


def duration_key(key: tuple, split: str, at: int = -1) -> tuple:
    """A run key (status at ``at``) as the duration histograms hold it: written out here independently."""
    status = key[at]
    rest = key[at + 1:] if at != -1 else ()
    if split == "none":
        return (*key[:at], *rest)
    return (*key[:at], status if split == "status" else "success" if status == "success" else "failure", *rest)


def by_duration(counter: dict, split: str, at: int = -1) -> Counter:
    grouped: Counter = Counter()
    for key, value in counter.items():
        grouped[duration_key(key, split, at)] += value
    return grouped


def duration_series(found: dict, name: str, labels: int) -> dict[tuple, float]:
    """Samples of a duration histogram keyed by the job's ``labels`` label values, then the class, then le."""
    out = {}
    for (sample, pairs), value in found.items():
        if sample != name:
            continue
        values = dict(pairs)
        le = (values.pop("le"),) if "le" in values else ()
        klass = tuple(values.pop(key) for key in ("status", "outcome") if key in values)
        spec = next(spec for spec in BUILTIN.specs() if name.startswith(spec.name))
        out[(*(values[key] for key in spec.labels[:labels]), *klass, *le)] = value
    return out


def series(found: dict, name: str) -> dict[tuple, float]:
    """Samples of one name, keyed by their label values in the spec's label order."""
    spec = next(spec for spec in BUILTIN.specs() if name.startswith(spec.name))
    order = [*spec.labels, "le"]
    return {tuple(dict(labels)[key] for key in order if key in dict(labels)): value
            for (sample, labels), value in found.items() if sample == name}


def assert_build_counts_equal(found: dict, truth: tuple[Counter, Counter, Counter, Counter],
                              split: str = "outcome") -> None:
    runs, seconds, queued, short = truth
    counters = series(found, "codearts_build_runs_total")
    assert counters, "no build run counters served"
    assert set(runs) <= set(counters), "a label set was not pre-initialised"
    short = by_duration(short, split, -2)
    for key, value in duration_series(found, "codearts_build_run_duration_seconds_bucket", 3).items():
        if key[-1] == "150.0":
            assert value == short[key], key
    for key, value in counters.items():
        assert value == runs[key], key
    counts = duration_series(found, "codearts_build_run_duration_seconds_count", 3)
    sums = duration_series(found, "codearts_build_run_duration_seconds_sum", 3)
    # A histogram per class that counted a run, its _count equal to the counters of its statuses.
    assert counts == {key: n for key, n in by_duration(counters, split).items() if n}
    seconds = by_duration(seconds, split)
    for key, value in sums.items():
        assert value == pytest.approx(seconds[key], abs=1e-6), key
    per_job = Counter()
    for key, value in counters.items():
        per_job[key[:3]] += value
    queued_counts = series(found, "codearts_build_run_queued_seconds_count")
    assert queued_counts == {key: per_job[key] for key in queued_counts}
    for key, value in series(found, "codearts_build_run_queued_seconds_sum").items():
        assert value == pytest.approx(queued[key], abs=1e-6), key


def assert_pipeline_counts_equal(found: dict, truth: tuple[Counter, Counter], split: str = "outcome") -> None:
    runs, seconds = truth
    counters = series(found, "codearts_repo_pipeline_job_runs_total")
    assert set(runs) <= set(counters)
    for key, value in counters.items():
        assert value == runs[key], key
    assert duration_series(found, "codearts_repo_pipeline_job_run_duration_seconds_count", 4) == {
        key: n for key, n in by_duration(counters, split).items() if n}
    seconds = by_duration(seconds, split)
    for key, value in duration_series(found, "codearts_repo_pipeline_job_run_duration_seconds_sum", 4).items():
        assert value == pytest.approx(seconds[key], abs=1e-6), key


def run_cycles(rig: Rig, cycles: range, per_cycle: list | None = None) -> None:
    for cycle in cycles:
        rig.now[0] += GAPS[cycle % len(GAPS)]
        before = rig.sim.request_count("build_records")
        previous = rig.polls[-1]
        rig.poll()
        if per_cycle is not None:
            changed = {key[:2] for key in build_truth(rig.world, previous, rig.now[0])[0]}
            per_cycle.append((rig.sim.request_count("build_records") - before, len(changed)))


@pytest.fixture
def rig_factory(tmp_path, simulator_factory):
    rigs: list[Rig] = []

    def make(**options) -> Rig:
        rig = Rig(tmp_path, simulator_factory, **options)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()
