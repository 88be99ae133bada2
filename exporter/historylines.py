"""Run-history sample lines, kept per job between snapshots and rendered again only for jobs that changed.

With run history on, a build job has ~86 series (counters per status, a duration histogram per status,
a queued histogram), so the history families outweigh the job families several times over. In a
poll cycle only the jobs that finished a run change; :meth:`RunHistory.view` copies just those (it
compares the change versions given to it), and only their lines are rendered here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from exporter.collector import add_job_history
from exporter.history import HistoryView, JobKey
from exporter.textformat import LineSink

ViewSource = Callable[[Mapping[JobKey, int]], HistoryView]


class HistoryLines:
    """The history lines of every job, per family, from the latest view. Not thread-safe: one updater."""

    def __init__(self, view: ViewSource) -> None:
        self._view = view
        self._kept: dict[JobKey, tuple[int, dict[str, bytes]]] = {}

    def update(self) -> list[dict[str, bytes]]:
        """Each job's lines per family name, in label order; unchanged jobs keep their lines."""
        view = self._view({key: version for key, (version, _) in self._kept.items()})
        kept: dict[JobKey, tuple[int, dict[str, bytes]]] = {}
        for key, version in view.versions:
            job = view.jobs.get(key)
            if job is None:
                kept[key] = self._kept[key]
                continue
            sink = LineSink()
            add_job_history(sink, key, job, view.duration_bounds, view.queued_bounds)
            kept[key] = (version, sink.chunks())
        self._kept = kept
        return [chunks for _, chunks in kept.values()]
