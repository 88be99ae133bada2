"""Polls every target on a schedule with bounded concurrency and swaps in a fresh snapshot per cycle."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Protocol

from exporter.client import CodeArtsClient
from exporter.cycleaccount import CycleAccounting
from exporter.errors import AuthError, CodeArtsError
from exporter.joblist import merge_listing
from exporter.ratelimit import RateLimits
from exporter.retry import TargetBackoff
from exporter.runhistory.history import HistoryPart
from exporter.snapshot import Snapshot, Target, TargetState
from exporter.sourcetable import SourceTable
from exporter.stats import RequestStats
from exporter.workerpool import WorkerPool

log = logging.getLogger(__name__)
# History fetches start within this share of the interval after the listings: under a slow or failing
# records API, started ones end by their own retry deadline and the rest wait for a later cycle.
HISTORY_START_SHARE = 0.25
HANG_INTERVALS = 5  # by default, polls are given up after this many intervals without progress


class ListingObserver(Protocol):
    """Run history: a step after each successful listing of a target, and requests after every listing."""

    def after_listing(self, target: Target, records: Iterable[Any]) -> None:
        """Look at the records of ``target`` just listed (no request)."""

    def catch_up_tasks(self, within: float | None = None) -> list[Callable[[], None]]:
        """The cycle's history requests, as tasks that may run in parallel, within the cycle's budget;
        a task not started ``within`` seconds from now does nothing."""

    def part(self, kind: str) -> HistoryPart | None:
        """The part of source ``kind``, handed to its :meth:`~exporter.sources.base.Source.complete` (whose
        extra reads share the part's budget)."""


@dataclass(frozen=True, slots=True)
class PollerSettings:
    """How the poller runs: its interval, how many polls at once, and what it does with failing or hung ones."""

    interval: float  # seconds between cycle starts
    concurrency: int  # poll workers
    job_grace: float = 0.0  # seconds a record missing from its listing keeps its series
    backoff: TargetBackoff | None = None  # when a failing target is polled again; default: every interval
    # Requests end by their own timeouts; this is the last guard, against a bug that hangs a worker: polls are
    # given up only after this long without progress (default: HANG_INTERVALS intervals).
    cycle_timeout: float | None = None

    def target_backoff(self) -> TargetBackoff:
        """The backoff of a failing target (by default, polled again every interval)."""
        return self.backoff or TargetBackoff(self.interval, self.interval)

    def hang_after(self) -> float:
        """Seconds without progress after which the polls still running are given up."""
        return HANG_INTERVALS * self.interval if self.cycle_timeout is None else self.cycle_timeout


@dataclass(frozen=True, slots=True)
class PollerHooks:
    """What a cycle calls besides the client: all optional."""

    on_swap: Callable[[Snapshot], None] | None = None  # publish a cycle's snapshot (before readers see it)
    complete: Callable[[Snapshot], Snapshot] | None = None  # add what the snapshot carries beside the targets
    history: ListingObserver | None = None  # run history: after each listing, and its requests after all
    refresh_targets: Callable[[], Sequence[Target]] | None = None  # the target list now (discovery)


class Poller:
    """Runs poll cycles in a background thread; :attr:`snapshot` is always the latest complete one."""

    def __init__(
        self,
        targets: Iterable[Target],
        client: CodeArtsClient,
        settings: PollerSettings,
        *,
        sources: SourceTable,
        stats: RequestStats,
        rate_limits: RateLimits,
        hooks: PollerHooks = PollerHooks(),  # noqa: B008 - immutable
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.sources = sources
        self.settings = settings
        self.hooks = hooks
        self.interval = settings.interval
        self.clock = clock
        # What each cycle cost, from the same request stats and rate limiter the client feeds.
        self._accounting = CycleAccounting(stats, rate_limits, settings.interval)
        self._pool = WorkerPool(settings.concurrency, self._accounting, settings.hang_after())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cycle_lock = threading.Lock()
        # Polls given up by their cycle must not reach the run history after a newer listing did: the
        # poller moves to the next round under this lock, a listing is observed under it in its own round.
        self._observe_lock = threading.Lock()
        self._round = 0
        targets = tuple(targets)
        for target in targets:
            sources.get(target.api)  # a kind no source handles fails here, at start, never later
        first = Snapshot(0, None, tuple(TargetState(t) for t in targets))
        self.snapshot = hooks.complete(first) if hooks.complete is not None else first

    def poll_once(self) -> Snapshot:
        """Run one cycle over every target now and return (and publish) the new snapshot."""
        with self._cycle_lock:
            previous = self.snapshot
            started = time.monotonic()
            begun = self._accounting.begin()
            states = self._poll_due(self._retarget(previous.states))
            # After every listing is in: history requests never hold a listing back in the rate limiter's
            # queue, and its per-cycle budget bounds how long they add to the cycle.
            self._catch_up_history()
            cost = self._accounting.end(begun, time.monotonic() - started)
            snapshot = Snapshot(previous.generation + 1, self.clock(), states, cycle_seconds=cost.seconds,
                                cycle_requests=cost.requests, budget_requests=cost.budget)
            if self.hooks.complete is not None:
                snapshot = self.hooks.complete(snapshot)
            # Render first, publish second: once /readyz (which reads self.snapshot) sees this cycle,
            # /metrics already serves it.
            if self.hooks.on_swap is not None:
                self.hooks.on_swap(snapshot)
            self.snapshot = snapshot  # one reference assignment: readers see the old or the new, whole
        return snapshot

    def _retarget(self, states: tuple[TargetState, ...]) -> tuple[TargetState, ...]:
        """The states of the current target list: kept for targets still in it, fresh for new ones; the
        states (and so the series) of targets no longer in it are dropped."""
        if self.hooks.refresh_targets is None:
            return states
        try:
            wanted = self.hooks.refresh_targets()
        except Exception:  # the targets of the last cycle are better than none
            log.exception("refreshing the target list failed; polling the previous targets")
            return states
        kept = {state.target: state for state in states}
        return tuple(kept.get(target) or TargetState(target) for target in wanted)

    def start(self) -> None:
        """Start polling in the background: a first cycle at once, then one per interval."""
        self._thread = threading.Thread(target=self._run, name="poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop after the current cycle; wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.poll_once()
            except Exception:  # the loop must outlive any bug in one cycle
                log.exception("poll cycle failed; the next cycle runs as scheduled")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _due(self, state: TargetState, now: float) -> bool:
        # Half an interval of slack: a cycle that starts a little early still polls a target due in it.
        return state.next_poll_at is None or now >= state.next_poll_at - self.interval / 2

    def _poll_due(self, states: tuple[TargetState, ...]) -> tuple[TargetState, ...]:
        """Poll every target that is due, within the cycle timeout; a target backing off keeps its state."""
        now = self.clock()
        # The stalest first: when the rate budget cannot cover a cycle, the workers and the rate limiter's
        # queue serve in submission order, so the targets polled longest ago go ahead of the others.
        due = sorted((index for index, state in enumerate(states) if self._due(state, now)),
                     key=lambda index: (states[index].last_poll_at is not None, states[index].last_poll_at or 0.0))
        futures = {index: self._pool.submit(self._poll_target, states[index], self._round) for index in due}
        late = self._pool.wait_moving(futures.values())
        if late:
            with self._observe_lock:
                self._round += 1  # what the late polls list now is older than the next cycle's listings
            self._pool.abandon(len(late), "polls")
        result = []
        for index, state in enumerate(states):
            future = futures.get(index)
            if future is None:
                result.append(state)
            elif future in late:
                result.append(self._failed(state, now, self._pool.hang_after,
                                           f"poll made no progress for {self._pool.hang_after:g}s"))
            else:
                result.append(self._outcome(state, future, now))
        # Targets listed less often (names, from other APIs) say nothing of whether the job APIs are down.
        judged = [index for index in futures if self.sources.get(states[index].target.api).refresh_seconds(
            states[index].target) is None]
        if judged and not any(result[index].up for index in judged):
            # Every target polled failed: the API itself is down, not each target. Backing each off would
            # keep them away for up to max_backoff_seconds after it is back (134 s after a 90 s outage).
            result = [replace(state, next_poll_at=None) if index in judged else state
                      for index, state in enumerate(result)]
        return tuple(result)

    def _catch_up_history(self) -> None:
        """Run the history tasks on the poll workers; one that fails or hangs costs its job one cycle."""
        history = self.hooks.history
        if history is None:
            return
        try:
            tasks = history.catch_up_tasks(self.interval * HISTORY_START_SHARE)
            futures = [self._pool.submit(task) for task in tasks]
        except Exception:  # run history must never cost the cycle
            log.exception("run history step crashed")
            return
        late = self._pool.wait_moving(futures)
        if late:
            self._pool.abandon(len(late), "run history fetches")
        for future in futures:
            if future not in late and future.exception() is not None:
                log.error("run history fetch crashed", exc_info=future.exception())

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
        return replace(failed, next_poll_at=at + self.settings.target_backoff().delay(failed.failures))

    def _poll_target(self, state: TargetState, round_: int) -> TargetState:
        target = state.target
        started = time.monotonic()
        at = self.clock()
        source = self.sources.get(target.api)
        try:
            listing = source.fetch(self.client, target)
            history = self.hooks.history.part(target.api) if self.hooks.history is not None else None
            fetched = source.complete(self.client, target, listing.records, state.records, history)
        except CodeArtsError as err:
            log.warning("poll of %s target %s failed: %s", target.api, target.key, err)
            # Credentials are shared by every target and the auth mode backs off itself: when they are
            # fixed, every target must come back at the next cycle.
            return self._failed(state, at, time.monotonic() - started, str(err),
                                backoff=not isinstance(err, AuthError))
        except Exception as err:  # a bug must cost one target one poll, not the cycle
            log.exception("poll of %s target %s crashed", target.api, target.key)
            return self._failed(state, at, time.monotonic() - started, f"internal error: {type(err).__name__}")
        self._observe(target, fetched, round_)
        finished = self.clock()
        records, missing = merge_listing(state.records, state.missing_since, fetched, source.record_key,
                                         finished, self.settings.job_grace)
        refresh = source.refresh_seconds(target)
        return TargetState(
            target, polled=True, up=True, last_poll_at=at, last_success_at=finished,
            poll_duration=time.monotonic() - started, data_at=finished, records=records, missing_since=missing,
            next_poll_at=finished + refresh if refresh is not None else None,
        )

    def _observe(self, target: Target, records: Iterable[Any], round_: int) -> None:
        history = self.hooks.history
        if history is None:
            return
        with self._observe_lock:
            if round_ != self._round:
                log.warning("listing of %s target %s came after its cycle gave it up; its runs are counted from "
                            "a later listing", target.api, target.key)
                return
            try:
                history.after_listing(target, records)
            except Exception:  # run history must never cost a target its listing
                log.exception("run history step for %s target %s crashed", target.api, target.key)
