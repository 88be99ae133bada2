"""Where rendered samples go: the two shapes a renderer writes to, declared apart from any renderer.

:class:`exporter.textformat.LineSink` (text lines, the served path) and the prometheus_client families of
the tests' reference rendering (``tests/helpers/reference.py``) both take them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from exporter.metrics import MetricSpec


class HistogramData(Protocol):
    """Observation counts per bucket (not cumulative; the last is above every bound) and their sum."""

    counts: list[int]
    sum: float


class Sink(Protocol):
    """Takes gauge and counter samples, one row per series."""

    def add(self, spec: MetricSpec, labels: Iterable[str], value: float) -> None:
        """One sample of the family ``spec``."""


class HistogramSink(Sink, Protocol):
    """A sink that takes histogram series too (text lines; the run history is rendered only that way)."""

    def add_histogram(self, spec: MetricSpec, labels: Iterable[str], bounds: Sequence[float],
                      histogram: HistogramData) -> None:
        """One series of the histogram family ``spec``."""
