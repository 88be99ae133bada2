"""Renders /metrics bodies: the snapshot part once per snapshot, the exporter's counters per scrape.

A scrape between two polls serves cached bytes for the (large) snapshot part and renders only the few
live counters, so its cost does not grow with the number of jobs. Text, OpenMetrics and gzip are
negotiated per request; gzip bodies are two gzip members back to back, which every gzip reader
(Prometheus included) reads as one stream.

Work per snapshot is kept small too: each target's job lines are kept between snapshots and rendered
again only when its records changed, or when they hold a running pipeline job, whose duration is
measured up to the poll and so moves with every poll even when the payload did not. The per-target
health samples (last success, poll duration) change by definition every poll, so the body is joined
again from the kept lines at every swap. Every body variant a scrape asked for since the last swap
(say OpenMetrics + gzip, as Prometheus asks) is prepared by the poller's thread before the swap, so
scrapes do not pay for it; others are rendered on first request and cached until the next swap.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest as render_text
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as render_openmetrics

from exporter import metrics as m
from exporter.collector import (
    add_pipeline_durations,
    add_target_data,
    add_target_health,
    data_depends_on_poll_time,
    live_families,
)
from exporter.snapshot import REPO_API, Snapshot, Target, TargetState
from exporter.stats import RequestStats
from exporter.textformat import OPENMETRICS, TEXT, LineSink, family_header

__all__ = ["OPENMETRICS", "TEXT", "Exposition", "negotiate"]

# The classic text format every Prometheus reads (the library now advertises version=1.0.0).
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_EOF = b"# EOF\n"
LIVE_SPECS = (m.API_REQUESTS, m.RECORDS_SKIPPED)
# The families rendered here from each target's lines; the others (run history, shard, auth) come as
# prometheus_client families from the callables given to Exposition.
SNAPSHOT_SPECS = tuple(spec for spec in m.ALL_METRICS if spec.type != "histogram" and spec not in LIVE_SPECS)
GZIP_LEVEL = 6


class _FamilyList:
    """The ``collect()`` interface prometheus_client's renderers expect, over a fixed list."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def _render_live(fmt: str, families: list[Metric]) -> bytes:
    if fmt == OPENMETRICS:
        return render_openmetrics(_FamilyList(families))  # type: ignore[arg-type]  # ends with # EOF
    return render_text(_FamilyList(families))  # type: ignore[arg-type]


def negotiate(accept: str | None) -> tuple[str, str]:
    """The format and content type to answer an ``Accept`` header with."""
    for part in (accept or "").split(","):
        if part.split(";")[0].strip() == "application/openmetrics-text":
            return OPENMETRICS, OPENMETRICS_CONTENT_TYPE
    return TEXT, TEXT_CONTENT_TYPE


@dataclass(frozen=True, slots=True)
class _TargetLines:
    """One target's job lines per family, and what they were rendered from."""

    records: tuple[object, ...]
    poll_time: float | None  # the data_at they depend on, None when they do not
    chunks: dict[str, bytes]


@dataclass(slots=True)
class _Published:
    """A snapshot's lines, ready to be joined, and the bodies joined from them so far."""

    parts: list[dict[str, bytes]]
    extra: list[Metric] = field(default_factory=list)  # rendered with prometheus_client, after the parts
    bodies: dict[tuple[str, bool], bytes] = field(default_factory=dict)


def _records(state: TargetState) -> tuple[object, ...]:
    return state.pipeline_jobs if state.target.api == REPO_API else state.build_jobs


def _join(published: _Published, fmt: str) -> bytes:
    out: list[bytes] = []
    for spec in SNAPSHOT_SPECS:
        pieces = [part[spec.name] for part in published.parts if spec.name in part]
        if pieces:
            out.append(family_header(spec, fmt).encode("utf-8"))
            out.extend(pieces)
    if published.extra:
        out.append(_render_live(fmt, published.extra).removesuffix(_EOF))
    return b"".join(out)


