"""The one skeleton of every source whose runs carry a growing number (Build's build number, Pipeline's
``run_number``, Deploy's ``release_id``): each finished run counted exactly once.

Per job a :class:`~exporter.runhistory.marks.Mark`: the highest run number up to which every run has been
counted (or found gone), the numbers above it already counted, and what the job's listing entry showed when
last caught up. After each listing, the jobs whose entry changed and that have finished runs above their
mark are noted as pending (no request); once every listing of the cycle is in,
:meth:`NumberedHistory.catch_up_tasks` fetches their runs, least recently tried first, within a budget of
requests per cycle, pages newest first until the page that reaches the mark. A job left over by the budget
keeps its mark and is fetched in a later cycle (its runs counted then, exactly once), so a backlog of
history never holds back a listing. First sight of a job (no saved state) sets its mark to its latest
finished run without back-filling, so a restart without ``state.path`` never produces a spike.

A source fills :class:`NumberedHistory` with what differs: what a listing says (:meth:`~NumberedHistory.listed`),
how a page of runs is fetched (:meth:`~NumberedHistory.fetch_page`, optionally
:meth:`~NumberedHistory.fetch_batch` for an API that answers for many jobs at once) and how a run is counted
(:meth:`~NumberedHistory.run_labels`, :meth:`~NumberedHistory.queued_seconds`). See docs/history.md.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from exporter.errors import CodeArtsError
from exporter.runhistory.counts import Labels, RunCounts, RunKind
from exporter.runhistory.history import Task
from exporter.runhistory.marks import FetchTask, Mark, advance, marks_from_state, marks_to_state
from exporter.runhistory.options import HistoryConfig
from exporter.snapshot import Target

if TYPE_CHECKING:  # the type only: fetch modules import this one for RunPage
    from exporter.client import CodeArtsClient


class NumberedRun(Protocol):
    """One run as a source's records API gives it."""

    @property
    def number(self) -> int:
        """Its number within its job, growing with each run."""

    @property
    def status(self) -> str:
        """One of its kind's statuses once finished (another word: counted as ``unknown_status``)."""

    @property
    def finished(self) -> bool:
        """True once it reached a terminal status."""

    @property
    def duration(self) -> float | None:
        """Seconds it ran, if known."""


R = TypeVar("R", bound=NumberedRun)
# A job whose fetch failed or moved nothing while its listing stayed the same is fetched again after 1, 2, 4,
# 8... cycles, at most this many (a run stuck RUNNING, a denied run list: not one request every cycle).
MAX_STALL_CYCLES = 32
# A job missing from its target's successful listings this many cycles in a row (an hour at the default 60 s
# interval) has its series and mark retired: a deleted job, or one renamed while the exporter was down.
RETIRE_AFTER_CYCLES = 60
A = TypeVar("A")  # a job as its listing gives it (a build job, a pipeline, an application)


@dataclass(frozen=True, slots=True)
class RunPage(Generic[R]):
    """One page of a job's runs: those that parsed, how many items the page held, and its total if given."""

    runs: tuple[R, ...]
    size: int
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Listed(Generic[A]):
    """What one listing entry tells of a job's runs."""

    key: str  # the job's identity: keys its mark (in the state file too) and its pending entry
    labels: Labels  # the job's labels, given back to :meth:`NumberedHistory.run_labels`
    job: A  # the listing's record of the job, for fetching its runs
    latest: int | None  # the newest run number the entry shows; None: none readable
    running: bool  # that run is still going (it is counted when it ends)
    marker: tuple[Any, ...] | None  # what in the entry changes when the job runs; None: the entry shows no run
    counted: Labels | None  # the counter labels to start at zero now (None: none yet)
    old_key: str | None = None  # the key an earlier release saved its mark under, taken over once


@dataclass(frozen=True, slots=True)
class Pending(Generic[A]):
    """A job with finished runs to fetch, as its latest listing showed it."""

    key: str
    labels: Labels
    job: A
    listing: str  # the key of the target whose listing showed it
    finished_up_to: int  # the newest finished run the listing implies
    latest: int  # the newest run number the listing shows
    marker: tuple[Any, ...]
    order: int  # position in its listing, to keep ties stable
    restart: bool = False  # its listing shows a number below the mark: counted from #1 once a fetch confirms
    blind: bool = False  # its listing shows a run but no number: the runs API says what is new


