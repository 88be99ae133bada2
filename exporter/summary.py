"""A secret-free summary of a running exporter's configuration, for the landing page."""

from __future__ import annotations

from exporter.config import AkSkAuth, Config, PasswordAuth, TokenAuth
from exporter.landing import LandingInfo
from exporter.sharding import ShardSpec


def landing_info(config: Config, version: str, shard: ShardSpec, token_expiry: float | None = None) -> LandingInfo:
    """The page's view of a running exporter beside its snapshot: its configuration and token expiry."""
    return LandingInfo(version, config.poll.interval_seconds, configuration_summary(config, shard), token_expiry,
                       sources=config.sources)


def auth_summary(config: Config) -> str:
    """The authentication mode and its non-secret settings, in words."""
    auth = config.auth
    if isinstance(auth, TokenAuth):
        if auth.token_file:
            return "token (a ready IAM token from token_file, read again when it changes; it is not renewed)"
        return "token (a ready IAM token; it is not renewed)"
    if isinstance(auth, PasswordAuth):
        scope = f"project {auth.project_id}" if auth.project_id else f"project name {auth.project_name}"
        source = "password_file" if auth.password_file else "password"
        return f"password: IAM user {auth.username} of account {auth.domain}, {scope}, from {source}"
    if isinstance(auth, AkSkAuth):
        source = "sk_file" if auth.sk_file else "sk"
        key = " and access key id from ak_file" if auth.ak_file else ""
        return f"aksk: access key pair, IAM project {auth.project_id}, secret key from {source}{key}"
    return "an unknown mode"


def configuration_summary(config: Config, shard: ShardSpec) -> tuple[tuple[str, str], ...]:
    """The configuration in (name, value) rows: modes, ids, endpoints and numbers, never a secret or a path
    to one's content (an ``*_file`` is named as a source, its path left out)."""
    poll, limits = config.poll, config.poll.rate_limit
    sources = config.sources
    rows = [
        ("Region", config.region or "(none: explicit endpoints)"),
        ("Authentication", auth_summary(config)),
    ]
    rows += [(source.title, url) for source in sources if (url := config.endpoints.url(source.name)) is not None]
    if isinstance(config.auth, PasswordAuth) and config.endpoints.iam:
        rows.append(("IAM", config.endpoints.iam))
    rows += [
        ("Polling", f"every {poll.interval_seconds:g} s, timeout {poll.timeout_seconds:g} s, "
                    f"{poll.concurrency} requests in flight, backoff up to {poll.max_backoff_seconds:g} s, "
                    f"job grace {poll.job_grace_seconds:g} s"),
        ("Rate limits", ", ".join(f"{api} {rate:g}/s" for api, rate in limits.rates().items())
         + f", burst {limits.burst}"),
        ("Configured targets", ", ".join(filter(None, (source.summary(config.section(source.name))
                                                       for source in sources)))),
    ]
    history = config.history
    rows.append(("Run history", f"up to {history.max_pages} pages per job" if history.enabled else "off"))
    if config.dora is not None:
        rows.append(("DORA services", ", ".join(f"{service.name} ({service.environment})"
                                                 for service in config.dora.services)))
    rows.append(("State file", "kept" if config.state.path else "none: run counters restart with the process"))
    rows.append(("Shard", f"{shard.index} of {shard.total}"))
    return tuple(rows)
