"""Which finished builds' unit-test reports to ask for, and what the reports add up to per job.

Each build the run history counts (first sight excluded, as for its counters) in a project with ``tests:
true`` is noted here (no request); :meth:`TestBook.tasks` turns the noted builds into one request each,
oldest first, within what the cycle's history budget leaves over. Each build is asked once: its answer (a
report, no report, or an unreadable one) is remembered by taking it off the book, and its counts added
exactly once. A request that fails (the network, throttling, a server fault) keeps the build on the book for
a later cycle, at most MAX_ATTEMPTS times. The book (builds still to ask, each job's tallies) is saved with
the run history in ``state.path``, in the same consistent copy as the counters, so a restart neither asks
again nor counts twice.

A job whose last ASK_AFTER_MISSES builds had no report (no test step, most likely) is asked again only for
every ASK_EVERY-th build after that, so jobs without tests cost a request a tenth of their builds; a report
found puts it back to every build.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.client import CodeArtsClient
from exporter.errors import CodeArtsError
from exporter.runhistory.counts import Labels, RunCounts
from exporter.sources.build.testmodels import TestSummary, TestTally
from exporter.sources.build.testreport import TESTS_API, ReportAnswer, fetch_summary
from exporter.statefile import StateProblem, check, count, exactly, items, labels, mapping

log = logging.getLogger(__name__)

ASK_AFTER_MISSES = 5  # builds in a row without a report before a job is asked less often
ASK_EVERY = 10  # then only every 10th build is asked
MAX_ATTEMPTS = 3  # failed requests for one build before it is given up (counted: failed)
MAX_WAITING_PER_JOB = 100  # builds of one job on the book at most; the oldest beyond are dropped (counted)
STATE_KEY = "build_tests"
SKIP_REASONS = ("no_report", "malformed", "wrong_build", "failed", "dropped")


@dataclass(slots=True)
class _Job:
    """One job's place in the book."""

    labels: Labels
    waiting: dict[int, int] = field(default_factory=dict)  # build number -> failed requests so far
    misses: int = 0  # builds in a row answered without a report
    passed_over: int = 0  # builds not asked since the last one asked (while the job misses)
    tally: TestTally | None = None
    due: int | None = None  # the build chosen to be asked while the job misses (asked until answered)


@dataclass(frozen=True, slots=True)
class ReportTask:
    """One build's report request of a cycle, a task for a poll worker."""

    book: TestBook
    job_id: str
    build_no: int
    start_by: float | None

    def __call__(self) -> None:
        self.book.ask(self.job_id, self.build_no, self.start_by)


