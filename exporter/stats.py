"""Counters the exporter keeps about its own work, shared by the client and the poller.

They are plain integers behind one lock, read as a consistent copy when /metrics is rendered, so no
global metric object is mutated from several places.
"""

from __future__ import annotations

import threading
from collections import Counter


class RequestStats:
    """Thread-safe counts of CodeArts requests by (api, code) and skipped records by (api, reason)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._skipped: Counter[tuple[str, str]] = Counter()

    def count_request(self, api: str, code: str) -> None:
        """Count one request to ``api`` that ended with ``code`` (an HTTP status, or "error")."""
        with self._lock:
            self._requests[(api, code)] += 1

    def count_skipped(self, api: str, reason: str, count: int = 1) -> None:
        """Count records of ``api`` dropped because they could not be parsed."""
        if count:
            with self._lock:
                self._skipped[(api, reason)] += count

    def requests(self) -> dict[tuple[str, str], int]:
        """A copy of the request counts."""
        with self._lock:
            return dict(self._requests)

    def skipped(self) -> dict[tuple[str, str], int]:
        """A copy of the skipped-record counts."""
        with self._lock:
            return dict(self._skipped)
