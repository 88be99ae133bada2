"""Load the exporter's YAML configuration and validate it into frozen dataclasses.

Every problem is gathered before one `ConfigError` is raised; each names its path (`projects[2].id`)
and, unless the field is secret or the value came from the environment, the offending value.
Secrets are wrapped in `Secret`, so a repr of the configuration never shows them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from exporter.auth.settings import ACCESS_KEY, AkSkAuth, Auth, PasswordAuth, TokenAuth
from exporter.dora.config import DoraConfig, parse_dora
from exporter.metricsconfig import MetricsConfig, parse_metrics
from exporter.projectids import iam_project_id_problem
from exporter.regions import IAM, RegionTable
from exporter.runhistory.options import HistoryConfig
from exporter.sourcetable import SourceTable
from exporter.validation import (
    Checker,
    Secret,
    and_list,
    as_float,
    boolean,
    buckets,
    exactly_one,
    existing_file,
    integer,
    non_negative,
    one_line,
    parse_yaml,
    seconds,
    secret,
    string,
    url,
    yaml_problem,
)

__all__ = [
    "AkSkAuth",
    "Auth",
    "Config",
    "ConfigError",
    "Endpoints",
    "HistoryConfig",
    "PasswordAuth",
    "PollConfig",
    "RateLimitConfig",
    "Secret",
    "StateConfig",
    "TokenAuth",
    "load_config",
    "parse_config",
    "parse_yaml",
    "yaml_problem",
]

MAX_CONCURRENCY = 64

# The core's top-level keys; each source's own keys go between the first four and the rest.
CORE_KEYS = ("region", "endpoints", "auth", "poll", "history", "state", "metrics", "dora")
IAM_RATE = 0.2  # IAM token requests per second: a renewal a day, retries well apart
AUTH_MODES = ("token", "token_file", "password", "aksk")
PASSWORD_KEYS = ("domain", "username", "password", "password_file", "project_id", "project_name")
AKSK_KEYS = ("ak", "ak_file", "sk", "sk_file", "project_id")
POLL_KEYS = ("interval_seconds", "timeout_seconds", "concurrency", "rate_limit", "job_grace_seconds",
             "max_backoff_seconds")
MAX_RATE = 1000.0  # requests per second; far above anything CodeArts allows, so a typo shows
MAX_BURST = 1000
HISTORY_KEYS = ("enabled", "buckets", "queued_buckets", "max_pages", "max_requests_per_cycle")
STATE_KEYS = ("path",)
MAX_HISTORY_PAGES = 100
MAX_HISTORY_REQUESTS_PER_CYCLE = 100_000


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Base URLs without a trailing slash: each source's with an endpoint, by its name, and IAM's (None when no
    region default exists and none is needed)."""

    urls: Mapping[str, str]
    iam: str | None = None

    def url(self, name: str) -> str | None:
        """The endpoint of the API ``name`` (a source's name, or ``iam``); None if there is none."""
        return self.iam if name == IAM else self.urls.get(name)


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """Requests per second allowed to each API (fractions allowed), by API name, and the burst of each bucket.

    The defaults (each source's ``default_rate``, IAM's 0.2/s) stay below the documented limits: CodeArts Repo
    allows 600 calls a minute per API for a whole region (10/s, shared with every other client there).
    """

    per_api: Mapping[str, float]
    burst: int = 5

    def rates(self) -> dict[str, float]:
        """``{api: requests per second}``."""
        return dict(self.per_api)

    def rate(self, api: str) -> float | None:
        """Requests per second allowed to ``api``; None: no limit."""
        return self.per_api.get(api)


def default_rate_limits(sources: SourceTable) -> RateLimitConfig:
    """The rate limits of an absent ``poll.rate_limit``: each source's default, and IAM's."""
    return RateLimitConfig(default_rates(sources))


def default_rates(sources: SourceTable) -> dict[str, float]:
    """Each source's default requests per second, then IAM's."""
    rates = {source.name: source.default_rate for source in sources if source.default_rate is not None}
    return rates | {IAM: IAM_RATE}


def _iam_rate_limit() -> RateLimitConfig:
    return RateLimitConfig({IAM: IAM_RATE})


