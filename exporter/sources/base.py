"""What a source is: everything the core needs from one CodeArts API, and nothing it may assume beyond.

A source (one folder under ``exporter/sources/``) owns its configuration section, its targets, how it fetches
a target through the shared client, its records, the metric families it exports and, optionally, its run
history and its discovery. The core (config loader, poller, snapshot, exposition, server, sharding,
discovery plumbing) reaches it only through the :class:`Source` objects of the table it is handed
(:class:`exporter.sourcetable.SourceTable`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from exporter.metrics import MetricSpec
from exporter.runhistory.counts import JobHistory, Labels, RunCounts
from exporter.runhistory.history import HistoryPart
from exporter.runhistory.options import HistoryConfig
from exporter.runhistory.render import HistoryFamilies
from exporter.sharding import ShardSpec
from exporter.sinks import HistogramSink, Sink
from exporter.snapshot import DiscoveryStatus, Target, TargetState
from exporter.validation import Checker

if TYPE_CHECKING:  # the client's type only: rendering modules import this one and must not load I/O
    from exporter.client import CodeArtsClient, ParsedListing


FAILING_STATUSES = ("failed", "timedout")  # the statuses the failing-job alerts fire on
HISTORY_SHARE = 0.25  # of a source's rate limit's requests in one interval, for its run history when not configured


@dataclass(frozen=True, slots=True)
class FailingJob:
    """A job whose latest run failed or timed out, as the landing page lists it."""

    name: str
    status: str
    where: str  # where it lives, for people: "build project ..., job id ..."
    since: float | None  # when that run ended (or last changed)
    url: str = ""  # its CodeArts page, where the API gives one
    owner: str = ""  # the id of its repository or CodeArts project, whose name the page shows where known


@dataclass(frozen=True, slots=True)
class PollSettings:
    """What a source's history or discovery may need to know of the poll settings."""

    interval_seconds: float
    concurrency: int


@dataclass(frozen=True, slots=True)
class HistoryContext:
    """What a source's run history part is built from."""

    counts: RunCounts
    client: CodeArtsClient
    options: HistoryConfig
    section: Any  # the source's own configuration section
    poll: PollSettings
    monotonic: Callable[[], float]

    def requests_per_cycle(self, api: str) -> int | None:
        """The run-history requests one cycle may plan: ``history.max_requests_per_cycle``, else a quarter of
        what this replica's ``api`` bucket allows in one poll interval (the rest is the listings' and their
        retries'); None: no limit."""
        if self.options.max_requests_per_cycle is not None:
            return self.options.max_requests_per_cycle
        rate = self.client.rate_limits.rate(api)
        return None if rate is None else max(1, int(rate * self.poll.interval_seconds * HISTORY_SHARE))


@dataclass(frozen=True, slots=True)
class DiscoveryContext:
    """What a source's discoverer is built from."""

    section: Any
    client: CodeArtsClient
    shard: ShardSpec
    poll: PollSettings
    clock: Callable[[], float]


class Discoverer(Protocol):
    """A source's discovery: targets found while running, in passes beside the poll cycles."""

    def targets(self, states: tuple[TargetState, ...]) -> tuple[Target, ...]:
        """This shard's targets of the source now, configured and discovered (running a pass when due);
        ``states``: the source's targets' last states."""

    def statuses(self) -> tuple[DiscoveryStatus, ...]:
        """How the last discovery of each of its sources went."""

    def last_pass_seconds(self) -> float | None:
        """How long the last finished pass took."""

    def run_in_background(self) -> None:
        """Run later passes in a background thread from now on."""

    def close(self) -> None:
        """Stop a pass in progress before its next request."""


@dataclass(frozen=True, slots=True)
class SourceParts:
    """A source's run-time parts, built together (:meth:`Source.parts`): a discoverer that must keep the run
    history in step holds its own source's part, typed, and nobody looks a part up by name."""

    history: HistoryPart | None = None
    discoverer: Discoverer | None = None


