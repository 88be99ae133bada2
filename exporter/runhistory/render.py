"""A job's run-history samples: the one renderer of every source's run counters and histograms. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.metrics import MetricSpec
from exporter.runhistory.counts import JobHistory, Labels, split_spec
from exporter.sinks import HistogramSink


@dataclass(frozen=True, slots=True)
class HistoryFamilies:
    """The families one source's run history is served as: runs per status, durations per duration class
    and, for kinds with queue times, the queue time."""

    runs: MetricSpec
    duration: MetricSpec  # declared with ``outcome`` last; served as ``metrics.run_duration_by`` says
    queued: MetricSpec | None = None

    @property
    def specs(self) -> tuple[MetricSpec, ...]:
        """The families, in body order."""
        return (self.runs, self.duration) if self.queued is None else (self.runs, self.duration, self.queued)

    def render(self, sink: HistogramSink, labels: Labels, job: JobHistory, duration_bounds: tuple[float, ...],
               queued_bounds: tuple[float, ...]) -> None:
        """One job's run counters (every status, from zero) and the histograms its runs created."""
        for status, count in job.runs:
            sink.add(self.runs, (*labels, status), count)
        duration = split_spec(self.duration, job.split)
        for name, histogram in job.durations:  # per duration class; "" when durations are not split
            sink.add_histogram(duration, (*labels, name) if name else labels, duration_bounds, histogram)
        if self.queued is not None and job.queued is not None:
            sink.add_histogram(self.queued, labels, queued_bounds, job.queued)