@dataclass(frozen=True, slots=True)
class PollConfig:
    """How often and how hard the poller calls CodeArts."""

    interval_seconds: float = 60.0
    timeout_seconds: float = 10.0
    concurrency: int = 4
    # The loader always fills in every source's rate (default_rate_limits); alone, a PollConfig knows no source.
    rate_limit: RateLimitConfig = field(default_factory=_iam_rate_limit)
    job_grace_seconds: float = 0.0
    max_backoff_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class StateConfig:
    """Where counters and high-water marks survive restarts; None: they do not."""

    path: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """The validated configuration: the core sections, the sources it was read with, and each source's own
    section by name (every source of ``sources`` has one)."""

    region: str | None
    endpoints: Endpoints
    auth: Auth
    poll: PollConfig
    sources: SourceTable
    sections: Mapping[str, Any]
    history: HistoryConfig = HistoryConfig()
    state: StateConfig = StateConfig()
    metrics: MetricsConfig = MetricsConfig()
    dora: DoraConfig | None = None  # None: no ``dora:`` section, DORA is off

    def section(self, source: str) -> Any:
        """The configuration section of the source named ``source``."""
        return self.sections[source]

    def iam_project(self) -> tuple[str, str] | None:
        """(setting path, IAM project id) of the auth mode; None when it names none (token, project_name)."""
        auth = self.auth
        if isinstance(auth, AkSkAuth):
            return "auth.aksk.project_id", auth.project_id
        if isinstance(auth, PasswordAuth) and auth.project_id is not None:
            return "auth.password.project_id", auth.project_id
        return None

    def discovers(self) -> bool:
        """True if any source's targets change while running (discovery)."""
        return any(source.discovers(self.sections[source.name]) for source in self.sources)


class ConfigError(Exception):
    """The configuration is unusable; `problems` lists every reason, `str()` is one line."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems: tuple[str, ...] = tuple(one_line(problem) for problem in problems)
        super().__init__(f"invalid configuration in {one_line(source)}: {'; '.join(self.problems)}")


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None, *,
                sources: SourceTable) -> Config:
    """Read, parse and validate the YAML file at `path` for the sources of ``sources`` (the CLI's:
    ``exporter.sources.builtin.BUILTIN``); `${VAR}` references come from `env` (os.environ)."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        raise ConfigError(source, [f"cannot read file: {err.strerror or err}"]) from None
    except UnicodeDecodeError as err:
        raise ConfigError(source, [f"cannot read file: not UTF-8 text (byte {err.start})"]) from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as err:
        # `from None`: the YAML exception's own text quotes the file's lines, which may hold a secret.
        raise ConfigError(source, [yaml_problem(err)]) from None
    return parse_config(data, env, source, sources=sources)


def parse_config(data: object, env: Mapping[str, str] | None = None, source: str = "<config>", *,
                 sources: SourceTable) -> Config:
    """Validate already-parsed YAML data into a `Config` for the sources of ``sources``, or raise one
    `ConfigError` listing every problem."""
    check = Checker(os.environ if env is None else env)
    if data is None:
        raise ConfigError(source, ["the configuration is empty"])
    top = check.section("", data, top_level_keys(sources))
    if top is None:
        raise ConfigError(source, check.problems)
    region, endpoints = _region_and_endpoints(check, top, sources, needs_iam=_uses_password(top.get("auth")))
    auth = _auth(check, top.get("auth"))
    poll = _poll(check, top.get("poll"), sources)
    sections = {each.name: each.parse_config(check, top) for each in sources}
    history = _history(check, top.get("history"), sources)
    state = _state(check, top.get("state"))
    metrics = parse_metrics(check, top.get("metrics"), tuple(spec.name for spec in sources.specs()))
    dora = _dora(check, top, sections, endpoints, history, sources)
    if None not in sections.values() and not any(each.has_targets(sections[each.name]) for each in sources):
        paths = [path for each in sources for path in each.target_paths]
        check.add("", f"no targets: {and_list(paths)} are all empty" if paths else "no targets: no source given")
    # A part is None only after its problem was recorded; checking both also satisfies the type checker.
    if check.problems or endpoints is None or auth is None or poll is None or None in sections.values():
        raise ConfigError(source, check.problems)
    if history is None or state is None or metrics is None:
        raise ConfigError(source, check.problems)
    return Config(region, endpoints, auth, poll, sources, sections, history, state, metrics, dora)


