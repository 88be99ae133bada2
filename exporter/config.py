"""Load the exporter's YAML configuration and validate it into frozen dataclasses.

Every problem is gathered before one `ConfigError` is raised; each names its path (`projects[2].id`)
and, unless the field is secret or the value came from the environment, the offending value.
Secrets are wrapped in `Secret`, so a repr of the configuration never shows them.
"""

from __future__ import annotations

import errno
import hmac
import json
import math
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar
from urllib.parse import SplitResult, urlsplit

import yaml

from exporter.regions import REGIONS, endpoints_for

__all__ = [
    "AkSkAuth",
    "Auth",
    "Config",
    "ConfigError",
    "DiscoveryConfig",
    "Endpoints",
    "HistoryConfig",
    "MergeRequestDiscovery",
    "ProjectDiscovery",
    "PasswordAuth",
    "PollConfig",
    "RateLimitConfig",
    "ProjectTarget",
    "RepositoryTarget",
    "Secret",
    "StateConfig",
    "TokenAuth",
    "load_config",
    "parse_config",
]

MAX_ID = 2_147_483_647  # CodeArts Repo: repository_id and pipeline_id are Integer 1~2147483647
MAX_CONCURRENCY = 64

TOP_LEVEL_KEYS = ("region", "endpoints", "auth", "poll", "repositories", "projects", "history", "state",
                  "discovery")
ENDPOINT_KEYS = ("repo", "build", "iam")
AUTH_MODES = ("token", "password", "aksk")
PASSWORD_KEYS = ("domain", "username", "password", "password_file", "project_id", "project_name")
AKSK_KEYS = ("ak", "sk", "sk_file", "project_id")
POLL_KEYS = ("interval_seconds", "timeout_seconds", "concurrency", "rate_limit", "job_grace_seconds",
             "max_backoff_seconds")
RATE_LIMIT_KEYS = ("repo", "build", "iam", "burst")
MAX_RATE = 1000.0  # requests per second; far above anything CodeArts allows, so a typo shows
MAX_BURST = 1000
MR_DISCOVERY_KEYS = ("discover", "max_pipelines", "pipeline_retention_seconds")
REPOSITORY_KEYS = ("id", "pipelines", *MR_DISCOVERY_KEYS)
DISCOVERY_KEYS = ("interval_seconds", "projects")
DISCOVERY_PROJECT_KEYS = ("project_id", "include", "exclude", *MR_DISCOVERY_KEYS)
DISCOVER_MODES = ("merge_requests",)
MAX_PIPELINES = 1000
HISTORY_KEYS = ("enabled", "api", "buckets", "queued_buckets", "max_pages", "max_requests_per_cycle")
HISTORY_APIS = ("v1", "v3")
STATE_KEYS = ("path",)
MAX_HISTORY_PAGES = 100
MAX_HISTORY_REQUESTS_PER_CYCLE = 100_000
MAX_BUCKETS = 50
# 10 s .. 4 h: quick checks to long release builds.
DEFAULT_DURATION_BUCKETS: tuple[float, ...] = (
    10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400,
)
DEFAULT_QUEUED_BUCKETS: tuple[float, ...] = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
PROJECT_KEYS = ("id",)

_CODEARTS_PROJECT_ID = re.compile(r"[A-Za-z0-9]{32}")
_IAM_PROJECT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ACCESS_KEY = re.compile(r"[A-Za-z0-9]{1,128}")
# Tokens and SKs end up in HTTP headers or an HMAC key: printable ASCII without spaces, which also
# catches the trailing newline of a `$(cat file)`.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")
_DIGITS = re.compile(r"\s*([0-9]{1,30})\s*")
_ENV_REFERENCE = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bad>\{))"
)
_SHOWABLE_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MAX_SHOWN_CHARS = 80

_Key = TypeVar("_Key", int, str)


