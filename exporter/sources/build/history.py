"""Build run history: every finished build counted exactly once, from the records API.

The numbered-run skeleton (:mod:`exporter.runhistory.numbered`) does the counting; this part says what a
build job's listing entry tells (its ``build_number``, whether it runs) and how its records are fetched.

With the batch records API (``build_options.history_api: auto``, the default, where the account answers it,
or ``brief``), the jobs of one project are fetched together: one ``POST /v1/record/brief`` carries up to
``BRIEF_IDS_PER_REQUEST`` jobs and returns the last runs of each, so history costs at most one request per
project per cycle for up to that many jobs that ran. A job further behind than one batch answer reaches
is fetched alone, as before. ``auto`` tries the batch call first and, if the account answers it with 400 or
404, fetches every job alone from then on (the jobs of that first batch in the same cycle).

In projects with ``tests: true``, each build counted is noted in a :class:`~exporter.sources.build.testbook.TestBook`
for its unit-test report, asked with the same budget: while reports wait, the records fetches may plan three
quarters of it, and the reports take what they leave (at least that quarter), taking turns with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from exporter.client import CodeArtsClient
from exporter.errors import ClientError, NotFoundError
from exporter.runhistory.counts import RunCounts, RunKind
from exporter.runhistory.history import Task
from exporter.runhistory.numbered import Listed, NumberedHistory, Pending, RunPage
from exporter.runhistory.options import HistoryConfig
from exporter.snapshot import Target
from exporter.sources.build.fetch import build_brief_records, build_history_page, build_records_page
from exporter.sources.build.models import RUN_STATUSES, BuildJob, BuildRun, build_number_of
from exporter.sources.build.testbook import TestBook

log = logging.getLogger(__name__)

# Jobs one batch request carries. The API documents no maximum for its body; 100 ids keep a body near
# 4 KB and an answer of 100 jobs x their new runs well within the client's body cap.
BRIEF_IDS_PER_REQUEST = 100
KIND = RunKind("build", "build", RUN_STATUSES, label_count=3, queued=True)


def listing_marker(job: BuildJob) -> tuple[Any, ...]:
    """What in a job listing entry changes when the job runs."""
    return (job.build_number, job.status, job.last_build_time)




def _build_project_id(job: BuildJob) -> str:
    return job.build_project_id or job.id


class BuildHistory(NumberedHistory[BuildJob, BuildRun]):
    """Counts the finished runs of build jobs from the records API, each exactly once."""

    kind = KIND
    marks_key = "build_marks"
    noun = "build job"
    skip_api = "build_history"
    log = log
    batch_size = BRIEF_IDS_PER_REQUEST

    _brief: bool | None  # whether the batch records API is used: None until ``auto`` saw it answer (or refuse)
    tests: TestBook  # the builds whose unit-test reports are to ask for, and what they add up to

    def __init__(self, counts: RunCounts, client: CodeArtsClient, options: HistoryConfig, *,
                 requests_per_cycle: int | None, monotonic: Callable[[], float], api: str = "auto",
                 tests: frozenset[str] = frozenset()) -> None:
        """As the skeleton's; ``api``: which records API (``build_options.history_api``); ``tests``: the project
        ids whose builds' unit-test reports are read (``projects[].tests``)."""
        self.api = api
        self._tests_projects = tests
        super().__init__(counts, client, options, requests_per_cycle=requests_per_cycle, monotonic=monotonic)

    def setup(self) -> None:
        """``build_options.history_api`` says whether to use the batch records API, or to find out."""
        self._brief = None if self.api == "auto" else self.api == "brief"
        self.tests = TestBook(self.counts, KIND.name, self.client, self._monotonic)

    def listed(self, target: Target, records: Iterable[Any]) -> Iterator[Listed[BuildJob]]:
        """Each build job of a project with its last build number."""
        for job in records:
            labels = (target.key, job.id, job.name)
            self.tests.relabel(job.id, labels)  # a renamed job's reports are added under its new name
            text = job.build_number.strip()
            if text == "0" or (not text and not job.last_build_time):  # never built: its first runs are counted
                yield Listed(job.id, labels, job, None, False, None, labels)
                continue
            latest = build_number_of(text)
            if latest is None:
                self._contradicted("build_number_present", target.key, f"build job {job.id} ran but lists build_number "
                                   f"{text[:32]!r}; its new runs are found through the records API")
            yield Listed(job.id, labels, job, latest, job.running, listing_marker(job), labels)

    def fetch_page(self, entry: Pending[BuildJob], index: int, limit: int, lowest: int | None) -> RunPage[BuildRun]:
        """A page of the job's records (``history_api: v3``: of its older build history)."""
        if self.api == "v3":
            return build_history_page(self.client, entry.key, index, limit)
        return build_records_page(self.client, _build_project_id(entry.job), index + 1, limit)

    def queued_seconds(self, run: BuildRun) -> float | None:
        """The records API reports how long a build waited for an agent."""
        return run.queued

    def batch_group(self, entry: Pending[BuildJob]) -> str | None:
        """The jobs of one project share a batch request, where the batch API is (or may be) there."""
        return entry.listing if self._brief is not False and self.api != "v3" else None

    def fetch_batch(self, entries: list[Pending[BuildJob]], limit: int) -> list[RunPage[BuildRun] | None] | None:
        """``POST /v1/record/brief`` for ``entries``; None (and from then on) if ``auto`` finds it missing."""
        ids = [_build_project_id(entry.job) for entry in entries]
        try:
            pages = build_brief_records(self.client, ids, limit)
        except (NotFoundError, ClientError) as err:
            # Not True: a parallel batch of the same cycle may have switched already; its refusal counts too.
            if self._brief is True or err.status not in (400, 404):
                raise
            with self._lock:
                first, self._brief = self._brief is None, False
            if first:
                log.warning("the batch records API (POST /v1/record/brief) is not available (%s); fetching "
                            "each build job's runs alone from now on (build_options.history_api: v1 says so "
                            "without trying)", err)
            return None
        if self._brief is None:
            self._brief = True
            log.info("using the batch records API (POST /v1/record/brief) for build run history")
        return [pages.get(project_id) for project_id in ids]

    # -- unit-test reports (projects with tests: true) ---------------------------------------------------

    def counted(self, entry: Pending[BuildJob], run: BuildRun) -> None:
        """A build of a project with ``tests: true`` was counted: its report is to be asked for."""
        if entry.listing in self._tests_projects:
            self.tests.note(entry.key, entry.labels, run.number)

    def records_budget(self) -> int | None:
        """The budget, less a quarter of it kept for unit-test reports while any wait (the reports take what the
        records leave; a tenant whose records use the whole budget every cycle would never see one without it)."""
        budget = self.requests_per_cycle
        if budget is None or budget < 2:
            return budget
        return budget - min(self.tests.waiting(), budget // 4)

    def more_tasks(self, left: int | None, start_by: float | None) -> list[Task]:
        """The unit-test report requests of the cycle, within what the records left."""
        return list(self.tests.tasks(left, start_by))

    def marks_to_state(self) -> dict[str, Any]:
        """The marks, and the unit-test book (``build_tests``)."""
        return super().marks_to_state() | self.tests.to_state()

    def marks_from_state(self, state: Mapping[str, Any]) -> Callable[[], None]:
        """The marks and the unit-test book; the step returned takes both over."""
        marks, tests = super().marks_from_state(state), self.tests.from_state(state, KIND.label_count)

        def take_over() -> None:
            marks()
            tests()

        return take_over
