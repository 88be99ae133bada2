"""The cap on the series /metrics serves (``metrics.max_series``), so a huge or hostile tenant cannot take the
exporter's memory, nor the memory of the Prometheus that scrapes it.

The exporter's own families (``codearts_up``, the poller's heartbeat...) are always served. The sources'
families take what is left, in the order /metrics lists them (family by family as the metrics table orders
them, and within a family target by target, job by job); the first rendered unit (one target's lines of a
family, or one job's run history) that does not fit whole is left out, and so is every later one that does
not fit, so a histogram is never cut in half. What is left out is counted per family in
``codearts_exporter_series_dropped_total`` at every snapshot that leaves it out. No I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from exporter.metrics import MetricSpec

# The shortest sample line a family of ours can have: ``codearts_up 0`` and its line break. A body of fewer
# bytes than limit x this holds fewer lines than the limit, so most snapshots need no line count at all.
MIN_LINE_BYTES = len(b"codearts_up 0\n")


class SeriesCap:
    """Keeps a snapshot's sample lines within ``limit`` series; remembers each chunk's line count while the
    chunk is in use (chunks of unchanged targets are the same objects from one snapshot to the next)."""

    def __init__(self, limit: int, always: Collection[str]) -> None:
        self.limit = limit
        self._always = frozenset(always)
        self._lines: dict[int, tuple[bytes, int]] = {}  # id(chunk) -> (chunk, lines); the chunk pins the id

    def _count(self, chunk: bytes, seen: dict[int, tuple[bytes, int]]) -> int:
        known = self._lines.get(id(chunk))
        lines = known[1] if known is not None and known[0] is chunk else chunk.count(b"\n")
        seen[id(chunk)] = (chunk, lines)
        return lines

    def apply(self, grouped: dict[str, list[bytes]], specs: Iterable[MetricSpec]
              ) -> tuple[dict[str, list[bytes]], dict[str, int]]:
        """``grouped`` (family name -> its chunks) within the cap, and the series left out per family."""
        specs = tuple(specs)
        size = sum(len(chunk) for chunks in grouped.values() for chunk in chunks)
        if size // MIN_LINE_BYTES + len(specs) <= self.limit:
            self._lines = {}
            return grouped, {}
        seen: dict[int, tuple[bytes, int]] = {}
        # One line per family served for codearts_exporter_series, beside the families always served.
        left = self.limit - len(specs) - sum(self._count(chunk, seen) for name, chunks in grouped.items()
                                             if name in self._always for chunk in chunks)
        kept: dict[str, list[bytes]] = {}
        dropped: dict[str, int] = {}
        for spec in specs:
            chunks = grouped.get(spec.name)
            if chunks is None:
                continue
            if spec.name in self._always:
                kept[spec.name] = chunks
                continue
            fits: list[bytes] = []
            for chunk in chunks:
                lines = self._count(chunk, seen)
                if lines <= left:
                    fits.append(chunk)
                    left -= lines
                else:
                    dropped[spec.name] = dropped.get(spec.name, 0) + lines
            if fits:
                kept[spec.name] = fits if len(fits) < len(chunks) else chunks
        self._lines = seen
        return kept, dropped
