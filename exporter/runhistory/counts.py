"""Run counters and duration histograms per job, versioned so a renderer redoes only the jobs that changed.

Counters start at zero for every status of a job when the job is first listed (so ``increase()`` sees its
first run); histograms are created when the first run that falls into them is counted, and durations are
kept per *duration class* of a run status (``metrics.run_duration_by``): the outcome (``success`` or
``failure``) by default, the status itself, or one histogram per job. No I/O.

:class:`RunCounts` is written by the sources' history parts under its lock, and
:meth:`RunCounts.view` makes the immutable :class:`HistoryView` a snapshot carries: unchanged jobs share
their copies with the previous view, so a cycle copies only the jobs that counted a run.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from exporter.metrics import MetricSpec

Labels = tuple[str, ...]
JobKey = tuple[str, Labels]  # (the source's run kind, the job's labels without the status)
# Told of every run counted, under the lock: (kind, the job's labels, status, the run as its source parsed it).
RunObserver = Callable[[str, Labels, str, object], None]


# How run-duration histograms are split: by outcome class (default), by run status, or not at all.
DURATION_SPLITS = ("outcome", "status", "none")
DEFAULT_DURATION_SPLIT = "outcome"


def duration_class(split: str, status: str) -> str:
    """The histogram a run of ``status`` is observed in: its status, its outcome class (``success``, or
    ``failure`` for every other terminal status), or "" when durations are not split."""
    if split == "status":
        return status
    if split == "outcome":
        return "success" if status == "success" else "failure"
    return ""


@functools.cache
def split_spec(spec: MetricSpec, split: str) -> MetricSpec:
    """A duration histogram's spec as served with ``split``: the declared one ends in ``outcome``; ``status``
    names its last label ``status``; ``none`` drops it."""
    if split == "status":
        return replace(spec, labels=(*spec.labels[:-1], "status"))
    if split == "none":
        return replace(spec, labels=spec.labels[:-1])
    return spec


def coarser(saved: str, split: str) -> bool:
    """True if histograms split by ``saved`` can be merged exactly into ones split by ``split``."""
    return saved == split or saved == "status" or split == "none"


@dataclass(slots=True)
class Histogram:
    """Observation counts per bucket (not cumulative; the last slot is above every bound), sum and count."""

    counts: list[int]
    sum: float = 0.0

    @classmethod
    def empty(cls, bounds: tuple[float, ...]) -> Histogram:
        """A histogram with no observations."""
        return cls([0] * (len(bounds) + 1))

    def observe(self, bounds: tuple[float, ...], value: float) -> None:
        """Add one observation."""
        slot = next((index for index, bound in enumerate(bounds) if value <= bound), len(bounds))
        self.counts[slot] += 1
        self.sum += value

    @property
    def count(self) -> int:
        """Number of observations."""
        return sum(self.counts)

    def copy(self) -> Histogram:
        """An independent copy."""
        return Histogram(list(self.counts), self.sum)

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s observations (same bounds)."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.sum += other.sum


@dataclass(frozen=True, slots=True)
class RunKind:
    """What one source counts: the terminal statuses of its runs, its job labels and whether a run reports
    its queue time. ``name`` keys its jobs in views; ``state_prefix`` its tables in the state file."""

    name: str
    state_prefix: str
    statuses: tuple[str, ...]
    label_count: int  # job labels, the status excluded
    queued: bool = False


@dataclass(frozen=True, slots=True)
class JobHistory:
    """A copy of one job's run counters per run status and its histograms per duration class (both sorted;
    only the classes a run was counted in), and how the durations are split."""

    runs: tuple[tuple[str, int], ...]
    durations: tuple[tuple[str, Histogram], ...]
    queued: Histogram | None  # kinds with queue times only, once a run was counted
    split: str = DEFAULT_DURATION_SPLIT
    extra: object | None = None  # what the source keeps per job beside its runs (immutable; see set_extra)


@dataclass(frozen=True, slots=True)
class HistoryView:
    """The run history at one moment, for rendering.

    ``versions`` names every job (sorted by kind, then labels) with its change version, which grows
    whenever one of the job's series changes; ``jobs`` holds each job's copy at that version.
    """

    duration_bounds: tuple[float, ...]
    queued_bounds: tuple[float, ...]
    versions: tuple[tuple[JobKey, int], ...]
    jobs: Mapping[JobKey, JobHistory]
    up: tuple[tuple[tuple[str, str], bool], ...] = ()  # (api, target) -> its run history is fetched without error


@dataclass(slots=True)
class RunTables:
    """One kind's counters and histograms, keyed by the job's labels plus the status (durations: plus the
    duration class; queued: the job's labels)."""

    runs: dict[Labels, int]
    durations: dict[Labels, Histogram]
    queued: dict[Labels, Histogram]


class RunCounts:
    """Every job's run counters and histograms, per :class:`RunKind`. Writers hold :attr:`lock`."""

    def __init__(self, kinds: Iterable[RunKind], buckets: tuple[float, ...],
                 queued_buckets: tuple[float, ...], split: str = DEFAULT_DURATION_SPLIT) -> None:
        if split not in DURATION_SPLITS:
            raise ValueError(f"unknown duration split {split!r}")
        self.kinds = {kind.name: kind for kind in kinds}
        self.buckets = buckets
        self.queued_buckets = queued_buckets
        self.split = split
        self.lock = threading.RLock()
        self.tables = {name: RunTables({}, {}, {}) for name in self.kinds}
        self._versions: dict[JobKey, int] = {}
        self._generation = 0
        self._copies: dict[JobKey, tuple[int, JobHistory]] = {}
        self._idle: dict[str, JobHistory] = {}  # per kind, the copy every job that never ran shares
        self.observers: list[RunObserver] = []  # e.g. DORA, which reads deployments from counted runs
        self._extras: dict[JobKey, object] = {}
        self._up: dict[tuple[str, str], bool] = {}  # (api, target) -> no fetch of its jobs' runs keeps failing

    def add_kind(self, kind: RunKind) -> None:
        """Count the runs of one more kind (a source's history part adds its own)."""
        with self.lock:
            if kind.name not in self.kinds:
                self.kinds[kind.name] = kind
                self.tables[kind.name] = RunTables({}, {}, {})

    def init_job(self, kind: str, labels: Labels) -> None:
        """Give a job a zero counter for every status, if it has none yet (its histograms come with its runs)."""
        table, spec = self.tables[kind], self.kinds[kind]
        if (*labels, spec.statuses[0]) in table.runs:
            return
        self.touch(kind, labels)
        for status in spec.statuses:
            table.runs.setdefault((*labels, status), 0)

    def count(self, kind: str, labels: Labels, status: str, duration: float | None,
              queued: float | None = None, run: object = None) -> None:
        """Count one finished run of a job (``status`` one of its kind's statuses; ``duration`` None: out of
        bounds (exporter.timebounds), counted but not observed; ``queued`` None: the API did not report the
        queue time, so the job gets no queue histogram from this run); ``run``, the record counted, is handed
        to the :attr:`observers`."""
        table, spec = self.tables[kind], self.kinds[kind]
        self.init_job(kind, labels)
        self.touch(kind, labels)
        table.runs[(*labels, status)] += 1
        if duration is not None:
            key = (*labels, duration_class(self.split, status))
            histogram = table.durations.get(key)
            if histogram is None:
                histogram = table.durations[key] = Histogram.empty(self.buckets)
            histogram.observe(self.buckets, duration)
        if spec.queued and queued is not None:
            waited = table.queued.get(labels)
            if waited is None:
                waited = table.queued[labels] = Histogram.empty(self.queued_buckets)
            waited.observe(self.queued_buckets, queued)
        for observer in self.observers:
            observer(kind, labels, status, run)

    def set_extra(self, kind: str, labels: Labels, value: object) -> None:
        """Keep ``value`` (immutable, opaque here: e.g. a job's unit-test tallies) beside a job's run counters:
        views carry it to the source's renderer. The caller holds :attr:`lock` and persists it itself."""
        self._extras[(kind, labels)] = value
        self.touch(kind, labels)

    def touch(self, kind: str, labels: Labels) -> None:
        """Mark one job's series changed."""
        self._generation += 1
        self._versions[(kind, labels)] = self._generation

    def retain(self, kind: str, keep: Callable[[Labels], bool]) -> None:
        """Forget the jobs of ``kind`` whose labels ``keep`` refuses: their series leave /metrics."""
        with self.lock:
            table = self.tables[kind]
            table.runs = {key: n for key, n in table.runs.items() if keep(key[:-1])}
            table.durations = {key: h for key, h in table.durations.items() if keep(key[:-1])}
            table.queued = {key: h for key, h in table.queued.items() if keep(key)}
            self._versions = {key: v for key, v in self._versions.items() if key[0] != kind or keep(key[1])}
            self._extras = {key: v for key, v in self._extras.items() if key[0] != kind or keep(key[1])}

    def rename(self, kind: str, renamed: Mapping[Labels, Labels]) -> None:
        """Move the series of jobs whose labels start with a key of ``renamed`` (a job's labels before) to
        start with its value (after: a renamed job), merged with any the new labels hold already; one pass."""
        width = len(next(iter(renamed), ()))
        if not width:
            return
        with self.lock:
            table = self.tables[kind]

            def moved(labels: Labels) -> Labels | None:
                new = renamed.get(labels[:width])
                return None if new is None else (*new, *labels[width:])

            runs: dict[Labels, int] = {}
            for key, value in table.runs.items():
                target = moved(key[:-1])
                if target is None:
                    runs[key] = runs.get(key, 0) + value
                    continue
                runs[(*target, key[-1])] = runs.get((*target, key[-1]), 0) + value
                self._versions.pop((kind, key[:-1]), None)
                self.touch(kind, target)
            table.runs = runs
            table.durations = _merged(table.durations, lambda key: None if (t := moved(key[:-1])) is None
                                      else (*t, key[-1]))
            table.queued = _merged(table.queued, moved)
            extras: dict[JobKey, object] = {}
            for (name, labels), extra in self._extras.items():  # a source's per-job slot moves with its job
                now = moved(labels) if name == kind else None
                extras[(name, labels if now is None else now)] = extra
                if now is not None:
                    self._versions.pop((name, labels), None)
                    self.touch(name, now)
            self._extras = extras

    def replace_tables(self, tables: Mapping[str, RunTables]) -> None:
        """Take over restored tables, every counter of every job filled in (a state file written by hand or
        by an older version may lack a status), each job marked changed."""
        with self.lock:
            self._versions = {}
            self._copies = {}
            for name, table in tables.items():
                self.tables[name] = table
                spec = self.kinds[name]
                # Every table's jobs, not only the counters': marks whose counter rows are missing (a file edited
                # by hand) must keep counting those jobs.
                jobs = {key[:-1] for key in (*table.runs, *table.durations)} | set(table.queued)
                for labels in jobs:
                    for status in spec.statuses:
                        table.runs.setdefault((*labels, status), 0)
                    self.touch(name, labels)
            for kind, labels in self._extras:  # restored by their sources before the tables
                self.touch(kind, labels)

    def set_up(self, api: str, target: str, up: bool) -> None:
        """Whether the run history of a target is fetched without error (codearts_history_up; lock held)."""
        self._up[(api, target)] = up

    def view(self) -> HistoryView:
        """An immutable copy of every job's history; jobs unchanged since the last view share its copies."""
        with self.lock:
            versions = tuple(sorted(self._versions.items()))
            copies: dict[JobKey, tuple[int, JobHistory]] = {}
            for key, version in versions:
                old = self._copies.get(key)
                copies[key] = old if old is not None and old[0] == version else (version, self._job_copy(key))
            self._copies = copies
            up = tuple(sorted(self._up.items()))
        return HistoryView(self.buckets, self.queued_buckets, versions,
                           {key: job for key, (_, job) in copies.items()}, up)

    def _job_copy(self, key: JobKey) -> JobHistory:
        kind, labels = key
        table, spec = self.tables[kind], self.kinds[kind]
        present = [status for status in sorted(spec.statuses) if (*labels, status) in table.runs]
        classes = sorted({duration_class(self.split, status) for status in spec.statuses})
        queued = table.queued.get(labels)
        extra = self._extras.get(key)
        runs = tuple((status, table.runs[(*labels, status)]) for status in present)
        durations = tuple((name, table.durations[(*labels, name)].copy()) for name in classes
                          if (*labels, name) in table.durations)
        if queued is None and extra is None and not durations and not any(count for _, count in runs):
            # A job that never ran: its copy holds no label, so every such job of a kind shares one (most
            # of a large tenant's jobs are idle, and each copy would cost ~400 bytes).
            idle = JobHistory(runs, (), None, self.split)
            shared = self._idle.get(kind)
            if shared != idle:  # the first, or another shape (a restored job may lack a status)
                self._idle[kind] = shared = idle
            return shared
        return JobHistory(runs, durations, None if queued is None else queued.copy(), self.split, extra)


def _merged(histograms: Mapping[Labels, Histogram],
            moved: Callable[[Labels], Labels | None]) -> dict[Labels, Histogram]:
    """``histograms`` with each key ``moved`` says to move under its new key, merged where two meet."""
    out: dict[Labels, Histogram] = {}
    for key, histogram in histograms.items():
        target = moved(key) or key
        if target in out:
            out[target] = out[target].copy()
            out[target].merge(histogram)
        else:
            out[target] = histogram
    return out
