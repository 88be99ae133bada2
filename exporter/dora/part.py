"""DORA as a part of the run history: deployments noted when their runs are counted, commit times fetched after.

The run history calls :meth:`DoraPart.run_counted` for every run it counts, exactly once, under its lock (an
``on run counted`` observer of :class:`~exporter.runhistory.counts.RunCounts`): a run of a service's pipeline,
or a record of a service's CodeArts Deploy application, is a deployment, counted at once (no request). A
successful pipeline run whose commit time is not cached waits; the part's :meth:`~DoraPart.catch_up_tasks` (run
by the poller with the other history fetches, so at the next cycle) ask CodeArts Repo for each waiting commit
once. A Deploy record names no commit: it has a lead time only where its application names the build job that
builds what it deploys (``commits_from_build_job``), read from CodeArts Build the same way. The ledger is saved
with the run history's marks in one write, so a restart neither loses nor repeats a deployment, a streak or a
commit time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from exporter.dora.builds import build_project_ids, last_success_before, record_commit
from exporter.dora.commits import commit_time, commits_up_to
from exporter.dora.config import DoraConfig, Service
from exporter.dora.ledger import CommitKey, Deployment, DoraView, FromBuild, Ledger, LookUp, ledger_from_state
from exporter.dora.metrics import STATUSES
from exporter.errors import CodeArtsError
from exporter.runhistory.counts import Labels, RunCounts, RunKind
from exporter.runhistory.history import Task
from exporter.snapshot import Target

if TYPE_CHECKING:
    from exporter.client import CodeArtsClient

log = logging.getLogger(__name__)

KIND = RunKind("dora", "dora", STATUSES, label_count=2)  # keys the part in the run history; counts no table
PIPELINE_KIND = "pipeline"  # the run kind of CodeArts Pipeline runs (its source's name)
DEPLOY_KIND = "deploy"  # the run kind of CodeArts Deploy records (its source's name)
# A Pipeline run's status as a deployment's; skipped runs (IGNORED) deployed nothing and are not deployments.
PIPELINE_STATUSES = {"success": "success", "failed": "failed", "canceled": "canceled"}
MAX_ATTEMPTS = 3  # a commit whose lookup failed this often is given up (counted as unknown), never asked forever
DEFAULT_LOOKUPS_PER_CYCLE = 100


class DoraPart:
    """Counts the deployments of the configured services from the runs the run history counts."""

    kind = KIND

    def __init__(self, counts: RunCounts, client: CodeArtsClient, config: DoraConfig, *,
                 lookups_per_cycle: int | None, monotonic: Callable[[], float]) -> None:
        self.config = config
        self.client = client
        self.ledger = Ledger(config)
        self.lookups_per_cycle = lookups_per_cycle or DEFAULT_LOOKUPS_PER_CYCLE
        self._lock = counts.lock
        self._monotonic = monotonic
        self._matches: dict[tuple[str, str, str, str], Service | None] = {}
        self._attempts: dict[LookUp | FromBuild, int] = {}
        self._records_keys: dict[str, dict[str, str]] = {}  # build job records keys by job id, by project
        self._view: tuple[Ledger, int, DoraView] | None = None  # the last view, and what it was taken of
        counts.observers.append(self.run_counted)

    # -- the observer ----------------------------------------------------------------------------------

    def run_counted(self, kind: str, labels: Labels, status: str, run: object) -> None:
        """A run the run history just counted (lock held): a deployment if it is a run of a service's pipeline
        or a record of a service's Deploy application (labels: project, pipeline or application id, name)."""
        if kind not in (PIPELINE_KIND, DEPLOY_KIND) or run is None:
            return
        service = self._service(kind, labels[0], labels[1], labels[2])
        deployed = PIPELINE_STATUSES.get(status) if kind == PIPELINE_KIND else status
        if service is None or deployed not in STATUSES:
            return
        end = getattr(run, "end", None)
        end = end if isinstance(end, float | int) else None
        if kind == DEPLOY_KIND:  # no commit: read from commits_from_build_job's records, else no lead time
            self.ledger.count(Deployment(service.labels, deployed, end, None, with_lead_time=False,
                                         build=self._build_source(service, labels[0], labels[1], labels[2], run)))
        else:
            self.ledger.count(Deployment(service.labels, deployed, end, _commit_of(run)))

    def _build_source(self, service: Service, project_id: str, app_id: str, name: str,
                      run: object) -> tuple[str, str, float] | None:
        """(project, commits_from_build_job, start) of a Deploy record of an application that names one."""
        start = getattr(run, "start", None)
        job_id = next((selector.commits_from_build_job for selector in service.deploy_apps
                       if selector.project_id == project_id and selector.selects(app_id, name)), None)
        return (project_id, job_id, float(start)) if job_id and isinstance(start, float | int) else None

    def _service(self, kind: str, project_id: str, object_id: str, name: str) -> Service | None:
        key = (kind, project_id, object_id, name)
        if key not in self._matches:
            found = [service for service in self.config.services
                     if any(selector.project_id == project_id and selector.selects(object_id, name)
                            for selector in (service.pipelines if kind == PIPELINE_KIND else service.deploy_apps))]
            if len(found) > 1:
                log.warning("DORA: %s %s (%s) matches services %s; its deployments count for %s only", kind, name,
                            object_id, " and ".join(service.name for service in found), found[0].name)
            self._matches[key] = found[0] if found else None
        return self._matches[key]

    # -- the run history part --------------------------------------------------------------------------

    def after_listing(self, target: Target, records: Iterable[Any]) -> None:
        """Nothing: DORA reads counted runs, not listings."""

    def catch_up_tasks(self, within: float | None = None) -> list[Task]:
        """One task per service with lookups waiting (at most ``lookups_per_cycle`` in all), each running its
        service's in the order deployed."""
        start_by = None if within is None else self._monotonic() + within
        with self._lock:
            chains = self.ledger.chains(self.lookups_per_cycle)
            from_builds = self.ledger.from_builds[:self.lookups_per_cycle]
        tasks: list[Task] = [_Lookups(self, chain, start_by) for chain in chains]
        if from_builds:
            tasks.append(_BuildLookups(self, from_builds, start_by))
        return tasks

    def build_look_up(self, waiting: FromBuild, start_by: float | None) -> bool:
        """Find the build record a Deploy deployment deployed and its commit time (each record asked once, then
        cached), and observe its lead time; a lookup that failed MAX_ATTEMPTS times is given up as unknown.
        False if it is still waiting (not started in time, or failed)."""
        if start_by is not None and self._monotonic() > start_by:
            return False
        build_no: int | None = None
        try:
            keys = self._records_keys.get(waiting.project_id)
            if keys is None:
                keys = self._records_keys[waiting.project_id] = build_project_ids(self.client, waiting.project_id)
            build_no = last_success_before(self.client, keys.get(waiting.job_id, waiting.job_id), waiting.start)
            with self._lock:
                if waiting not in self.ledger.from_builds or self.ledger.build_found(waiting, build_no):
                    return True
            found = None if build_no is None else record_commit(self.client, waiting.job_id, build_no)
        except CodeArtsError as err:
            with self._lock:
                self.ledger.lookup_failed()
                attempts = self._attempts[waiting] = self._attempts.get(waiting, 0) + 1
                if attempts < MAX_ATTEMPTS:
                    return False
                log.warning("DORA: the commit of build job %s before a deployment of %s could not be read %d times "
                            "(%s); given up", waiting.job_id, waiting.service[0], attempts, err)
                found = None
        with self._lock:
            if waiting in self.ledger.from_builds:
                self.ledger.record_known(waiting, build_no or 0, found)
        return True

    def look_up(self, lookup: LookUp, start_by: float | None) -> bool:
        """Ask Repo for one commit's time (or, all_commits, the commits back from a deployed one) and observe
        the lead times waiting for it; a lookup that failed MAX_ATTEMPTS times is given up as unknown. False if
        it is still waiting (not started in time, or failed)."""
        if start_by is not None and self._monotonic() > start_by:
            return False
        commit, previous = lookup
        try:
            found: float | list[tuple[str, float]] | None = (
                commit_time(self.client, *commit) if previous is None else commits_up_to(self.client, *commit))
        except CodeArtsError as err:
            with self._lock:
                self.ledger.lookup_failed()
                attempts = self._attempts[lookup] = self._attempts.get(lookup, 0) + 1
                if attempts < MAX_ATTEMPTS:
                    return False
                log.warning("DORA: commit %s of repository %s could not be read %d times (%s); given up",
                            commit[1][:12], commit[0], attempts, err)
                found = None
        if found is None:
            self.client.stats.assumptions.contradicted(
                "repo", "codehub_id_is_repository", commit[0],
                f"Repo does not know commit {commit[1][:12]} in repository {commit[0][:32]} (a deleted commit, or "
                "codehub_id is not a repository id)")
        with self._lock:
            if lookup not in self.ledger.to_look_up():  # already taken by a concurrent task
                return True
            if previous is None:
                self.ledger.commit_known(commit, found if isinstance(found, float) else None)
            else:
                self.ledger.changes_known(lookup, found if isinstance(found, list) else None)
        return True

    def view(self) -> DoraView:
        """The DORA counts now, for a snapshot: the same object as last time if nothing changed, so the
        exposition keeps its lines."""
        with self._lock:
            ledger = self.ledger
            if self._view is None or self._view[0] is not ledger or self._view[1] != ledger.changes:
                self._view = (ledger, ledger.changes, ledger.view())
            return self._view[2]

    def marks_to_state(self) -> dict[str, Any]:
        """The ledger (the caller holds the run history's lock)."""
        return self.ledger.to_state()

    def marks_from_state(self, state: Mapping[str, Any]) -> Callable[[], None]:
        """Read the saved ledger (ValueError if it does not fit); the step returned takes it over."""
        ledger = ledger_from_state(self.config, state)

        def take_over() -> None:
            self.ledger = ledger

        return take_over


