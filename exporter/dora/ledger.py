"""DORA's counts: deployments per status, lead-time and recovery histograms, failure streaks, commit times.

No I/O. Written under the run history's lock by :class:`exporter.dora.part.DoraPart`; :meth:`Ledger.view` is
the immutable copy a snapshot carries, :meth:`Ledger.to_state` / :func:`ledger_from_state` carry everything
over a restart (``state.path``) in the same file, and the same write, as the run history marks that decide
what is counted, so a deployment is never counted twice nor a streak lost.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.dora.config import DoraConfig
from exporter.dora.metrics import FAILURES, LOOKUP_RESULTS, SKIP_REASONS, STATUSES
from exporter.runhistory.counts import Histogram
from exporter.statefile import check, count, exactly, finite, items, labels, mapping

log = logging.getLogger(__name__)

ServiceKey = tuple[str, str]  # (service, environment)
CommitKey = tuple[str, str]  # (repository id, sha)
LookUp = tuple[CommitKey, CommitKey | None]  # a deployed commit, and the one deployed before it (all_commits)
BuildKey = tuple[str, int]  # (build job id, build number)
BuildSource = tuple[str, str, float]  # (project id, build job id, deployment start): where a commit is read
STATE_KEY = "dora"
ALL_COMMITS = "all_commits"


@dataclass(frozen=True, slots=True)
class Deployment:
    """One counted deployment of a service: its status, when it ended, and the commit it deployed."""

    service: ServiceKey
    status: str  # one of STATUSES
    end: float | None
    commit: CommitKey | None  # None: the run names none
    with_lead_time: bool = True  # False: its kind gives no commit by design (a Deploy record), not skipped
    build: BuildSource | None = None  # a Deploy record's commit is that of a build before it (commits_from_build_job)


@dataclass(frozen=True, slots=True)
class Waiting:
    """A successful deployment whose commit time (or, with ``previous``, whose commits since the previously
    deployed one) is not known yet."""

    service: ServiceKey
    commit: CommitKey
    end: float
    previous: CommitKey | None = None

    @property
    def lookup(self) -> LookUp:
        """What must be read from Repo for it."""
        return self.commit, self.previous


@dataclass(frozen=True, slots=True)
class FromBuild:
    """A successful Deploy deployment whose commit is that of the newest successful record of a build job that
    finished before the deployment started, not read yet."""

    service: ServiceKey
    project_id: str
    job_id: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class DoraView:
    """The DORA counts at one moment, for rendering (every tuple sorted)."""

    lead_bounds: tuple[float, ...]
    recovery_bounds: tuple[float, ...]
    deployments: tuple[tuple[ServiceKey, str, int], ...]
    lead: tuple[tuple[ServiceKey, Histogram], ...]
    recovery: tuple[tuple[ServiceKey, Histogram], ...]
    last_success: tuple[tuple[ServiceKey, float], ...]
    skipped: tuple[tuple[str, int], ...]
    lookups: tuple[tuple[str, int], ...]


@dataclass(slots=True)
class Ledger:
    """Everything DORA counts, for the configured services."""

    config: DoraConfig
    deployments: dict[tuple[str, str, str], int] = field(default_factory=dict)
    lead: dict[ServiceKey, Histogram] = field(default_factory=dict)
    recovery: dict[ServiceKey, Histogram] = field(default_factory=dict)
    last_success: dict[ServiceKey, float] = field(default_factory=dict)
    streaks: dict[ServiceKey, float] = field(default_factory=dict)  # end of the open streak's first failure
    last_commit: dict[ServiceKey, CommitKey] = field(default_factory=dict)  # the last deployed commit
    waiting: list[Waiting] = field(default_factory=list)
    # Commit times by (repository, sha), least recently used first; None: Repo does not know the commit.
    commits: OrderedDict[CommitKey, float | None] = field(default_factory=OrderedDict)
    from_builds: list[FromBuild] = field(default_factory=list)
    # The commit of each build record read, least recently used first; None: the record names none.
    build_commits: OrderedDict[BuildKey, CommitKey | None] = field(default_factory=OrderedDict)
    skipped: dict[str, int] = field(default_factory=dict)
    lookups: dict[str, int] = field(default_factory=dict)
    changes: int = 0  # grows with every change, so an unchanged ledger's view (and its lines) can be kept
    _logged: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for service in self.config.services:
            for status in STATUSES:
                self.deployments.setdefault((*service.labels, status), 0)
        for reason in SKIP_REASONS:
            self.skipped.setdefault(reason, 0)
        for result in LOOKUP_RESULTS:
            self.lookups.setdefault(result, 0)

    # -- counting ------------------------------------------------------------------------------------

    def count(self, deployment: Deployment) -> None:
        """Count one deployment (each exactly once): its status, the streak it opens or closes, its lead time
        now if its commit time is known, else once it is (:meth:`commit_known`)."""
        key = deployment.service
        self.changes += 1
        self.deployments[(*key, deployment.status)] += 1
        end = deployment.end
        if end is None:
            return
        if deployment.status in FAILURES:
            self.streaks.setdefault(key, end)
            return
        if deployment.status != "success":
            return  # aborted and canceled deployments neither open nor close a streak
        first_failure = self.streaks.pop(key, None)
        if first_failure is not None:
            self._histogram(self.recovery, key, self.config.recovery_buckets).observe(
                self.config.recovery_buckets, max(0.0, end - first_failure))
        self.last_success[key] = max(end, self.last_success.get(key, end))
        if deployment.commit is None and deployment.build is not None:
            project_id, job_id, start = deployment.build
            self.from_builds.append(FromBuild(key, project_id, job_id, start, end))
            return
        if deployment.commit is None:
            if not deployment.with_lead_time:
                return
            self.skip("no_commit", f"a successful deployment of {key[0]} names no commit")
            return
        previous = self.last_commit.get(key)
        self.last_commit[key] = deployment.commit
        if self.config.lead_time == ALL_COMMITS and previous is not None and previous[0] == deployment.commit[0]:
            if previous != deployment.commit:  # a redeploy of the deployed commit brings no change
                self.waiting.append(Waiting(key, deployment.commit, end, previous))
            return
        if deployment.commit in self.commits:
            self.lookups["cached"] += 1
            self.commits.move_to_end(deployment.commit)
            self._observe_lead(Waiting(key, deployment.commit, end), self.commits[deployment.commit])
        else:
            self.waiting.append(Waiting(key, deployment.commit, end))

    def chains(self, limit: int) -> list[list[LookUp]]:
        """What deployments wait for, per service in the order deployed (at most ``limit`` in all, each once):
        a service's all_commits lookup needs the one before it applied, which bounds its commits."""
        chains: dict[ServiceKey, list[LookUp]] = {}
        for lookup in self.to_look_up()[:limit]:
            service = next(waiting.service for waiting in self.waiting if waiting.lookup == lookup)
            chains.setdefault(service, []).append(lookup)
        return list(chains.values())

    def to_look_up(self) -> list[LookUp]:
        """What deployments wait for, oldest first, each once: a commit's time (previous None), or the commits
        from a deployed one back to the one deployed before it."""
        return list(dict.fromkeys(waiting.lookup for waiting in self.waiting))

    def commit_known(self, commit: CommitKey, committed: float | None) -> None:
        """Take a commit time read from Repo (None: Repo does not know the commit) and observe the lead times
        that waited for it."""
        self.changes += 1
        self.lookups["hit" if committed is not None else "miss"] += 1
        self._remember(commit, committed)
        for waiting in self._take((commit, None)):
            self._observe_lead(waiting, committed)

    def changes_known(self, lookup: LookUp, commits: list[tuple[str, float]] | None) -> None:
        """Take the commits read back from a deployed commit (newest first; None: Repo does not know it) and
        observe a lead time for each one made after the previously deployed commit (all_commits)."""
        self.changes += 1
        self.lookups["hit" if commits is not None else "miss"] += 1
        commit, previous = lookup
        if commits is None:
            self._remember(commit, None)
            for waiting in self._take(lookup):
                self._observe_lead(waiting, None)
            return
        since = self.commits.get(previous) if previous is not None else None
        if commits and commits[0][0] == commit[1]:  # the deployed commit's own time bounds the next deployment's
            self._remember(commit, commits[0][1])
        made: list[float] = []
        for sha, committed in commits:
            if previous is not None and (sha == previous[1] or (since is not None and committed <= since)):
                break  # the previous deployment had it
            made.append(committed)
            self._remember((commit[0], sha), committed)
        for waiting in self._take(lookup):
            for committed in made:
                self._observe_lead(waiting, committed)

    def build_found(self, waiting: FromBuild, build_no: int | None) -> bool:
        """Take the build record a Deploy deployment deployed (None: no successful one finished before it) and
        observe its lead time if that record's commit and commit time are known; False if they must be read."""
        if build_no is None:
            self._take_build(waiting)
            self.skip("no_build_before", f"build job {waiting.job_id} has no successful record that finished "
                                         f"before a deployment of {waiting.service[0]} started")
            return True
        key = (waiting.job_id, build_no)
        if key not in self.build_commits:
            return False
        commit = self.build_commits[key]
        if commit is not None and commit not in self.commits:
            return False  # its commit time left the cache: read the record again
        self.build_commits.move_to_end(key)
        self.lookups["cached"] += 1
        self._take_build(waiting)
        if commit is None:
            self._record_unknown(waiting, build_no)
            return True
        self.commits.move_to_end(commit)
        self._observe_lead(Waiting(waiting.service, commit, waiting.end), self.commits[commit])
        return True

    def record_known(self, waiting: FromBuild, build_no: int, found: tuple[CommitKey, float] | None) -> None:
        """Take the commit and commit time read from a build record (None: it names none, or Build does not know
        it; give-ups too) and observe the lead time of the deployment that waited for it."""
        self.changes += 1
        self.lookups["hit" if found is not None else "miss"] += 1
        self._take_build(waiting)
        self.build_commits[(waiting.job_id, build_no)] = found[0] if found is not None else None
        self.build_commits.move_to_end((waiting.job_id, build_no))
        while len(self.build_commits) > self.config.commit_cache_size:
            self.build_commits.popitem(last=False)
        if found is None:
            self._record_unknown(waiting, build_no)
            return
        self._remember(*found)
        self._observe_lead(Waiting(waiting.service, found[0], waiting.end), found[1])

    def _record_unknown(self, waiting: FromBuild, build_no: int) -> None:
        self.skip("commit_unknown", f"build record #{build_no} of job {waiting.job_id} deployed by "
                                    f"{waiting.service[0]} names no commit (or could not be read)")

    def _take_build(self, waiting: FromBuild) -> None:
        self.changes += 1
        if waiting in self.from_builds:
            self.from_builds.remove(waiting)

    def _remember(self, commit: CommitKey, committed: float | None) -> None:
        """Cache a commit's time (None: unknown to Repo), dropping the least recently used past the bound."""
        self.commits[commit] = committed
        self.commits.move_to_end(commit)
        while len(self.commits) > self.config.commit_cache_size:
            self.commits.popitem(last=False)

    def _take(self, lookup: LookUp) -> list[Waiting]:
        """The deployments waiting for ``lookup``, no longer waiting."""
        taken = [waiting for waiting in self.waiting if waiting.lookup == lookup]
        self.waiting = [waiting for waiting in self.waiting if waiting.lookup != lookup]
        return taken

    def lookup_failed(self) -> None:
        """Count a commit lookup that failed (it is asked again in a later cycle)."""
        self.changes += 1
        self.lookups["error"] += 1

    def skip(self, reason: str, message: str) -> None:
        """Count a successful deployment without a lead time; log the first of each reason."""
        self.skipped[reason] += 1
        if reason not in self._logged:
            self._logged.add(reason)
            log.warning("DORA: %s, so it has no lead time (counted in codearts_dora_lead_time_skipped_total"
                        "{reason=%r}; logged once)", message, reason)

    def _observe_lead(self, waiting: Waiting, committed: float | None) -> None:
        if committed is None:
            self.skip("commit_unknown", f"CodeArts Repo does not know commit {waiting.commit[1][:12]} of repository "
                                        f"{waiting.commit[0]} deployed by {waiting.service[0]}")
            return
        seconds = waiting.end - committed
        if seconds <= 0:
            self.skip("not_before_deployment", f"commit {waiting.commit[1][:12]} of {waiting.service[0]} is dated "
                                               f"{-seconds:.0f}s after its deployment ended (clock skew?)")
            return
        self._histogram(self.lead, waiting.service, self.config.lead_time_buckets).observe(
            self.config.lead_time_buckets, seconds)

    @staticmethod
    def _histogram(table: dict[ServiceKey, Histogram], key: ServiceKey, bounds: tuple[float, ...]) -> Histogram:
        histogram = table.get(key)
        if histogram is None:
            histogram = table[key] = Histogram.empty(bounds)
        return histogram

    # -- reading -------------------------------------------------------------------------------------

    def view(self) -> DoraView:
        """An immutable copy for a snapshot."""
        return DoraView(
            self.config.lead_time_buckets, self.config.recovery_buckets,
            tuple(sorted(((key[:2], key[2], value) for key, value in self.deployments.items()))),
            tuple(sorted((key, histogram.copy()) for key, histogram in self.lead.items())),
            tuple(sorted((key, histogram.copy()) for key, histogram in self.recovery.items())),
            tuple(sorted(self.last_success.items())),
            tuple(sorted(self.skipped.items())), tuple(sorted(self.lookups.items())))

    # -- persistence ---------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """The ledger as JSON-ready data under :data:`STATE_KEY`."""
        return {STATE_KEY: {
            "deployments": [[*key, value] for key, value in self.deployments.items()],
            "lead": [[*key, histogram.counts, histogram.sum] for key, histogram in self.lead.items()],
            "recovery": [[*key, histogram.counts, histogram.sum] for key, histogram in self.recovery.items()],
            "last_success": [[*key, end] for key, end in self.last_success.items()],
            "streaks": [[*key, start] for key, start in self.streaks.items()],
            "last_commit": [[*key, *commit] for key, commit in self.last_commit.items()],
            "waiting": [[*waiting.service, *waiting.commit, waiting.end, *(waiting.previous or ("", ""))]
                        for waiting in self.waiting],
            "commits": [[*commit, committed] for commit, committed in self.commits.items()],
            "from_builds": [[*waiting.service, waiting.project_id, waiting.job_id, waiting.start, waiting.end]
                            for waiting in self.from_builds],
            "build_commits": [[*key, *(commit or ("", ""))] for key, commit in self.build_commits.items()],
            "skipped": dict(self.skipped), "lookups": dict(self.lookups),
        }}


