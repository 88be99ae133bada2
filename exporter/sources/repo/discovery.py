"""Discovery: which Repo pipelines to watch, learnt from merge requests, and which repositories a project has.

The Repo API cannot list a repository's pipelines; a pipeline id is learnt from a merge request's
``actual-head-pipeline``. For every repository with ``discover: merge_requests`` (configured, or found in a
``discovery.projects`` entry by name), a discovery pass lists the open merge requests, takes the newest
``max_pipelines`` (by last update, then creation, then number) and asks each for its head pipeline.

A pipeline, once watched, is watched until it is finished and finished more than
``pipeline_retention_seconds`` ago. One that is no longer a head (its merge request merged or closed, a new
commit with a new pipeline, outranked by newer merge requests) stays while it runs or finished within the
retention, as its own job listing tells (the poller's last listing of it), but at most the retention after
it left the heads. Heads come first, then those, newest first, up to ``max_pipelines`` per repository.

The first pass runs before the first poll cycle's listings, so that cycle already polls what it finds. Later
passes are due at the first cycle ``discovery.interval_seconds`` after the previous one; while serving they
run in a background thread (:meth:`Discovery.run_in_background`), so a long pass (hundreds of requests at the
Repo rate limit) never holds a cycle's listings back, and what it finds is polled from the next cycle on. A
pass still running when the next is due is not doubled: that one is skipped. A source (a project's repository
list, a repository's merge requests) that fails keeps what its last good pass found, so a fault never empties
the target list; its status says it failed.

Sharding: every shard lists the projects' repositories (one request per 100 repositories), but only the shard
owning ``discovery:repo:<id>`` lists a repository's merge requests, and the pipelines found are sharded with
that key, so together the shards watch each pipeline exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from exporter.client import CodeArtsClient
from exporter.errors import CodeArtsError, NotFoundError
from exporter.sharding import ShardSpec
from exporter.snapshot import DiscoveryStatus, Target, TargetState
from exporter.sources.repo.config import MergeRequestDiscovery, RepoSection
from exporter.sources.repo.fetch import head_pipeline, list_open_merge_requests, list_project_repositories
from exporter.sources.repo.history import PipelineHistory
from exporter.sources.repo.models import FINISHED_PIPELINE_STATUSES, HeadPipeline, PipelineJob, Repository
from exporter.sources.repo.targets import discovery_key, pipeline_ids, pipeline_target

log = logging.getLogger(__name__)

PROJECT_SOURCE = "project"
REPOSITORY_SOURCE = "repository"
OPEN_STATES = ("", "opened", "open")  # the list is asked for state=opened; an unexpected state is left out


@dataclass(frozen=True, slots=True)
class Watched:
    """A discovered pipeline; since when it is known finished (None while it runs); when it stopped being
    the head of an open merge request (None while it is one)."""

    target: Target
    finished_at: float | None
    left_at: float | None = None


FinishedAt = Mapping[str, float]
"""``repository_id/pipeline_id`` -> when the pipeline finished, per its last job listing (finished ones only)."""


def pipeline_finished_at(jobs: Iterable[PipelineJob]) -> float | None:
    """When a pipeline finished, from its job listing: the last job's end once every job is terminal."""
    ends = []
    for job in jobs:
        if job.status not in FINISHED_PIPELINE_STATUSES:
            return None
        ends.append(job.finished or job.updated or job.created or 0.0)
    return max(ends) if ends and max(ends) > 0 else None


