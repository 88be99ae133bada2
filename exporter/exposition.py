"""Renders /metrics bodies: the snapshot part once per snapshot, the exporter's counters per scrape.

A scrape between two polls serves cached bytes for the (large) snapshot part and renders only the few
live counters, so its cost does not grow with the number of jobs. Text, OpenMetrics and gzip are
negotiated per request; gzip bodies are two gzip members back to back, which every gzip reader
(Prometheus included) reads as one stream.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest as render_text
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as render_openmetrics

from exporter.collector import live_families, snapshot_families
from exporter.snapshot import Snapshot
from exporter.stats import RequestStats

TEXT = "text"
# The classic text format every Prometheus reads (the library now advertises version=1.0.0).
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "openmetrics"
_EOF = b"# EOF\n"


class _FamilyList:
    """The ``collect()`` interface prometheus_client's renderers expect, over a fixed list."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def _render(fmt: str, families: list[Metric]) -> bytes:
    if fmt == OPENMETRICS:
        return render_openmetrics(_FamilyList(families)).removesuffix(_EOF)  # type: ignore[arg-type]
    return render_text(_FamilyList(families))  # type: ignore[arg-type]


def negotiate(accept: str | None) -> tuple[str, str]:
    """The format and content type to answer an ``Accept`` header with."""
    for part in (accept or "").split(","):
        if part.split(";")[0].strip() == "application/openmetrics-text":
            return OPENMETRICS, OPENMETRICS_CONTENT_TYPE
    return TEXT, TEXT_CONTENT_TYPE


class Exposition:
    """Holds the rendered snapshot part per format and joins it with the live part on request."""

    def __init__(self, stats: RequestStats, version: str, extra_live: Callable[[], list[Metric]] | None = None,
                 extra_snapshot: Callable[[], list[Metric]] | None = None):
        self._stats = stats
        self._version = version
        self._extra_live = extra_live
        self._extra_snapshot = extra_snapshot  # families that change only between snapshots (run history)
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._families: list[Metric] = []
        self._cache: dict[tuple[str, bool], bytes] = {}

    def update(self, snapshot: Snapshot) -> None:
        """Take a new snapshot and pre-render its text body, so the next scrape finds it ready."""
        families = snapshot_families(snapshot, self._version)
        if self._extra_snapshot is not None:
            families += self._extra_snapshot()
        text = _render(TEXT, families)
        with self._lock:
            self._snapshot, self._families = snapshot, families
            self._cache = {(TEXT, False): text}

    def body(self, fmt: str, gzipped: bool) -> bytes:
        """The whole /metrics body in ``fmt``, gzip-compressed if asked."""
        live = live_families(self._stats) + (self._extra_live() if self._extra_live else [])
        live_bytes = _render(fmt, live) + (_EOF if fmt == OPENMETRICS else b"")
        cached = self._cached(fmt, gzipped)
        if gzipped:
            return cached + gzip.compress(live_bytes, compresslevel=6)
        return cached + live_bytes

    def _cached(self, fmt: str, gzipped: bool) -> bytes:
        with self._lock:
            found = self._cache.get((fmt, gzipped))
            if found is not None:
                return found
            families, cache = self._families, self._cache
        plain = cache.get((fmt, False)) or _render(fmt, families)
        result = gzip.compress(plain, compresslevel=6) if gzipped else plain
        with self._lock:
            if self._cache is cache:  # no newer snapshot arrived while rendering
                cache[(fmt, False)] = plain
                cache[(fmt, gzipped)] = result
        return result