def _body(published: _Published, fmt: str, gzipped: bool) -> bytes:
    """The snapshot part of a body variant, from the cache or rendered now (and cached)."""
    found = published.bodies.get((fmt, gzipped))
    if found is not None:
        return found
    # Two scrapes racing here render equal bytes; the dict keeps one of them. The plain body is kept
    # only if asked for (update() prepares plain variants before gzip ones, so gzip reuses it then).
    plain = published.bodies.get((fmt, False)) or _join(published, fmt)
    if not gzipped:
        return published.bodies.setdefault((fmt, False), plain)
    return published.bodies.setdefault((fmt, True), gzip.compress(plain, compresslevel=GZIP_LEVEL))


class Exposition:
    """Holds the rendered snapshot part per format and joins it with the live part on request."""

    def __init__(self, stats: RequestStats, version: str, extra_live: Callable[[], list[Metric]] | None = None,
                 extra_snapshot: Callable[[], list[Metric]] | None = None):
        self._stats = stats
        self._version = version
        self._extra_live = extra_live
        self._extra_snapshot = extra_snapshot  # families that change only between snapshots (run history)
        self._lines: dict[Target, _TargetLines] = {}
        self._published = _Published([])
        self._wanted: set[tuple[str, bool]] = {(TEXT, False)}
        self._wanted_lock = threading.Lock()
        self._update_lock = threading.Lock()  # one update at a time: each builds on the previous one's lines

    def update(self, snapshot: Snapshot) -> None:
        """Take a new snapshot and pre-render the bodies scrapes asked for, so the next scrape finds them."""
        with self._update_lock:
            parts, self._lines = self._parts(snapshot)
            published = _Published(parts, self._extra_snapshot() if self._extra_snapshot else [])
            with self._wanted_lock:
                wanted = sorted(self._wanted)
            for fmt, gzipped in wanted:
                _body(published, fmt, gzipped)
            self._published = published  # one reference assignment: a scrape sees the old or the new, whole

    def body(self, fmt: str, gzipped: bool) -> bytes:
        """The whole /metrics body in ``fmt``, gzip-compressed if asked."""
        return b"".join(self.parts(fmt, gzipped))

    def parts(self, fmt: str, gzipped: bool) -> tuple[bytes, bytes]:
        """The body as (snapshot part, live part), to be sent one after the other without copying."""
        with self._wanted_lock:
            self._wanted.add((fmt, gzipped))
        live = live_families(self._stats) + (self._extra_live() if self._extra_live else [])
        live_bytes = _render_live(fmt, live)
        cached = _body(self._published, fmt, gzipped)
        if gzipped:
            return cached, gzip.compress(live_bytes, compresslevel=GZIP_LEVEL)
        return cached, live_bytes

    def _parts(self, snapshot: Snapshot) -> tuple[list[dict[str, bytes]], dict[Target, _TargetLines]]:
        """Every target's job lines (kept ones where nothing changed), then the per-snapshot samples."""
        kept: dict[Target, _TargetLines] = {}
        parts: list[dict[str, bytes]] = []
        for state in snapshot.states:
            if state.data_at is None:
                continue
            lines = self._target_lines(state)
            kept[state.target] = lines
            parts.append(lines.chunks)
        health = LineSink()
        for state in snapshot.states:
            add_target_health(health, state)
        if snapshot.taken_at is not None:
            health.add(m.POLLER_LAST_CYCLE, (), snapshot.taken_at)
        health.add(m.BUILD_INFO, (self._version,), 1)
        parts.append(health.chunks())
        return parts, kept

    def _target_lines(self, state: TargetState) -> _TargetLines:
        records = _records(state)
        poll_time = state.data_at if data_depends_on_poll_time(state) else None
        old = self._lines.get(state.target)
        if old is not None and (old.records is records or old.records == records):
            if old.poll_time == poll_time:
                return old
            # Same records, another poll time: only running jobs' durations moved; render that family alone.
            sink = LineSink()
            add_pipeline_durations(sink, state)
            chunks = {name: chunk for name, chunk in old.chunks.items() if name != m.PIPELINE_JOB_DURATION.name}
            return _TargetLines(records, poll_time, chunks | sink.chunks())
        sink = LineSink()
        add_target_data(sink, state)
        return _TargetLines(records, poll_time, sink.chunks())
