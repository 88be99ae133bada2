"""Reading configuration values: the checker that gathers every problem with its path, and the validators
of the value kinds the configuration uses (strings, secrets, integers, seconds, URLs, files, regexes...).

Shared by the loader core (:mod:`exporter.config`) and each source's own section (``exporter.sources.*``),
so every section reports problems the same way: one line per problem, ``path: message``, the value shown
unless it is secret or came from the environment.
"""

from __future__ import annotations

import errno
import hmac
import json
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar
from urllib.parse import SplitResult, urlsplit

import yaml

MAX_BUCKETS = 50
CODEARTS_PROJECT_ID = re.compile(r"[A-Za-z0-9]{32}")
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
_Project = TypeVar("_Project")


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


class Got(NamedTuple):
    """A scalar after `${VAR}` expansion, and how to show it in a message without leaking it."""

    value: object
    shown: str


class _Expansion(NamedTuple):
    text: str
    unset: tuple[str, ...]
    malformed: bool
    from_env: bool


class Checker:
    """Gathers problems while reading values; expands `${VAR}` in each string it reads."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}" if path else message)

    def scalar(self, path: str, raw: object) -> Got | None:
        """Expand a string scalar (other values pass through); None if a reference could not be expanded."""
        if not isinstance(raw, str):
            return Got(raw, describe(raw))
        result = _expand(raw, self.env)
        for name in result.unset:
            self.add(path, f"environment variable {name} is not set")
        if result.malformed:
            self.add(path, "invalid environment reference (expected ${NAME} or ${NAME:-default}; $$ is a $)")
        if result.unset or result.malformed:
            return None
        if result.from_env:
            return Got(result.text, f"{describe(raw)} (value from the environment not shown)")
        return Got(result.text, describe(result.text))

    def section(
        self, path: str, raw: object, keys: tuple[str, ...], *, secret: bool = False
    ) -> dict[str, object] | None:
        """A mapping restricted to `keys` (unknown keys reported, null values dropped); None if not a mapping."""
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            where = "" if path else " at the top level"
            got = "" if secret else f", got {describe(raw)}"
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
            self.add("", f"unknown key {describe(key)} {expected}")

    def items(self, path: str, raw: object) -> list[object] | None:
        """A list (null is empty); None if not a list."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.add(path, f"expected a list, got {describe(raw)}")
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


