"""Counters the exporter keeps about its own work, shared by the client and the poller.

They are plain integers behind one lock, read as a consistent copy when /metrics is rendered, so no
global metric object is mutated from several places.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from exporter.assumptions import AssumptionLog
from exporter.retry import RETRYABLE_STATUSES

RETRY_REASONS = ("throttled", *(f"http_{status}" for status in RETRYABLE_STATUSES), "transport")


class RequestStats:
    """Thread-safe counts of CodeArts requests by (api, code), skipped records and retries by (api, reason),
    and throttled responses by api; the known label values of the last three start at zero."""

    def __init__(self, apis: Iterable[str] = (), skip_reasons: Iterable[tuple[str, str]] = ()) -> None:
        """``apis`` (the sources' APIs, which the client retries; IAM's are not) and ``skip_reasons`` ((api,
        reason) pairs) are the label values known before any event: exported at zero from the start, so that
        increase() and the alerts built on it see the first retry, throttle or skipped record (a series born
        at 1 shows no increase)."""
        apis = tuple(apis)
        self._lock = threading.Lock()
        self._token_expiry: float | None = None
        self._state_write_failures: int | None = None
        self._requests: Counter[tuple[str, str]] = Counter()
        self._skipped: Counter[tuple[str, str]] = Counter(dict.fromkeys(skip_reasons, 0))
        self._retries: Counter[tuple[str, str]] = Counter(
            {(api, reason): 0 for api in apis for reason in RETRY_REASONS})
        self._throttled: Counter[str] = Counter(dict.fromkeys(apis, 0))
        self._waits: dict[str, float] = {}
        self._series_dropped: Counter[str] = Counter()
        self.assumptions = AssumptionLog(apis)  # the contradicted assumptions (their own lock)
        self._config_loads: tuple[bool, float] | None = None

    def count_request(self, api: str, code: str) -> None:
        """Count one request to ``api`` that ended with ``code`` (an HTTP status, or "error")."""
        with self._lock:
            self._requests[(api, code)] += 1

    def count_skipped(self, api: str, reason: str, count: int = 1) -> None:
        """Count records of ``api`` dropped because they could not be parsed."""
        if count:
            with self._lock:
                self._skipped[(api, reason)] += count

    def count_retry(self, api: str, reason: str) -> None:
        """Count one retry of a request to ``api`` after a failure labelled ``reason``."""
        with self._lock:
            self._retries[(api, reason)] += 1

    def count_throttled(self, api: str) -> None:
        """Count one response in which ``api`` throttled the exporter."""
        with self._lock:
            self._throttled[api] += 1

    def count_rate_limit_wait(self, api: str, seconds: float) -> None:
        """Add ``seconds`` a request to ``api`` waited for the client-side rate limit."""
        with self._lock:
            self._waits[api] = self._waits.get(api, 0.0) + seconds

    def rate_limit_waits(self) -> dict[str, float]:
        """A copy of the seconds waited for the rate limit, by API."""
        with self._lock:
            return dict(self._waits)

    def retries(self) -> dict[tuple[str, str], int]:
        """A copy of the retry counts."""
        with self._lock:
            return dict(self._retries)

    def throttled(self) -> dict[str, int]:
        """A copy of the throttled-response counts."""
        with self._lock:
            return dict(self._throttled)

    def requests(self) -> dict[tuple[str, str], int]:
        """A copy of the request counts."""
        with self._lock:
            return dict(self._requests)

    def track_state_writes(self) -> None:
        """Count failed state-file writes from now on (the counter exists only where a state file is kept)."""
        with self._lock:
            self._state_write_failures = 0 if self._state_write_failures is None else self._state_write_failures

    def count_state_write_failure(self) -> None:
        """Count one state-file write that failed."""
        with self._lock:
            self._state_write_failures = (self._state_write_failures or 0) + 1

    def state_write_failures(self) -> int | None:
        """Failed state-file writes; None when no state file is kept."""
        with self._lock:
            return self._state_write_failures

    def count_config_load(self, succeeded: bool, at: float) -> None:
        """Record an attempt to load the configuration at ``at`` (Unix time): the start's, or a reload's."""
        with self._lock:
            last_success = at if succeeded or self._config_loads is None else self._config_loads[1]
            self._config_loads = (succeeded, last_success)

    def config_loads(self) -> tuple[bool, float] | None:
        """(whether the last load succeeded, when the running configuration was loaded); None before any."""
        with self._lock:
            return self._config_loads

    def set_token_expiry(self, at: float | None) -> None:
        """Record when the IAM token in use expires (Unix time), as the auth mode renews it; None when it
        holds none (refused, and not renewed yet)."""
        with self._lock:
            self._token_expiry = at

    def token_expiry(self) -> float | None:
        """When the IAM token in use expires; None when the auth mode has no token (yet)."""
        with self._lock:
            return self._token_expiry

    def count_series_dropped(self, family: str, count: int) -> None:
        """Count series of ``family`` a render refused because ``metrics.max_series`` was reached."""
        if count:
            with self._lock:
                self._series_dropped[family] += count

    def series_dropped(self) -> dict[str, int]:
        """A copy of the refused-series counts, by family."""
        with self._lock:
            return dict(self._series_dropped)

    def skipped(self) -> dict[tuple[str, str], int]:
        """A copy of the skipped-record counts."""
        with self._lock:
            return dict(self._skipped)