class Discovery:
    """Keeps the discovered targets of this shard; :meth:`targets` is the poller's target list."""

    def __init__(self, section: RepoSection, client: CodeArtsClient, shard: ShardSpec | None = None, *,
                 clock: Callable[[], float] = time.time, concurrency: int = 4,
                 history: PipelineHistory | None = None) -> None:
        """``history``: the Repo run history part, whose pipelines no longer watched it drops (None: no run
        history)."""
        self.client = client
        self.history = history
        self.shard = shard or ShardSpec()
        self.clock = clock
        self.interval = section.discovery.interval_seconds
        self._static = tuple(pipeline_target(repo, pipeline) for repo, pipeline in section.pipeline_targets())
        self._static_repos = {repo.id: repo.discover for repo in section.repositories if repo.discover is not None}
        self._projects = section.discovery.projects
        self._concurrency = concurrency
        self._lock = threading.Lock()
        self._next_at: float | None = None
        self._repositories: dict[str, tuple[Repository, ...]] = {}  # project id -> matching repositories
        self._watched: dict[int, tuple[Watched, ...]] = {}  # repository id -> its watched pipelines
        self._status: dict[tuple[str, str], DiscoveryStatus] = {}
        self._background = False
        self._pass: threading.Thread | None = None  # the background pass, while one runs
        self._closing = threading.Event()
        self._pass_seconds: float | None = None  # how long the last finished pass took

    def run_in_background(self) -> None:
        """Run the passes after the first in a background thread (the serving exporter does; ``--once`` and
        the tests on a fake clock keep every pass inside the cycle that is due)."""
        self._background = True

    def last_pass_seconds(self) -> float | None:
        """Seconds the last finished pass took (None before one finished)."""
        return self._pass_seconds

    def passing(self) -> bool:
        """True while a background pass runs."""
        return self._pass is not None and self._pass.is_alive()

    def close(self) -> None:
        """Stop a background pass before its next request; one in flight ends by its own timeout, unread."""
        self._closing.set()

    def targets(self, states: tuple[TargetState, ...]) -> tuple[Target, ...]:
        """This shard's Repo targets (discovering first when due); the run history of pipelines no longer
        watched is dropped, but for the repositories whose pipelines discovery does not know yet (a source that
        failed since the start: after a restart, their pipelines may still be watched).

        ``states``: the last states of the Repo targets, whose job listings tell which pipelines finished.
        """
        finished = {state.target.key: at for state in states
                    if (at := pipeline_finished_at(state.records)) is not None}
        targets = self.pipelines(finished)
        unknown = self.unknown_repositories()
        if self.history is not None and unknown is not None:
            self.history.retain_pipelines({target.key for target in targets},
                                          keep_repositories={str(repo) for repo in unknown})
        return targets

    def pipelines(self, finished: FinishedAt | None = None) -> tuple[Target, ...]:
        """This shard's pipelines: the configured ones, then the discovered ones; discovers first when due.

        ``finished``: what the last job listings say of the watched pipelines (see :func:`pipeline_finished_at`).
        """
        now = self.clock()
        if self._next_at is None or now >= self._next_at:
            first = self._next_at is None
            self._next_at = now + self.interval
            if first or not self._background:
                self.discover(now, finished or {})
            else:
                self._start_pass(now, dict(finished or {}))
        with self._lock:
            discovered = [watched.target for pipelines in self._watched.values() for watched in pipelines]
        static_keys = {target.key for target in self._static}
        unique = {target.key: target for target in discovered if target.key not in static_keys}
        return self.shard.select((*self._static, *unique.values()))

    def statuses(self) -> tuple[DiscoveryStatus, ...]:
        """The status of every source this shard discovers, sorted."""
        with self._lock:
            return tuple(sorted(self._status.values(), key=lambda status: (status.source, status.id)))

    def unknown_repositories(self) -> frozenset[int] | None:
        """The repositories whose pipelines are not known: those whose merge requests have not been listed
        once since the start (what else is not watched is really gone). None while a project's repositories
        have not been listed once: any repository may be one of them."""
        with self._lock:
            statuses = tuple(self._status.values())
        if any(status.source == PROJECT_SOURCE and status.last_success_at is None for status in statuses):
            return None
        return frozenset(int(status.id) for status in statuses
                         if status.source == REPOSITORY_SOURCE and status.last_success_at is None)

    # -- one pass ----------------------------------------------------------------------------------------

    def _start_pass(self, now: float, finished: FinishedAt) -> None:
        if self.passing():
            log.warning("the discovery pass that started %gs ago is still running; skipping the one due now "
                        "(raise discovery.interval_seconds if this repeats; codearts_discovery_pass_duration_seconds "
                        "shows how long passes take)", self.interval)
            return
        self._pass = threading.Thread(target=self._background_pass, args=(now, finished), name="discovery",
                                      daemon=True)
        self._pass.start()

    def _background_pass(self, now: float, finished: FinishedAt) -> None:
        try:
            self.discover(now, finished)
        except Exception:  # each source already keeps its last result; this is a bug, and must not end quietly
            log.exception("a discovery pass crashed; the targets it had found stay")

    def discover(self, now: float, finished: FinishedAt | None = None) -> None:
        """One discovery pass over every source; a failed source keeps its previous result.

        What the pass finds is applied at its end, all at once: a background pass must not show a cycle a
        project's new repository list (and a project source that succeeded) before those repositories'
        pipelines, or the run history of pipelines about to be watched again would be dropped meanwhile."""
        started = time.monotonic()
        projects = {project.project_id: self._project_repositories(project.project_id, project.matches)
                    for project in self._projects}
        repositories = self._repositories_to_watch(projects)
        mine = {repo: options for repo, options in repositories.items() if self.shard.owns_key(discovery_key(repo))}
        with ThreadPoolExecutor(max_workers=max(1, min(self._concurrency, len(mine) or 1)),
                                thread_name_prefix="discover") as pool:
            found = list(pool.map(lambda item: (item[0], self._pipelines(item[0], item[1], now, finished or {})),
                                  mine.items()))
        if self._closing.is_set():  # cut short by close(): what it found is partial, and nobody reads it
            return
        with self._lock:
            for project_id, matched in projects.items():
                if matched is not None:
                    self._repositories[project_id] = matched
                self._record(PROJECT_SOURCE, project_id, matched is not None, now,
                             len(self._repositories.get(project_id, ())))
            for repo, watched in found:
                if watched is not None:
                    self._watched[repo] = watched
                pipelines = tuple(str(pipeline_ids(each.target)[1]) for each in self._watched.get(repo, ()))
                self._record(REPOSITORY_SOURCE, str(repo), watched is not None, now, len(pipelines), pipelines)
            for repo in [repo for repo in self._watched if repo not in mine]:  # no longer matching
                del self._watched[repo]
            for key in [key for key in self._status if key[0] == REPOSITORY_SOURCE and int(key[1]) not in mine]:
                del self._status[key]
            self._pass_seconds = time.monotonic() - started

    def _project_repositories(self, project_id: str, matches: Callable[[str], bool]) -> tuple[Repository, ...] | None:
        """The repositories of a project whose names match; None if they could not be listed."""
        if self._closing.is_set():
            return None
        try:
            listing = list_project_repositories(self.client, project_id)
        except CodeArtsError as err:
            if not self._closing.is_set():
                log.warning("discovery of the repositories of project %s failed; keeping the last ones: %s",
                            project_id, err)
            return None
        except Exception:  # a bug must not cost the targets already found
            if not self._closing.is_set():
                log.exception("discovery of the repositories of project %s crashed", project_id)
            return None
        return tuple(repo for repo in listing.records if matches(repo.name))

    def _repositories_to_watch(self, projects: Mapping[str, tuple[Repository, ...] | None]
                               ) -> dict[int, MergeRequestDiscovery]:
        """Configured repositories first (their own bounds win), then those found in projects, in order (by
        this pass, else as the last good pass found them)."""
        repositories = dict(self._static_repos)
        with self._lock:
            for project in self._projects:
                matched = projects.get(project.project_id)
                for repo in matched if matched is not None else self._repositories.get(project.project_id, ()):
                    repositories.setdefault(repo.id, project.merge_requests)
        return repositories

    def _pipelines(self, repo: int, options: MergeRequestDiscovery, now: float,
                   finished: FinishedAt) -> tuple[Watched, ...] | None:
        """The pipelines to watch in a repository now; None if discovery failed (the last ones stay)."""
        if self._closing.is_set():
            return None
        with self._lock:
            previous = {pipeline_ids(watched.target)[1]: watched for watched in self._watched.get(repo, ())}
        try:
            heads, expired = self._heads(repo, options, previous, now)
            return _with_former_heads(heads, previous, options, now, finished, expired)
        except CodeArtsError as err:
            if not self._closing.is_set():
                log.warning("discovery of the merge request pipelines of repository %d failed; keeping the last "
                            "ones: %s", repo, err)
        except Exception:  # a bug must not cost the targets already found
            if not self._closing.is_set():
                log.exception("discovery of the merge request pipelines of repository %d crashed", repo)
        return None

    def _heads(self, repo: int, options: MergeRequestDiscovery, previous: dict[int, Watched],
               now: float) -> tuple[tuple[Watched, ...], frozenset[int]]:
        """The head pipelines to watch, newest merge request first, and the ids of the heads left out because
        they finished more than the retention ago (not to be taken back as former heads)."""
        # By iid: the pages are walked while merge requests change, so one may be listed twice, and the
        # documented item fields do not promise an ``id`` for the walk's own de-duplication.
        merge_requests = {mr.iid: mr for mr in list_open_merge_requests(self.client, repo).records
                          if mr.state in OPEN_STATES}
        newest = sorted(merge_requests.values(), key=lambda mr: mr.recency(), reverse=True)[:options.max_pipelines]
        watched: dict[int, Watched] = {}
        expired: set[int] = set()
        for mr in newest:
            if self._closing.is_set():
                break
            try:
                head = head_pipeline(self.client, repo, mr.iid)
            except NotFoundError:  # merged or closed since it was listed
                continue
            if head is None or head.id in watched:
                continue
            finished_at = _finished_at(head, previous.get(head.id), now)
            if finished_at is not None and now - finished_at > options.retention_seconds:
                expired.add(head.id)
                continue
            watched[head.id] = Watched(pipeline_target(repo, head.id, discovery_key(repo)), finished_at)
        return tuple(watched.values()), frozenset(expired)

    def _record(self, source: str, source_id: str, up: bool, now: float, found: int,
                names: tuple[str, ...] = ()) -> None:
        old = self._status.get((source, source_id))
        last = now if up else (old.last_success_at if old is not None else None)
        self._status[(source, source_id)] = DiscoveryStatus(source, source_id, up, last, found, names)