def _dora(check: Checker, top: Mapping[str, object], sections: Mapping[str, Any], endpoints: Endpoints | None,
          history: HistoryConfig | None, sources: SourceTable) -> DoraConfig | None:
    """``dora:``, checked against the projects the sources watch (their targets' keys), the Repo endpoint its
    commit lookups need, and the run history it counts from."""
    if top.get("dora") is None:
        return None

    def watched(name: str) -> list[str] | None:
        if name not in sources or name not in sections:
            return None
        section = sections[name]
        return [] if section is None else [target.key for target in sources.get(name).targets(section)]

    dora = parse_dora(check, top.get("dora"), watched("pipeline") or [], watched("deploy"))
    if dora is not None and dora.uses_repo() and endpoints is not None and endpoints.url("repo") is None:
        check.add("endpoints.repo", "required by dora (commit times of pipeline deployments come from CodeArts Repo)")
    if dora is not None and history is not None and not history.enabled:
        check.add("dora", "needs history.enabled: true (deployments are the runs the run history counts)")
    return dora


def top_level_keys(sources: SourceTable) -> tuple[str, ...]:
    """Every key the top level takes: the core's, with each source's among them."""
    return (*CORE_KEYS[:4], *(key for source in sources for key in source.config_keys), *CORE_KEYS[4:])


def _uses_password(raw_auth: object) -> bool:
    return isinstance(raw_auth, Mapping) and raw_auth.get("password") is not None


def _region_and_endpoints(
    check: Checker, top: Mapping[str, object], sources: SourceTable, *, needs_iam: bool
) -> tuple[str | None, Endpoints | None]:
    """The region and the endpoints, each endpoint defaulting from the region unless given explicitly."""
    region, region_shown, region_ok = _region(check, top.get("region"))
    apis = tuple(source.name for source in sources if source.endpoint)
    section = check.section("endpoints", top.get("endpoints"), (*apis, IAM))
    if section is None:
        return region, None
    explicit = {name: url(check, f"endpoints.{name}", raw) for name, raw in section.items()}
    regions = sources.regions()
    defaults = regions.get(region) if region is not None else None
    used = tuple(source.name for source in sources if source.endpoint and source.needs_endpoint(top))
    needed = (*used, IAM) if needs_iam else used
    missing = [f"endpoints.{name}" for name in needed if name not in explicit]
    if missing and defaults is None:
        if region_ok:  # otherwise the region's own problem says it all
            _report_region(check, region_shown, missing, regions)
        return region, None
    chosen = {name: explicit[name] if name in explicit else defaults.get(name) if defaults is not None else None
              for name in (*apis, IAM)}
    urls = {name: value for name in apis if (value := chosen[name]) is not None}
    lacking = [name for name in used if name not in urls]
    for name in lacking:  # a known region without a host for this API (e.g. no Pipeline host in eu-west-101)
        if name not in explicit:  # an explicit one that was invalid has its own problem already
            check.add(f"endpoints.{name}", f"required: region {region_shown} has no default {name} endpoint")
    if lacking:
        return region, None
    return region, Endpoints(urls, chosen[IAM])


def _region(check: Checker, raw: object) -> tuple[str | None, str | None, bool]:
    """(region, how to show it, usable): an absent region is usable, an invalid one is reported."""
    if raw is None:
        return None, None, True
    got = check.scalar("region", raw)
    if got is None:
        return None, None, False
    if not isinstance(got.value, str) or not got.value:
        check.add("region", f"expected a non-empty string, got {got.shown}")
        return None, None, False
    return got.value, got.shown, True


def _report_region(check: Checker, region_shown: str | None, missing: list[str], regions: RegionTable) -> None:
    verb = "is" if len(missing) == 1 else "are"
    if region_shown is None:
        check.add("region", f"required unless {and_list(missing)} {verb} given")
    else:
        check.add(
            "region",
            f"unknown region {region_shown}; give {and_list(missing)} explicitly "
            f"or use a known region ({', '.join(sorted(regions))})",
        )


