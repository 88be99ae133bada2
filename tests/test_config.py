"""Configuration loading and validation: exporter.config and exporter.regions."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.config import (
    AkSkAuth,
    Config,
    ConfigError,
    Endpoints,
    PasswordAuth,
    PollConfig,
    Secret,
    TokenAuth,
    default_rate_limits,
    load_config,
    parse_config,
)
from exporter.projectids import WHICH_ID
from exporter.regions import region_table
from exporter.sources.build.config import BuildSection, ProjectTarget
from exporter.sources.builtin import BUILTIN
from exporter.sources.projectman.config import NamesSection
from exporter.sources.repo.config import RepoSection, RepositoryTarget
from exporter.sources.testplan.config import TestPlanProject

CONFFILES = Path(__file__).parent / "conffiles"
EXAMPLE = Path(__file__).parent.parent / "config.example.yaml"
PROJECT_ID = "6ecbc5bac7c8442fb3d2563d53c13582"
IAM_PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
KNOWN_REGIONS = (
    "ap-southeast-3, cn-east-2, cn-east-3, cn-north-1, cn-north-4, cn-south-1, cn-south-2, "
    "cn-southwest-2, eu-west-101, la-north-2, la-south-2, sa-brazil-1, tr-west-1"
)
SECRET = "Zebra-S3cret-4711"  # distinctive, so finding it anywhere in a message is a leak
CONFFILE_ENV = {
    "CODEARTS_TOKEN": "token-from-env",
    "CODEARTS_PASSWORD": "password-from-env",
    "HUAWEICLOUD_SDK_SK": "sk-from-env",
    "POLL_CONCURRENCY": "lots",
}

# One tiny file per invalid case, paired with exactly the problems it must produce.
INVALID_CASES: dict[str, tuple[str, ...]] = {
    "does_not_exist.yaml": ("cannot read file: No such file or directory",),
    "bad_yaml.yaml": (
        "YAML syntax error at line 4, column 2: expected <block end>, but found '<block mapping start>' "
        "(while parsing a block mapping at line 1, column 1)",
    ),
    "empty_file.yaml": ("the configuration is empty",),
    "duplicate_key.yaml": ('YAML error at line 8, column 1: duplicate key "poll" (first at line 2)',),
    "top_level_list.yaml": (
        "expected a mapping at the top level (keys: region, endpoints, auth, poll, repositories, discovery, "
        "projects, build_options, pipeline_projects, pipeline_options, deploy_projects, deploy_options, "
        "testplan_projects, history, state, metrics, dora), got a list",
    ),
    "unknown_top_level_key.yaml": (
        'unknown key "polling" (expected one of: region, endpoints, auth, poll, repositories, discovery, '
        'projects, build_options, pipeline_projects, pipeline_options, deploy_projects, deploy_options, '
        'testplan_projects, history, state, metrics, dora)',
    ),
    "unknown_nested_key.yaml": (
        "poll.intervall_seconds: unknown key (expected one of: interval_seconds, timeout_seconds, concurrency, "
        "rate_limit, job_grace_seconds, max_backoff_seconds)",
    ),
    "wrong_type_section.yaml": (
        "poll: expected a mapping (keys: interval_seconds, timeout_seconds, concurrency, rate_limit, "
        "job_grace_seconds, max_backoff_seconds), got 60",
    ),
    "wrong_type_list.yaml": ("repositories: expected a list, got a mapping",),
    "wrong_type_pipeline.yaml": ('repositories[1].pipelines[0]: expected an integer 1..2147483647, got "six"',),
    "boolean_is_not_integer.yaml": ("repositories[0].pipelines[0]: expected an integer 1..2147483647, got true",),
    "out_of_range_concurrency.yaml": ("poll.concurrency: expected an integer 1..64, got 0",),
    "out_of_range_repository_id.yaml": ("repositories[0].id: expected an integer 1..2147483647, got 2147483648",),
    "negative_interval.yaml": ("poll.interval_seconds: expected a number > 0, got -5",),
    "history_unknown_api.yaml": ('history.api: expected one of auto, brief, v1, v3, got "v2"',),
    "history_buckets_not_increasing.yaml": (
        "history.buckets[2]: expected a list of 1..50 increasing numbers > 0 (seconds), got 30",
    ),
    "history_buckets_not_a_list.yaml": (
        "history.queued_buckets: expected a list of 1..50 increasing numbers > 0 (seconds), got 60",
    ),
    "history_max_pages_out_of_range.yaml": ("history.max_pages: expected an integer 1..100, got 0",),
    "metrics_max_series_out_of_range.yaml": ("metrics.max_series: expected an integer 1000..100000000, got 10",),
    "history_max_requests_per_cycle_out_of_range.yaml": (
        "history.max_requests_per_cycle: expected an integer 1..100000, got 0",
    ),
    "history_enabled_not_boolean.yaml": ('history.enabled: expected true or false, got "maybe"',),
    "state_path_in_missing_directory.yaml": (
        'state.path: directory of "/nonexistent-dir-4711/state.json" does not exist',
    ),
    "state_unknown_key.yaml": ("state.file: unknown key (expected one of: path)",),
    "timeout_not_below_interval.yaml": (
        "poll.timeout_seconds: must be less than poll.interval_seconds (5), got 10 (the default)",
    ),
    "missing_auth.yaml": ("auth: required (one of: token, token_file, password, aksk)",),
    "two_auth_modes.yaml": ("auth: token and aksk are mutually exclusive (give exactly one)",),
    "auth_not_a_mapping.yaml": ("auth: expected a mapping (keys: token, token_file, password, aksk)",),
    "secret_as_key.yaml": (
        "auth: unknown key with unusual characters (name not shown; expected one of: token, token_file, password, "
        "aksk)",
        "auth: required (one of: token, token_file, password, aksk)",
    ),
    "empty_token.yaml": ("auth.token: expected a non-empty string",),
    "token_with_line_break.yaml": (
        "auth.token: must contain only printable ASCII characters, without spaces or line breaks",
    ),
    "password_and_password_file.yaml": (
        "auth.password: password and password_file are mutually exclusive (give exactly one)",
    ),
    "password_without_scope.yaml": ("auth.password: required (one of: project_id, project_name)",),
    "missing_password_file.yaml": (
        'auth.password.password_file: cannot read file "/nonexistent/codearts-password": No such file or directory',
    ),
    "missing_sk_file.yaml": (
        'auth.aksk.sk_file: cannot read file "/nonexistent/codearts-sk": No such file or directory',
    ),
    "aksk_without_project_id.yaml": ("auth.aksk.project_id: required",),
    "iam_project_id_is_a_region.yaml": (
        'auth.password.project_id: "cn-north-4" is a region name, not an IAM project id: give the region\'s IAM '
        f"project id, 32 hex characters (or project_name: cn-north-4) {WHICH_ID}",
    ),
    "iam_project_id_not_hex.yaml": (
        'auth.aksk.project_id: expected an IAM project id, 32 hex characters, got '
        f'"0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9" {WHICH_ID}',
    ),
    "ak_and_ak_file.yaml": ("auth.aksk: ak and ak_file are mutually exclusive (give exactly one)",),
    "missing_token_file.yaml": (
        'auth.token_file: cannot read file "/nonexistent/codearts-token": No such file or directory',
    ),
    "empty_targets.yaml": (
        "no targets: repositories, discovery.projects, projects, pipeline_projects, deploy_projects and "
        "testplan_projects are all empty",
    ),
    "discover_unknown_mode.yaml": (
        'repositories[0].discover: expected one of merge_requests, got "webhooks"',
        "repositories[0].max_pipelines: expected an integer 1..1000, got 0",
    ),
    "discover_bounds_without_discover.yaml": (
        "repositories[0].max_pipelines: only with discover: merge_requests",
    ),
    "discover_max_pipelines_out_of_range.yaml": (
        "repositories[0].max_pipelines: expected an integer 1..1000, got 0",
        "discovery.projects[0].pipeline_retention_seconds: expected a number >= 0, got -1",
    ),
    "build_bad_regex.yaml": (
        'projects[0].exclude[0]: invalid regular expression "nightly-(": '
        "missing ), unterminated subpattern at position 8",
    ),
    "discovery_bad_regex.yaml": (
        'discovery.projects[0].include[1]: invalid regular expression "backend-(": '
        "missing ), unterminated subpattern at position 8",
        'discovery.projects[1].exclude[0]: invalid regular expression "*docs": '
        "nothing to repeat at position 0",
    ),
    "discovery_bad_project.yaml": (
        "discovery.interval_seconds: expected a number > 0, got 0",
        'discovery.projects[0].project_id: expected a CodeArts project id (32 letters and digits), got "web"',
        "discovery.projects[1].include: expected a list, got \"^api-\"",
        "discovery.projects[2].labels: unknown key (expected one of: project_id, include, exclude, discover, "
        "max_pipelines, pipeline_retention_seconds)",
        "discovery.projects[2].project_id: duplicate of discovery.projects[1].project_id",
    ),
    "empty_pipelines.yaml": (
        "repositories[0].pipelines: expected a non-empty list of integers 1..2147483647, got an empty list",
    ),
    "duplicate_repository_ids.yaml": ("repositories[1].id: duplicate of repositories[0].id",),
    "duplicate_pipeline_ids.yaml": ("repositories[0].pipelines[2]: duplicate of repositories[0].pipelines[0]",),
    "duplicate_project_ids.yaml": ("projects[1].id: duplicate of projects[0].id",),
    "bad_project_id.yaml": (
        'projects[0].id: expected a CodeArts project id (32 letters and digits), got "my-project"',
    ),
    "missing_region.yaml": ("region: required unless endpoints.build is given",),
    "unknown_region.yaml": (
        'region: unknown region "mars-north-1"; give endpoints.repo and endpoints.build explicitly '
        f"or use a known region ({KNOWN_REGIONS})",
    ),
    "unknown_region_password_needs_iam.yaml": (
        f'region: unknown region "mars-north-1"; give endpoints.iam explicitly or use a known region ({KNOWN_REGIONS})',
    ),
    "unset_env_var.yaml": ("auth.token: environment variable CODEARTS_TOKEN_UNSET is not set",),
    "malformed_env_reference.yaml": (
        "region: invalid environment reference (expected ${NAME} or ${NAME:-default}; $$ is a $)",
    ),
    "bad_value_from_env.yaml": (
        'poll.concurrency: expected an integer 1..64, got "${POLL_CONCURRENCY}" (value from the environment not shown)',
    ),
    "bad_url.yaml": (
        "endpoints.build: expected an http:// or https:// URL without query or fragment, "
        'got "ftp://cloudbuild-ext.cn-north-4.myhuaweicloud.com"',
    ),
    "url_with_credentials.yaml": ("endpoints.repo: expected a URL without user name or password",),
    "zero_rate_limit.yaml": ("poll.rate_limit.repo: expected requests per second, a number > 0 and <= 1000, got 0",),
    "bad_rate_limits.yaml": (
        'poll.rate_limit.build: expected requests per second, a number > 0 and <= 1000, got "fast"',
        "poll.rate_limit.iam: expected requests per second, a number > 0 and <= 1000, got nan",
        "poll.rate_limit.burst: expected an integer 1..1000, got 0.5",
    ),
    "unknown_rate_limit_key.yaml": (
        "poll.rate_limit.testplans: unknown key"
        " (expected one of: repo, build, pipeline, deploy, testplan, projectman, iam, burst)",
    ),
    "negative_job_grace.yaml": ("poll.job_grace_seconds: expected a number >= 0, got -1",),
    "zero_max_backoff.yaml": ("poll.max_backoff_seconds: expected a number > 0, got 0",),
}


def minimal(**overrides: object) -> dict[str, object]:
    """A valid configuration as parsed YAML, with top-level keys replaced by `overrides` (`...` drops one)."""
    data: dict[str, object] = {
        "region": "cn-north-4",
        "auth": {"token": "${CODEARTS_TOKEN}"},
        "repositories": [{"id": 2111976239, "pipelines": [6, 7]}],
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not ...}


def problems_of(data: object, env: dict[str, str] | None = None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, env if env is not None else CONFFILE_ENV, sources=BUILTIN)
    return caught.value.problems


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- invalid files, each with its exact message -----------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), INVALID_CASES.items(), ids=INVALID_CASES.keys())
def test_invalid_config_file_is_rejected_with_its_exact_message(name: str, expected: tuple[str, ...]) -> None:
    path = CONFFILES / name
    with pytest.raises(ConfigError) as caught:
        load_config(path, CONFFILE_ENV, sources=BUILTIN)
    assert caught.value.problems == expected
    assert str(caught.value) == f"invalid configuration in {path}: {'; '.join(expected)}"


def test_every_conffile_is_paired_with_a_message() -> None:
    on_disk = {path.name for path in CONFFILES.glob("*.yaml")}
    assert on_disk == set(INVALID_CASES) - {"does_not_exist.yaml"}
    assert not (CONFFILES / "does_not_exist.yaml").exists()


def test_directory_as_config_file_is_reported_as_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, CONFFILE_ENV, sources=BUILTIN)
    assert str(caught.value) == f"invalid configuration in {tmp_path}: cannot read file: Is a directory"


def test_non_utf8_config_file_is_reported_as_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"region: cn-north-4\nauth: {token: caf\xe9}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, CONFFILE_ENV, sources=BUILTIN)
    assert caught.value.problems == ("cannot read file: not UTF-8 text (byte 36)",)


def test_parse_config_names_its_source() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(minimal(auth=...), CONFFILE_ENV, source="inline", sources=BUILTIN)
    assert str(caught.value) == ("invalid configuration in inline: auth: required (one of: token, token_file, "
                                 "password, aksk)")


def test_several_problems_are_reported_at_once() -> None:
    data = {
        "region": "cn-north-4",
        "endpoints": {"repo": "ftp://x"},
        "auth": {"password": {"username": "ci-observer", "password": "${NOPE}", "project_id": "bad id"}},
        "poll": {"interval_seconds": 5, "timeout_seconds": 5, "concurrency": 65},
        "repositories": [{"id": 0, "pipelines": [1, "x", 1]}, {"id": 7}],
        "projects": [{"id": PROJECT_ID, "name": "mine"}],
    }
    assert problems_of(data) == (
        'endpoints.repo: expected an http:// or https:// URL without query or fragment, got "ftp://x"',
        "auth.password.domain: required",
        "auth.password.password: environment variable NOPE is not set",
        f'auth.password.project_id: expected an IAM project id, 32 hex characters, got "bad id" {WHICH_ID}',
        "poll.concurrency: expected an integer 1..64, got 65",
        "poll.timeout_seconds: must be less than poll.interval_seconds (5), got 5",
        "repositories[0].id: expected an integer 1..2147483647, got 0",
        'repositories[0].pipelines[1]: expected an integer 1..2147483647, got "x"',
        "repositories[0].pipelines[2]: duplicate of repositories[0].pipelines[0]",
        "repositories[1].pipelines: required",
        "projects[0].name: unknown key (expected one of: id, include, exclude, tests)",
    )


def test_config_error_is_one_line_with_every_problem() -> None:
    err = ConfigError("conf.yaml", ["a: first", "b: second\nline"])
    assert str(err) == "invalid configuration in conf.yaml: a: first; b: second line"
    assert err.problems == ("a: first", "b: second line")


@pytest.mark.parametrize(
    ("pipelines", "expected"),
    [
        (None, "repositories[0].pipelines: required"),
        (6, "repositories[0].pipelines: expected a non-empty list of integers 1..2147483647, got 6"),
        ([6.0], "repositories[0].pipelines[0]: expected an integer 1..2147483647, got 6.0"),
        (["-6"], 'repositories[0].pipelines[0]: expected an integer 1..2147483647, got "-6"'),
        ([False], "repositories[0].pipelines[0]: expected an integer 1..2147483647, got false"),
    ],
)
def test_pipeline_ids_must_be_integers_in_range(pipelines: object, expected: str) -> None:
    assert problems_of(minimal(repositories=[{"id": 1, "pipelines": pipelines}])) == (expected,)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("codehub-ext.cn-north-4.myhuaweicloud.com", 'got "codehub-ext.cn-north-4.myhuaweicloud.com"'),
        ("https://", 'got "https://"'),
        ("http://127.0.0.1:99999", 'got "http://127.0.0.1:99999"'),
        ("https://host/path?x=1", 'got "https://host/path?x=1"'),
        ("https://host /", 'got "https://host /"'),
        (8080, "got 8080"),
    ],
)
def test_endpoints_must_be_http_urls(url: object, expected: str) -> None:
    message = f"endpoints.repo: expected an http:// or https:// URL without query or fragment, {expected}"
    assert problems_of(minimal(endpoints={"repo": url})) == (message,)


def test_file_field_that_is_a_directory_is_rejected(tmp_path: Path) -> None:
    auth = {"aksk": {"ak": "AK123", "sk_file": str(tmp_path), "project_id": IAM_PROJECT_ID}}
    assert problems_of(minimal(auth=auth)) == (f'auth.aksk.sk_file: cannot read file "{tmp_path}": Is a directory',)


def test_unset_variables_are_each_named_once() -> None:
    data = minimal(auth={"token": "${A}-${B}-${A}"})
    assert problems_of(data, {}) == (
        "auth.token: environment variable A is not set",
        "auth.token: environment variable B is not set",
    )


# --- valid configurations -----------------------------------------------------------------------------


def test_minimal_config_gets_defaults_from_region() -> None:
    config = parse_config(minimal(), {"CODEARTS_TOKEN": "t0ken"}, sources=BUILTIN)
    assert config == Config(
        region="cn-north-4",
        endpoints=Endpoints(
            {"repo": "https://codehub-ext.cn-north-4.myhuaweicloud.com",
             "build": "https://cloudbuild-ext.cn-north-4.myhuaweicloud.com",
             "pipeline": "https://cloudpipeline-ext.cn-north-4.myhuaweicloud.com",
             "projectman": "https://projectman-ext.cn-north-4.myhuaweicloud.com",
             "deploy": "https://codearts-deploy.cn-north-4.myhuaweicloud.com",
             "testplan": "https://cloudtest-ext.cn-north-4.myhuaweicloud.com"},
            iam="https://iam.cn-north-4.myhuaweicloud.com",
        ),
        auth=TokenAuth(Secret("t0ken")),
        poll=PollConfig(interval_seconds=60.0, timeout_seconds=10.0, concurrency=4,
                        rate_limit=default_rate_limits(BUILTIN)),
        sources=BUILTIN,
        sections={"repo": RepoSection((RepositoryTarget(2111976239, (6, 7)),)), "build": BuildSection(),
                  "pipeline": (), "deploy": (), "testplan": (),
                  "projectman": NamesSection(repository_ids=(2111976239,), projectman=True)},
    )
    assert isinstance(config.poll.interval_seconds, float)


def test_loopback_endpoints_without_region(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "endpoints:\n"
        "  repo: http://127.0.0.1:8080/\n"
        "  build: http://127.0.0.1:8081/build/\n"
        "auth:\n  token: abc\n"
        f"projects:\n  - id: {PROJECT_ID}\n",
    )
    config = load_config(path, {}, sources=BUILTIN)
    assert config.region is None
    assert config.endpoints == Endpoints({"repo": "http://127.0.0.1:8080", "build": "http://127.0.0.1:8081/build"})
    assert config.section("build") == BuildSection((ProjectTarget(PROJECT_ID),))
    assert config.section("repo").pipeline_targets() == []


def test_unknown_region_is_accepted_when_every_endpoint_is_explicit() -> None:
    endpoints = {"repo": "https://repo.example", "build": "https://build.example"}
    config = parse_config(minimal(region="xx-test-1", endpoints=endpoints), {"CODEARTS_TOKEN": "t"}, sources=BUILTIN)
    assert config.region == "xx-test-1"
    assert config.endpoints == Endpoints({"repo": "https://repo.example", "build": "https://build.example"}, None)


def test_explicit_endpoint_overrides_the_region_default() -> None:
    config = parse_config(minimal(endpoints={"build": "http://localhost:9000"}), {"CODEARTS_TOKEN": "t"},
                          sources=BUILTIN)
    assert config.endpoints.url("build") == "http://localhost:9000"
    assert config.endpoints.url("repo") == "https://codehub-ext.cn-north-4.myhuaweicloud.com"


def test_password_auth_with_password_file(tmp_path: Path) -> None:
    secret_file = write(tmp_path, "not read at load\n", name="password")
    auth = {
        "password": {
            "domain": "my-account",
            "username": "ci-observer",
            "password_file": str(secret_file),
            "project_name": "cn-north-4",
        }
    }
    config = parse_config(minimal(auth=auth), {}, sources=BUILTIN)
    assert config.auth == PasswordAuth("my-account", "ci-observer", None, str(secret_file), None, "cn-north-4")
    assert config.endpoints.iam == "https://iam.cn-north-4.myhuaweicloud.com"


def test_aksk_auth_with_sk_from_environment() -> None:
    auth = {"aksk": {"ak": "HPUAEXAMPLE", "sk": "${SK}", "project_id": IAM_PROJECT_ID}}
    config = parse_config(minimal(auth=auth), {"SK": "the-sk"}, sources=BUILTIN)
    assert config.auth == AkSkAuth("HPUAEXAMPLE", Secret("the-sk"), None, IAM_PROJECT_ID)


def test_aksk_auth_with_both_keys_from_files_and_a_token_from_a_file(tmp_path) -> None:
    ak_file, sk_file = tmp_path / "ak", tmp_path / "sk"
    ak_file.write_text("HPUAEXAMPLE\n")
    sk_file.write_text("the-sk\n")
    auth = {"aksk": {"ak_file": str(ak_file), "sk_file": str(sk_file), "project_id": IAM_PROJECT_ID}}
    config = parse_config(minimal(auth=auth), {}, sources=BUILTIN)
    assert config.auth == AkSkAuth(None, None, str(sk_file), IAM_PROJECT_ID, str(ak_file))
    token = parse_config(minimal(auth={"token_file": str(sk_file)}), {}, sources=BUILTIN)
    assert token.auth == TokenAuth(None, str(sk_file))


def test_null_values_count_as_absent() -> None:
    data = minimal(endpoints={"repo": None}, poll=None, projects=None)
    data["auth"] = {"token": "t", "password": None}
    config = parse_config(data, {}, sources=BUILTIN)
    assert config.poll == PollConfig(rate_limit=default_rate_limits(BUILTIN))
    assert config.endpoints.url("repo") == "https://codehub-ext.cn-north-4.myhuaweicloud.com"


def test_numbers_may_be_strings_as_from_the_environment() -> None:
    data = minimal(
        poll={"interval_seconds": "${INTERVAL}", "timeout_seconds": 0.5, "concurrency": "${CONCURRENCY}"},
        repositories=[{"id": "${REPO_ID}", "pipelines": [" 6 ", 7]}],
    )
    env = {"INTERVAL": "30", "CONCURRENCY": "8", "REPO_ID": "2111976239", "CODEARTS_TOKEN": "t"}
    config = parse_config(data, env, sources=BUILTIN)
    assert config.poll == PollConfig(interval_seconds=30.0, timeout_seconds=0.5, concurrency=8,
                                     rate_limit=default_rate_limits(BUILTIN))
    assert config.section("repo").repositories == (RepositoryTarget(2111976239, (6, 7)),)


def test_pipeline_targets_follow_configuration_order() -> None:
    repositories = [{"id": 5, "pipelines": [3, 1]}, {"id": 2, "pipelines": [9]}]
    config = parse_config(minimal(repositories=repositories), {"CODEARTS_TOKEN": "t"}, sources=BUILTIN)
    assert config.section("repo").pipeline_targets() == [(5, 3), (5, 1), (2, 9)]


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE, {"HUAWEICLOUD_SDK_AK": "EXAMPLEAK", "HUAWEICLOUD_SDK_SK": "example-sk"},
                         sources=BUILTIN)
    assert config.region == "cn-north-4"
    assert config.endpoints == endpoints_for_dataclass("cn-north-4")
    # the mode the README recommends (step 2, "AK/SK first") is the one the example turns on
    assert config.auth == AkSkAuth("EXAMPLEAK", Secret("example-sk"), None, IAM_PROJECT_ID)
    readme = (EXAMPLE.parent / "README.md").read_text()
    assert "Pick the authentication mode: AK/SK first" in readme
    assert config.poll == PollConfig(rate_limit=default_rate_limits(BUILTIN))
    assert config.section("repo").pipeline_targets() == [(2111976239, 6), (2111976239, 7)]
    assert config.section("build") == BuildSection((ProjectTarget(PROJECT_ID),))
    (pipeline_project,) = config.section("pipeline")
    assert pipeline_project.id == PROJECT_ID and pipeline_project.branch_label("release/2.3") == "release/2.3"
    assert pipeline_project.branch_label("feature/x") == "other" and not pipeline_project.legacy
    (deploy_project,) = config.section("deploy")
    assert deploy_project.id == PROJECT_ID and deploy_project.watches("anything")
    (testplan_project,) = config.section("testplan")
    assert testplan_project == TestPlanProject(PROJECT_ID)  # every default: execute and report, 30 days


def endpoints_for_dataclass(region: str) -> Endpoints:
    defaults = BUILTIN.regions()[region]
    return Endpoints({api: url for api, url in defaults.items() if api != "iam"}, defaults["iam"])


def test_config_is_immutable() -> None:
    config = parse_config(minimal(), {"CODEARTS_TOKEN": "t"}, sources=BUILTIN)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.region = "cn-north-1"  # type: ignore[misc]


# --- environment expansion ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "env", "expected"),
    [
        ("${TOKEN}", {"TOKEN": "from-env"}, "from-env"),
        ("${TOKEN:-fallback}", {}, "fallback"),
        ("${TOKEN:-fallback}", {"TOKEN": ""}, "fallback"),
        ("${TOKEN:-fallback}", {"TOKEN": "set"}, "set"),
        ("${TOKEN:-}x", {}, "x"),
        ("pre-${A}-${B:-b}-post", {"A": "a"}, "pre-a-b-post"),
        ("$$literal", {}, "$literal"),
        ("$${TOKEN}", {"TOKEN": "never"}, "${TOKEN}"),
        ("cost$5", {}, "cost$5"),
        ("${TOKEN}", {"TOKEN": "x:{y}#z&*!|>'\""}, "x:{y}#z&*!|>'\""),
    ],
)
def test_environment_references_are_expanded(template: str, env: dict[str, str], expected: str) -> None:
    config = parse_config(minimal(auth={"token": template}), env, sources=BUILTIN)
    assert isinstance(config.auth, TokenAuth)
    assert config.auth.token.reveal() == expected


def test_expansion_happens_after_yaml_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, f"region: ${{REGION}}\nauth:\n  token: ${{T}}\nprojects:\n  - id: {PROJECT_ID}\n")
    config = load_config(path, {"REGION": "cn-north-1", "T": "a:b#c{d}&e*[f]"}, sources=BUILTIN)
    assert config.region == "cn-north-1"
    assert isinstance(config.auth, TokenAuth)
    assert config.auth.token.reveal() == "a:b#c{d}&e*[f]"


def test_environment_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEARTS_TOKEN", "from-os-environ")
    config = parse_config(minimal(), sources=BUILTIN)
    assert isinstance(config.auth, TokenAuth)
    assert config.auth.token.reveal() == "from-os-environ"


@given(st.text(min_size=1))
def test_doubled_dollars_keep_any_text_literal(text: str) -> None:
    endpoints = {"repo": "http://127.0.0.1:1", "build": "http://127.0.0.1:2"}
    config = parse_config(minimal(region=text.replace("$", "$$"), endpoints=endpoints), {"CODEARTS_TOKEN": "t"},
                          sources=BUILTIN)
    assert config.region == text


# --- secrets ------------------------------------------------------------------------------------------


def test_secret_shows_only_stars() -> None:
    secret = Secret(SECRET)
    assert secret.reveal() == SECRET
    assert repr(secret) == "Secret('***')"
    assert str(secret) == "***"
    assert f"{secret} {secret!r}" == "*** Secret('***')"
    assert secret == Secret(SECRET)
    assert secret != Secret("other")
    with pytest.raises(AttributeError):
        secret._value = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    "auth",
    [
        {"token": SECRET},
        {"password": {"domain": "d", "username": "u", "password": SECRET, "project_id": IAM_PROJECT_ID}},
        {"aksk": {"ak": "AK123", "sk": SECRET, "project_id": IAM_PROJECT_ID}},
        {"aksk": {"ak": "AK123", "sk": "${SK}", "project_id": IAM_PROJECT_ID}},
    ],
)
def test_secrets_never_appear_in_the_config_repr(auth: dict[str, object]) -> None:
    config = parse_config(minimal(auth=auth), {"SK": SECRET}, sources=BUILTIN)
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    assert SECRET not in repr(dataclasses.asdict(config))


@pytest.mark.parametrize(
    "data",
    [
        minimal(auth={"token": SECRET}, polling=1),
        minimal(auth={"token": f" {SECRET}\n"}),
        minimal(auth={"token": [SECRET]}),
        minimal(auth=SECRET),
        minimal(auth={"password": SECRET}),
        minimal(auth={"aksk": {"ak": "AK", "sk": {"nested": SECRET}}}),
        minimal(auth={f"token:{SECRET}": None}),
        minimal(endpoints={"repo": f"https://user:{SECRET}@host"}),
        minimal(poll={"concurrency": "${LEAKY}"}),
        minimal(region="${LEAKY}"),
    ],
)
def test_secrets_never_appear_in_error_messages(data: object) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, {"LEAKY": SECRET, "CODEARTS_TOKEN": SECRET}, sources=BUILTIN)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert not any(SECRET in problem for problem in caught.value.problems)


def test_yaml_error_does_not_quote_the_line_holding_a_secret(tmp_path: Path) -> None:
    path = write(tmp_path, f"auth:\n  token: {SECRET}\n   bad: [\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {}, sources=BUILTIN)
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


# --- regions ------------------------------------------------------------------------------------------


def test_region_table_gives_https_hosts_without_trailing_slash() -> None:
    regions = BUILTIN.regions()
    assert regions["cn-north-4"] == {
        "iam": "https://iam.cn-north-4.myhuaweicloud.com",
        "repo": "https://codehub-ext.cn-north-4.myhuaweicloud.com",
        "build": "https://cloudbuild-ext.cn-north-4.myhuaweicloud.com",
        "pipeline": "https://cloudpipeline-ext.cn-north-4.myhuaweicloud.com",
        "projectman": "https://projectman-ext.cn-north-4.myhuaweicloud.com",
        "deploy": "https://codearts-deploy.cn-north-4.myhuaweicloud.com",
        "testplan": "https://cloudtest-ext.cn-north-4.myhuaweicloud.com",
    }
    assert "projectman" not in regions["cn-east-3"]  # not in ProjectMan's SDK table
    assert "deploy" not in regions["cn-south-2"]  # no Deploy host in the SDK
    assert regions["cn-east-2"]["testplan"] == "https://cloudtest-ext.cn-east-2.myhuaweicloud.cn"  # the SDK's .cn
    assert "testplan" not in regions["tr-west-1"]  # no TestPlan host in the SDK
    assert regions["tr-west-1"]["pipeline"] == "https://pipeline-external.tr-west-1.myhuaweicloud.com"
    assert "pipeline" not in regions["eu-west-101"]  # no Pipeline host in the SDK
    assert regions["tr-west-1"]["repo"] == "https://codeartsrepo-ext.tr-west-1.myhuaweicloud.com"
    assert "me-east-1" not in regions  # Repo host known, Build host not
    for region, hosts in regions.items():
        assert {"iam", "repo", "build"} <= set(hosts), region
        for url in hosts.values():
            assert url.startswith("https://") and not url.endswith("/"), (region, url)
            assert region in url, (region, url)


def test_a_source_adds_its_column_to_the_region_table_and_names_only_known_regions() -> None:
    table = region_table({"deploy": {"cn-north-4": "https://deploy.cn-north-4.example"}})
    assert table["cn-north-4"]["deploy"] == "https://deploy.cn-north-4.example" and "deploy" not in table["tr-west-1"]
    with pytest.raises(ValueError, match="the deploy endpoints name regions without an IAM endpoint: mars-1"):
        region_table({"deploy": {"mars-1": "https://deploy.mars-1.example"}})


def test_history_and_state_are_optional_and_parse_into_their_dataclasses(tmp_path: Path) -> None:
    from exporter.config import HistoryConfig, StateConfig

    base = {"region": "cn-north-4", "auth": {"token": "t"}, "projects": [{"id": PROJECT_ID}]}
    config = parse_config(base, sources=BUILTIN)
    assert config.history == HistoryConfig() and config.history.buckets[0] == 30 and config.history.buckets[-1] == 3600
    assert config.state == StateConfig(None)
    config = parse_config({**base, "history": {"enabled": "false", "api": "v3", "buckets": [5, "60", 600.5],
                                               "max_pages": "3", "max_requests_per_cycle": 40},
                           "state": {"path": str(tmp_path / "state.json")}}, sources=BUILTIN)
    assert config.history == HistoryConfig(False, (5.0, 60.0, 600.5), HistoryConfig().queued_buckets, 3, 40)
    assert config.section("build").history_api == "v3"  # the old name of build_options.history_api
    assert HistoryConfig().max_requests_per_cycle is None  # a share of the Build rate limit
    assert config.state == StateConfig(str(tmp_path / "state.json"))


def test_the_metrics_section_is_optional_and_names_only_families_served() -> None:
    from exporter.metricsconfig import MetricsConfig

    base = {"region": "cn-north-4", "auth": {"token": "t"}, "projects": [{"id": PROJECT_ID}]}
    assert parse_config(base, sources=BUILTIN).metrics == MetricsConfig("outcome", frozenset())
    config = parse_config({**base, "metrics": {"run_duration_by": "status", "disabled": [
        "codearts_build_run_queued_seconds", "codearts_build_runs_total"]}}, sources=BUILTIN)
    assert config.metrics == MetricsConfig("status", frozenset({"codearts_build_run_queued_seconds",
                                                                "codearts_build_runs"}))
    with pytest.raises(ConfigError) as caught:
        parse_config({**base, "metrics": {"run_duration_by": "job", "disabled": ["codearts_up", "nope"]}},
                     sources=BUILTIN)
    assert caught.value.problems == (
        'metrics.run_duration_by: expected one of outcome, status, none, got "job"',
        'metrics.disabled[0]: "codearts_up" cannot be disabled',
        'metrics.disabled[1]: expected the name of a family the exporter serves (see docs/metrics.md), got "nope"',
    )


def test_rate_limits_default_below_the_documented_limits_and_accept_fractions() -> None:
    rates = parse_config(minimal(), CONFFILE_ENV, sources=BUILTIN).poll.rate_limit.rates()
    assert rates == {"repo": 8.0, "build": 5.0, "pipeline": 5.0, "deploy": 1.0, "testplan": 2.0, "projectman": 1.0,
                     "iam": 0.2}
    poll = parse_config(minimal(poll={"rate_limit": {"repo": "0.5", "iam": 0.05, "burst": 2},
                                      "job_grace_seconds": 0, "max_backoff_seconds": 120}), CONFFILE_ENV,
                        sources=BUILTIN).poll
    limits = poll.rate_limit
    assert (limits.rate("repo"), limits.rate("build"), limits.rate("iam"), limits.burst) == (0.5, 5.0, 0.05, 2)
    assert (poll.job_grace_seconds, poll.max_backoff_seconds) == (0.0, 120.0)


def test_a_repeated_key_is_an_error_at_any_depth_and_an_odd_key_is_not_shown(tmp_path):
    nested = tmp_path / "nested.yaml"
    nested.write_text("region: cn-north-4\nauth:\n  token: t\nprojects:\n  - id: a\n    id: b\n")
    with pytest.raises(ConfigError, match=re.escape('line 6, column 5: duplicate key "id" (first at line 5)')):
        load_config(nested, sources=BUILTIN)
    odd = tmp_path / "odd.yaml"
    odd.write_text(f"auth: {{token:{SECRET}, token:{SECRET}}}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(odd, sources=BUILTIN)
    assert "duplicate key (name not shown)" in str(raised.value) and SECRET not in str(raised.value)


def test_the_deprecated_history_api_means_what_build_options_history_api_means(caplog) -> None:
    base = {"region": "cn-north-4", "auth": {"token": "t"}, "projects": [{"id": PROJECT_ID}]}
    with caplog.at_level("WARNING"):
        old = parse_config({**base, "history": {"api": "v1", "max_pages": 3}}, {}, sources=BUILTIN)
    assert [record.getMessage() for record in caplog.records] == [
        "history.api is deprecated: write build_options.history_api (same values, same meaning)"]
    caplog.clear()
    new = parse_config({**base, "history": {"max_pages": 3}, "build_options": {"history_api": "v1"}}, {},
                       sources=BUILTIN)
    assert not caplog.records
    assert old == new and old.section("build").history_api == "v1" and old.history.max_pages == 3
    assert parse_config(base, {}, sources=BUILTIN).section("build").history_api == "auto"
    with pytest.raises(ConfigError) as caught:
        parse_config({**base, "history": {"api": "v9"}, "build_options": {"history_api": "v1"}}, {}, sources=BUILTIN)
    assert caught.value.problems == ("history.api: give build_options.history_api only (history.api is its "
                                     "deprecated name)",)
    with pytest.raises(ConfigError) as caught:
        parse_config({**base, "build_options": {"history_api": "v1", "colour": 1}}, {}, sources=BUILTIN)
    assert caught.value.problems == ("build_options.colour: unknown key (expected one of: history_api)",)
    with pytest.raises(ConfigError) as caught:
        parse_config({**base, "build_options": {"history_api": "v2"}}, {}, sources=BUILTIN)
    assert caught.value.problems == ('build_options.history_api: expected one of auto, brief, v1, v3, got "v2"',)
