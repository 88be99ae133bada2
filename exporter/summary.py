"""A secret-free summary of a running exporter's configuration, for the landing page."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from exporter.config import AkSkAuth, Config, PasswordAuth, TokenAuth
from exporter.landing import LandingInfo, SourceView
from exporter.sharding import ShardSpec


class _Status(Protocol):
    """How a discovery source's last pass went (discovery's status records)."""

    @property
    def source(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def up(self) -> bool: ...
    @property
    def last_success_at(self) -> float | None: ...
    @property
    def found(self) -> int: ...


def landing_info(config: Config, version: str, shard: ShardSpec, statuses: Iterable[_Status] = (),
                 token_expiry: float | None = None) -> LandingInfo:
    """The page's view of a running exporter: its configuration, discovery sources and token expiry."""
    sources = tuple(SourceView(s.source, s.id, s.up, s.last_success_at, s.found) for s in statuses)
    return LandingInfo(version, config.poll.interval_seconds, configuration_summary(config, shard), sources,
                       token_expiry)


def _auth_summary(config: Config) -> str:
    auth = config.auth
    if isinstance(auth, TokenAuth):
        return "token (a ready IAM token; it is not renewed)"
    if isinstance(auth, PasswordAuth):
        scope = f"project {auth.project_id}" if auth.project_id else f"project name {auth.project_name}"
        source = "password_file" if auth.password_file else "password"
        return f"password: IAM user {auth.username} of account {auth.domain}, {scope}, from {source}"
    if isinstance(auth, AkSkAuth):
        source = "sk_file" if auth.sk_file else "sk"
        return f"aksk: access key pair, IAM project {auth.project_id}, secret key from {source}"
    return type(auth).__name__


def configuration_summary(config: Config, shard: ShardSpec) -> tuple[tuple[str, str], ...]:
    """The configuration in (name, value) rows: modes, ids, endpoints and numbers, never a secret or a path
    to one's content (an ``*_file`` is named as a source, its path left out)."""
    poll, limits = config.poll, config.poll.rate_limit
    pipelines = sum(len(repo.pipelines) for repo in config.repositories)
    discovering = sum(repo.discover is not None for repo in config.repositories)
    rows = [
        ("Region", config.region or "(none: explicit endpoints)"),
        ("Authentication", _auth_summary(config)),
        ("CodeArts Repo", config.endpoints.repo),
        ("CodeArts Build", config.endpoints.build),
    ]
    if isinstance(config.auth, PasswordAuth) and config.endpoints.iam:
        rows.append(("IAM", config.endpoints.iam))
    rows += [
        ("Polling", f"every {poll.interval_seconds:g} s, timeout {poll.timeout_seconds:g} s, "
                    f"{poll.concurrency} requests in flight, backoff up to {poll.max_backoff_seconds:g} s, "
                    f"job grace {poll.job_grace_seconds:g} s"),
        ("Rate limits", f"repo {limits.repo:g}/s, build {limits.build:g}/s, iam {limits.iam:g}/s, "
                        f"burst {limits.burst}"),
        ("Configured targets", f"{pipelines} pipelines in {len(config.repositories)} repositories, "
                               f"{len(config.projects)} build projects"),
    ]
    if config.discovers():
        rows.append(("Discovery", f"merge request pipelines of {discovering} configured repositories and the "
                                  f"repositories of {len(config.discovery.projects)} projects, every "
                                  f"{config.discovery.interval_seconds:g} s"))
    history = config.history
    rows.append(("Run history", f"{history.api} records API, up to {history.max_pages} pages per job"
                 if history.enabled else "off"))
    rows.append(("State file", "kept" if config.state.path else "none: run counters restart with the process"))
    rows.append(("Shard", f"{shard.index} of {shard.total}"))
    return tuple(rows)
