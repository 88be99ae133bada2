"""The numbered-run skeleton filled by a toy source with no Build or Pipeline knowledge: first sight, exact
counting, a numbering that starts again, a job listed before its first run, marks over a restart.

The toy's upstream is a list of runs in memory (Huawei Cloud is the only thing faked here; the client, the
counters and the skeleton are the real ones).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from exporter.auth.base import StaticTokenAuth
from exporter.client import CodeArtsClient
from exporter.runhistory.counts import RunCounts, RunKind
from exporter.runhistory.numbered import Listed, NumberedHistory, Pending, RunPage
from exporter.runhistory.options import HistoryConfig
from exporter.snapshot import Target
from exporter.stats import RequestStats

STATUSES = ("success", "failed")


@dataclass(frozen=True)
class Run:
    number: int
    status: str  # "" while running
    duration: float | None = 10.0

    @property
    def finished(self) -> bool:
        return self.status != ""


@dataclass(frozen=True)
class App:
    id: str
    runs: tuple[Run, ...]  # oldest first, as the toy world keeps them


class ToyHistory(NumberedHistory[App, Run]):
    kind = RunKind("toy", "toy", STATUSES, label_count=2)
    marks_key = "toy_marks"
    noun = "app"
    skip_api = "toy_history"
    log = logging.getLogger(__name__)
    page_size = 2  # small pages, so the page loop turns

    def setup(self) -> None:
        self.requests = 0

    def listed(self, target: Target, records: Iterable[Any]) -> Iterator[Listed[App]]:
        for app in records:
            labels = (target.key, app.id)
            latest = app.runs[-1] if app.runs else None
            if latest is None:
                yield Listed(app.id, labels, app, None, False, None, None)
            else:
                yield Listed(app.id, labels, app, latest.number, not latest.finished,
                             (latest.number, latest.status), labels)

    def fetch_page(self, entry: Pending[App], index: int, limit: int, lowest: int | None) -> RunPage[Run]:
        self.requests += 1
        newest_first = entry.job.runs[::-1]
        runs = newest_first[index * limit:(index + 1) * limit]
        return RunPage(runs, len(runs))

    def restarted(self, listed: Listed[App], high: int) -> bool:
        return listed.latest is not None and listed.latest < high


def rig() -> tuple[ToyHistory, RunCounts, Target]:
    counts = RunCounts([], (60.0,), (5.0,))
    client = CodeArtsClient(base_urls={}, auth=StaticTokenAuth("token"), timeout=1.0, stats=RequestStats())
    part = ToyHistory(counts, client, HistoryConfig(max_pages=5), requests_per_cycle=None, monotonic=lambda: 0.0)
    return part, counts, Target("toy", "project")


def cycle(part: ToyHistory, target: Target, apps: Iterable[App]) -> None:
    part.after_listing(target, apps)
    for task in part.catch_up_tasks():
        task()


def runs_of(counts: RunCounts, app: str) -> dict[str, int]:
    job = counts.view().jobs[("toy", ("project", app))]
    return dict(job.runs)


def test_first_sight_counts_nothing_then_each_finished_run_once_whatever_the_pages():
    part, counts, target = rig()
    cycle(part, target, [App("a", (Run(1, "success"), Run(2, "")))])
    assert runs_of(counts, "a") == {"success": 0, "failed": 0}
    more = (Run(1, "success"), Run(2, "failed"), Run(3, "success"), Run(4, "success"), Run(5, "failed"))
    cycle(part, target, [App("a", more)])
    assert runs_of(counts, "a") == {"success": 2, "failed": 2}  # 2 (running at first sight) to 5
    assert part.requests == 2  # pages of 2 down to the mark
    cycle(part, target, [App("a", more)])  # nothing changed: no request, nothing counted again
    assert runs_of(counts, "a") == {"success": 2, "failed": 2} and part.requests == 2


def test_a_job_listed_before_its_first_run_has_that_run_counted():
    part, counts, target = rig()
    cycle(part, target, [App("a", ())])
    cycle(part, target, [App("a", (Run(1, "failed"),))])
    assert runs_of(counts, "a") == {"success": 0, "failed": 1}


def test_a_numbering_that_starts_again_is_counted_from_its_first_run():
    part, counts, target = rig()
    cycle(part, target, [App("a", tuple(Run(n, "success") for n in range(1, 8)))])
    cycle(part, target, [App("a", (Run(1, "failed"), Run(2, "success")))])  # re-created: mark 7 -> 2
    assert runs_of(counts, "a") == {"success": 1, "failed": 1}
    cycle(part, target, [App("a", (Run(1, "failed"), Run(2, "success"), Run(3, "failed")))])
    assert runs_of(counts, "a") == {"success": 1, "failed": 2}


def test_a_listing_that_lags_below_the_mark_is_not_taken_for_a_restart():
    part, counts, target = rig()
    cycle(part, target, [App("a", tuple(Run(n, "success") for n in range(1, 4)))])
    cycle(part, target, [App("a", tuple(Run(n, "success") for n in range(1, 8)))])
    assert runs_of(counts, "a") == {"success": 4, "failed": 0}
    lagging = App("a", tuple(Run(n, "success") for n in range(1, 8)) + (Run(5, "failed"),))  # shows #5 last
    cycle(part, target, [lagging])
    assert runs_of(counts, "a") == {"success": 4, "failed": 0}


def test_marks_survive_a_restart_under_their_key_and_nothing_is_counted_twice():
    part, counts, target = rig()
    cycle(part, target, [App("a", (Run(1, "success"),))])
    saved = part.marks_to_state()
    assert saved == {"toy_marks": {"a": [1, [], [1, "success"]]}}
    again, counts, _ = rig()
    again.marks_from_state(saved)()
    cycle(again, target, [App("a", (Run(1, "success"), Run(2, "success")))])
    assert runs_of(counts, "a") == {"success": 1, "failed": 0}


class WindowedHistory(ToyHistory):
    """A runs API that answers a date window which, here, missed every new run (Deploy's 30 days)."""

    unlisted_are_gone = True

    def fetch_page(self, entry: Pending[App], index: int, limit: int, lowest: int | None) -> RunPage[Run]:
        self.requests += 1
        return RunPage((), 0)


def test_runs_a_windowed_api_does_not_answer_are_gone_once_not_fetched_every_cycle():
    counts = RunCounts([], (60.0,), (5.0,))
    client = CodeArtsClient(base_urls={}, auth=StaticTokenAuth("token"), timeout=1.0, stats=RequestStats())
    part = WindowedHistory(counts, client, HistoryConfig(max_pages=5), requests_per_cycle=None,
                           monotonic=lambda: 0.0)
    target = Target("toy", "project")
    cycle(part, target, [App("a", (Run(1, "success"),))])
    later = App("a", (*(Run(n, "success") for n in range(1, 6)), Run(6, "")))
    cycle(part, target, [later])  # runs 2 to 5 finished, 6 still runs; the window answers none of them
    assert runs_of(counts, "a") == {"success": 0, "failed": 0}
    assert client.stats.skipped()[("toy_history", "not_listed")] == 4 and part.pending_jobs() == 0
    cycle(part, target, [later])
    assert part.requests == 1  # caught up to 5: not asked again until the listing changes


class ExtraHistory(ToyHistory):
    """A toy that reads one more thing per counted run (as Build's unit-test reports), within the same budget."""

    def setup(self) -> None:
        super().setup()
        self.noted: list[int] = []
        self.order: list[str] = []

    def counted(self, entry: Pending[App], run: Run) -> None:
        self.noted.append(run.number)

    def records_budget(self) -> int | None:
        return 2  # of a budget of 4: two kept for the extra requests

    def more_tasks(self, left: int | None, start_by: float | None) -> list:
        return [lambda number=number: self.order.append(f"extra {number}") for number in self.noted[:left]]

    def fetch_page(self, entry: Pending[App], index: int, limit: int, lowest: int | None) -> RunPage[Run]:
        self.order.append(f"fetch {entry.key}")
        return super().fetch_page(entry, index, limit, lowest)


def test_the_hooks_see_each_counted_run_and_the_extra_requests_take_turns_within_the_budget():
    counts = RunCounts([], (60.0,), (5.0,))
    client = CodeArtsClient(base_urls={}, auth=StaticTokenAuth("token"), timeout=1.0, stats=RequestStats())
    part = ExtraHistory(counts, client, HistoryConfig(max_pages=5), requests_per_cycle=4, monotonic=lambda: 0.0)
    target = Target("toy", "project")
    apps = [App(name, (Run(1, "success"),)) for name in "abc"]
    cycle(part, target, apps)  # first sight
    cycle(part, target, [App(app.id, (*app.runs, Run(2, "failed"))) for app in apps])
    assert part.noted == [2, 2]  # the records budget of 2 fetched two apps; the third waits
    part.after_listing(target, [App(app.id, (*app.runs, Run(2, "failed"))) for app in apps])
    tasks = part.catch_up_tasks()
    for task in tasks:
        task()
    # 4 - 1 fetch planned (the app left) = 3 extra requests allowed; 2 noted before this cycle's fetch, taking
    # turns with it
    assert len(tasks) == 3 and part.order[-3:] == ["fetch c", "extra 2", "extra 2"]
    assert part.noted == [2, 2, 2]
