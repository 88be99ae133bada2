"""The DORA samples of a snapshot's :class:`~exporter.dora.ledger.DoraView` (no I/O)."""

from __future__ import annotations

from exporter.dora import metrics as m
from exporter.dora.ledger import DoraView
from exporter.sinks import HistogramSink


def add_dora(sink: HistogramSink, view: DoraView) -> None:
    """Every DORA family's samples, in body order."""
    for service, status, value in view.deployments:
        sink.add(m.DEPLOYMENTS, (*service, status), value)
    for service, histogram in view.lead:
        sink.add_histogram(m.LEAD_TIME, service, view.lead_bounds, histogram)
    for service, histogram in view.recovery:
        sink.add_histogram(m.RECOVERY, service, view.recovery_bounds, histogram)
    for service, end in view.last_success:
        sink.add(m.LAST_DEPLOYMENT, service, end)
    for reason, value in view.skipped:
        sink.add(m.LEAD_TIME_SKIPPED, (reason,), value)
    for result, value in view.lookups:
        sink.add(m.COMMIT_LOOKUPS, (result,), value)
