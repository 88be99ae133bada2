"""The poll workers, and the guard that leaves hung ones behind.

Requests end by their own timeouts; the guard is the last line, against a bug that hangs a worker: tasks
are given up only after ``hang_after`` seconds without progress (no task ended, no request answered,
nobody waiting for a rate-limit token), and the next tasks run on fresh workers, so a wedged request can
never stall the poll loop. A cycle the rate budget cannot cover stretches instead of being cut.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

log = logging.getLogger("exporter.poller")  # the poller's own warnings, under the name operators filter on
PROGRESS_CHECK = 1.0  # seconds between looks at whether the requests still move (at most)
T = TypeVar("T")


class Activity(Protocol):
    """Whether requests still move (:class:`exporter.cycleaccount.CycleAccounting` is one)."""

    def progress(self) -> Hashable:
        """A value that changes while requests are answered."""

    def queueing(self) -> bool:
        """True while someone waits for a rate-limit token."""


class WorkerPool:
    """``concurrency`` threads for poll tasks, replaced whole when tasks make no progress for ``hang_after``."""

    def __init__(self, concurrency: int, activity: Activity, hang_after: float) -> None:
        self.concurrency = concurrency
        self.hang_after = hang_after
        self._activity = activity
        self._workers = self._new_workers()

    def submit(self, task: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``task(*args)`` on a worker."""
        try:
            return self._workers.submit(task, *args)
        except RuntimeError:  # the pool was shut down under us: replace it rather than stop polling
            log.warning("poll workers were gone; starting new ones")
            self._workers = self._new_workers()
            return self._workers.submit(task, *args)

    def wait_moving(self, futures: Iterable[Future[T]]) -> set[Future[T]]:
        """Wait for ``futures`` while they make progress; the ones left after ``hang_after`` seconds in which
        none ended, no request was answered and no caller waited for a rate-limit token (hung)."""
        pending = set(futures)
        last_moved = time.monotonic()
        seen = self._activity.progress()
        while pending:
            quiet = self.hang_after - (time.monotonic() - last_moved)
            if quiet <= 0:
                return pending
            done, pending_now = wait(pending, timeout=min(quiet, PROGRESS_CHECK, self.hang_after / 4),
                                     return_when=FIRST_COMPLETED)
            pending = set(pending_now)
            progress = self._activity.progress()
            if done or progress != seen or self._activity.queueing():
                last_moved, seen = time.monotonic(), progress
        return pending

    def abandon(self, hung: int, what: str) -> None:
        """Leave ``hung`` stuck tasks (``what``: "polls", ...) to their workers (their requests still end by
        timeout) and run the next tasks on fresh workers."""
        log.warning("%d %s made no progress for %gs; replacing the poll workers", hung, what, self.hang_after)
        old, self._workers = self._workers, self._new_workers()
        old.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        """Stop taking tasks; queued ones are cancelled, running ones end on their own."""
        self._workers.shutdown(wait=False, cancel_futures=True)

    def _new_workers(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="poll")
