"""Polls every target on a schedule with bounded concurrency and swaps in a fresh snapshot per cycle."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from exporter.client import CodeArtsClient
from exporter.errors import AuthError, CodeArtsError
from exporter.joblist import merge_listing
from exporter.registry import source_for
from exporter.retry import TargetBackoff
from exporter.snapshot import Snapshot, Target, TargetState

log = logging.getLogger(__name__)
# History fetches start within this share of the interval after the listings: under a slow or failing
# records API, started ones end by their own retry deadline and the rest wait for a later cycle.
HISTORY_START_SHARE = 0.25
OVERRUN_LOG_EVERY = 600.0  # seconds between warnings while poll cycles keep outlasting the interval
PROGRESS_CHECK = 1.0  # seconds between looks at whether a cycle's requests still move (at most)
T = TypeVar("T")


class ListingObserver(Protocol):
    """Run history: a step after each successful listing of a target, and requests after every listing."""

    def after_listing(self, target: Target, records: Iterable[Any]) -> None:
        """Look at the records of ``target`` just listed (no request)."""

    def catch_up_tasks(self, within: float | None = None) -> list[Callable[[], None]]:
        """The cycle's history requests, as tasks that may run in parallel, within the cycle's budget;
        a task not started ``within`` seconds from now does nothing."""


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
        complete: Callable[[Snapshot], Snapshot] | None = None,
        history: ListingObserver | None = None,
        job_grace: float = 0.0,
        backoff: TargetBackoff | None = None,
        cycle_timeout: float | None = None,
        refresh_targets: Callable[[], Sequence[Target]] | None = None,
    ) -> None:
        self.client = client
        # Called at the start of each cycle when the target list changes while running (discovery).
        self._refresh_targets = refresh_targets
        self.history = history
        self.interval = interval
        self.clock = clock
        self.job_grace = job_grace
        self.backoff = backoff or TargetBackoff(interval, interval)
        # Requests end by their own timeouts; this is the last guard, against a bug that hangs a worker: polls
        # are given up only after this long without progress (no poll ended, no request answered, nobody
        # waiting for a rate-limit token). A cycle the rate budget cannot cover stretches instead.
        self.cycle_timeout = 5 * interval if cycle_timeout is None else cycle_timeout
        self._on_swap = on_swap
        self._complete = complete  # adds what the cycle's snapshot carries beside the targets (history, discovery)
        self._concurrency = concurrency
        self._workers = self._new_workers()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cycle_lock = threading.Lock()
        # Polls given up by their cycle must not reach the run history after a newer listing did: the
        # poller moves to the next round under this lock, a listing is observed under it in its own round.
        self._observe_lock = threading.Lock()
        self._round = 0
        self._overrun_logged_at: float | None = None
        self._shortfall_logged = False
        targets = tuple(targets)
        for target in targets:
            source_for(target.api)  # a kind no source handles fails here, at start, never later
        first = Snapshot(0, None, tuple(TargetState(t) for t in targets))
        self.snapshot = complete(first) if complete is not None else first

    def poll_once(self) -> Snapshot:
        """Run one cycle over every target now and return (and publish) the new snapshot."""
        with self._cycle_lock:
            previous = self.snapshot
            started = time.monotonic()
            waited_before = self._rate_limit_waited()
            sent_before = self._requests_by_api()
            states = self._poll_due(self._retarget(previous.states))
            # After every listing is in: history requests never hold a listing back in the rate limiter's
            # queue, and its per-cycle budget bounds how long they add to the cycle.
            self._catch_up_history()
            took = time.monotonic() - started
            sent = self._requests_by_api()
            needed = tuple(sorted((api, count - sent_before.get(api, 0)) for api, count in sent.items()))
            budget = self._budget(dict(needed))
            self._report_overrun(took, self._rate_limit_waited() - waited_before, needed, dict(budget))
            snapshot = Snapshot(previous.generation + 1, self.clock(), states, cycle_seconds=took,
                                cycle_requests=needed, budget_requests=budget)
            if self._complete is not None:
                snapshot = self._complete(snapshot)
            # Render first, publish second: once /readyz (which reads self.snapshot) sees this cycle,
            # /metrics already serves it.
            if self._on_swap is not None:
                self._on_swap(snapshot)
            self.snapshot = snapshot  # one reference assignment: readers see the old or the new, whole
        return snapshot

    def _rate_limit_waited(self) -> float:
        return sum(self.client.stats.rate_limit_waits().values())

    def _requests_by_api(self) -> dict[str, int]:
        """Requests sent so far per API, whatever their answer (retries included: they spend budget too)."""
        sent: dict[str, int] = {}
        for (api, _), count in self.client.stats.requests().items():
            sent[api] = sent.get(api, 0) + count
        return sent

    def _budget(self, needed: dict[str, int]) -> tuple[tuple[str, float], ...]:
        """Requests per interval the rate limit allows, for each rate-limited API this cycle used."""
        budget = []
        for api in sorted(needed):
            rate = self.client.rate_limits.rate(api)
            if rate is not None:
                budget.append((api, rate * self.interval))
        return tuple(budget)

    def _report_overrun(self, took: float, waited: float, needed: Sequence[tuple[str, int]],
                        budget: dict[str, float]) -> None:
        """Warn when cycles start to outlast the interval, then at most every OVERRUN_LOG_EVERY seconds (sooner
        once, when a shortfall of the rate budget first shows: the first long cycle may have had none)."""
        now = time.monotonic()
        if took <= self.interval:
            self._overrun_logged_at = None
            self._shortfall_logged = False
            return
        short = [f"{api}: {count} requests, poll.rate_limit allows {budget[api]:g}" for api, count in needed
                 if api in budget and count > budget[api]]
        recent = self._overrun_logged_at is not None and now - self._overrun_logged_at < OVERRUN_LOG_EVERY
        if recent and (self._shortfall_logged or not short):
            return
        self._overrun_logged_at = now
        self._shortfall_logged = bool(short)
        if short:
            log.warning("a poll cycle took %.1fs, longer than poll.interval_seconds (%gs), its requests waited "
                        "%.1fs in all for the client rate limit: the targets need more requests per interval than "
                        "the rate budget allows (%s); cycles stretch and every target is still polled, the "
                        "stalest first (raise poll.interval_seconds or shard to poll each target every interval)",
                        took, self.interval, waited, "; ".join(short))
            return
        log.warning("a poll cycle took %.1fs, longer than poll.interval_seconds (%gs); its requests waited %.1fs "
                    "in all for the client rate limit: if that is most of it, the targets need more requests "
                    "than poll.rate_limit allows per interval (raise poll.interval_seconds or shard)",
                    took, self.interval, waited)

    def _progress(self) -> tuple[int, float]:
        """Something that changes while the client's requests move: answered requests, rate-limit waits."""
        return (sum(self.client.stats.requests().values()), self._rate_limit_waited())

    def _wait_moving(self, futures: Iterable[Future[T]]) -> set[Future[T]]:
        """Wait for ``futures`` while they make progress; the ones left after ``cycle_timeout`` seconds in
        which none ended, no request was answered and no caller waited for a rate-limit token (hung)."""
        pending = set(futures)
        last_moved = time.monotonic()
        seen = self._progress()
        while pending:
            quiet = self.cycle_timeout - (time.monotonic() - last_moved)
            if quiet <= 0:
                return pending
            done, pending_now = wait(pending, timeout=min(quiet, PROGRESS_CHECK, self.cycle_timeout / 4),
                                     return_when=FIRST_COMPLETED)
            pending = set(pending_now)
            progress = self._progress()
            if done or progress != seen or self.client.rate_limits.waiting():
                last_moved, seen = time.monotonic(), progress
        return pending

    def _retarget(self, states: tuple[TargetState, ...]) -> tuple[TargetState, ...]:
        """The states of the current target list: kept for targets still in it, fresh for new ones; the
        states (and so the series) of targets no longer in it are dropped."""
        if self._refresh_targets is None:
            return states
        try:
            wanted = self._refresh_targets()
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

    def _submit(self, task: Callable[..., T], *args: Any) -> Future[T]:
        try:
            return self._workers.submit(task, *args)
        except RuntimeError:  # the pool was shut down under us: replace it rather than stop polling
            log.warning("poll workers were gone; starting new ones")
            self._workers = self._new_workers()
            return self._workers.submit(task, *args)

    def _poll_due(self, states: tuple[TargetState, ...]) -> tuple[TargetState, ...]:
        """Poll every target that is due, within the cycle timeout; a target backing off keeps its state."""
        now = self.clock()
        # The stalest first: when the rate budget cannot cover a cycle, the workers and the rate limiter's
        # queue serve in submission order, so the targets polled longest ago go ahead of the others.
        due = sorted((index for index, state in enumerate(states) if self._due(state, now)),
                     key=lambda index: (states[index].last_poll_at is not None, states[index].last_poll_at or 0.0))
        futures = {index: self._submit(self._poll_target, states[index], self._round) for index in due}
        late = self._wait_moving(futures.values())
        if late:
            with self._observe_lock:
                self._round += 1  # what the late polls list now is older than the next cycle's listings
            # Those workers are stuck (their requests will still end by timeout): leave them to it and
            # poll the next cycle on fresh workers, so a wedged request can never stall the loop.
            log.warning("%d polls made no progress for %gs; replacing the poll workers", len(late),
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
                                           f"poll made no progress for {self.cycle_timeout:g}s"))
            else:
                result.append(self._outcome(state, future, now))
        # Targets listed less often (names, from other APIs) say nothing of whether the job APIs are down.
        judged = [index for index in futures if source_for(states[index].target.api).refresh_seconds(
            states[index].target) is None]
        if judged and not any(result[index].up for index in judged):
            # Every target polled failed: the API itself is down, not each target. Backing each off would
            # keep them away for up to max_backoff_seconds after it is back (134 s after a 90 s outage).
            result = [replace(state, next_poll_at=None) if index in judged else state
                      for index, state in enumerate(result)]
        return tuple(result)

    def _catch_up_history(self) -> None:
        """Run the history tasks on the poll workers; one that fails or hangs costs its job one cycle."""
        if self.history is None:
            return
        try:
            tasks = self.history.catch_up_tasks(self.interval * HISTORY_START_SHARE)
            futures = [self._submit(task) for task in tasks]
        except Exception:  # run history must never cost the cycle
            log.exception("run history step crashed")
            return
        late = self._wait_moving(futures)
        if late:
            log.warning("%d run history fetches made no progress for %gs; replacing the poll workers", len(late),
                        self.cycle_timeout)
            old, self._workers = self._workers, self._new_workers()
            old.shutdown(wait=False, cancel_futures=True)
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
        return replace(failed, next_poll_at=at + self.backoff.delay(failed.failures))

    def _poll_target(self, state: TargetState, round_: int) -> TargetState:
        target = state.target
        started = time.monotonic()
        at = self.clock()
        source = source_for(target.api)
        try:
            listing = source.fetch(self.client, target)
            fetched = source.complete(self.client, target, listing.records, state.records)
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
                                         finished, self.job_grace)
        refresh = source.refresh_seconds(target)
        return TargetState(
            target, polled=True, up=True, last_poll_at=at, last_success_at=finished,
            poll_duration=time.monotonic() - started, data_at=finished, records=records, missing_since=missing,
            next_poll_at=finished + refresh if refresh is not None else None,
        )

    def _observe(self, target: Target, records: Iterable[Any], round_: int) -> None:
        if self.history is None:
            return
        with self._observe_lock:
            if round_ != self._round:
                log.warning("listing of %s target %s came after its cycle gave it up; its runs are counted from "
                            "a later listing", target.api, target.key)
                return
            try:
                self.history.after_listing(target, records)
            except Exception:  # run history must never cost a target its listing
                log.exception("run history step for %s target %s crashed", target.api, target.key)
