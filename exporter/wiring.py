"""Wires configuration, sources, client, poller, exposition and HTTP server into one running exporter."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from exporter import __version__
from exporter.auth.factory import build_auth
from exporter.client import CodeArtsClient
from exporter.config import Config
from exporter.dora.part import KIND, DoraPart
from exporter.exposition import TEXT, Exposition
from exporter.landing import LandingInfo
from exporter.poller import Poller, PollerHooks, PollerSettings
from exporter.ratelimit import RateLimits
from exporter.retry import RetryPolicy, TargetBackoff
from exporter.runhistory.counts import DEFAULT_DURATION_SPLIT, RunCounts
from exporter.runhistory.history import HistoryPart, RunHistory
from exporter.runhistory.options import HistoryConfig
from exporter.server import ExporterHTTPServer
from exporter.sharding import ShardSpec
from exporter.shardstate import drop_moved
from exporter.snapshot import DiscoveryView, Snapshot, Target
from exporter.sources.base import Discoverer, DiscoveryContext, HistoryContext, PollSettings, Source, SourceParts
from exporter.statefile import load_state, save_state
from exporter.statelock import StateLock, StateLockError
from exporter.staterepair import keep_backup, restore_entries
from exporter.stats import RequestStats
from exporter.summary import landing_info
from exporter.webconfig import WebConfig

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.001  # seconds


STALE_INTERVALS = 3  # /readyz fails once no target has succeeded for this many poll intervals


def retry_policy(interval: float) -> RetryPolicy:
    """Retries for one request: their waits and attempts together end within half a poll interval."""
    return RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0, deadline=interval / 2)


def shard_rate_limits(config: Config, shard: ShardSpec) -> RateLimits:
    """This replica's buckets: its share of the tenant-wide ``poll.rate_limit`` (a burst of at least 1)."""
    limits = config.poll.rate_limit
    rates = {api: shard.share(rate) for api, rate in limits.rates().items()}
    return RateLimits.per_second(rates, max(1.0, shard.share(limits.burst)))


def run_counts(options: HistoryConfig, split: str = DEFAULT_DURATION_SPLIT) -> RunCounts:
    """The one set of run counters every source's history part writes; ``split``: how run durations are split
    (``metrics.run_duration_by``)."""
    return RunCounts((), options.buckets, options.queued_buckets, split)


def history_of(counts: RunCounts, parts: Mapping[str, SourceParts], more: Iterable[HistoryPart] = ()) -> RunHistory:
    """The run history driving each source's history part (``parts``: by source name), and ``more`` parts that
    are no source's (DORA's, told of every run counted)."""
    found: list[HistoryPart] = list(more)
    for name, built in parts.items():
        part = built.history
        if part is not None:
            if part.kind.name != name:  # listings and rendering find a part by its source's name
                raise ValueError(f"the run history of source {name!r} counts kind {part.kind.name!r}")
            found.append(part)
    return RunHistory(counts, found)


def run_history(sources: Iterable[Source], client: CodeArtsClient, options: HistoryConfig,
                sections: Mapping[str, Any], poll: PollSettings,
                monotonic: Callable[[], float] = time.monotonic,
                split: str = DEFAULT_DURATION_SPLIT) -> RunHistory:
    """The run history of ``sources`` alone, without discovery (each source's section in ``sections``)."""
    counts = run_counts(options, split)
    return history_of(counts, {source.name: source.parts(
        HistoryContext(counts, client, options, sections[source.name], poll, monotonic), None) for source in sources})


def base_urls(config: Config, sources: Iterable[Source]) -> dict[str, str]:
    """Each source's base URL; a source with a regional endpoint that the configuration does not need (nothing
    of it is polled) has none."""
    urls = {}
    for source in sources:
        endpoint = config.endpoints.url(source.name)
        if source.endpoint and endpoint is None:
            continue
        urls[source.name] = source.base_url(config.section(source.name), endpoint)
    return urls


