"""The Deploy source's configuration: deploy_projects, deploy_options, and endpoints.deploy needed only when
projects are named."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exporter.config import ConfigError, parse_config
from exporter.sources.builtin import BUILTIN

PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
EXPLICIT = {"repo": "http://127.0.0.1:1", "build": "http://127.0.0.1:2"}


def problems_of(data: dict) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, {}, sources=BUILTIN)
    return caught.value.problems


def test_a_configuration_without_deploy_projects_needs_no_deploy_endpoint():
    config = parse_config({"endpoints": EXPLICIT, "auth": {"token": "t"}, "projects": [{"id": PROJECT}]}, {},
                          sources=BUILTIN)
    assert config.endpoints.url("deploy") is None and config.section("deploy") == ()
    assert config.poll.rate_limit.rate("deploy") == 1.0


def test_deploy_projects_need_endpoints_deploy_or_a_region_that_has_one():
    base = {"endpoints": EXPLICIT, "auth": {"token": "t"}, "deploy_projects": [{"id": PROJECT}]}
    assert problems_of(base) == ("region: required unless endpoints.deploy is given",)
    assert problems_of({**base, "endpoints": {}, "region": "cn-south-2"}) == (
        'endpoints.deploy: required: region "cn-south-2" has no default deploy endpoint',)
    explicit = parse_config({**base, "endpoints": {**EXPLICIT, "deploy": "http://127.0.0.1:3/"}}, {},
                            sources=BUILTIN)
    assert explicit.endpoints.url("deploy") == "http://127.0.0.1:3"
    regional = parse_config({**base, "endpoints": {}, "region": "cn-north-4"}, {}, sources=BUILTIN)
    assert regional.endpoints.url("deploy") == "https://codearts-deploy.cn-north-4.myhuaweicloud.com"


def test_times_are_read_in_the_regions_zone_unless_configured():
    base = {"auth": {"token": "t"}, "deploy_projects": [{"id": PROJECT, "include": ["^checkout-"]}]}
    (cn,) = parse_config({**base, "region": "cn-north-4"}, {}, sources=BUILTIN).section("deploy")
    (tr,) = parse_config({**base, "region": "tr-west-1"}, {}, sources=BUILTIN).section("deploy")
    (own,) = parse_config({**base, "region": "cn-north-4", "deploy_options": {"time_zone": "+00:00"}},
                          {}, sources=BUILTIN).section("deploy")
    assert [each.zone.utcoffset(None) for each in (cn, tr, own)] == [
        timedelta(hours=8), timedelta(hours=3), timedelta(0)]
    assert cn.watches("checkout-web") and not cn.watches("payments")


def test_each_bad_deploy_value_is_named_with_its_path():
    data = {"region": "cn-north-4", "auth": {"token": "t"}, "poll": {"rate_limit": {"deploy": 0}},
            "deploy_options": {"time_zone": "Asia/Shanghai", "zone": 1},
            "deploy_projects": [{"id": "short", "include": ["("]}, {"id": PROJECT},
                                {"id": PROJECT, "exclude": "-sandbox$", "branches": []}]}
    assert problems_of(data) == (
        "poll.rate_limit.deploy: expected requests per second, a number > 0 and <= 1000, got 0",
        "deploy_options.zone: unknown key (expected one of: time_zone)",
        'deploy_options.time_zone: expected a UTC offset such as +08:00, got "Asia/Shanghai"',
        'deploy_projects[0].id: expected a CodeArts project id (32 letters and digits), got "short"',
        'deploy_projects[0].include[0]: invalid regular expression "(": missing ), unterminated subpattern at '
        'position 0',
        "deploy_projects[2].branches: unknown key (expected one of: id, include, exclude)",
        'deploy_projects[2].exclude: expected a list, got "-sandbox$"',
        "deploy_projects[2].id: duplicate of deploy_projects[1].id",
    )