class Secret:
    """A secret string that shows as `***` in reprs, log lines and messages; `reveal()` returns it."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """Return the secret itself, for the one place that sends it."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (self._value,))


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Base URLs without a trailing slash; `iam` is None when no region default exists and none is needed."""

    repo: str
    build: str
    iam: str | None


@dataclass(frozen=True, slots=True)
class TokenAuth:
    """A ready IAM token, sent as X-Auth-Token."""

    token: Secret


@dataclass(frozen=True, slots=True)
class PasswordAuth:
    """IAM user password, exchanged for a project-scoped token; exactly one of each pair is set."""

    domain: str
    username: str
    password: Secret | None
    password_file: str | None
    project_id: str | None
    project_name: str | None


@dataclass(frozen=True, slots=True)
class AkSkAuth:
    """Access key pair for SDK-HMAC-SHA256 signing; exactly one of `sk` and `sk_file` is set."""

    ak: str
    sk: Secret | None
    sk_file: str | None
    project_id: str


Auth = TokenAuth | PasswordAuth | AkSkAuth


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """Requests per second allowed to each API (fractions allowed), and the burst of each bucket.

    The defaults stay below the documented limits: CodeArts Repo allows 600 calls a minute per API for
    a whole region (10/s, shared with every other client there).
    """

    repo: float = 8.0
    build: float = 5.0
    iam: float = 0.2
    burst: int = 5

    def rates(self) -> dict[str, float]:
        """``{api: requests per second}``."""
        return {"repo": self.repo, "build": self.build, "iam": self.iam}


@dataclass(frozen=True, slots=True)
class PollConfig:
    """How often and how hard the poller calls CodeArts."""

    interval_seconds: float = 60.0
    timeout_seconds: float = 10.0
    concurrency: int = 4
    rate_limit: RateLimitConfig = RateLimitConfig()
    job_grace_seconds: float = 0.0
    max_backoff_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class MergeRequestDiscovery:
    """``discover: merge_requests``: watch the head pipelines of the newest ``max_pipelines`` open merge
    requests, until a pipeline is finished and finished more than ``retention_seconds`` ago."""

    max_pipelines: int = 20
    retention_seconds: float = 86400.0


@dataclass(frozen=True, slots=True)
class RepositoryTarget:
    """A CodeArts Repo repository: the pipelines of it to watch, and whether to discover more."""

    id: int
    pipelines: tuple[int, ...]
    discover: MergeRequestDiscovery | None = None


@dataclass(frozen=True, slots=True)
class ProjectDiscovery:
    """The repositories of a CodeArts project whose name matches an ``include`` regex (any, when none are
    given) and no ``exclude`` regex (``re.search``); each gets merge request discovery."""

    project_id: str
    include: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]
    merge_requests: MergeRequestDiscovery = MergeRequestDiscovery()

    def matches(self, name: str) -> bool:
        """True if a repository of this name is discovered."""
        included = not self.include or any(pattern.search(name) for pattern in self.include)
        return included and not any(pattern.search(name) for pattern in self.exclude)


@dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    """How often discovery runs (seconds), and the projects whose repositories are discovered."""

    interval_seconds: float = 300.0
    projects: tuple[ProjectDiscovery, ...] = ()


@dataclass(frozen=True, slots=True)
class ProjectTarget:
    """A CodeArts project whose build jobs to watch."""

    id: str


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """Run history: which records API, histogram buckets (seconds), pages per job and cycle, and the
    records requests per cycle (None: a quarter of what the Build rate limit allows in one interval)."""

    enabled: bool = True
    api: str = "v1"
    buckets: tuple[float, ...] = DEFAULT_DURATION_BUCKETS
    queued_buckets: tuple[float, ...] = DEFAULT_QUEUED_BUCKETS
    max_pages: int = 5
    max_requests_per_cycle: int | None = None


@dataclass(frozen=True, slots=True)
class StateConfig:
    """Where counters and high-water marks survive restarts; None: they do not."""

    path: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """The validated configuration."""

    region: str | None
    endpoints: Endpoints
    auth: Auth
    poll: PollConfig
    repositories: tuple[RepositoryTarget, ...]
    projects: tuple[ProjectTarget, ...]
    history: HistoryConfig = HistoryConfig()
    state: StateConfig = StateConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()

    def discovers(self) -> bool:
        """True if any target is discovered (the target list then changes while running)."""
        return bool(self.discovery.projects) or any(repo.discover is not None for repo in self.repositories)

    def pipeline_targets(self) -> list[tuple[int, int]]:
        """Every (repository id, pipeline id) pair, in configuration order."""
        return [(repo.id, pipeline) for repo in self.repositories for pipeline in repo.pipelines]


class ConfigError(Exception):
    """The configuration is unusable; `problems` lists every reason, `str()` is one line."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems: tuple[str, ...] = tuple(_one_line(problem) for problem in problems)
        super().__init__(f"invalid configuration in {_one_line(source)}: {'; '.join(self.problems)}")


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read, parse and validate the YAML file at `path`; `${VAR}` references come from `env` (os.environ)."""
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
    return parse_config(data, env, source)


def parse_config(data: object, env: Mapping[str, str] | None = None, source: str = "<config>") -> Config:
    """Validate already-parsed YAML data into a `Config`, or raise one `ConfigError` listing every problem."""
    check = _Checker(os.environ if env is None else env)
    if data is None:
        raise ConfigError(source, ["the configuration is empty"])
    top = check.section("", data, TOP_LEVEL_KEYS)
    if top is None:
        raise ConfigError(source, check.problems)
    region, endpoints = _region_and_endpoints(check, top, needs_iam=_uses_password(top.get("auth")))
    auth = _auth(check, top.get("auth"))
    poll = _poll(check, top.get("poll"))
    repositories = _repositories(check, top.get("repositories"))
    projects = _projects(check, top.get("projects"))
    history = _history(check, top.get("history"))
    state = _state(check, top.get("state"))
    discovery = _discovery(check, top.get("discovery"))
    if repositories == () and projects == () and discovery is not None and not discovery.projects:
        check.add("", "no targets: repositories, projects and discovery.projects are all empty")
    # A part is None only after its problem was recorded; checking both also satisfies the type checker.
    if check.problems or endpoints is None or auth is None or poll is None:
        raise ConfigError(source, check.problems)
    if repositories is None or projects is None or history is None or state is None or discovery is None:
        raise ConfigError(source, check.problems)
    return Config(region, endpoints, auth, poll, repositories, projects, history, state, discovery)


# --- reading values -------------------------------------------------------------------------------------


class _Got(NamedTuple):
    """A scalar after `${VAR}` expansion, and how to show it in a message without leaking it."""

    value: object
    shown: str


class _Expansion(NamedTuple):
    text: str
    unset: tuple[str, ...]
    malformed: bool
    from_env: bool


class _Checker:
    """Gathers problems while reading values; expands `${VAR}` in each string it reads."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}" if path else message)

    def scalar(self, path: str, raw: object) -> _Got | None:
        """Expand a string scalar (other values pass through); None if a reference could not be expanded."""
        if not isinstance(raw, str):
            return _Got(raw, _describe(raw))
        result = _expand(raw, self.env)
        for name in result.unset:
            self.add(path, f"environment variable {name} is not set")
        if result.malformed:
            self.add(path, "invalid environment reference (expected ${NAME} or ${NAME:-default}; $$ is a $)")
        if result.unset or result.malformed:
            return None
        if result.from_env:
            return _Got(result.text, f"{_describe(raw)} (value from the environment not shown)")
        return _Got(result.text, _describe(result.text))

    def section(
        self, path: str, raw: object, keys: tuple[str, ...], *, secret: bool = False
    ) -> dict[str, object] | None:
        """A mapping restricted to `keys` (unknown keys reported, null values dropped); None if not a mapping."""
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            where = "" if path else " at the top level"
            got = "" if secret else f", got {_describe(raw)}"
            self.add(path, f"expected a mapping{where} (keys: {', '.join(keys)}){got}")
            return None
        for key in raw:
            if key not in keys:
                self._unknown_key(path, key, keys)
        return {key: value for key, value in raw.items() if key in keys and value is not None}

    def _unknown_key(self, path: str, key: object, keys: tuple[str, ...]) -> None:
        expected = f"(expected one of: {', '.join(keys)})"
        if isinstance(key, str) and not _SHOWABLE_KEY.fullmatch(key):
            # `token:abc` without a space after the colon parses as a key: it may be a secret.
            self.add(path, f"unknown key with unusual characters (name not shown; expected one of: {', '.join(keys)})")
        elif path:
            self.add(f"{path}.{key}", f"unknown key {expected}")
        else:
            self.add("", f"unknown key {_describe(key)} {expected}")

    def items(self, path: str, raw: object) -> list[object] | None:
        """A list (null is empty); None if not a list."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.add(path, f"expected a list, got {_describe(raw)}")
            return None
        return raw


def _expand(text: str, env: Mapping[str, str]) -> _Expansion:
    """Expand `${NAME}`, `${NAME:-default}` (default when unset or empty) and `$$`, in one pass."""
    unset: list[str] = []
    malformed = False
    from_env = False

    def replace(match: re.Match[str]) -> str:
        nonlocal malformed, from_env
        if match["dollar"]:
            return "$"
        if match["bad"]:
            malformed = True
            return ""
        name, default = match["name"], match["default"]
        value = env.get(name)
        if value is not None and (value or default is None):
            from_env = from_env or bool(value)
            return value
        if default is not None:
            return default
        if name not in unset:
            unset.append(name)
        return ""

    expanded = _ENV_REFERENCE.sub(replace, text)
    return _Expansion(expanded, tuple(unset), malformed, from_env)


def _string(
    check: _Checker,
    path: str,
    raw: object,
    *,
    secret: bool = False,
    pattern: re.Pattern[str] | None = None,
    expected: str = "a non-empty string",
) -> str | None:
    """A required string field: non-empty, matching `pattern` if given; the value is not shown if `secret`."""
    if raw is None:
        check.add(path, "required")
        return None
    got = check.scalar(path, raw)
    if got is None:
        return None
    value = got.value
    if not isinstance(value, str) or not value or (pattern is not None and not pattern.fullmatch(value)):
        check.add(path, f"expected {expected}" if secret else f"expected {expected}, got {got.shown}")
        return None
    return value


def _secret(check: _Checker, path: str, raw: object, *, header_safe: bool) -> Secret | None:
    """A secret string; with `header_safe`, only printable ASCII without spaces is accepted."""
    value = _string(check, path, raw, secret=True)
    if value is None:
        return None
    if header_safe and not _HEADER_SAFE.fullmatch(value):
        check.add(path, "must contain only printable ASCII characters, without spaces or line breaks")
        return None
    return Secret(value)


def _integer(check: _Checker, path: str, raw: object, low: int, high: int, default: int | None = None) -> int | None:
    """An integer in low..high; a string of digits (e.g. from `${VAR}`) is accepted, a boolean is not."""
    if raw is None:
        if default is None:
            check.add(path, "required")
        return default
    got = check.scalar(path, raw)
    if got is None:
        return None
    number = _as_int(got.value)
    if number is None or not low <= number <= high:
        check.add(path, f"expected an integer {low}..{high}, got {got.shown}")
        return None
    return number


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and (match := _DIGITS.fullmatch(value)):
        return int(match[1])
    return None


def _seconds(check: _Checker, path: str, raw: object, default: float) -> tuple[float, str] | None:
    """A positive, finite number of seconds (int, float or numeric string), and how to show it."""
    if raw is None:
        return default, f"{default:g} (the default)"
    got = check.scalar(path, raw)
    if got is None:
        return None
    number = _as_float(got.value)
    if number is None or number <= 0:
        check.add(path, f"expected a number > 0, got {got.shown}")
        return None
    return number, got.shown


def _as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _url(check: _Checker, path: str, raw: object) -> str | None:
    """An http(s) base URL with a host, no credentials, query or fragment; a trailing `/` is dropped."""
    got = check.scalar(path, raw)
    if got is None:
        return None
    parts = _split_url(got.value)
    if parts is not None and "@" in parts.netloc:
        check.add(path, "expected a URL without user name or password")  # not shown: it holds a credential
        return None
    if parts is None or not _is_base_url(parts):
        check.add(path, f"expected an http:// or https:// URL without query or fragment, got {got.shown}")
        return None
    return parts.geturl().rstrip("/")


def _split_url(value: object) -> SplitResult | None:
    if not isinstance(value, str) or any(char.isspace() for char in value):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- evaluated for its ValueError on a malformed port
    except ValueError:
        return None
    return parts


def _is_base_url(parts: SplitResult) -> bool:
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not (parts.query or parts.fragment)


def _existing_file(check: _Checker, path: str, raw: object) -> str | None:
    """A path to a readable regular file; it is opened to prove access but not read (that happens at runtime)."""
    got = check.scalar(path, raw)
    if got is None:
        return None
    value = got.value
    if not isinstance(value, str) or not value:
        check.add(path, f"expected a file path, got {got.shown}")
        return None
    reason = _unreadable_reason(value)
    if reason is not None:
        check.add(path, f"cannot read file {got.shown}: {reason}")
        return None
    return value


def _unreadable_reason(path: str) -> str | None:
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            return os.strerror(errno.EISDIR)
        if not stat.S_ISREG(mode):
            return "not a regular file"
        with open(path, "rb"):
            pass
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def _exactly_one(check: _Checker, path: str, section: Mapping[str, object], names: tuple[str, ...]) -> str | None:
    """Which one of the mutually exclusive keys `names` is given; None (and a problem) for none or several."""
    given = [name for name in names if name in section]
    if not given:
        check.add(path, f"required (one of: {', '.join(names)})")
        return None
    if len(given) > 1:
        check.add(path, f"{_and(given)} are mutually exclusive (give exactly one)")
        return None
    return given[0]


# --- sections -------------------------------------------------------------------------------------------


def _uses_password(raw_auth: object) -> bool:
    return isinstance(raw_auth, Mapping) and raw_auth.get("password") is not None


def _region_and_endpoints(
    check: _Checker, top: Mapping[str, object], *, needs_iam: bool
) -> tuple[str | None, Endpoints | None]:
    """The region and the endpoints, each endpoint defaulting from the region unless given explicitly."""
    region, region_shown, region_ok = _region(check, top.get("region"))
    section = check.section("endpoints", top.get("endpoints"), ENDPOINT_KEYS)
    if section is None:
        return region, None
    explicit = {name: _url(check, f"endpoints.{name}", raw) for name, raw in section.items()}
    defaults = endpoints_for(region) if region is not None else None
    needed = ENDPOINT_KEYS if needs_iam else ENDPOINT_KEYS[:2]
    missing = [f"endpoints.{name}" for name in needed if name not in explicit]
    if missing and defaults is None:
        if region_ok:  # otherwise the region's own problem says it all
            _report_region(check, region_shown, missing)
        return region, None
    chosen = {name: explicit[name] if name in explicit else getattr(defaults, name, None) for name in ENDPOINT_KEYS}
    repo, build, iam = chosen["repo"], chosen["build"], chosen["iam"]
    if repo is None or build is None:
        return region, None
    return region, Endpoints(repo=repo, build=build, iam=iam)


def _region(check: _Checker, raw: object) -> tuple[str | None, str | None, bool]:
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


def _report_region(check: _Checker, region_shown: str | None, missing: list[str]) -> None:
    verb = "is" if len(missing) == 1 else "are"
    if region_shown is None:
        check.add("region", f"required unless {_and(missing)} {verb} given")
    else:
        check.add(
            "region",
            f"unknown region {region_shown}; give {_and(missing)} explicitly "
            f"or use a known region ({', '.join(sorted(REGIONS))})",
        )


def _auth(check: _Checker, raw: object) -> Auth | None:
    """Exactly one of the token, password and aksk modes."""
    section = check.section("auth", raw, AUTH_MODES, secret=True)  # a non-mapping may be a pasted secret
    if section is None:
        return None
    mode = _exactly_one(check, "auth", section, AUTH_MODES)
    if mode is None:
        return None
    if mode == "token":
        token = _secret(check, "auth.token", section["token"], header_safe=True)
        return TokenAuth(token) if token is not None else None
    if mode == "password":
        return _password_auth(check, "auth.password", section["password"])
    return _aksk_auth(check, "auth.aksk", section["aksk"])


def _password_auth(check: _Checker, path: str, raw: object) -> PasswordAuth | None:
    section = check.section(path, raw, PASSWORD_KEYS, secret=True)
    if section is None:
        return None
    before = len(check.problems)
    domain = _string(check, f"{path}.domain", section.get("domain"))
    username = _string(check, f"{path}.username", section.get("username"))
    password, password_file = _secret_or_file(check, path, section, "password", header_safe=False)
    project_id = project_name = None
    scope = _exactly_one(check, path, section, ("project_id", "project_name"))
    if scope == "project_id":
        project_id = _iam_project_id(check, f"{path}.project_id", section["project_id"])
    elif scope == "project_name":
        project_name = _string(check, f"{path}.project_name", section["project_name"])
    if len(check.problems) > before or domain is None or username is None:
        return None
    return PasswordAuth(domain, username, password, password_file, project_id, project_name)


def _aksk_auth(check: _Checker, path: str, raw: object) -> AkSkAuth | None:
    section = check.section(path, raw, AKSK_KEYS, secret=True)
    if section is None:
        return None
    before = len(check.problems)
    ak = _string(
        check, f"{path}.ak", section.get("ak"), pattern=_ACCESS_KEY, expected="an access key id (letters and digits)"
    )
    sk, sk_file = _secret_or_file(check, path, section, "sk", header_safe=True)
    project_id = _iam_project_id(check, f"{path}.project_id", section.get("project_id"))
    if len(check.problems) > before or ak is None or project_id is None:
        return None
    return AkSkAuth(ak, sk, sk_file, project_id)


def _secret_or_file(
    check: _Checker, path: str, section: Mapping[str, object], name: str, *, header_safe: bool
) -> tuple[Secret | None, str | None]:
    """`name` (a secret) or `name_file` (a readable file, read later at runtime): exactly one of them."""
    file_key = f"{name}_file"
    chosen = _exactly_one(check, path, section, (name, file_key))
    if chosen == name:
        return _secret(check, f"{path}.{name}", section[name], header_safe=header_safe), None
    if chosen == file_key:
        return None, _existing_file(check, f"{path}.{file_key}", section[file_key])
    return None, None


def _iam_project_id(check: _Checker, path: str, raw: object) -> str | None:
    return _string(
        check, path, raw, pattern=_IAM_PROJECT_ID, expected='an IAM project id (letters, digits, "-" and "_")'
    )


def _poll(check: _Checker, raw: object) -> PollConfig | None:
    section = check.section("poll", raw, POLL_KEYS)
    if section is None:
        return None
    defaults = PollConfig()
    interval = _seconds(check, "poll.interval_seconds", section.get("interval_seconds"), defaults.interval_seconds)
    timeout = _seconds(check, "poll.timeout_seconds", section.get("timeout_seconds"), defaults.timeout_seconds)
    concurrency = _integer(
        check, "poll.concurrency", section.get("concurrency"), 1, MAX_CONCURRENCY, defaults.concurrency
    )
    rate_limit = _rate_limit(check, section.get("rate_limit"))
    grace = _non_negative(check, "poll.job_grace_seconds", section.get("job_grace_seconds"), defaults.job_grace_seconds)
    max_backoff = _seconds(check, "poll.max_backoff_seconds", section.get("max_backoff_seconds"),
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


def _rate_limit(check: _Checker, raw: object) -> RateLimitConfig | None:
    section = check.section("poll.rate_limit", raw, RATE_LIMIT_KEYS)
    if section is None:
        return None
    defaults = RateLimitConfig()
    rates = {api: _rate(check, f"poll.rate_limit.{api}", section.get(api), getattr(defaults, api))
             for api in ("repo", "build", "iam")}
    burst = _integer(check, "poll.rate_limit.burst", section.get("burst"), 1, MAX_BURST, defaults.burst)
    if burst is None or None in rates.values():
        return None
    return RateLimitConfig(rates["repo"], rates["build"], rates["iam"], burst)  # type: ignore[arg-type]


def _rate(check: _Checker, path: str, raw: object, default: float) -> float | None:
    """Requests per second: a finite number > 0 and at most MAX_RATE."""
    if raw is None:
        return default
    got = check.scalar(path, raw)
    if got is None:
        return None
    number = _as_float(got.value)
    if number is None or not 0 < number <= MAX_RATE:
        check.add(path, f"expected requests per second, a number > 0 and <= {MAX_RATE:g}, got {got.shown}")
        return None
    return number


def _non_negative(check: _Checker, path: str, raw: object, default: float) -> float | None:
    """A finite number of seconds >= 0."""
    if raw is None:
        return default
    got = check.scalar(path, raw)
    if got is None:
        return None
    number = _as_float(got.value)
    if number is None or number < 0:
        check.add(path, f"expected a number >= 0, got {got.shown}")
        return None
    return number


def _repositories(check: _Checker, raw: object) -> tuple[RepositoryTarget, ...] | None:
    items = check.items("repositories", raw)
    if items is None:
        return None
    targets: list[RepositoryTarget] = []
    first_path: dict[int, str] = {}
    for index, item in enumerate(items):
        path = f"repositories[{index}]"
        section = check.section(path, item, REPOSITORY_KEYS)
        if section is None:
            continue
        repo_id = _integer(check, f"{path}.id", section.get("id"), 1, MAX_ID)
        if repo_id is not None and _is_duplicate(check, f"{path}.id", repo_id, first_path):
            repo_id = None
        before = len(check.problems)
        discover = _merge_request_discovery(check, path, section)
        if "discover" in section and "pipelines" not in section:
            pipelines: tuple[int, ...] | None = ()
        else:
            pipelines = _pipelines(check, f"{path}.pipelines", section.get("pipelines"))
        if repo_id is not None and pipelines is not None and len(check.problems) == before:
            targets.append(RepositoryTarget(repo_id, pipelines, discover))
    return tuple(targets) if len(targets) == len(items) else None


def _merge_request_discovery(check: _Checker, path: str, section: Mapping[str, object],
                             required: bool = False) -> MergeRequestDiscovery | None:
    """``discover: merge_requests`` and its bounds; None (no problem) when ``discover`` is absent and not
    ``required``; the bounds without ``discover`` are a problem."""
    if "discover" not in section and not required:
        for key in ("max_pipelines", "pipeline_retention_seconds"):
            if key in section:
                check.add(f"{path}.{key}", "only with discover: merge_requests")
        return None
    mode_ok = True
    if "discover" in section:
        got = check.scalar(f"{path}.discover", section["discover"])
        mode_ok = got is not None and got.value in DISCOVER_MODES
        if got is not None and not mode_ok:
            check.add(f"{path}.discover", f"expected one of {', '.join(DISCOVER_MODES)}, got {got.shown}")
    # The bounds are checked even when the mode is wrong, so one run names every problem of the entry.
    defaults = MergeRequestDiscovery()
    most = _integer(check, f"{path}.max_pipelines", section.get("max_pipelines"), 1, MAX_PIPELINES,
                    defaults.max_pipelines)
    retention = _non_negative(check, f"{path}.pipeline_retention_seconds", section.get("pipeline_retention_seconds"),
                              defaults.retention_seconds)
    if not mode_ok or most is None or retention is None:
        return None
    return MergeRequestDiscovery(most, retention)


def _discovery(check: _Checker, raw: object) -> DiscoveryConfig | None:
    section = check.section("discovery", raw, DISCOVERY_KEYS)
    if section is None:
        return None
    defaults = DiscoveryConfig()
    interval = _seconds(check, "discovery.interval_seconds", section.get("interval_seconds"), defaults.interval_seconds)
    items = check.items("discovery.projects", section.get("projects"))
    if items is None:
        return None
    projects: list[ProjectDiscovery] = []
    first_path: dict[str, str] = {}
    for index, item in enumerate(items):
        path = f"discovery.projects[{index}]"
        entry = check.section(path, item, DISCOVERY_PROJECT_KEYS)
        if entry is None:
            continue
        before = len(check.problems)
        project_id = _string(check, f"{path}.project_id", entry.get("project_id"), pattern=_CODEARTS_PROJECT_ID,
                             expected="a CodeArts project id (32 letters and digits)")
        if project_id is not None:
            _is_duplicate(check, f"{path}.project_id", project_id, first_path)
        include = _patterns(check, f"{path}.include", entry.get("include"))
        exclude = _patterns(check, f"{path}.exclude", entry.get("exclude"))
        discover = _merge_request_discovery(check, path, entry, required=True)
        if len(check.problems) == before and project_id is not None and include is not None \
                and exclude is not None and discover is not None:
            projects.append(ProjectDiscovery(project_id, include, exclude, discover))
    if interval is None or len(projects) != len(items):
        return None
    return DiscoveryConfig(interval[0], tuple(projects))


def _patterns(check: _Checker, path: str, raw: object) -> tuple[re.Pattern[str], ...] | None:
    """A list of regular expressions (Python syntax); each one that does not compile is named."""
    items = check.items(path, raw)
    if items is None:
        return None
    patterns: list[re.Pattern[str]] = []
    for index, item in enumerate(items):
        got = check.scalar(f"{path}[{index}]", item)
        if got is None:
            continue
        if not isinstance(got.value, str) or not got.value:
            check.add(f"{path}[{index}]", f"expected a regular expression, got {got.shown}")
            continue
        try:
            patterns.append(re.compile(got.value))
        except re.error as err:
            check.add(f"{path}[{index}]", f"invalid regular expression {got.shown}: {err}")
    return tuple(patterns) if len(patterns) == len(items) else None


def _pipelines(check: _Checker, path: str, raw: object) -> tuple[int, ...] | None:
    expected = f"expected a non-empty list of integers 1..{MAX_ID}"
    if raw is None:
        check.add(path, "required")
        return None
    if not isinstance(raw, list) or not raw:
        check.add(path, f"{expected}, got {_describe(raw)}")
        return None
    ids: list[int] = []
    first_path: dict[int, str] = {}
    for index, item in enumerate(raw):
        pipeline = _integer(check, f"{path}[{index}]", item, 1, MAX_ID)
        if pipeline is not None and not _is_duplicate(check, f"{path}[{index}]", pipeline, first_path):
            ids.append(pipeline)
    return tuple(ids) if len(ids) == len(raw) else None


def _projects(check: _Checker, raw: object) -> tuple[ProjectTarget, ...] | None:
    items = check.items("projects", raw)
    if items is None:
        return None
    targets: list[ProjectTarget] = []
    first_path: dict[str, str] = {}
    for index, item in enumerate(items):
        path = f"projects[{index}]"
        section = check.section(path, item, PROJECT_KEYS)
        if section is None:
            continue
        project_id = _string(
            check,
            f"{path}.id",
            section.get("id"),
            pattern=_CODEARTS_PROJECT_ID,
            expected="a CodeArts project id (32 letters and digits)",
        )
        if project_id is not None and not _is_duplicate(check, f"{path}.id", project_id, first_path):
            targets.append(ProjectTarget(project_id))
    return tuple(targets) if len(targets) == len(items) else None


def _history(check: _Checker, raw: object) -> HistoryConfig | None:
    section = check.section("history", raw, HISTORY_KEYS)
    if section is None:
        return None
    defaults = HistoryConfig()
    before = len(check.problems)
    enabled = _boolean(check, "history.enabled", section.get("enabled"), defaults.enabled)
    api = defaults.api
    if "api" in section:
        got = check.scalar("history.api", section["api"])
        if got is not None and got.value not in HISTORY_APIS:
            check.add("history.api", f"expected one of {', '.join(HISTORY_APIS)}, got {got.shown}")
        elif got is not None:
            api = str(got.value)
    buckets = _buckets(check, "history.buckets", section.get("buckets"), defaults.buckets)
    queued = _buckets(check, "history.queued_buckets", section.get("queued_buckets"), defaults.queued_buckets)
    max_pages = _integer(check, "history.max_pages", section.get("max_pages"), 1, MAX_HISTORY_PAGES,
                         defaults.max_pages)
    per_cycle = None
    if section.get("max_requests_per_cycle") is not None:
        per_cycle = _integer(check, "history.max_requests_per_cycle", section["max_requests_per_cycle"], 1,
                             MAX_HISTORY_REQUESTS_PER_CYCLE)
    if len(check.problems) > before or buckets is None or queued is None or max_pages is None:
        return None
    return HistoryConfig(enabled, api, buckets, queued, max_pages, per_cycle)


def _boolean(check: _Checker, path: str, raw: object, default: bool) -> bool:
    if raw is None:
        return default
    got = check.scalar(path, raw)
    value = None if got is None else got.value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        value = value.strip().lower() == "true"
    if not isinstance(value, bool):
        if got is not None:
            check.add(path, f"expected true or false, got {got.shown}")
        return default
    return value


def _buckets(check: _Checker, path: str, raw: object, default: tuple[float, ...]) -> tuple[float, ...] | None:
    """Histogram bucket bounds: 1..50 finite numbers > 0 in strictly increasing order."""
    if raw is None:
        return default
    expected = f"expected a list of 1..{MAX_BUCKETS} increasing numbers > 0 (seconds)"
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_BUCKETS:
        check.add(path, f"{expected}, got {_describe(raw)}")
        return None
    bounds: list[float] = []
    for index, item in enumerate(raw):
        got = check.scalar(f"{path}[{index}]", item)
        number = None if got is None else _as_float(got.value)
        if got is not None and (number is None or number <= 0 or (bounds and number <= bounds[-1])):
            check.add(f"{path}[{index}]", f"{expected}, got {got.shown}")
            return None
        if number is None:
            return None
        bounds.append(number)
    return tuple(bounds)


def _state(check: _Checker, raw: object) -> StateConfig | None:
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


def _is_duplicate(check: _Checker, path: str, key: _Key, first_path: dict[_Key, str]) -> bool:
    """Report `key` at `path` if an earlier entry had it (the message names that entry, not the value)."""
    if key in first_path:
        check.add(path, f"duplicate of {first_path[key]}")
        return True
    first_path[key] = path
    return False


# --- messages -------------------------------------------------------------------------------------------


def _describe(value: object) -> str:
    """A short, one-line rendering of a YAML value for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if len(value) > _MAX_SHOWN_CHARS:
            value = value[: _MAX_SHOWN_CHARS - 3] + "..."
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, Mapping):
        return "a mapping" if value else "an empty mapping"
    return f"a {type(value).__name__}"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error.

    Plain ``safe_load`` keeps the last value silently, so a second ``poll:`` block would quietly
    replace the first.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:  # type: ignore[override]
        seen: dict[object, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: the base class reports it
                break
            if first is not key_node.start_mark:
                name = f'"{key}"' if isinstance(key, str) and _SHOWABLE_KEY.fullmatch(key) else "(name not shown)"
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {name} (first at line {first.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> object:
    """Parse YAML like ``yaml.safe_load``, but reject a key repeated within one mapping."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def yaml_problem(err: yaml.YAMLError) -> str:
    """Describe a YAML error by position and cause only (its str() would quote the file's lines)."""
    if not isinstance(err, yaml.MarkedYAMLError):
        return f"YAML error: {_one_line(str(err))}"
    mark = err.problem_mark or err.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    kind = "YAML error" if isinstance(err, yaml.constructor.ConstructorError) else "YAML syntax error"
    message = f"{kind}{where}: {err.problem or err.context}"
    if err.context and err.problem:
        context_mark = err.context_mark
        at = f" at line {context_mark.line + 1}, column {context_mark.column + 1}" if context_mark else ""
        message += f" ({err.context}{at})"
    return message