class TestBook:
    """The builds whose unit-test reports are still to ask for, and each job's tallies. Writers hold
    ``counts.lock``; the tallies go to ``counts`` (:meth:`RunCounts.set_extra`) for rendering."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, counts: RunCounts, kind: str, client: CodeArtsClient, monotonic: Callable[[], float]) -> None:
        self.counts = counts
        self.kind = kind
        self.client = client
        self._monotonic = monotonic
        self._lock = counts.lock
        self._jobs: dict[str, _Job] = {}
        self._asking: set[tuple[str, int]] = set()  # requests under way (a late task must not ask twice)

    def note(self, job_id: str, job_labels: Labels, build_no: int) -> None:
        """A build of the job was counted: its report is to be asked for (lock held)."""
        job = self._jobs.get(job_id)
        if job is None:
            job = self._jobs[job_id] = _Job(job_labels)
        job.labels = job_labels
        job.waiting[build_no] = 0
        if len(job.waiting) > MAX_WAITING_PER_JOB:
            del job.waiting[min(job.waiting)]
            self.client.stats.count_skipped(TESTS_API, "dropped")

    def relabel(self, job_id: str, job_labels: Labels) -> None:
        """The job's labels as last listed (lock held): reports answered after a rename count under the new ones
        (the run counters move there too: :meth:`RunCounts.rename`)."""
        job = self._jobs.get(job_id)
        if job is not None:
            job.labels = job_labels

    def waiting(self) -> int:
        """Builds whose reports are still to ask for."""
        with self._lock:
            return sum(len(job.waiting) for job in self._jobs.values())

    def tasks(self, budget: int | None, start_by: float | None) -> list[ReportTask]:
        """At most ``budget`` requests (None: every build to ask), the oldest builds first and the jobs taking
        turns, so one busy job does not hold back the others. A job that answered without a report is asked
        one build at a time (its next answer decides whether it is asked less often); once its last
        ASK_AFTER_MISSES builds had none, only every ASK_EVERY-th build is asked, the others passed over here."""
        with self._lock:
            queues = [(job_id, self._to_ask(job_id, job)) for job_id, job in self._jobs.items()]
            tasks: list[ReportTask] = []
            while any(queue for _, queue in queues) and (budget is None or len(tasks) < budget):
                for job_id, queue in queues:
                    if queue and (budget is None or len(tasks) < budget):
                        tasks.append(ReportTask(self, job_id, queue.pop(0), start_by))
            return tasks

    def _to_ask(self, job_id: str, job: _Job) -> list[int]:
        """The builds of a job to ask for this cycle, oldest first (lock held)."""
        if any(asking == job_id for asking, _ in self._asking):
            return []  # its answer is still to come
        numbers = sorted(job.waiting)
        if job.misses == 0:
            return numbers
        if job.misses < ASK_AFTER_MISSES:
            return numbers[:1]
        if job.due in job.waiting:
            return [job.due]
        for number in numbers:
            job.passed_over += 1
            if job.passed_over >= ASK_EVERY:
                job.passed_over, job.due = 0, number
                return [number]
            del job.waiting[number]  # passed over: remembered as not asked, never asked
        return []

    def ask(self, job_id: str, build_no: int, start_by: float | None) -> None:
        """Ask for one build's report and add it up (a task not started by ``start_by`` does nothing)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or build_no not in job.waiting or (job_id, build_no) in self._asking \
                    or (start_by is not None and self._monotonic() > start_by):
                return
            self._asking.add((job_id, build_no))
        try:
            answer = fetch_summary(self.client, job_id, build_no)
        except CodeArtsError as err:
            with self._lock:
                self._asking.discard((job_id, build_no))
                self._failed(job_id, build_no, err)
            return
        with self._lock:
            self._asking.discard((job_id, build_no))
            self._answered(job_id, build_no, answer)

    def _failed(self, job_id: str, build_no: int, err: CodeArtsError) -> None:
        job = self._jobs[job_id]
        attempts = job.waiting.get(build_no, MAX_ATTEMPTS) + 1
        if attempts < MAX_ATTEMPTS:
            job.waiting[build_no] = attempts
            log.warning("unit-test report of build job %s #%d failed, asked again in a later cycle: %s", job_id,
                        build_no, err)
            return
        job.waiting.pop(build_no, None)
        self.client.stats.count_skipped(TESTS_API, "failed")
        log.warning("unit-test report of build job %s #%d failed %d times, given up: %s", job_id, build_no,
                    MAX_ATTEMPTS, err)

    def _answered(self, job_id: str, build_no: int, answer: ReportAnswer) -> None:
        job = self._jobs[job_id]
        if job.waiting.pop(build_no, None) is None:
            return  # answered meanwhile (never counted twice)
        if answer.summary is None:
            self.client.stats.count_skipped(TESTS_API, answer.reason)
            if answer.reason == "no_report":
                job.misses += 1
            else:
                log.warning("unit-test report of build job %s #%d not used (%s)", job_id, build_no, answer.reason)
            return
        job.misses = job.passed_over = 0
        summary = answer.summary
        job.tally = TestTally(summary.cases, 1, summary) if job.tally is None else job.tally.plus(summary)
        self.counts.set_extra(self.kind, job.labels, job.tally)

    # -- persistence -----------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """``build_tests``: job id -> [labels, [[build, failed requests], ...], misses, passed over, tally or
        null, the build due or null], a tally [[4 case counts], reports, [last build, [4 case counts]]] (lock
        held)."""
        return {STATE_KEY: {job_id: [list(job.labels), [list(pair) for pair in sorted(job.waiting.items())],
                                     job.misses, job.passed_over, _tally_to_state(job.tally), job.due]
                            for job_id, job in self._jobs.items()}}

    def from_state(self, state: Mapping[str, Any], label_count: int) -> Callable[[], None]:
        """Read ``build_tests`` (ValueError naming the first problem; absent: an empty book); the step returned
        takes it over and hands the tallies to the counts (lock held then)."""
        jobs: dict[str, _Job] = {}
        for job_id, saved in mapping(state.get(STATE_KEY, {}), STATE_KEY).items():
            where = f"{STATE_KEY}.{job_id[:64]}"
            job_labels, waiting, misses, passed_over, tally, due = exactly(saved, where, 6)
            check(misses, f"{where}[2]", count)
            check(passed_over, f"{where}[3]", count)
            check(due, f"{where}[5]", lambda value: value is None or count(value))
            pairs = [exactly(pair, f"{where}[1][{index}]", 2)
                     for index, pair in enumerate(items(waiting, f"{where}[1]"))]
            for index, (number, tries) in enumerate(pairs):
                check(number, f"{where}[1][{index}][0]", count)
                check(tries, f"{where}[1][{index}][1]", count)
            jobs[job_id] = _Job(tuple(labels(job_labels, f"{where}[0]", label_count)), dict(pairs), misses,
                                passed_over, _tally_from_state(tally, f"{where}[4]"), due)

        def take_over() -> None:
            self._jobs = jobs
            for job in jobs.values():
                if job.tally is not None:
                    self.counts.set_extra(self.kind, job.labels, job.tally)

        return take_over


def _tally_to_state(tally: TestTally | None) -> list[Any] | None:
    if tally is None:
        return None
    return [list(tally.cases), tally.reports, [tally.last.build_no, list(tally.last.cases)]]


def _four(value: Any, where: str) -> tuple[int, int, int, int]:
    parts = exactly(value, where, 4)
    for part in parts:
        check(part, where, count)
    return (parts[0], parts[1], parts[2], parts[3])


def _tally_from_state(value: Any, where: str) -> TestTally | None:
    if value is None:
        return None
    cases, reports, last = exactly(value, where, 3)
    check(reports, f"{where}[1]", count)
    build_no, last_cases = exactly(last, f"{where}[2]", 2)
    check(build_no, f"{where}[2][0]", count)
    if reports < 1:
        raise StateProblem(f"{where}[1]: a tally counts at least one report")
    return TestTally(_four(cases, f"{where}[0]"), reports, TestSummary(build_no, _four(last_cases, f"{where}[2][1]")))
