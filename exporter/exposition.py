"""Renders /metrics bodies: the snapshot part once per snapshot, the exporter's counters per scrape.

A scrape between two polls serves cached buffers for the (large) snapshot part and renders only the
few live counters, so its cost does not grow with the number of jobs. Text, OpenMetrics and gzip are
negotiated per request; gzip bodies are two gzip members back to back, which every gzip reader
(Prometheus included) reads as one stream.

Work per snapshot is kept small too: each target's job lines are kept between snapshots and rendered
again only when its records changed, or when they hold a running pipeline job, whose duration is
measured up to the poll and so moves with every poll even when the payload did not. Run-history lines
are kept per job and rendered again only for jobs that counted a run (:mod:`exporter.historylines`).
The per-target health samples (last success, poll duration) change by definition every poll, so they
are rendered at every swap. Each family's lines are joined into one bytes object (again only when one
of its chunks changed), shared by the text and OpenMetrics bodies: a plain body is the tuple of family
headers and those objects, sent as it is, never joined into one string. Every gzip variant a scrape
asked for since the last swap (say OpenMetrics + gzip, as Prometheus asks) is compressed by the
poller's thread before the swap, so scrapes do not pay for it; others are compressed on first request
and cached until the next swap.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE

from exporter import metrics as m
from exporter.dora.ledger import DoraView
from exporter.dora.render import add_dora
from exporter.historylines import HistoryLines
from exporter.metrics import MetricSpec
from exporter.samples import (
    add_auth,
    add_cycle,
    add_discovery,
    add_live,
    add_shard,
    add_target_data,
    add_target_health,
    data_depends_on_poll_time,
)
from exporter.seriescap import SeriesCap
from exporter.sharding import ShardSpec
from exporter.snapshot import Snapshot, Target, TargetState
from exporter.sourcetable import SourceTable
from exporter.stats import RequestStats
from exporter.textformat import OPENMETRICS, TEXT, LineSink, header_bytes

__all__ = ["OPENMETRICS", "TEXT", "Exposition", "negotiate"]

# The classic text format every Prometheus reads (the library now advertises version=1.0.0).
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_EOF = b"# EOF\n"
GZIP_LEVEL = 6


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
    """A snapshot's sample lines, one bytes object per family in body order, and the body variants so far.

    A plain body is a tuple of buffers: each family's header (per format) and its lines. The lines are
    the same in both formats, so the text and OpenMetrics bodies share them. A gzip body is
    compressed from those buffers and kept whole.
    """

    families: list[tuple[MetricSpec, bytes]]
    bodies: dict[tuple[str, bool], tuple[bytes, ...]] = field(default_factory=dict)


def _by_family(parts: Iterable[dict[str, bytes]]) -> dict[str, list[bytes]]:
    grouped: dict[str, list[bytes]] = {}
    for part in parts:
        for name, chunk in part.items():
            grouped.setdefault(name, []).append(chunk)
    return grouped


def _plain(published: _Published, fmt: str) -> tuple[bytes, ...]:
    out: list[bytes] = []
    for spec, lines in published.families:
        out.append(header_bytes(spec, fmt))
        out.append(lines)
    return tuple(out)


def _gzip(buffers: Iterable[bytes]) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # wbits 31: a gzip member
    out = [compressor.compress(buffer) for buffer in buffers]
    out.append(compressor.flush())
    return b"".join(out)


def _body(published: _Published, fmt: str, gzipped: bool) -> tuple[bytes, ...]:
    """The snapshot part of a body variant, from the cache or made now (and cached)."""
    found = published.bodies.get((fmt, gzipped))
    if found is not None:
        return found
    # Two scrapes racing here make equal bodies; the dict keeps one of them.
    plain = published.bodies.get((fmt, False)) or published.bodies.setdefault((fmt, False), _plain(published, fmt))
    if not gzipped:
        return plain
    return published.bodies.setdefault((fmt, True), (_gzip(plain),))


class Exposition:
    """Holds the rendered snapshot part per format and joins it with the live part on request."""

    def __init__(self, sources: SourceTable, stats: RequestStats, version: str, shard: ShardSpec | None = None,
                 disabled: Iterable[str] = (), max_series: int | None = None) -> None:
        """``sources``: the sources whose targets the snapshots hold; ``stats``: the per-scrape self counters (the
        one mutable thing read while serving); ``shard``: which shard this replica is (None: no shard samples);
        ``disabled``: names of families not served (``metrics.disabled``); ``max_series``: the most series
        served (``metrics.max_series``; None: no cap)."""
        self._sources = sources
        self._stats = stats
        self._version = version
        self._shard = shard
        off = frozenset(disabled)
        served = tuple(spec for spec in sources.specs() if spec.name not in off)
        self._snapshot_specs = tuple(spec for spec in served if spec.phase == "snapshot")
        self._scrape_specs = tuple(spec for spec in served if spec.phase == "scrape")
        self._cap = SeriesCap(max_series, {spec.name for spec in m.CORE_SPECS}) if max_series is not None else None
        self._history = HistoryLines(sources)
        self._dora: tuple[DoraView, dict[str, bytes]] | None = None
        self._lines: dict[Target, _TargetLines] = {}
        # Per family: the chunks, them joined, and how many series (lines) they hold.
        self._joined: dict[str, tuple[list[bytes], bytes, int]] = {}
        self._published = _Published([])
        self._wanted: set[tuple[str, bool]] = {(TEXT, False)}
        self._wanted_lock = threading.Lock()
        self._update_lock = threading.Lock()  # one update at a time: each builds on the previous one's lines

    def update(self, snapshot: Snapshot) -> None:
        """Take a new snapshot and pre-render the bodies scrapes asked for, so the next scrape finds them."""
        with self._update_lock:
            parts, self._lines = self._parts(snapshot)
            if snapshot.history is not None:
                parts += self._history.update(snapshot.history)
            if snapshot.dora is not None:
                parts.append(self._dora_chunks(snapshot.dora))
            grouped = _by_family(parts)
            if self._cap is not None:
                grouped, dropped = self._cap.apply(grouped, self._snapshot_specs)
                for family, count in dropped.items():
                    self._stats.count_series_dropped(family, count)
            published = _Published(self._join(grouped))
            with self._wanted_lock:
                wanted = sorted(self._wanted)
            for fmt, gzipped in wanted:
                _body(published, fmt, gzipped)
            self._published = published  # one reference assignment: a scrape sees the old or the new, whole

    def _dora_chunks(self, view: DoraView) -> dict[str, bytes]:
        """The DORA lines of ``view``, kept while the view is the same object (nothing counted since)."""
        if self._dora is None or self._dora[0] is not view:
            sink = LineSink()
            add_dora(sink, view)
            self._dora = (view, sink.chunks())
        return self._dora[1]

    def body(self, fmt: str, gzipped: bool) -> bytes:
        """The whole /metrics body in ``fmt``, gzip-compressed if asked."""
        return b"".join(self.parts(fmt, gzipped))

    def parts(self, fmt: str, gzipped: bool) -> tuple[bytes, ...]:
        """The body as buffers (the cached snapshot part, then the live part), to be sent without joining."""
        with self._wanted_lock:
            self._wanted.add((fmt, gzipped))
        live = self._render_live(fmt)
        cached = _body(self._published, fmt, gzipped)
        if gzipped:
            return (*cached, gzip.compress(live, compresslevel=GZIP_LEVEL))
        return (*cached, live)

    def _join(self, grouped: dict[str, list[bytes]]) -> list[tuple[MetricSpec, bytes]]:
        """Each family's lines as one bytes object, joined again only if one of its chunks changed.

        A body of one buffer per family sends as fast as one buffer (thousands of small ones, one per
        target or job, cost the kernel ~35% more at 100k series), and one copy serves both formats.
        """
        joined: dict[str, tuple[list[bytes], bytes, int]] = {}
        for spec in self._snapshot_specs:
            chunks = grouped.get(spec.name)
            if chunks is None:
                continue
            old = self._joined.get(spec.name)
            same = old is not None and len(old[0]) == len(chunks) and all(
                a is b for a, b in zip(old[0], chunks, strict=True))
            if old is not None and same:
                joined[spec.name] = old
            else:
                lines = b"".join(chunks)
                joined[spec.name] = (chunks, lines, lines.count(b"\n"))
        if m.SERIES in self._snapshot_specs:  # each family's series count, counted again only when it changed
            sink = LineSink()
            for spec in self._snapshot_specs:
                if spec.name in joined:
                    sink.add(m.SERIES, (spec.name,), joined[spec.name][2])
            lines = sink.chunks()[m.SERIES.name]
            joined[m.SERIES.name] = ([lines], lines, lines.count(b"\n"))
        self._joined = joined
        return [(spec, joined[spec.name][1]) for spec in self._snapshot_specs if spec.name in joined]

    def _render_live(self, fmt: str) -> bytes:
        sink = LineSink()
        add_live(sink, self._stats)
        add_auth(sink, self._stats.token_expiry())
        if self._shard is not None:
            add_shard(sink, self._shard)
        chunks = sink.chunks()
        out = [header_bytes(spec, fmt) + chunks[spec.name] for spec in self._scrape_specs if spec.name in chunks]
        if fmt == OPENMETRICS:
            out.append(_EOF)
        return b"".join(out)

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
        add_cycle(health, snapshot, self._version)
        if snapshot.discovery is not None:
            add_discovery(health, snapshot.discovery)
        parts.append(health.chunks())
        return parts, kept

    def _target_lines(self, state: TargetState) -> _TargetLines:
        records = state.records
        poll_time = state.data_at if data_depends_on_poll_time(self._sources, state) else None
        old = self._lines.get(state.target)
        if old is not None and (old.records is records or old.records == records):
            if old.poll_time == poll_time:
                return old
            # Same records, another poll time: only the families that move with it are rendered again.
            source = self._sources.get(state.target.api)
            sink = LineSink()
            source.render_moving(sink, state)
            moving = {spec.name for spec in source.moving_specs}
            chunks = {name: chunk for name, chunk in old.chunks.items() if name not in moving}
            return _TargetLines(records, poll_time, chunks | sink.chunks())
        sink = LineSink()
        add_target_data(sink, self._sources, state)
        return _TargetLines(records, poll_time, sink.chunks())