def ledger_from_state(config: DoraConfig, state: Mapping[str, Any]) -> Ledger:
    """A ledger from saved data (absent: a fresh one); series of services no longer configured are dropped.
    Raises :class:`StateProblem` naming the first thing that does not fit."""
    ledger = Ledger(config)
    if STATE_KEY not in state:
        return ledger
    saved = mapping(state[STATE_KEY], STATE_KEY)
    known = {service.labels for service in config.services}

    def rows(key: str, size: int) -> Iterable[tuple[str, list[Any]]]:
        for index, row in enumerate(items(saved.get(key, []), f"{STATE_KEY}.{key}")):
            where = f"{STATE_KEY}.{key}[{index}]"
            yield where, exactly(row, where, size)

    for where, row in rows("deployments", 4):
        labels(row[:3], where, 3)
        check(row[3], f"{where}[3]", count)
        if tuple(row[:2]) in known and row[2] in STATUSES:
            ledger.deployments[(row[0], row[1], row[2])] = row[3]
    for name, table, bounds in (("lead", ledger.lead, config.lead_time_buckets),
                                ("recovery", ledger.recovery, config.recovery_buckets)):
        for where, row in rows(name, 4):
            service = _service(row, where)
            counts = [check_count(value, f"{where}[2]") for value in items(row[2], f"{where}[2]")]
            check(row[3], f"{where}[3]", finite)
            if len(counts) != len(bounds) + 1:  # dora.*_buckets changed: this histogram starts afresh
                log.warning("DORA: %s saved with %d buckets, %d configured now: it starts afresh", where,
                            len(counts), len(bounds) + 1)
                continue
            if service in known:
                table[service] = Histogram(counts, float(row[3]))
    for name, times in (("last_success", ledger.last_success), ("streaks", ledger.streaks)):
        for where, row in rows(name, 3):
            service = _service(row, where)
            check(row[2], f"{where}[2]", finite)
            if service in known:
                times[service] = float(row[2])
    for where, row in rows("last_commit", 4):
        labels(row, where, 4)
        if (row[0], row[1]) in known:
            ledger.last_commit[(row[0], row[1])] = (row[2], row[3])
    for where, row in rows("waiting", 7):
        labels([*row[:4], *row[5:]], where, 6)
        check(row[4], f"{where}[4]", finite)
        if (row[0], row[1]) in known:
            previous = (row[5], row[6]) if row[6] else None
            ledger.waiting.append(Waiting((row[0], row[1]), (row[2], row[3]), float(row[4]), previous))
    for where, row in rows("commits", 3):
        labels(row[:2], where, 2)
        check(row[2], f"{where}[2]", lambda value: value is None or finite(value))
        ledger.commits[(row[0], row[1])] = None if row[2] is None else float(row[2])
    while len(ledger.commits) > config.commit_cache_size:
        ledger.commits.popitem(last=False)
    for where, row in rows("from_builds", 6):
        labels(row[:4], where, 4)
        check(row[4], f"{where}[4]", finite)
        check(row[5], f"{where}[5]", finite)
        if (row[0], row[1]) in known:
            ledger.from_builds.append(FromBuild((row[0], row[1]), row[2], row[3], float(row[4]), float(row[5])))
    for where, row in rows("build_commits", 4):
        labels([row[0], *row[2:]], where, 3)
        check(row[1], f"{where}[1]", count)
        ledger.build_commits[(row[0], int(row[1]))] = (row[2], row[3]) if row[3] else None
    while len(ledger.build_commits) > config.commit_cache_size:
        ledger.build_commits.popitem(last=False)
    for name, allowed in (("skipped", SKIP_REASONS), ("lookups", LOOKUP_RESULTS)):
        counters = ledger.skipped if name == "skipped" else ledger.lookups
        for key, value in mapping(saved.get(name, {}), f"{STATE_KEY}.{name}").items():
            check(value, f"{STATE_KEY}.{name}.{key[:40]}", count)
            if key in allowed:
                counters[key] = value
    return ledger


def _service(row: list[Any], where: str) -> ServiceKey:
    labels(row[:2], where, 2)
    return row[0], row[1]


def check_count(value: Any, where: str) -> int:
    """``value``, a count."""
    check(value, where, count)
    return int(value)
