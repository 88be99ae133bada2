"""The TestPlan source's configuration: testplan_projects, and endpoints.testplan needed only when projects are
named (from the region where the CloudTest SDK lists a host; cn-east-2's on .myhuaweicloud.cn)."""

from __future__ import annotations

import pytest

from exporter.config import ConfigError, parse_config
from exporter.sources.builtin import BUILTIN
from exporter.sources.testplan.config import TestPlanProject

PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
OTHER = "72271b5446614062a01b8be944c9f372"
EXPLICIT = {"repo": "http://127.0.0.1:1", "build": "http://127.0.0.1:2"}


def problems_of(data: dict) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, {}, sources=BUILTIN)
    return caught.value.problems


def test_a_configuration_without_testplan_projects_needs_no_testplan_endpoint():
    config = parse_config({"endpoints": EXPLICIT, "auth": {"token": "t"}, "projects": [{"id": PROJECT}]}, {},
                          sources=BUILTIN)
    assert config.endpoints.url("testplan") is None and config.section("testplan") == ()


def test_testplan_projects_need_endpoints_testplan_or_a_region_that_has_one():
    base = {"endpoints": EXPLICIT, "auth": {"token": "t"}, "testplan_projects": [{"id": PROJECT}]}
    assert problems_of(base) == ("region: required unless endpoints.testplan is given",)
    assert problems_of({**base, "endpoints": {}, "region": "tr-west-1"}) == (
        'endpoints.testplan: required: region "tr-west-1" has no default testplan endpoint',)
    explicit = parse_config({**base, "endpoints": {**EXPLICIT, "testplan": "http://127.0.0.1:3/"}}, {}, sources=BUILTIN)
    assert explicit.endpoints.url("testplan") == "http://127.0.0.1:3"


@pytest.mark.parametrize(("region", "host"), [
    ("cn-north-4", "https://cloudtest-ext.cn-north-4.myhuaweicloud.com"),
    ("cn-east-2", "https://cloudtest-ext.cn-east-2.myhuaweicloud.cn"),  # the SDK's one .cn host
    ("ap-southeast-3", "https://cloudtest-ext.ap-southeast-3.myhuaweicloud.com"),
])
def test_the_testplan_endpoint_defaults_from_the_region(region, host):
    config = parse_config({"region": region, "auth": {"token": "t"}, "testplan_projects": [{"id": PROJECT}]}, {},
                          sources=BUILTIN)
    assert config.endpoints.url("testplan") == host


def test_defaults_watch_every_plan_in_execute_and_report_for_30_days():
    config = parse_config({"region": "cn-north-4", "auth": {"token": "t"},
                           "testplan_projects": [{"id": PROJECT},
                                                 {"id": OTHER, "include": ["^release-"], "stages": ["report"],
                                                  "max_age_days": 7}]}, {}, sources=BUILTIN)
    every, release = config.section("testplan")
    assert every == TestPlanProject(PROJECT, (), ("execute", "report"), 30)
    assert every.watches("anything", "execute") and not every.watches("anything", "design")
    assert release.watches("release-2.3", "report") and not release.watches("sprint-4", "report")
    assert not release.watches("release-2.3", "execute") and release.max_age_days == 7
    assert config.poll.rate_limit.rates()["testplan"] == 2.0


def test_each_bad_testplan_value_is_named_with_its_path():
    data = {"region": "cn-north-4", "auth": {"token": "t"},
            "testplan_projects": [{"id": "short", "include": ["("], "stages": ["execute", "done"]},
                                  {"id": PROJECT, "max_age_days": 0}, {"id": OTHER, "stages": []},
                                  {"id": OTHER, "stages": "report", "colour": 1}]}
    assert problems_of(data) == (
        'testplan_projects[0].id: expected a CodeArts project id (32 letters and digits), got "short"',
        'testplan_projects[0].include[0]: invalid regular expression "(": missing ), unterminated subpattern at '
        'position 0',
        'testplan_projects[0].stages[1]: expected one of create, design, execute, report, got "done"',
        'testplan_projects[1].max_age_days: expected an integer 1..3650, got 0',
        'testplan_projects[2].stages: expected a non-empty list of stages (create, design, execute, report)',
        "testplan_projects[3].colour: unknown key (expected one of: id, include, stages, max_age_days)",
        'testplan_projects[3].stages: expected a list, got "report"',
        "testplan_projects[3].id: duplicate of testplan_projects[2].id",
    )
