"""Polls every target on a schedule with bounded concurrency and swaps in a fresh snapshot per cycle."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any, Protocol

from exporter.client import CodeArtsClient
from exporter.config import Config
from exporter.errors import AuthError, CodeArtsError
from exporter.lifecycle import merge_listing
from exporter.retry import TargetBackoff
from exporter.snapshot import REPO_API, Snapshot, Target, TargetState

log = logging.getLogger(__name__)


def targets_from_config(config: Config) -> tuple[Target, ...]:
    """Every target the configuration names, pipelines first, in configuration order."""
    pipelines = [Target.pipeline(repo.id, pipeline) for repo in config.repositories for pipeline in repo.pipelines]
    projects = [Target.project(project.id) for project in config.projects]
    return (*pipelines, *projects)


class ListingObserver(Protocol):
    """A step run after each successful listing of a target (run history)."""

    def after_listing(self, target: Target, records: Iterable[Any]) -> None:
        """Look at the records of ``target`` just listed."""


class Poller:
    """Runs poll cycles in a background thread; :attr:`snapshot` is always the latest complete one."""

    def __init__(
        self,
        targets: Iterable[Target],
        client: CodeArtsClient,
        *,
        interval: float,
        concurrency: int,
        clock: Callable[[], float] = time.time,
        on_swap: Callable[[Snapshot], None] | None = None,
        history: ListingObserver | None = None,
        job_grace: float = 0.0,
        backoff: TargetBackoff | None = None,
        cycle_timeout: float | None = None,
    ) -> None:
        self.client = client
        self.history = history
        self.interval = interval
        self.clock = clock
        self.job_grace = job_grace
        self.backoff = backoff or TargetBackoff(interval, interval)
        # Requests end by their own timeouts; this is the last guard, against a bug that hangs a worker.
        # Generous, because a cycle may rightly outlast the interval when the rate limit is the bottleneck.
        self.cycle_timeout = 5 * interval if cycle_timeout is None else cycle_timeout
        self._on_swap = on_swap
        self._concurrency = concurrency
        self._workers = self._new_workers()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cycle_lock = threading.Lock()
        self.snapshot = Snapshot(0, None, tuple(TargetState(t) for t in targets))

    def poll_once(self) -> Snapshot:
        """Run one cycle over every target now and return (and publish) the new snapshot."""
        with self._cycle_lock:
            previous = self.snapshot
            states = self._poll_due(previous.states)
            snapshot = Snapshot(previous.generation + 1, self.clock(), states)
            # Render first, publish second: once /readyz (which reads self.snapshot) sees this cycle,
            # /metrics already serves it.
            if self._on_swap is not None:
                self._on_swap(snapshot)
            self.snapshot = snapshot  # one reference assignment: readers see the old or the new, whole
        return snapshot

    def start(self) -> None:
        """Start polling in the background: a first cycle at once, then one per interval."""
        self._thread = threading.Thread(target=self._run, name="poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop after the current cycle; wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._workers.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.poll_once()
            except Exception:  # the loop must outlive any bug in one cycle
                log.exception("poll cycle failed; the next cycle runs as scheduled")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _new_workers(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="poll")

    def _due(self, state: TargetState, now: float) -> bool:
        # Half an interval of slack: a cycle that starts a little early still polls a target due in it.
        return state.next_poll_at is None or now >= state.next_poll_at - self.interval / 2

    def _submit(self, state: TargetState) -> Future[TargetState]:
        try:
            return self._workers.submit(self._poll_target, state)
        except RuntimeError:  # the pool was shut down under us: replace it rather than stop polling
            log.warning("poll workers were gone; starting new ones")
            self._workers = self._new_workers()
            return self._workers.submit(self._poll_target, state)

    def _poll_due(self, states: tuple[TargetState, ...]) -> tuple[TargetState, ...]:
        """Poll every target that is due, within the cycle timeout; a target backing off keeps its state."""
        now = self.clock()
        futures = {index: self._submit(state) for index, state in enumerate(states) if self._due(state, now)}
        _, late = wait(futures.values(), timeout=self.cycle_timeout)
        if late:
            # Those workers are stuck (their requests will still end by timeout): leave them to it and
            # poll the next cycle on fresh workers, so a wedged request can never stall the loop.
            log.warning("%d polls did not finish within %gs; replacing the poll workers", len(late),
                        self.cycle_timeout)
            old, self._workers = self._workers, self._new_workers()
            old.shutdown(wait=False, cancel_futures=True)
        result = []
        for index, state in enumerate(states):
            future = futures.get(index)
            if future is None:
                result.append(state)
            elif future in late:
                result.append(self._failed(state, now, self.cycle_timeout,
                                           f"poll did not finish within {self.cycle_timeout:g}s"))
            else:
                result.append(self._outcome(state, future, now))
        return tuple(result)

    def _outcome(self, state: TargetState, future: Future[TargetState], now: float) -> TargetState:
        try:
            return future.result()
        except BaseException as err:  # noqa: BLE001 - even a worker killed by SystemExit costs one poll only
            log.error("poll worker of %s target %s died: %r", state.target.api, state.target.key, err)
            return self._failed(state, now, 0.0, f"internal error: {type(err).__name__}")

    def _failed(self, state: TargetState, at: float, duration: float, error: str,
                backoff: bool = True) -> TargetState:
        failed = state.failed(at, duration, error)
        if not backoff or failed.failures < 2:
            return failed  # polled again at the next cycle
        return replace(failed, next_poll_at=at + self.backoff.delay(failed.failures))

    def _poll_target(self, state: TargetState) -> TargetState:
        target = state.target
        started = time.monotonic()
        at = self.clock()
        try:
            if target.api == REPO_API:
                listing = self.client.list_pipeline_jobs(target.repository_id, target.pipeline_id)
                fresh = TargetState(target, pipeline_jobs=listing.records)
            else:
                listing = self.client.list_build_jobs(target.project_id)
                fresh = TargetState(target, build_jobs=listing.records)
        except CodeArtsError as err:
            log.warning("poll of %s target %s failed: %s", target.api, target.key, err)
            # Credentials are shared by every target and the auth mode backs off itself: when they are
            # fixed, every target must come back at the next cycle.
            return self._failed(state, at, time.monotonic() - started, str(err),
                                backoff=not isinstance(err, AuthError))
        except Exception as err:  # a bug must cost one target one poll, not the cycle
            log.exception("poll of %s target %s crashed", target.api, target.key)
            return self._failed(state, at, time.monotonic() - started, f"internal error: {type(err).__name__}")
        self._observe(target, listing.records)
        finished = self.clock()
        pipeline_jobs, missing = merge_listing(state.pipeline_jobs, state.missing_since, fresh.pipeline_jobs,
                                               lambda job: str(job.id), finished, self.job_grace)
        build_jobs, build_missing = merge_listing(state.build_jobs, state.missing_since, fresh.build_jobs,
                                                  lambda job: job.id, finished, self.job_grace)
        return TargetState(
            target, polled=True, up=True, last_poll_at=at, last_success_at=finished,
            poll_duration=time.monotonic() - started, data_at=finished,
            pipeline_jobs=pipeline_jobs, build_jobs=build_jobs, missing_since=missing or build_missing,
        )

    def _observe(self, target: Target, records: Iterable[Any]) -> None:
        if self.history is None:
            return
        try:
            self.history.after_listing(target, records)
        except Exception:  # run history must never cost a target its listing
            log.exception("run history step for %s target %s crashed", target.api, target.key)