@dataclass(frozen=True, slots=True)
class BatchTask(Generic[A]):
    """One batch fetch of a cycle (jobs sharing one request), a task for a poll worker."""

    catch_up: Callable[[list[tuple[Pending[A], int]], float | None], None]
    entries: list[tuple[Pending[A], int]]  # each job with its previous turn
    start_by: float | None

    def __call__(self) -> None:
        self.catch_up(self.entries, self.start_by)


class NumberedHistory(ABC, Generic[A, R]):
    """Counts the finished numbered runs of one source's jobs, each exactly once. Subclasses set the class
    attributes and :meth:`listed` and :meth:`fetch_page`; the other hooks have defaults."""

    kind: RunKind
    marks_key: str  # the state file's key of the marks: job key -> [high, numbers counted above it, marker]
    noun: str  # one job, for people: "build job" (log lines say "build jobs" for several)
    skip_api: str  # the ``api`` label of the runs it skips in codearts_records_skipped_total
    log: logging.Logger  # the source's own logger
    page_size: int = 100  # runs per page requested at most
    batch_size: int = 100  # jobs one batch request carries at most (with :meth:`batch_group`)
    # True: a run up to the newest finished one the listing showed that the fetch did not return is gone (the
    # runs API answers a window, e.g. Deploy's 30 days), not waited for. False: it waits for a later fetch.
    unlisted_are_gone: bool = False

    def __init__(self, counts: RunCounts, client: CodeArtsClient, options: HistoryConfig, *,
                 requests_per_cycle: int | None, monotonic: Callable[[], float]) -> None:
        """``requests_per_cycle``: the requests one cycle may plan (None: no limit)."""
        self.counts = counts
        counts.add_kind(self.kind)
        self.client = client
        self.options = options
        self.requests_per_cycle = requests_per_cycle
        self._monotonic = monotonic
        self._lock = counts.lock
        self._cycle = 0
        self._spent = 0  # requests the source made beside the run fetches since the last plan (:meth:`spend`)
        self._detail_turns: dict[str, dict[str, int]] = {}  # target key -> item id -> the read it last had
        self._detail_count = 0  # detail reads handed out so far (:meth:`detail_reads`)
        self._pending: dict[str, dict[str, Pending[A]]] = {}  # target key -> job key -> what to fetch
        self._marks: dict[str, Mark] = {}
        self._failing: dict[str, tuple[str, set[str]]] = {}  # target key -> (api, jobs whose last fetch failed)
        self._labels: dict[str, Labels] = {}  # job key -> its labels as last listed (a rename moves its series)
        self._listed: dict[str, dict[Labels, str | None]] = {}  # target key -> its last listing's job labels -> key
        self._gone: dict[Labels, tuple[int, str | None]] = {}  # job labels -> (first cycle missed, job key)
        self._saved: dict[str, set[Labels]] | None = None  # restored jobs per target, until their first listing
        self.setup()

    # -- the hooks a source fills ------------------------------------------------------------------------

    def setup(self) -> None:
        """Set up the source's own state (``self.options`` is there); called last by the constructor."""

    @abstractmethod
    def listed(self, target: Target, records: Iterable[Any]) -> Iterator[Listed[A]]:
        """What a successful listing of ``target`` tells, one :class:`Listed` per record (no request)."""

    @abstractmethod
    def fetch_page(self, entry: Pending[A], index: int, limit: int, lowest: int | None) -> RunPage[R]:
        """Page ``index`` (from 0, newest first) of ``limit`` runs of a job; ``lowest``: the lowest run number
        the earlier pages held (None on the first). Raises :class:`CodeArtsError`."""

    def run_labels(self, entry: Pending[A], run: R) -> Labels:
        """The counter labels a run of the job is counted under; by default the job's."""
        return entry.labels

    def queued_seconds(self, run: R) -> float | None:
        """How long a run waited, for kinds with queue times; by default not reported."""
        return None

    def batch_group(self, entry: Pending[A]) -> str | None:
        """The batch ``entry`` shares a request with (jobs one answer reaches back to the mark of only), or
        None to fetch it alone, page by page (the default)."""
        return None

    def fetch_batch(self, entries: list[Pending[A]], limit: int) -> list[RunPage[R] | None] | None:
        """The last ``limit`` runs of each of ``entries`` (one group) in one request, in their order (None: left
        out of the answer, fetched in a later cycle); None if the batch API is not there after all (each is
        then fetched alone at once). Raises :class:`CodeArtsError`. Only for sources with :meth:`batch_group`."""
        raise NotImplementedError

    def counted(self, entry: Pending[A], run: R) -> None:
        """A run of the job was just counted (lock held): a source that reads more for each counted run (Build's
        unit-test reports) notes it here; by default nothing."""

    def records_budget(self) -> int | None:
        """The requests this cycle's run fetches may plan; by default ``requests_per_cycle`` (a source with
        :meth:`more_tasks` may keep a share of it for them)."""
        return self.requests_per_cycle

    def more_tasks(self, left: int | None, start_by: float | None) -> list[Task]:
        """Requests of the same budget beside the run fetches (``left``: what the run fetches left of it; None:
        no limit), taking turns with them; by default none."""
        return []

    def restarted(self, listed: Listed[A], high: int) -> bool:
        """True if the job's numbering started again below its mark ``high`` (a re-created or reset job); by
        default when the listing's latest number is below the mark. The job's runs are then fetched from #1 and,
        if the run list holds no number above that latest one (the listing did not just lag), counted from #1
        with the mark started again."""
        return listed.latest is not None and listed.latest < high

    # -- driven by the run history ---------------------------------------------------------------------

    def after_listing(self, target: Target, records: Iterable[Any]) -> None:
        """Note which jobs of ``target`` ran since their marks (no request)."""
        with self._lock:
            pending = {}
            before = self._pending.get(target.key, {})
            renamed: dict[Labels, Labels] = {}
            listed_now: dict[Labels, str] = {}
            for order, listed in enumerate(self.listed(target, records)):
                old = self._labels.get(listed.key)
                if old is not None and old != listed.labels:
                    renamed[old] = listed.labels
                self._labels[listed.key], listed_now[listed.labels] = listed.labels, listed.key
                entry = self._note(target.key, listed, order)
                if entry is None:
                    continue
                pending[entry.key] = entry
                earlier = before.get(entry.key)
                if earlier is None or earlier.marker != entry.marker:  # it changed: no backoff
                    mark = self._marks[entry.key]
                    mark.stalls = mark.due = 0
            if renamed:  # before any run is counted under the new labels
                self.counts.rename(self.kind.name, renamed)
            self._note_gone(target.key, listed_now, renamed)
            # Replaced whole: a job gone from the listing is no longer fetched.
            self._pending[target.key] = pending
            _, failing = self._failing.setdefault(target.key, (target.api, set()))
            failing.intersection_update(pending)  # a job no longer pending is not failing
            self.counts.set_up(target.api, target.key, not failing)

    def catch_up_tasks(self, within: float | None = None) -> list[Task]:
        """This cycle's fetches as tasks (they may run in parallel): the jobs tried least recently first, as
        many as ``requests_per_cycle`` allows after what :meth:`spend` took (at least one request if it took
        none). Jobs of one :meth:`batch_group` share a request; the others are a task each. A task that has
        not started ``within`` seconds from now does nothing and its jobs keep their place (a slow or failing
        API must not stretch the cycle). What is not fetched stays pending for a later cycle, its mark
        untouched, so nothing is lost or counted twice."""
        start_by = None if within is None else self._monotonic() + within
        budget = self.records_budget()
        with self._lock:
            self._cycle += 1
            expired = [labels for labels, (since, _) in self._gone.items() if self._cycle - since > RETIRE_AFTER_CYCLES]
            if expired:
                self._retire(expired)
            waiting = sorted((entry for jobs in self._pending.values() for entry in jobs.values()
                              if self._marks[entry.key].due <= self._cycle),
                             key=lambda entry: (self._marks[entry.key].tried, entry.order))
            alone: list[tuple[Pending[A], int]] = []
            batches: list[list[tuple[Pending[A], int]]] = []
            open_batch: dict[str, list[tuple[Pending[A], int]]] = {}  # group -> its batch with room
            planned, self._spent = self._spent, 0
            for entry in waiting:
                group = self._group(entry)
                batch = open_batch.get(group) if group is not None else None
                cost = 0 if batch is not None else 1 if group is not None else self._pages(entry)
                if (alone or batches or planned) and budget is not None and planned + cost > budget:
                    break
                mark = self._marks[entry.key]
                turn = (entry, mark.tried)
                mark.tried = self._cycle
                planned += cost
                if group is None:
                    alone.append(turn)
                    continue
                if batch is None:
                    batch = open_batch[group] = []
                    batches.append(batch)
                batch.append(turn)
                if len(batch) >= self.batch_size:
                    del open_batch[group]
        tasks: list[Task] = [FetchTask(self._catch_up, entry, start_by, tried) for entry, tried in alone]
        tasks += [BatchTask(self._catch_up_batch, batch, start_by) for batch in batches]
        more = self.more_tasks(None if self.requests_per_cycle is None else max(0, self.requests_per_cycle - planned),
                               start_by)
        # Taking turns: a task not started within the cycle's history window does nothing, and tasks queued
        # behind every run fetch would be the ones that never start in a busy cycle.
        return [task for pair in zip_longest(tasks, more) for task in pair if task is not None]

    def spend(self, wanted: int) -> int:
        """Take up to ``wanted`` requests the source makes beside the run fetches (Pipeline's run details,
        Deploy's application details, read with the listings) from this cycle's budget, at most half of it
        (rounded up) so the run fetches keep the rest: how many it may make. The run fetches planned next get
        what is left, without their floor of one request once something was spent."""
        with self._lock:
            if self.requests_per_cycle is None:
                granted = wanted
            else:
                granted = max(0, min(wanted, -(-self.requests_per_cycle // 2) - self._spent))
            self._spent += granted
            return granted

    def detail_reads(self, target: str, due: Sequence[str], listed: Collection[str], most: int) -> list[str]:
        """Of the items of ``target`` whose detail read is due (``due``: ids in listing order; Pipeline's run
        details, Deploy's application details), those to read now: least recently read first, at most ``most``
        and as many as the cycle's budget still allows (:meth:`spend`). ``listed``: every item of the listing
        (the others are forgotten)."""
        granted = self.spend(min(most, len(due)))
        with self._lock:
            last = {key: turn for key, turn in self._detail_turns.get(target, {}).items() if key in listed}
            chosen = sorted(due, key=lambda item: last.get(item, -1))[:granted]
            for item in chosen:
                self._detail_count += 1
                last[item] = self._detail_count
            self._detail_turns[target] = last
            return chosen

    def pending_jobs(self) -> int:
        """Jobs whose new runs are not fetched yet."""
        with self._lock:
            return sum(len(jobs) for jobs in self._pending.values())

    def marks_to_state(self) -> dict[str, Any]:
        """The marks under :attr:`marks_key`: job key -> [high, numbers counted above it, listing marker]."""
        return {self.marks_key: marks_to_state(self._marks)}

    def marks_from_state(self, state: Mapping[str, Any]) -> Callable[[], None]:
        """Read the marks (ValueError if malformed; absent: none yet); the step returned takes them over."""
        marks = marks_from_state(state, self.marks_key)

        def take_over() -> None:
            self._marks = marks
            self._saved, self._listed = None, {}  # the restored jobs are compared with their first listings

        return take_over

    # -- the skeleton ----------------------------------------------------------------------------------

    def _note(self, listing: str, listed: Listed[A], order: int) -> Pending[A] | None:
        if listed.counted is not None:
            self.counts.init_job(self.kind.name, listed.counted)
        mark = self._marks.get(listed.key)
        if mark is None and listed.old_key is not None and listed.old_key in self._marks:
            mark = self._marks[listed.key] = self._marks.pop(listed.old_key)  # a state file of an earlier release
        if listed.marker is None:  # no run yet: a mark at 0, so its first runs are counted
            if mark is None:
                self._marks[listed.key] = Mark(0)
            return None
        latest = listed.latest
        if latest is None:  # a run but no number (a Build job list without build_number): the runs API tells
            if mark is None or not mark.known:  # first sight: its first fetch sets the mark, without back-filling
                self._marks.setdefault(listed.key, Mark(0, known=False))
            elif mark.marker == listed.marker:
                return None
            high = self._marks[listed.key].high
            return Pending(listed.key, listed.labels, listed.job, listing, high, high, listed.marker, order,
                           blind=True)
        # The newest finished run is the latest one, or the one before while the latest still runs.
        finished_up_to = None if latest is None else latest - 1 if listed.running else latest
        if mark is None:
            # First sight: no back-filling; a run still going is counted when it ends.
            self._marks[listed.key] = Mark(max(0, finished_up_to or 0), marker=listed.marker)
            return None
        if mark.marker != listed.marker and finished_up_to is not None and finished_up_to > 0 \
                and self.restarted(listed, mark.high):
            return Pending(listed.key, listed.labels, listed.job, listing, finished_up_to, latest or finished_up_to,
                           listed.marker, order, restart=True)
        if mark.marker == listed.marker or finished_up_to is None or finished_up_to <= mark.high:
            mark.marker = listed.marker
            return None
        return Pending(listed.key, listed.labels, listed.job, listing, finished_up_to, latest or finished_up_to,
                       listed.marker, order)

    def target_of(self, labels: Labels) -> str:
        """The key of the target whose listing holds the job with ``labels``; by default its first label."""
        return labels[0]

    def _note_gone(self, target: str, listed: dict[Labels, str], renamed: Mapping[Labels, Labels]) -> None:
        """Note the jobs ``target``'s listing no longer holds (lock held): retired after RETIRE_AFTER_CYCLES."""
        previously = self._listed.get(target)
        if previously is None:  # its first listing: the jobs a state file brought are the ones to compare
            previously = dict.fromkeys(self._restored(target, listed), None)
        for labels, key in previously.items():
            if labels not in listed and labels not in renamed:
                self._gone.setdefault(labels, (self._cycle, key))
        for labels in listed:
            self._gone.pop(labels, None)
        self._listed[target] = dict(listed)

    def _restored(self, target: str, listed: Mapping[Labels, str]) -> set[Labels]:
        """The job labels the counters hold for ``target`` before its first listing (from a state file)."""
        if self._saved is None:
            width = len(next(iter(listed), ()))
            if not width:
                return set()
            self._saved = {}
            table = self.counts.tables[self.kind.name]
            for key in table.runs:
                labels = key[:width]
                self._saved.setdefault(self.target_of(labels), set()).add(labels)
        return self._saved.pop(target, set())

    def _retire(self, expired: list[Labels]) -> None:
        """Forget the series and marks of jobs gone from their listings for RETIRE_AFTER_CYCLES (lock held)."""
        width = len(expired[0])
        dead = set(expired)
        self.counts.retain(self.kind.name, lambda labels: labels[:width] not in dead)
        for labels in expired:
            _, key = self._gone.pop(labels)
            if key is not None and self._labels.get(key) == labels:
                del self._labels[key]
                self._marks.pop(key, None)
        self.log.info("retired the run history of %d %ss gone from their listings for %d cycles", len(expired),
                      self.noun, RETIRE_AFTER_CYCLES)

    def _group(self, entry: Pending[A]) -> str | None:
        """The entry's batch, if one answer of at most ``page_size`` runs reaches back to its mark."""
        if entry.restart or entry.blind or entry.latest - self._marks[entry.key].high > self.page_size:
            return None
        return self.batch_group(entry)

    def _pages(self, entry: Pending[A]) -> int:
        """The requests fetching ``entry`` alone is expected to take."""
        behind = entry.latest - (0 if entry.restart else self._marks[entry.key].high)
        return max(1, min(self.options.max_pages, math.ceil(behind / self.page_size)))

    def _catch_up(self, entry: Pending[A], start_by: float | None, tried: int) -> None:
        with self._lock:
            mark = self._marks[entry.key]
            if start_by is not None and self._monotonic() > start_by:
                mark.tried = tried  # not its turn after all: it keeps its place in the queue
                return
            high, above = (0, set()) if entry.restart else (mark.high, set(mark.above))
        try:
            runs = self._fetch(entry, high, above)
        except CodeArtsError as err:
            with self._lock:
                waits = self._stalled(entry)
                self._failed(entry, True)
            self.log.warning("run history of %s %s failed, fetched again in %d cycles: %s", self.noun, entry.key,
                             waits, err)
            return
        with self._lock:
            self._failed(entry, False)
            if entry.restart:
                self._restart(entry, runs)
            elif not mark.known:
                self._first_fetch(entry, runs)
            else:
                self._apply(entry, high, above, runs)
            self._done(entry)

    def _first_fetch(self, entry: Pending[A], runs: dict[int, R]) -> None:
        """Set the mark of a job first seen without a run number at its newest finished run (lock held)."""
        old = self._marks[entry.key]
        unfinished = [number for number, run in runs.items() if not run.finished]
        high = max(0, min(unfinished) - 1) if unfinished else max(runs, default=0)
        above = {number for number, run in runs.items() if run.finished and number > high}
        self._marks[entry.key] = Mark(high, above, entry.marker, tried=old.tried)

    def _restart(self, entry: Pending[A], runs: dict[int, R]) -> None:
        """Count from #1 a job whose listing went below its mark, unless its run list goes higher (lock held)."""
        mark = self._marks[entry.key]
        if max(runs, default=0) > entry.latest:  # the run list goes on above it: the listing lagged
            mark.marker = entry.marker
            return
        self._contradicted("run_numbers_grow", entry.listing, f"{self.noun} {entry.key}: the newest run is "
                           f"#{entry.latest}, below #{mark.high} already counted; counting starts again from #1")
        self._marks[entry.key] = Mark(0, tried=mark.tried)
        self._apply(entry, 0, set(), runs)

    def _failed(self, entry: Pending[A], failed: bool) -> None:
        """Note whether the last fetch of ``entry`` failed; its target's history is down while one does."""
        api, failing = self._failing.get(entry.listing, ("", set()))
        if not api:
            return
        if failed:
            failing.add(entry.key)
        else:
            failing.discard(entry.key)
        self.counts.set_up(api, entry.listing, not failing)

    def _stalled(self, entry: Pending[A]) -> int:
        """Back ``entry`` off after a fetch that failed or moved nothing; the cycles it waits (lock held)."""
        mark = self._marks[entry.key]
        mark.stalls += 1
        waits: int = min(MAX_STALL_CYCLES, 1 << (mark.stalls - 1))  # the first: the next cycle, as before
        mark.due = self._cycle + waits
        return waits

    def _contradicted(self, assumption: str, target: str, detail: str) -> None:
        """Report that an answer for ``target`` contradicted ``assumption`` (exporter.assumptions: logged and
        counted once per target, shown on the landing page)."""
        self.client.stats.assumptions.contradicted(self.kind.name, assumption, target, detail)

    def _catch_up_batch(self, entries: list[tuple[Pending[A], int]], start_by: float | None) -> None:
        """Fetch the runs of one group's jobs in one request, and count them as :meth:`_catch_up` does."""
        with self._lock:
            if start_by is not None and self._monotonic() > start_by:
                for entry, tried in entries:
                    self._marks[entry.key].tried = tried  # not their turn after all
                return
            marks = {entry.key: (self._marks[entry.key].high, set(self._marks[entry.key].above))
                     for entry, _ in entries}
        limit = max(1, min(self.page_size, max(entry.latest - marks[entry.key][0] for entry, _ in entries)))
        try:
            pages = self.fetch_batch([entry for entry, _ in entries], limit)
        except CodeArtsError as err:
            with self._lock:
                for entry, _ in entries:
                    self._failed(entry, True)
            self.log.warning("run history of %d %ss failed, fetched again in a later cycle: %s", len(entries),
                             self.noun, err)
            return
        if pages is None:  # no batch API after all: each alone, now
            for entry, tried in entries:
                self._catch_up(entry, None, tried)
            return
        further = []
        for (entry, tried), page in zip(entries, pages, strict=True):
            if page is None:  # left out of the answer: fetched alone, now
                self._contradicted("batch_answers_every_id", entry.listing,
                                   f"{self.noun} {entry.key} was left out of the batch answer; fetched alone")
                further.append((entry, tried))
                continue
            high, above = marks[entry.key]
            runs: dict[int, R] = {}
            _take(page, high, runs)
            if page.size >= limit and not _found_all(entry.finished_up_to, high, above, runs):
                further.append((entry, tried))  # ran again since the listing, or out of order: more than one answer
                continue
            with self._lock:
                self._failed(entry, False)
                self._apply(entry, high, above, runs)
                self._done(entry)
        for entry, tried in further:
            self._catch_up(entry, None, tried)

    def _done(self, entry: Pending[A]) -> None:
        """Drop ``entry`` from the pending jobs if its fetch caught up with that listing (lock held)."""
        pending = self._pending.get(entry.listing, {})
        if self._marks[entry.key].marker == entry.marker and pending.get(entry.key) is entry:
            del pending[entry.key]

    def _fetch(self, entry: Pending[A], high: int, above: set[int]) -> dict[int, R]:
        """Runs numbered above ``high``, pages newest first, until every number up to the newest finished one the
        listing showed is found (or counted: ``above``), the list ends or ``max_pages``. A run list sorted by
        start time rather than by number (a queued run numbered later that started earlier) is walked on, in
        pages of ``page_size`` from the start; what is not found below the newest run listed is then gone."""
        limit = self.page_size if entry.blind else max(1, min(self.page_size, entry.latest - high))
        runs: dict[int, R] = {}
        lowest: int | None = None
        index = 0
        upto = entry.finished_up_to  # the newest finished run to find; without a listed number, the newest seen
        for _ in range(self.options.max_pages):
            page = self.fetch_page(entry, index, limit, lowest)
            _take(page, high, runs)
            numbers = [run.number for run in page.runs]
            if entry.blind:
                if self._marks[entry.key].known is False:
                    return runs  # first sight: the newest page says where the mark starts
                upto = max([upto, *(run.number for run in page.runs if run.finished)])
            if index == 0 and numbers and max(numbers) <= high and not entry.restart:
                self.log.warning("first records page of %s %s holds no run above #%d although #%d exists: the "
                                 "API may not list newest first", self.noun, entry.key, high, entry.latest)
            if numbers != sorted(numbers, reverse=True) or (lowest is not None and numbers and max(numbers) > lowest):
                self._contradicted("runs_sorted_by_number", entry.listing, f"the run list of {self.noun} {entry.key} "
                                   "is not in descending run-number order; walked until each is found")
            # The lowest of all pages so far: a page whose items all failed to parse ends nothing.
            lowest = min([*numbers, lowest] if lowest is not None else numbers, default=None)
            if page.size < limit or lowest is None or _found_all(upto, high, above, runs):
                return runs
            if index == 0 and limit < self.page_size and lowest <= high + 1:
                index, limit, lowest = 0, self.page_size, None  # out of order: widen, from the newest again
                continue
            index += 1
        self.log.warning("%s %s: not every new run found within %d pages of %d; those missing are not counted",
                         self.noun, entry.key, self.options.max_pages, limit)
        return runs

    def _apply(self, entry: Pending[A], high: int, above: set[int], runs: dict[int, R]) -> None:
        mark = self._marks[entry.key]
        # Another fetch of this job (a late one of an earlier cycle) applied meanwhile: its counts stand. It may
        # have counted a run above a still-running one and moved only ``above``, so both are compared.
        if mark.high != high or mark.above != above:
            return
        before = (high, len(above))
        for number in sorted(runs):
            run = runs[number]
            if run.finished and number not in above:
                above.add(number)
                self._count(entry, run)
        high, gone = advance(high, above, runs, entry.finished_up_to if self.unlisted_are_gone else None)
        if gone:
            self.client.stats.count_skipped(self.skip_api, "not_listed", gone)
        mark.high, mark.above = high, above
        if high >= entry.finished_up_to:  # caught up: the next fetch waits for the listing to change
            mark.marker = entry.marker
            mark.stalls = mark.due = 0
        elif (high, len(above)) == before:
            self._stalled(entry)  # nothing moved (a run stuck RUNNING): asked again less and less often
        else:
            mark.stalls = mark.due = 0

    def _count(self, entry: Pending[A], run: R) -> None:
        if run.status not in self.kind.statuses:
            self.client.stats.count_skipped(self.skip_api, "unknown_status")
            return
        if run.duration is None:  # out of bounds (exporter.timebounds): counted, not observed
            self.client.stats.assumptions.contradicted(self.kind.name, "times_in_range", entry.key,
                                                       f"run {run.number} has no duration within bounds")
        self.counts.count(self.kind.name, self.run_labels(entry, run), run.status, run.duration,
                          self.queued_seconds(run), run=run)
        self.counted(entry, run)


def _found_all(upto: int, high: int, above: set[int], runs: Mapping[int, Any]) -> bool:
    """True if every number above ``high`` up to ``upto`` (the newest finished run the listing showed) is in
    ``runs`` or ``above`` (counted already)."""
    return all(number in runs or number in above for number in range(high + 1, upto + 1))


def _take(page: RunPage[R], high: int, runs: dict[int, R]) -> None:
    """Keep the runs of ``page`` numbered above ``high`` (a finished copy over an unfinished one)."""
    for run in page.runs:
        if run.number > high and (run.number not in runs or run.finished):
            runs[run.number] = run