def _lock_state(path: str) -> StateLock | None:
    """The state file's lock (StateLockError: another exporter holds it); None, with a warning, where the lock
    file cannot be made (a read-only directory ran before the lock existed, its writes counted as failures)."""
    try:
        return StateLock(path)
    except StateLockError:
        raise
    except OSError as err:
        log.warning("cannot lock state file %s (%s); a second exporter on it would not be refused", path,
                    err.strerror or type(err).__name__)
        return None


def request_stats(sources: Iterable[Source]) -> RequestStats:
    """The self counters, every label value the sources know of at zero from the start."""
    sources = tuple(sources)
    return RequestStats((source.name for source in sources),
                        (reason for source in sources for reason in source.skip_reasons))


class Exporter:
    """One exporter instance; :meth:`serve` runs it, :meth:`poll_once` is the ``--once`` path."""

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time,
                 shard: ShardSpec | None = None, stats: RequestStats | None = None,
                 restore_state: bool = True, state_lock: StateLock | None = None) -> None:
        """``stats``: the self counters to go on counting in (a reload's; None: fresh ones, and the
        configuration counts as loaded now); ``restore_state``: read ``state.path`` (a reload carries the
        run history over in memory instead); ``state_lock``: the lock of ``state.path`` the running exporter
        holds (a reload's, keeping the state file), taken over instead of taken."""
        # Before anything starts: a second exporter on the same state file would double count (StateLockError).
        self._state_lock = state_lock or (_lock_state(config.state.path) if config.state.path is not None else None)
        try:
            self._assemble(config, clock, shard or ShardSpec(), stats, restore_state)
        except BaseException:
            # A start that fails (an sk_file emptied since the check) lets the file go: the process may go on
            # and start another exporter on it. A lock taken over from a running exporter stays that one's.
            if self._state_lock is not None and self._state_lock is not state_lock:
                self._state_lock.release()
            raise

    def _assemble(self, config: Config, clock: Callable[[], float], shard: ShardSpec, stats: RequestStats | None,
                  restore_state: bool) -> None:
        self.config = config
        self.shard = shard
        self.sources = config.sources
        if stats is None:
            stats = request_stats(self.sources)
            stats.count_config_load(True, clock())
        self.stats = stats
        if config.state.path is not None:
            self.stats.track_state_writes()
        rate_limits = shard_rate_limits(config, shard)
        self.auth = build_auth(config.auth, iam_url=config.endpoints.iam, timeout=config.poll.timeout_seconds,
                               stats=self.stats, clock=clock, rate_limits=rate_limits)
        self.client = CodeArtsClient(
            base_urls=base_urls(config, self.sources),
            auth=self.auth,
            timeout=config.poll.timeout_seconds,
            stats=self.stats,
            # Background discovery passes run their own poll.concurrency workers beside the poll cycle's.
            pool_size=config.poll.concurrency * (2 if config.discovers() else 1),
            rate_limits=rate_limits,
            retry=retry_policy(config.poll.interval_seconds),
            error_codes=self.sources.error_codes(),
        )
        poll = PollSettings(config.poll.interval_seconds, config.poll.concurrency)
        counts = run_counts(config.history, config.metrics.run_duration_by) if config.history.enabled else None
        parts = {source.name: source.parts(
            HistoryContext(counts, self.client, config.history, config.section(source.name), poll, time.monotonic)
            if counts is not None else None,
            DiscoveryContext(config.section(source.name), self.client, shard, poll, clock)) for source in self.sources}
        dora = ([DoraPart(counts, self.client, config.dora, lookups_per_cycle=config.history.max_requests_per_cycle,
                          monotonic=time.monotonic)] if counts is not None and config.dora is not None else [])
        self.history = history_of(counts, parts, dora) if counts is not None else None
        if self.history is not None and restore_state:
            self._restore_history(self.history)
        self.discoverers: dict[str, Discoverer] = {
            name: built.discoverer for name, built in parts.items() if built.discoverer is not None}
        if self.history is not None:
            self._drop_moved_counters(self.history)
        self.exposition = Exposition(self.sources, self.stats, __version__, shard, disabled=config.metrics.disabled,
                                     max_series=config.metrics.max_series)
        targets = tuple(target for source in self.sources for target in source.targets(config.section(source.name)))
        mine = shard.select(targets)
        if targets and not mine and not self.discoverers:
            log.warning("shard %d of %d owns none of the %d configured targets", shard.index, shard.total, len(targets))
        settings = PollerSettings(
            interval=config.poll.interval_seconds,
            concurrency=config.poll.concurrency,
            job_grace=config.poll.job_grace_seconds,
            backoff=TargetBackoff(config.poll.interval_seconds, config.poll.max_backoff_seconds),
        )
        hooks = PollerHooks(on_swap=self._after_cycle, complete=self._complete, history=self.history,
                            refresh_targets=self._current_targets if self.discoverers else None)
        self.poller = Poller(mine, self.client, settings, sources=self.sources, stats=self.stats,
                             rate_limits=rate_limits, hooks=hooks, clock=clock)
        self.exposition.update(self.poller.snapshot)
        self.server: ExporterHTTPServer | None = None
        self._clock = clock
        self._landing = landing_info(config, __version__, shard)
        self._retired = False  # replaced by a reload: a cycle still running publishes and saves nothing

    def _current_targets(self) -> tuple[Target, ...]:
        """This shard's targets now: each discovering source's own (discovering when due), the others'
        configured ones, in source order."""
        states = self.poller.snapshot.states
        targets: list[Target] = []
        for source in self.sources:
            discoverer = self.discoverers.get(source.name)
            if discoverer is None:
                targets += self.shard.select(source.targets(self.config.section(source.name)))
                continue
            own = tuple(state for state in states if state.target.api == source.name)
            targets += discoverer.targets(own)
        return tuple(targets)

    def _complete(self, snapshot: Snapshot) -> Snapshot:
        """The cycle's snapshot with what it carries beside the targets: the run history and discovery."""
        history = self.history.view() if self.history is not None else None
        discovery = None
        if self.discoverers:
            statuses = tuple(status for discoverer in self.discoverers.values() for status in discoverer.statuses())
            seconds = [took for discoverer in self.discoverers.values()
                       if (took := discoverer.last_pass_seconds()) is not None]
            discovery = DiscoveryView(statuses, max(seconds) if seconds else None)
        dora = self.history.part(KIND.name) if self.history is not None else None
        return replace(snapshot, history=history, discovery=discovery,
                       dora=dora.view() if isinstance(dora, DoraPart) else None)

    def _restore_history(self, history: RunHistory) -> None:
        """Restore the run history from the state file, without the entries that do not fit (each named); when
        anything was wrong, the file is kept as ``<path>.bak`` before the first save replaces it."""
        path = self.config.state.path
        if path is None:
            return
        saved = load_state(path)
        if saved is None:
            if os.path.lexists(path):  # there, but unreadable (load_state said why)
                self._keep_backup(path)
            return
        try:
            left_out = restore_entries(history, saved)
        except ValueError as err:
            log.error("state file %s not used (%s); run counters start afresh without back-filling", path, err)
            self._keep_backup(path)
            return
        for problem in left_out:
            log.error("state file %s: an entry left out (%s); the rest is restored", path, problem)
        if left_out:
            self._keep_backup(path)
        log.info("run history restored from %s", path)

    def _drop_moved_counters(self, history: RunHistory) -> None:
        """Forget restored counters of configured targets another shard owns now (a --total-shards change)."""
        for source in self.sources:
            if source.name in self.discoverers:
                continue
            every = source.targets(self.config.section(source.name))
            drop_moved(history.counts, source.name, {target.key for target in every},
                       {target.key for target in self.shard.select(every)},
                       f"shard {self.shard.index} of {self.shard.total}")

    @staticmethod
    def _keep_backup(path: str) -> None:
        backup = keep_backup(path)
        if backup is not None:
            log.warning("the state file as it was is kept as %s (the next save replaces %s)", backup, path)

    def _after_cycle(self, snapshot: Snapshot) -> None:
        """Publish the cycle's snapshot, then persist the run history it counted."""
        if self._retired:
            return
        self.exposition.update(snapshot)
        path = self.config.state.path
        if self.history is None or path is None:
            return
        try:
            save_state(path, self.history.to_state())
        except OSError as err:
            self.stats.count_state_write_failure()
            log.error("cannot write state file %s: %s", path, err.strerror or type(err).__name__)

    def poll_once(self) -> Snapshot:
        """Poll every target once, synchronously."""
        return self.poller.poll_once()

    def all_succeeded(self, snapshot: Snapshot) -> bool:
        """``--once``'s verdict: every target of ``snapshot`` polled, and every discovery source answered (a
        repository whose merge requests could not be listed has pipelines nobody watches)."""
        sources_up = snapshot.discovery is None or snapshot.discovery.all_up()
        return snapshot.all_up() and sources_up

    def landing_info(self) -> LandingInfo:
        """What the landing page shows beside the snapshot; reads in-memory state only, never CodeArts."""
        return replace(self._landing, token_expiry=self.stats.token_expiry(),
                       assumptions=self.stats.assumptions.contradictions())

    def metrics_text(self) -> bytes:
        """The current /metrics body in the text format."""
        return self.exposition.body(TEXT, gzipped=False)

    def serve(self, address: tuple[str, int], web: WebConfig | None = None) -> ExporterHTTPServer:
        """Start the HTTP server and the background poller; returns the server (already serving).

        ``web`` (from ``--web.config.file``) adds TLS and basic auth.
        """
        self.server = ExporterHTTPServer(address, self.exposition, lambda: self.poller.snapshot, web,
                                         stale_after=STALE_INTERVALS * self.config.poll.interval_seconds,
                                         clock=self._clock, landing=self.landing_info)
        # A scrape thread waiting for the interpreter lock while a poll parses JSON waits up to one switch
        # interval per hand-over (5 ms by default, several per request): 1 ms keeps a scrape's tail near
        # its own cost, for a little more switching when threads contend.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.server.serve_in_background()
        self._start_polling()
        return self.server

    def take_over(self, server: ExporterHTTPServer) -> None:
        """Serve this exporter's snapshots on the running ``server`` (a reload's), then start polling."""
        server.exposition = self.exposition
        server.snapshot = lambda: self.poller.snapshot
        server.landing = self.landing_info
        server.stale_after = STALE_INTERVALS * self.config.poll.interval_seconds
        self.server = server
        self._start_polling()

    def resume_from(self, snapshot: Snapshot) -> None:
        """Start from ``snapshot`` (a reload's, with the states carried over) instead of unpolled targets;
        before polling starts."""
        self.poller.snapshot = self._complete(snapshot)
        self.exposition.update(self.poller.snapshot)

    def state_lock_for(self, path: str | None) -> StateLock | None:
        """The state-file lock this exporter holds, if it is ``path``'s (a reload keeping the file shares it)."""
        return self._state_lock if path is not None and path == self.config.state.path else None

    def hand_over_state_lock(self) -> None:
        """Forget the state-file lock without releasing it: the exporter that replaces this one holds it now."""
        self._state_lock = None

    def retire(self) -> None:
        """Stop polling and discovering (a reload replaces this exporter): a cycle in progress publishes and
        saves nothing. The server is left running."""
        self._retired = True
        self.poller.stop(timeout=0)
        for discoverer in self.discoverers.values():
            discoverer.close()
        self.server = None

    def _start_polling(self) -> None:
        assert self.server is not None  # noqa: S101 - serve() and take_over() set it first
        for discoverer in self.discoverers.values():
            discoverer.run_in_background()
        self.poller.start()
        log.info("serving metrics on %s/metrics; polling %d targets%s every %gs (shard %d of %d)", self.server.url,
                 len(self.poller.snapshot.states), " and the discovered ones" if self.discoverers else "",
                 self.config.poll.interval_seconds, self.shard.index, self.shard.total)

    def close(self) -> None:
        """Stop serving and polling, release connections."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self.poller.stop()
        for discoverer in self.discoverers.values():
            discoverer.close()
        self.client.close()
        self.auth.close()
        if self._state_lock is not None:
            self._state_lock.release()