def _finished_at(head: HeadPipeline, previous: Watched | None, now: float) -> float | None:
    """When a head pipeline finished: its ``finished_at``, else its last update, else when first seen finished."""
    if not head.is_finished:
        return None
    for known in (head.finished, head.updated, previous.finished_at if previous is not None else None):
        if known is not None:
            return known
    return now


def _with_former_heads(heads: tuple[Watched, ...], previous: dict[int, Watched], options: MergeRequestDiscovery,
                       now: float, finished: FinishedAt, expired_heads: frozenset[int] = frozenset()
                       ) -> tuple[Watched, ...]:
    """The heads, then the pipelines watched before that are heads no more but still within their retention
    (newest first), up to ``max_pipelines``; a head that expired (``expired_heads``) is not one of them, even if
    its last job listing, older than the head's own answer, did not show it finished yet."""
    ids = {pipeline_ids(watched.target)[1] for watched in heads} | expired_heads
    former = []
    for pipeline_id, watched in sorted(previous.items(), reverse=True):
        if pipeline_id in ids:
            continue
        left_at = watched.left_at if watched.left_at is not None else now
        finished_at = finished.get(watched.target.key, watched.finished_at)
        expired = finished_at is not None and now - finished_at > options.retention_seconds
        if not expired and now - left_at <= options.retention_seconds:
            former.append(Watched(watched.target, finished_at, left_at))
    return (*heads, *former)[:options.max_pipelines]