class Source(ABC):
    """One CodeArts API the exporter reads. Subclasses set the class attributes and the abstract methods."""

    name: str  # the ``api`` label, rate-limit bucket and endpoint key; targets carry it
    title: str  # for people: "CodeArts Build jobs"
    config_keys: tuple[str, ...]  # the top-level configuration keys the source owns
    legacy_keys: tuple[str, ...] = ()  # "section.key" of a core section it still reads from older configurations
    target_paths: tuple[str, ...]  # the keys that name targets (for the "no targets" message)
    job_specs: tuple[MetricSpec, ...]  # families rendered from a target's records, in body order
    moving_specs: tuple[MetricSpec, ...] = ()  # those of them that move with the poll time alone
    history_specs: tuple[MetricSpec, ...] = ()  # run-history families, in body order
    history_families: HistoryFamilies | None = None  # how :meth:`render_history` serves them
    endpoint: bool = False  # True: a regional endpoint, ``endpoints.<name>``, defaulting from the region
    regional_endpoints: Mapping[str, str] = MappingProxyType({})  # {region: base URL}: its column of the table
    default_rate: float | None = None  # requests per second of ``poll.rate_limit.<name>`` (None: no bucket)
    skip_reasons: tuple[tuple[str, str], ...] = ()  # (api, reason) of codearts_records_skipped_total it counts
    throttle_codes: frozenset[str] = frozenset()  # error codes the API throttles with besides HTTP 429
    throttling: str = ""  # how, for the throttle counter's help text ("Build's HTTP 500 <code>"); "" if only 429
    retryable_codes: frozenset[str] = frozenset()  # error codes of a 5xx that is transient: worth retrying

    # -- configuration -------------------------------------------------------------------------------------

    @abstractmethod
    def parse_config(self, check: Checker, top: Mapping[str, object]) -> object | None:
        """The source's section from the top-level mapping (None, with problems recorded, if invalid)."""

    @abstractmethod
    def has_targets(self, section: Any) -> bool:
        """True if the section names anything to poll or discover."""

    @abstractmethod
    def targets(self, section: Any) -> tuple[Target, ...]:
        """The targets the section names, in configuration order (discovered ones excluded)."""

    def needs_endpoint(self, top: Mapping[str, object]) -> bool:
        """True if the configuration (the raw top-level mapping) needs this source's endpoint: an explicit
        ``endpoints.<name>`` or a region that has one. By default, whenever the source has an endpoint."""
        return self.endpoint

    def discovers(self, section: Any) -> bool:
        """True if the source's target list changes while running."""
        return False

    def base_url(self, section: Any, endpoint: str | None) -> str:
        """The API's base URL, given the configured or regional ``endpoint`` of the source's name; by default
        that endpoint, which a source with ``endpoint = True`` must have."""
        if endpoint is None:
            raise ValueError(f"the {self.title} source needs endpoints.{self.name}")
        return endpoint

    def project_ids(self, section: Any) -> tuple[tuple[str, str], ...]:
        """(setting path, CodeArts project id) of every CodeArts project the section names, for the check that
        no IAM project id was put there by mistake; by default none."""
        return ()

    @abstractmethod
    def summary(self, section: Any) -> str:
        """What the section watches, for ``--check-config`` (no secrets); "" to say nothing."""

    # -- polling -------------------------------------------------------------------------------------------

    @abstractmethod
    def fetch(self, client: CodeArtsClient, target: Target) -> ParsedListing[Any]:
        """List one target's records (raises :class:`exporter.errors.CodeArtsError`)."""

    def complete(self, client: CodeArtsClient, target: Target, records: tuple[Any, ...],
                 previous: tuple[Any, ...], history: HistoryPart | None = None) -> tuple[Any, ...]:
        """After a successful listing, ``records`` with what else the source reads for them (the details of
        what changed, say), reusing ``previous``, the target's last good records; by default ``records`` as
        they are. Return ``previous`` itself when nothing changed, so its rendered lines are kept.
        ``history``: this exporter's run history part of the source (None when run history is off), whose
        per-cycle request budget such reads share."""
        return records

    def refresh_seconds(self, target: Target) -> float | None:
        """At most how often a target is listed, in seconds, after a good listing (its records change
        slowly: names); None, the default: at every poll cycle."""
        return None

    def record_key(self, record: Any) -> str:
        """A record's identity within its target, to carry a vanished one through its grace; by default its
        ``id``."""
        return str(record.id)

    # -- rendering (no I/O) --------------------------------------------------------------------------------

    @abstractmethod
    def render(self, sink: Sink, state: TargetState) -> None:
        """The ``job_specs`` samples of one target's records (``state.data_at`` is the poll time)."""

    def moves_with_poll_time(self, state: TargetState) -> bool:
        """True if the samples of ``state`` change with ``data_at`` alone (e.g. a running job's duration)."""
        return False

    def render_moving(self, sink: Sink, state: TargetState) -> None:  # noqa: B027 - optional hook
        """The ``moving_specs`` samples of one target's records."""

    def render_history(self, sink: HistogramSink, labels: Labels, job: JobHistory,
                       duration_bounds: tuple[float, ...], queued_bounds: tuple[float, ...]) -> None:
        """One job's run-history samples (for sources with run history): by default its ``history_families``."""
        if self.history_families is not None:
            self.history_families.render(sink, labels, job, duration_bounds, queued_bounds)

    def failing_jobs(self, state: TargetState) -> tuple[FailingJob, ...]:
        """The jobs of one target whose latest run failed or timed out (for the landing page)."""
        return ()

    def names(self, state: TargetState) -> Mapping[str, str]:
        """Names one target's records give to ids of repositories and CodeArts projects (for the landing
        page); none by default."""
        return {}

    # -- optional parts ------------------------------------------------------------------------------------

    def parts(self, history: HistoryContext | None, discovery: DiscoveryContext | None) -> SourceParts:
        """The source's run history part (none when ``history`` is None: run history is off) and its discoverer
        (none when ``discovery`` is None), built together; by default from :meth:`history_part` and
        :meth:`discoverer`. A source whose parts hold each other overrides this."""
        return SourceParts(self.history_part(history) if history is not None else None,
                           self.discoverer(discovery) if discovery is not None else None)

    def history_part(self, context: HistoryContext) -> HistoryPart | None:
        """The source's run history part; None if it has none."""
        return None

    def discoverer(self, context: DiscoveryContext) -> Discoverer | None:
        """The source's discovery, if its section asks for any."""
        return None

    def history_target_key(self, labels: Labels) -> str:
        """The key of the target a run-history job belongs to, from the job's labels (a reload forgets the jobs
        of targets no longer configured); by default its first label, the project id."""
        return labels[0]
