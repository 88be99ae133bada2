"""Configuration reload: ``SIGHUP`` and ``POST /-/reload`` read the configuration file again and swap it in whole.

A reload never leaves a half-applied configuration, and never counts a run twice:

1. The file is loaded and validated; an invalid one is refused with the same one-line error as at start,
   and the running exporter goes on untouched.
2. The new exporter is built beside the running one (credentials read, sources, run history, poller), not
   polling yet; if that fails (an unreadable key file), the reload is refused the same way.
3. The running exporter retires: its poller stops, and a cycle still in progress neither publishes nor
   saves anything (its runs are not lost: the marks carried over are from before it, so the new exporter
   fetches and counts them; the run history is copied under its lock, so counts and marks always agree).
4. What it counted is carried over: the self counters go on (one object), the run history's counts and
   marks move over in memory (the state a state file holds), less the jobs of targets no longer
   configured, and every target still configured keeps its last state (its series stay, its next poll is
   due as before). Removed targets' series leave /metrics; added targets are polled at the first cycle.
5. The new exporter takes over the HTTP server and starts polling; the old one releases its connections.

``codearts_config_last_reload_successful`` and ``..._success_timestamp_seconds`` tell how it went.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Set
from dataclasses import replace
from functools import partial

from exporter.config import ConfigError, load_config
from exporter.errors import CredentialsError
from exporter.runhistory.counts import Labels
from exporter.sources.base import Source
from exporter.statelock import StateLockError
from exporter.wiring import Exporter

log = logging.getLogger(__name__)

class Reloader:
    """Owns the running :class:`Exporter` and replaces it on :meth:`reload`; one reload at a time."""

    def __init__(self, exporter: Exporter, path: str, *, clock: Callable[[], float] = time.time) -> None:
        """``path``: the configuration file, read with the running configuration's table of sources."""
        self.exporter = exporter
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()

    def reload(self) -> str | None:
        """Read the configuration file and run it; None if it runs now, else the one-line reason it was
        refused (the running configuration goes on)."""
        with self._lock:
            running = self.exporter
            try:
                config = load_config(self.path, sources=running.config.sources)
                shared_lock = running.state_lock_for(config.state.path)
                fresh = Exporter(config, clock=self._clock, shard=running.shard, stats=running.stats,
                                 restore_state=False, state_lock=shared_lock)
            except (ConfigError, CredentialsError, StateLockError) as err:
                return self._refused(str(err))
            except Exception as err:  # a bug building the new one must not cost the running one
                log.exception("building the reloaded configuration crashed")
                return self._refused(f"internal error: {type(err).__name__}")
            server = running.server
            if server is None:
                if shared_lock is not None:
                    fresh.hand_over_state_lock()  # still the running exporter's
                fresh.close()
                raise RuntimeError("reload needs a serving exporter")
            if shared_lock is not None:
                running.hand_over_state_lock()
            running.retire()
            try:
                carry_over(running, fresh)
            except Exception:  # the new configuration runs without what the old one counted, rather than not at all
                log.exception("carrying the run history and target states over to the reloaded configuration crashed")
            fresh.take_over(server)
            self.exporter = fresh
            # A cycle of the old one may still wait for CodeArts: its connections are released beside.
            threading.Thread(target=running.close, name="retired-exporter", daemon=True).start()
            fresh.stats.count_config_load(True, self._clock())
            log.info("configuration reloaded from %s: %d targets%s", self.path, len(fresh.poller.snapshot.states),
                     " and the discovered ones" if fresh.discoverers else "")
            return None


    def _refused(self, reason: str) -> str:
        self.exporter.stats.count_config_load(False, self._clock())
        log.error("configuration reload refused, the running configuration goes on: %s", reason)
        return reason


def carry_over(old: Exporter, new: Exporter) -> None:
    """Hand what ``old`` counted and polled to ``new`` (not polling yet), for the targets ``new`` still has."""
    if old.history is not None and new.history is not None:
        try:
            new.history.restore(old.history.to_state())
        except ValueError as err:  # other buckets, say: as a state file that no longer fits
            log.error("run history not carried over (%s); run counters start afresh without back-filling", err)
        else:
            _forget_removed_jobs(new)
    configured = {state.target for state in new.poller.snapshot.states}
    discovering = set(new.discoverers)
    kept = {state.target: state for state in old.poller.snapshot.states
            if state.target in configured or state.target.api in discovering}
    # Configured targets first, in the new order; discovered ones the new discovery still lists stay after
    # its first pass (the poller keeps the states of targets it is given again).
    states = tuple(kept.get(state.target, state) for state in new.poller.snapshot.states)
    states += tuple(state for target, state in kept.items() if target not in configured)
    new.resume_from(replace(old.poller.snapshot, states=states))


def _forget_removed_jobs(new: Exporter) -> None:
    """Drop the run counters of jobs whose target the new configuration no longer names (their series leave
    /metrics, as after a restart without them); discovering sources prune their own on each pass."""
    assert new.history is not None  # noqa: S101 - the caller checked
    for source in new.sources:
        if new.history.part(source.name) is None or source.name in new.discoverers:
            continue
        keys = {target.key for target in new.shard.select(source.targets(new.config.section(source.name)))}
        new.history.counts.retain(source.name, partial(_configured, source, keys))


def _configured(source: Source, keys: Set[str], labels: Labels) -> bool:
    return source.history_target_key(labels) in keys
