"""Wires configuration, client, poller, exposition and HTTP server into one running exporter."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from exporter import __version__
from exporter import metrics as m
from exporter.auth import build_auth
from exporter.client import CodeArtsClient
from exporter.collector import Sink, add_auth, add_discovery, add_shard
from exporter.config import Config
from exporter.discovery import Discovery, pipeline_finished_at
from exporter.exposition import TEXT, Exposition
from exporter.history import RunHistory
from exporter.poller import Poller, targets_from_config
from exporter.ratelimit import RateLimits
from exporter.retry import RetryPolicy, TargetBackoff
from exporter.server import ExporterHTTPServer
from exporter.sharding import ShardSpec
from exporter.snapshot import REPO_API, Snapshot, Target
from exporter.state import load_state, save_state
from exporter.stats import RequestStats
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


HISTORY_SHARE = 0.25  # of the Build rate limit's requests in one interval, when not configured


def history_budget(config: Config, client: CodeArtsClient) -> int | None:
    """Records requests per cycle: ``history.max_requests_per_cycle``, else a quarter of what this replica's
    Build bucket allows in one poll interval (the rest is the listings' and their retries'); None: no limit."""
    if config.history.max_requests_per_cycle is not None:
        return config.history.max_requests_per_cycle
    rate = client.rate_limits.rate("build")
    return None if rate is None else max(1, int(rate * config.poll.interval_seconds * HISTORY_SHARE))


class Exporter:
    """One exporter instance; :meth:`serve` runs it, :meth:`poll_once` is the ``--once`` path."""

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time,
                 shard: ShardSpec | None = None) -> None:
        self.config = config
        self.shard = shard = shard or ShardSpec()
        self.stats = RequestStats()
        rate_limits = shard_rate_limits(config, shard)
        self.auth = build_auth(config.auth, iam_url=config.endpoints.iam, timeout=config.poll.timeout_seconds,
                               stats=self.stats, clock=clock, rate_limits=rate_limits)
        self.client = CodeArtsClient(
            repo_url=config.endpoints.repo,
            build_url=config.endpoints.build,
            auth=self.auth,
            timeout=config.poll.timeout_seconds,
            stats=self.stats,
            # Background discovery passes run their own poll.concurrency workers beside the poll cycle's.
            pool_size=config.poll.concurrency * (2 if config.discovers() else 1),
            rate_limits=rate_limits,
            retry=retry_policy(config.poll.interval_seconds),
        )
        self.history = (RunHistory(self.client, config.history, requests_per_cycle=history_budget(config, self.client))
                        if config.history.enabled else None)
        if self.history is not None:
            self._restore_history(self.history)
        self.discovery = Discovery(config, self.client, shard, clock=clock) if config.discovers() else None

        self.state_write_failures = 0

        def extra_live(sink: Sink) -> None:
            add_shard(sink, shard)
            add_auth(sink, self.auth.token_expiry())
            if config.state.path is not None:
                sink.add(m.STATE_WRITE_FAILURES, (), self.state_write_failures)

        self.exposition = Exposition(
            self.stats, __version__, extra_live=extra_live,
            # Counted during poll cycles only, so rendered with each snapshot, not per scrape.
            extra_snapshot=None if self.discovery is None else self._add_discovery,
            history=None if self.history is None else self.history.view)
        targets = targets_from_config(config)
        mine = shard.select(targets)
        if targets and not mine and self.discovery is None:
            log.warning("shard %d of %d owns none of the %d configured targets", shard.index, shard.total, len(targets))
        self.poller = Poller(
            mine,
            self.client,
            interval=config.poll.interval_seconds,
            concurrency=config.poll.concurrency,
            clock=clock,
            on_swap=self._after_cycle,
            history=self.history,
            job_grace=config.poll.job_grace_seconds,
            backoff=TargetBackoff(config.poll.interval_seconds, config.poll.max_backoff_seconds),
            refresh_targets=None if self.discovery is None else self._current_targets,
        )
        self.exposition.update(self.poller.snapshot)
        self.server: ExporterHTTPServer | None = None
        self._clock = clock

    def _current_targets(self) -> tuple[Target, ...]:
        """This shard's targets now (discovering when due); the run history of pipelines no longer watched
        is dropped, but for the repositories whose pipelines discovery does not know yet (a source that failed
        since the start: after a restart, their pipelines may still be watched)."""
        discovery = self.discovery
        if discovery is None:  # the poller asks only when discovering
            return tuple(state.target for state in self.poller.snapshot.states)
        finished = {state.target.key: at for state in self.poller.snapshot.states
                    if state.target.api == REPO_API and (at := pipeline_finished_at(state.pipeline_jobs)) is not None}
        targets = discovery.targets(finished)
        unknown = discovery.unknown_repositories()
        if self.history is not None and unknown is not None:
            self.history.retain_pipelines({target.key for target in targets if target.api == REPO_API},
                                          keep_repositories={str(repo) for repo in unknown})
        return targets

    def _add_discovery(self, sink: Sink) -> None:
        if self.discovery is not None:
            add_discovery(sink, self.discovery.statuses(), self.discovery.last_pass_seconds())

    def _restore_history(self, history: RunHistory) -> None:
        path = self.config.state.path
        saved = load_state(path) if path is not None else None
        if saved is None:
            return
        try:
            history.restore(saved)
        except ValueError as err:
            log.error("state file %s not used (%s); run counters start afresh without back-filling", path, err)
        else:
            log.info("run history restored from %s", path)

    def _after_cycle(self, snapshot: Snapshot) -> None:
        """Publish the cycle's snapshot, then persist the run history it counted."""
        self.exposition.update(snapshot)
        path = self.config.state.path
        if self.history is None or path is None:
            return
        try:
            save_state(path, self.history.to_state())
        except OSError as err:
            self.state_write_failures += 1  # only this thread writes it
            log.error("cannot write state file %s: %s", path, err.strerror or type(err).__name__)

    def poll_once(self) -> Snapshot:
        """Poll every target once, synchronously."""
        return self.poller.poll_once()

    def all_succeeded(self, snapshot: Snapshot) -> bool:
        """``--once``'s verdict: every target of ``snapshot`` polled, and every discovery source answered (a
        repository whose merge requests could not be listed has pipelines nobody watches)."""
        sources_up = self.discovery is None or all(status.up for status in self.discovery.statuses())
        return snapshot.all_up() and sources_up

    def metrics_text(self) -> bytes:
        """The current /metrics body in the text format."""
        return self.exposition.body(TEXT, gzipped=False)

    def serve(self, address: tuple[str, int], web: WebConfig | None = None) -> ExporterHTTPServer:
        """Start the HTTP server and the background poller; returns the server (already serving).

        ``web`` (from ``--web.config.file``) adds TLS and basic auth.
        """
        self.server = ExporterHTTPServer(address, self.exposition, lambda: self.poller.snapshot, web,
                                         stale_after=STALE_INTERVALS * self.config.poll.interval_seconds,
                                         clock=self._clock)
        # A scrape thread waiting for the interpreter lock while a poll parses JSON waits up to one switch
        # interval per hand-over (5 ms by default, several per request): 1 ms keeps a scrape's tail near
        # its own cost, for a little more switching when threads contend.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.server.serve_in_background()
        if self.discovery is not None:
            self.discovery.run_in_background()
        self.poller.start()
        log.info("serving metrics on %s/metrics; polling %d targets%s every %gs (shard %d of %d)", self.server.url,
                 len(self.poller.snapshot.states), " and the discovered pipelines" if self.discovery else "",
                 self.config.poll.interval_seconds, self.shard.index, self.shard.total)
        return self.server

    def close(self) -> None:
        """Stop serving and polling, release connections."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self.poller.stop()
        if self.discovery is not None:
            self.discovery.close()
        self.client.close()
        self.auth.close()
