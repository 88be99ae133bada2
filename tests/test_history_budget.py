"""A backlog of run history never holds back a listing: the per-cycle budget of records requests.

Real simulator over HTTP, fake clock. With a tiny budget and many jobs that ran, every cycle still
lists every target (``codearts_up 1``, last success = that cycle's time) and sends at most the budget
in records requests; the counters catch up over a few cycles, exactly to the ground truth.
"""

from __future__ import annotations

import math
import threading

from exporter.config import load_config
from exporter.poller import Poller, PollerHooks, PollerSettings
from exporter.simulator import Fault, World
from exporter.sources.build import history as build_history
from exporter.sources.build.fetch import list_build_jobs
from exporter.sources.build.targets import project_target
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import make_history, parse_samples, write_config
from .helpers.historyrig import BOUNDS, P1, P2, T0, assert_build_counts_equal, build_truth, series

BUDGET = 3


def make_exporter(tmp_path, url: str, now: list[float], extra: str = "", rate_limit: str | None = None) -> Exporter:
    # The per-job records API: its budget in requests is what these tests are about (batches: test_history_batch).
    history = f"history:\n  api: v1\n  buckets: [{BOUNDS}]\n  queued_buckets: [10, 100]\n{extra}"
    options = {} if rate_limit is None else {"rate_limit": rate_limit}
    config = load_config(write_config(tmp_path / "c.yaml", url, projects=[P1, P2], extra=history, **options),
                         sources=BUILTIN)
    return Exporter(config, clock=lambda: now[0])


def test_a_history_backlog_does_not_hold_back_freshness_and_counts_converge_exactly(tmp_path, simulator_factory):
    now = [T0]
    world = World(seed=5, clock=lambda: now[0], projects={P1: 20, P2: 12})
    sim = simulator_factory(world)
    exporter = make_exporter(tmp_path, sim.url, now, f"  max_requests_per_cycle: {BUDGET}\n")
    history = exporter.history
    assert history is not None
    try:
        exporter.poll_once()  # first sight: marks only
        now[0] += 3 * 3600  # every job has run since: a backlog far larger than one cycle's budget
        backlog_from = now[0]
        cycles = 0
        previous_counted = 0.0
        while True:
            before = sim.request_count("build_records")
            listings_before = sim.request_count("build_jobs")
            snapshot = exporter.poll_once()
            cycles += 1
            found = parse_samples(exporter.metrics_text().decode())
            # Freshness first: every target listed this cycle, whatever is still waiting for history.
            assert snapshot.all_up()
            assert sim.request_count("build_jobs") - listings_before >= 2
            for project in (P1, P2):
                labels = frozenset({"api": "build", "target": project}.items())
                assert found[("codearts_up", labels)] == 1
                assert found[("codearts_last_success_timestamp_seconds", labels)] == now[0]
            assert sim.request_count("build_records") - before <= BUDGET  # one page per job: behind < 100 runs
            counted = sum(series(found, "codearts_build_runs_total").values())
            assert counted >= previous_counted  # counters only grow while catching up
            previous_counted = counted
            if history.part("build").pending_jobs() == 0:
                break
            assert cycles < 40, "the backlog did not drain"
            now[0] += 1  # cycles a second apart: freshness moves on while the backlog drains
        jobs = {key[:2] for key in build_truth(world, T0, backlog_from)[0]}
        assert len(jobs) > 4 * BUDGET  # the backlog really outlasted several cycles
        # Least recently tried first: every job waited its turn once, not more (a job that ran again
        # meanwhile may need one more fetch, hence the slack of a few cycles).
        assert cycles <= math.ceil(len(jobs) / BUDGET) + 3, cycles
        assert_build_counts_equal(found, build_truth(world, T0, now[0]))
    finally:
        exporter.close()


def test_without_a_budget_one_cycle_fetches_the_whole_backlog(tmp_path, simulator_factory):
    now = [T0]
    world = World(seed=5, clock=lambda: now[0], projects={P1: 20, P2: 12})
    sim = simulator_factory(world)
    exporter = make_exporter(tmp_path, sim.url, now, "  max_requests_per_cycle: 100000\n")
    try:
        exporter.poll_once()
        now[0] += 3 * 3600
        exporter.poll_once()
        assert exporter.history is not None and exporter.history.part("build").pending_jobs() == 0
        truth = build_truth(world, T0, now[0])
        assert sim.request_count("build_records") == len({key[:2] for key in truth[0]})
        assert_build_counts_equal(parse_samples(exporter.metrics_text().decode()), truth)
    finally:
        exporter.close()


def test_jobs_whose_fetch_failed_wait_behind_the_others_and_are_counted_later(tmp_path, simulator_factory):
    now = [T0]
    world = World(seed=5, clock=lambda: now[0], projects={P1: 20})
    sim = simulator_factory(world)
    exporter = make_exporter(tmp_path, sim.url, now, "  max_requests_per_cycle: 2\n")
    try:
        exporter.poll_once()
        now[0] += 3 * 3600
        behind = {key[1] for key in build_truth(world, T0, now[0])[0]}
        sim.set_fault("build_records", Fault.HTTP_500, times=2)  # the first cycle's two fetches fail
        fetched: list[list[str]] = []
        for _ in range(math.ceil(len(behind) / 2) + 1):
            seen = len(sim.requests)
            exporter.poll_once()
            fetched.append([record.path.split("/")[3] for record in sim.requests[seen:]
                            if record.route == "build_records"])
        assert exporter.history is not None and exporter.history.part("build").pending_jobs() == 0
        failed = set(fetched[0])
        assert len(failed) == 2
        assert not failed & set(fetched[1])  # the others first: a failing job cannot hold the front
        assert failed <= {job for cycle in fetched[-2:] for job in cycle}  # retried once the rest had a turn
        assert sum(len(cycle) for cycle in fetched) == len(behind) + 2
        assert_build_counts_equal(parse_samples(exporter.metrics_text().decode()), build_truth(world, T0, now[0]))
    finally:
        exporter.close()


