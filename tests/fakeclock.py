"""A fake monotonic clock whose sleep advances time, for rate-limit and backoff tests."""

from __future__ import annotations

import threading


class FakeClock:
    """``clock()`` reads the fake time; ``sleep(s)`` records the sleep and moves time forward by ``s``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