class _Lookups:
    """One service's commit lookups of a cycle, in order, a task for a poll worker."""

    __slots__ = ("chain", "part", "start_by")

    def __init__(self, part: DoraPart, chain: list[LookUp], start_by: float | None) -> None:
        self.part, self.chain, self.start_by = part, chain, start_by

    def __call__(self) -> None:
        for lookup in self.chain:
            if not self.part.look_up(lookup, self.start_by):
                return  # the rest wait: a later lookup is bounded by this one's commit time


class _BuildLookups:
    """The Deploy deployments of a cycle waiting for a build record's commit, in order, a task for a poll worker."""

    __slots__ = ("part", "start_by", "waiting")

    def __init__(self, part: DoraPart, waiting: list[FromBuild], start_by: float | None) -> None:
        self.part, self.waiting, self.start_by = part, waiting, start_by

    def __call__(self) -> None:
        for waiting in self.waiting:
            if not self.part.build_look_up(waiting, self.start_by):
                return


def _commit_of(run: object) -> CommitKey | None:
    """The (repository, sha) a run deployed: its ``repository`` and ``commit`` attributes, both non-empty."""
    sha, repository = getattr(run, "commit", ""), getattr(run, "repository", "")
    return (repository, sha) if isinstance(sha, str) and isinstance(repository, str) and sha and repository else None
