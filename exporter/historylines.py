"""Run-history sample lines, kept per job between snapshots and rendered again only for jobs that changed.

With run history on, a build job has ~86 series (counters per status, a duration histogram per status,
a queued histogram), so the history families outweigh the job families several times over. In a
poll cycle only the jobs that finished a run change; a snapshot's :class:`HistoryView` names each job
with its change version, and only the lines of jobs at a new version are rendered here.
"""

from __future__ import annotations

from exporter import metrics as m
from exporter.runhistory.counts import HistoryView, JobKey
from exporter.samples import add_job_history
from exporter.sourcetable import SourceTable
from exporter.textformat import LineSink


class HistoryLines:
    """The history lines of every job, per family, from the latest view. Not thread-safe: one updater."""

    def __init__(self, sources: SourceTable) -> None:
        self._sources = sources
        self._kept: dict[JobKey, tuple[int, dict[str, bytes]]] = {}

    def update(self, view: HistoryView) -> list[dict[str, bytes]]:
        """Each job's lines per family name, in label order; unchanged jobs keep their lines."""
        kept: dict[JobKey, tuple[int, dict[str, bytes]]] = {}
        for key, version in view.versions:
            old = self._kept.get(key)
            if old is not None and old[0] == version:
                kept[key] = old
                continue
            sink = LineSink()
            add_job_history(sink, self._sources, key, view.jobs[key], view.duration_bounds, view.queued_bounds)
            kept[key] = (version, sink.chunks())
        self._kept = kept
        up = LineSink()
        for labels, fetched in view.up:
            up.add(m.HISTORY_UP, labels, 1.0 if fetched else 0.0)
        return [chunks for _, chunks in kept.values()] + [up.chunks()]