def _auth(check: Checker, raw: object) -> Auth | None:
    """Exactly one of the token, password and aksk modes."""
    section = check.section("auth", raw, AUTH_MODES, secret=True)  # a non-mapping may be a pasted secret
    if section is None:
        return None
    mode = exactly_one(check, "auth", section, AUTH_MODES)
    if mode is None:
        return None
    if mode == "token":
        token = secret(check, "auth.token", section["token"], header_safe=True)
        return TokenAuth(token) if token is not None else None
    if mode == "token_file":
        path = existing_file(check, "auth.token_file", section["token_file"])
        return TokenAuth(None, path) if path is not None else None
    if mode == "password":
        return _password_auth(check, "auth.password", section["password"])
    return _aksk_auth(check, "auth.aksk", section["aksk"])


def _password_auth(check: Checker, path: str, raw: object) -> PasswordAuth | None:
    section = check.section(path, raw, PASSWORD_KEYS, secret=True)
    if section is None:
        return None
    before = len(check.problems)
    domain = string(check, f"{path}.domain", section.get("domain"))
    username = string(check, f"{path}.username", section.get("username"))
    password, password_file = _secret_or_file(check, path, section, "password", header_safe=False)
    project_id = project_name = None
    scope = exactly_one(check, path, section, ("project_id", "project_name"))
    if scope == "project_id":
        project_id = _iam_project_id(check, f"{path}.project_id", section["project_id"], password=True)
    elif scope == "project_name":
        project_name = string(check, f"{path}.project_name", section["project_name"])
    if len(check.problems) > before or domain is None or username is None:
        return None
    return PasswordAuth(domain, username, password, password_file, project_id, project_name)


def _aksk_auth(check: Checker, path: str, raw: object) -> AkSkAuth | None:
    section = check.section(path, raw, AKSK_KEYS, secret=True)
    if section is None:
        return None
    before = len(check.problems)
    ak = ak_file = None
    chosen = exactly_one(check, path, section, ("ak", "ak_file"))
    if chosen == "ak":
        ak = string(check, f"{path}.ak", section["ak"], pattern=ACCESS_KEY,
                    expected="an access key id (letters and digits)")
    elif chosen == "ak_file":
        ak_file = existing_file(check, f"{path}.ak_file", section["ak_file"])
    sk, sk_file = _secret_or_file(check, path, section, "sk", header_safe=True)
    project_id = _iam_project_id(check, f"{path}.project_id", section.get("project_id"))
    if len(check.problems) > before or project_id is None:
        return None
    return AkSkAuth(ak, sk, sk_file, project_id, ak_file)


def _secret_or_file(
    check: Checker, path: str, section: Mapping[str, object], name: str, *, header_safe: bool
) -> tuple[Secret | None, str | None]:
    """`name` (a secret) or `name_file` (a readable file, read later at runtime): exactly one of them."""
    file_key = f"{name}_file"
    chosen = exactly_one(check, path, section, (name, file_key))
    if chosen == name:
        return secret(check, f"{path}.{name}", section[name], header_safe=header_safe), None
    if chosen == file_key:
        return None, existing_file(check, f"{path}.{file_key}", section[file_key])
    return None, None


def _iam_project_id(check: Checker, path: str, raw: object, *, password: bool = False) -> str | None:
    """32 hex characters; a region name or anything else is refused with the table of ids in one line."""
    if raw is None:
        check.add(path, "required")
        return None
    got = check.scalar(path, raw)
    if got is None:
        return None
    problem = iam_project_id_problem(str(got.value), got.shown, password=password) \
        if isinstance(got.value, str) and got.value else f"expected an IAM project id, got {got.shown}"
    if problem is not None:
        check.add(path, problem)
        return None
    return str(got.value)