def test_the_default_budget_is_a_quarter_of_the_build_rate_over_an_interval(tmp_path):
    config = load_config(write_config(tmp_path / "c.yaml", "http://127.0.0.1:9", projects=[P1],
                                      rate_limit="{build: 5}"), sources=BUILTIN)
    exporter = Exporter(config)
    try:
        assert exporter.history.part("build").requests_per_cycle == 75  # 5/s x 60 s / 4
    finally:
        exporter.close()
    configured = load_config(write_config(tmp_path / "d.yaml", "http://127.0.0.1:9", projects=[P1],
                                          extra="history:\n  max_requests_per_cycle: 7\n"), sources=BUILTIN)
    exporter = Exporter(configured)
    try:
        assert exporter.history.part("build").requests_per_cycle == 7
    finally:
        exporter.close()


class Unruly:
    """A run history whose catch-up crashes, dies or hangs: the listings must not notice."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.listed: list[str] = []
        self.release = threading.Event()

    def after_listing(self, target, records) -> None:
        self.listed.append(target.key)

    def part(self, kind):
        return None

    def catch_up_tasks(self):
        if self.mode == "plan":
            raise RuntimeError("bug while planning")
        if self.mode == "hang":
            return [self.release.wait, lambda: None]

        def die() -> None:
            raise SystemExit(3) if self.mode == "die" else RuntimeError("bug in a fetch")

        return [die, lambda: None]


def test_a_history_step_that_crashes_or_hangs_costs_no_listing(tmp_path, simulator_factory):
    now = [T0]
    sim = simulator_factory(World(seed=5, clock=lambda: now[0], projects={P1: 3, P2: 3}))
    exporter = make_exporter(tmp_path, sim.url, now)
    targets = [state.target for state in exporter.poller.snapshot.states]
    try:
        for mode in ("plan", "fetch", "die", "hang"):
            history = Unruly(mode)
            poller = Poller(targets, exporter.client, PollerSettings(interval=60, concurrency=2, cycle_timeout=0.5),
                            stats=exporter.stats, rate_limits=exporter.client.rate_limits,
                            hooks=PollerHooks(history=history), clock=lambda: now[0], sources=BUILTIN)
            try:
                for _ in range(2):  # and the next cycle runs as well (on fresh workers after a hang)
                    snapshot = poller.poll_once()
                    assert snapshot.all_up() and all(state.last_success_at == now[0] for state in snapshot.states)
                    now[0] += 60
                assert sorted(history.listed) == sorted([P1, P2] * 2)
            finally:
                history.release.set()
                poller.stop()
    finally:
        exporter.close()


def test_fetches_not_started_in_time_leave_their_jobs_first_in_line(tmp_path, simulator_factory, monkeypatch):
    now = [T0]
    world = World(seed=5, clock=lambda: now[0], projects={P1: 20})
    sim = simulator_factory(world)
    exporter = make_exporter(tmp_path, sim.url, now)
    ticks = [0.0]  # the history's monotonic clock: each records request takes one second of it
    history = make_history(exporter.client, config=exporter.config, requests_per_cycle=2,
                           monotonic=lambda: ticks[0])
    client_page = build_history.build_records_page

    def slow_page(*args):
        ticks[0] += 1
        return client_page(*args)

    monkeypatch.setattr(build_history, "build_records_page", slow_page)
    target = project_target(P1)
    try:
        history.after_listing(target, list_build_jobs(exporter.client, P1).records)
        now[0] += 3 * 3600
        history.after_listing(target, list_build_jobs(exporter.client, P1).records)
        behind = history.part("build").pending_jobs()
        assert behind > 6
        sim.set_fault("build_records", Fault.HTTP_500, times=2)
        tasks = history.catch_up_tasks()  # a budget of 2: two jobs have their turn, and their fetches fail
        for task in tasks:
            task()
        failed = [task.entry.job.id for task in tasks]
        assert history.part("build").pending_jobs() == behind and sim.request_count("build_records") == 2
        history.part("build").requests_per_cycle = None  # from here only the time cap holds fetches back
        tasks = history.catch_up_tasks(within=2.5)
        waiting = [task.entry.job.id for task in tasks]
        assert len(waiting) == behind and waiting[-2:] == failed  # tried last cycle: behind the others
        for task in tasks:  # one after another: they start at 0, 1 and 2 s; the rest are past 2.5 s
            task()
        assert sim.request_count("build_records") == 2 + 3
        assert history.part("build").pending_jobs() == behind - 3
        # The jobs whose turn did not start keep their place: ahead of the two that failed earlier.
        tasks = history.catch_up_tasks()
        assert [task.entry.job.id for task in tasks] == waiting[3:]
        for task in tasks:
            task()
        assert history.part("build").pending_jobs() == 0
        counted = {(*labels, status): count for (kind, labels), job in history.view().jobs.items()
                   if kind == "build" for status, count in job.runs if count}
        assert counted == dict(build_truth(world, T0, now[0])[0])  # each run once, none lost
    finally:
        exporter.close()
