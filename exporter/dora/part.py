"""DORA as a part of the run history: deployments noted when their runs are counted, commit times fetched after.

The run history calls :meth:`DoraPart.run_counted` for every run it counts, exactly once, under its lock (an
``on run counted`` observer of :class:`~exporter.runhistory.counts.RunCounts`): a run of a service's pipeline
is a deployment, counted at once (no request). A successful one whose commit time is not cached waits; the
part's :meth:`~DoraPart.catch_up_tasks` (run by the poller with the other history fetches, so at the next
cycle) ask CodeArts Repo for each waiting commit once. The ledger is saved with the run history's marks in
one write, so a restart neither loses nor repeats a deployment, a streak or a commit time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from exporter.dora.commits import commit_time, commits_up_to
from exporter.dora.config import DoraConfig, Service
from exporter.dora.ledger import CommitKey, Deployment, DoraView, Ledger, LookUp, ledger_from_state
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
        self._matches: dict[tuple[str, str, str], Service | None] = {}
        self._attempts: dict[LookUp, int] = {}
        self._view: tuple[Ledger, int, DoraView] | None = None  # the last view, and what it was taken of
        counts.observers.append(self.run_counted)

    # -- the observer ----------------------------------------------------------------------------------

    def run_counted(self, kind: str, labels: Labels, status: str, run: object) -> None:
        """A run the run history just counted (lock held): a deployment if it is a run of a service's pipeline."""
        if kind != PIPELINE_KIND or run is None:
            return
        service = self._service(labels[0], labels[1], labels[2])
        deployed = PIPELINE_STATUSES.get(status)
        if service is None or deployed is None:
            return
        end = getattr(run, "end", None)
        self.ledger.count(Deployment(service.labels, deployed, end if isinstance(end, float | int) else None,
                                     _commit_of(run)))

    def _service(self, project_id: str, pipeline_id: str, name: str) -> Service | None:
        key = (project_id, pipeline_id, name)
        if key not in self._matches:
            found = [service for service in self.config.services
                     if any(selector.project_id == project_id and selector.selects(pipeline_id, name)
                            for selector in service.pipelines)]
            if len(found) > 1:
                log.warning("DORA: pipeline %s (%s) matches services %s; its runs count for %s only", name,
                            pipeline_id, " and ".join(service.name for service in found), found[0].name)
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
        return [_Lookups(self, chain, start_by) for chain in chains]

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


def _commit_of(run: object) -> CommitKey | None:
    """The (repository, sha) a run deployed: its ``repository`` and ``commit`` attributes, both non-empty."""
    sha, repository = getattr(run, "commit", ""), getattr(run, "repository", "")
    return (repository, sha) if isinstance(sha, str) and isinstance(repository, str) and sha and repository else None