def _poll(check: Checker, raw: object, sources: SourceTable) -> PollConfig | None:
    section = check.section("poll", raw, POLL_KEYS)
    if section is None:
        return None
    defaults = PollConfig()
    interval = seconds(check, "poll.interval_seconds", section.get("interval_seconds"), defaults.interval_seconds)
    timeout = seconds(check, "poll.timeout_seconds", section.get("timeout_seconds"), defaults.timeout_seconds)
    concurrency = integer(
        check, "poll.concurrency", section.get("concurrency"), 1, MAX_CONCURRENCY, defaults.concurrency
    )
    rate_limit = _rate_limit(check, section.get("rate_limit"), sources)
    grace = non_negative(check, "poll.job_grace_seconds", section.get("job_grace_seconds"), defaults.job_grace_seconds)
    max_backoff = seconds(check, "poll.max_backoff_seconds", section.get("max_backoff_seconds"),
                           defaults.max_backoff_seconds)
    if interval is None or timeout is None:
        return None
    (interval_value, interval_shown), (timeout_value, timeout_shown) = interval, timeout
    if timeout_value >= interval_value:
        check.add(
            "poll.timeout_seconds", f"must be less than poll.interval_seconds ({interval_shown}), got {timeout_shown}"
        )
        return None
    if concurrency is None or rate_limit is None or grace is None or max_backoff is None:
        return None
    return PollConfig(interval_value, timeout_value, concurrency, rate_limit, grace, max_backoff[0])


def _rate_limit(check: Checker, raw: object, sources: SourceTable) -> RateLimitConfig | None:
    defaults = default_rates(sources)
    section = check.section("poll.rate_limit", raw, (*defaults, "burst"))
    if section is None:
        return None
    rates = {api: _rate(check, f"poll.rate_limit.{api}", section.get(api), default)
             for api, default in defaults.items()}
    burst = integer(check, "poll.rate_limit.burst", section.get("burst"), 1, MAX_BURST, RateLimitConfig({}).burst)
    checked = {api: rate for api, rate in rates.items() if rate is not None}
    if burst is None or len(checked) < len(rates):
        return None
    return RateLimitConfig(checked, burst)


def _rate(check: Checker, path: str, raw: object, default: float) -> float | None:
    """Requests per second: a finite number > 0 and at most MAX_RATE."""
    if raw is None:
        return default
    got = check.scalar(path, raw)
    if got is None:
        return None
    number = as_float(got.value)
    if number is None or not 0 < number <= MAX_RATE:
        check.add(path, f"expected requests per second, a number > 0 and <= {MAX_RATE:g}, got {got.shown}")
        return None
    return number


def _history(check: Checker, raw: object, sources: SourceTable) -> HistoryConfig | None:
    # A source may still read a key of this section that older configurations have (history.api: Build's).
    legacy = tuple(key.removeprefix("history.") for source in sources for key in source.legacy_keys
                   if key.startswith("history."))
    section = check.section("history", raw, (*HISTORY_KEYS, *legacy))
    if section is None:
        return None
    defaults = HistoryConfig()
    before = len(check.problems)
    enabled = boolean(check, "history.enabled", section.get("enabled"), defaults.enabled)
    bounds = buckets(check, "history.buckets", section.get("buckets"), defaults.buckets)
    queued = buckets(check, "history.queued_buckets", section.get("queued_buckets"), defaults.queued_buckets)
    max_pages = integer(check, "history.max_pages", section.get("max_pages"), 1, MAX_HISTORY_PAGES,
                        defaults.max_pages)
    per_cycle = None
    if section.get("max_requests_per_cycle") is not None:
        per_cycle = integer(check, "history.max_requests_per_cycle", section["max_requests_per_cycle"], 1,
                            MAX_HISTORY_REQUESTS_PER_CYCLE)
    if len(check.problems) > before or bounds is None or queued is None or max_pages is None:
        return None
    return HistoryConfig(enabled, bounds, queued, max_pages, per_cycle)


def _state(check: Checker, raw: object) -> StateConfig | None:
    section = check.section("state", raw, STATE_KEYS)
    if section is None:
        return None
    if "path" not in section:
        return StateConfig()
    got = check.scalar("state.path", section["path"])
    if got is None:
        return None
    if not isinstance(got.value, str) or not got.value.strip():
        check.add("state.path", f"expected a file path, got {got.shown}")
        return None
    directory = os.path.dirname(os.path.abspath(got.value))
    if not os.path.isdir(directory):
        check.add("state.path", f"directory of {got.shown} does not exist")
        return None
    if os.path.isdir(got.value):
        check.add("state.path", f"{got.shown} is a directory, expected a file path")
        return None
    return StateConfig(got.value)