def string(
    check: Checker,
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


def secret(check: Checker, path: str, raw: object, *, header_safe: bool) -> Secret | None:
    """A secret string; with `header_safe`, only printable ASCII without spaces is accepted."""
    value = string(check, path, raw, secret=True)
    if value is None:
        return None
    if header_safe and not _HEADER_SAFE.fullmatch(value):
        check.add(path, "must contain only printable ASCII characters, without spaces or line breaks")
        return None
    return Secret(value)


def integer(check: Checker, path: str, raw: object, low: int, high: int, default: int | None = None) -> int | None:
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


def seconds(check: Checker, path: str, raw: object, default: float) -> tuple[float, str] | None:
    """A positive, finite number of seconds (int, float or numeric string), and how to show it."""
    if raw is None:
        return default, f"{default:g} (the default)"
    got = check.scalar(path, raw)
    if got is None:
        return None
    number = as_float(got.value)
    if number is None or number <= 0:
        check.add(path, f"expected a number > 0, got {got.shown}")
        return None
    return number, got.shown


def as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def url(check: Checker, path: str, raw: object) -> str | None:
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


def existing_file(check: Checker, path: str, raw: object) -> str | None:
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


def exactly_one(check: Checker, path: str, section: Mapping[str, object], names: tuple[str, ...]) -> str | None:
    """Which one of the mutually exclusive keys `names` is given; None (and a problem) for none or several."""
    given = [name for name in names if name in section]
    if not given:
        check.add(path, f"required (one of: {', '.join(names)})")
        return None
    if len(given) > 1:
        check.add(path, f"{and_list(given)} are mutually exclusive (give exactly one)")
        return None
    return given[0]


def non_negative(check: Checker, path: str, raw: object, default: float) -> float | None:
    """A finite number of seconds >= 0."""
    if raw is None:
        return default
    got = check.scalar(path, raw)
    if got is None:
        return None
    number = as_float(got.value)
    if number is None or number < 0:
        check.add(path, f"expected a number >= 0, got {got.shown}")
        return None
    return number


def patterns(check: Checker, path: str, raw: object) -> tuple[re.Pattern[str], ...] | None:
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


def selected(name: str, include: tuple[re.Pattern[str], ...], exclude: tuple[re.Pattern[str], ...]) -> bool:
    """True if ``name`` matches an ``include`` regex (any name, when there are none) and no ``exclude`` regex
    (``re.search``): the name filter every source's ``include``/``exclude`` keys mean."""
    included = not include or any(pattern.search(name) for pattern in include)
    return included and not any(pattern.search(name) for pattern in exclude)


def boolean(check: Checker, path: str, raw: object, default: bool) -> bool:
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


def buckets(check: Checker, path: str, raw: object, default: tuple[float, ...]) -> tuple[float, ...] | None:
    """Histogram bucket bounds: 1..50 finite numbers > 0 in strictly increasing order."""
    if raw is None:
        return default
    expected = f"expected a list of 1..{MAX_BUCKETS} increasing numbers > 0 (seconds)"
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_BUCKETS:
        check.add(path, f"{expected}, got {describe(raw)}")
        return None
    bounds: list[float] = []
    for index, item in enumerate(raw):
        got = check.scalar(f"{path}[{index}]", item)
        number = None if got is None else as_float(got.value)
        if got is not None and (number is None or number <= 0 or (bounds and number <= bounds[-1])):
            check.add(f"{path}[{index}]", f"{expected}, got {got.shown}")
            return None
        if number is None:
            return None
        bounds.append(number)
    return tuple(bounds)


def is_duplicate(check: Checker, path: str, key: _Key, first_path: dict[_Key, str]) -> bool:
    """Report `key` at `path` if an earlier entry had it (the message names that entry, not the value)."""
    if key in first_path:
        check.add(path, f"duplicate of {first_path[key]}")
        return True
    first_path[key] = path
    return False


def project_list(check: Checker, top: Mapping[str, object], key: str, keys: tuple[str, ...],
                 read: Callable[[str, Mapping[str, Any], str | None], _Project | None]) -> tuple[_Project, ...] | None:
    """The list of CodeArts projects under ``key``: each entry's ``id`` checked (32 letters and digits, listed
    once) and its other keys read by ``read(path, entry, project_id)``, which returns the project or None;
    None when the list or any entry is invalid (every problem recorded with its path, in entry order)."""
    items = check.items(key, top.get(key))
    if items is None:
        return None
    projects: list[_Project] = []
    first_path: dict[str, str] = {}
    for index, item in enumerate(items):
        path = f"{key}[{index}]"
        entry = check.section(path, item, keys)
        if entry is None:
            continue
        before = len(check.problems)
        project_id = string(check, f"{path}.id", entry.get("id"), pattern=CODEARTS_PROJECT_ID,
                            expected="a CodeArts project id (32 letters and digits)")
        project = read(path, entry, project_id)
        if project_id is None or is_duplicate(check, f"{path}.id", project_id, first_path):
            continue
        if len(check.problems) == before and project is not None:
            projects.append(project)
    return tuple(projects) if len(projects) == len(items) else None


def describe(value: object) -> str:
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


def and_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def one_line(text: str) -> str:
    return " ".join(text.splitlines())


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error.

    Plain ``safe_load`` keeps the last value silently, so a second ``poll:`` block would quietly
    replace the first.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
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
        return f"YAML error: {one_line(str(err))}"
    mark = err.problem_mark or err.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    kind = "YAML error" if isinstance(err, yaml.constructor.ConstructorError) else "YAML syntax error"
    message = f"{kind}{where}: {err.problem or err.context}"
    if err.context and err.problem:
        context_mark = err.context_mark
        at = f" at line {context_mark.line + 1}, column {context_mark.column + 1}" if context_mark else ""
        message += f" ({err.context}{at})"
    return message
