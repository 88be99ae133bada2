"""The Pipeline source's configuration: pipeline_projects, pipeline_options, and endpoints.pipeline needed only
when projects are named."""

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


def test_a_configuration_without_pipeline_projects_needs_no_pipeline_endpoint():
    config = parse_config({"endpoints": EXPLICIT, "auth": {"token": "t"}, "projects": [{"id": PROJECT}]}, {},
                          sources=BUILTIN)
    assert config.endpoints.url("pipeline") is None and config.section("pipeline") == ()


def test_pipeline_projects_need_endpoints_pipeline_or_a_region_that_has_one():
    base = {"endpoints": EXPLICIT, "auth": {"token": "t"}, "pipeline_projects": [{"id": PROJECT}]}
    assert problems_of(base) == ("region: required unless endpoints.pipeline is given",)
    assert problems_of({**base, "endpoints": {}, "region": "eu-west-101"}) == (
        'endpoints.pipeline: required: region "eu-west-101" has no default pipeline endpoint',)
    explicit = parse_config({**base, "endpoints": {**EXPLICIT, "pipeline": "http://127.0.0.1:3/"}}, {}, sources=BUILTIN)
    assert explicit.endpoints.url("pipeline") == "http://127.0.0.1:3"
    assert parse_config({**base, "endpoints": {}, "region": "tr-west-1"}, {},
                        sources=BUILTIN).endpoints.url("pipeline") == \
        "https://pipeline-external.tr-west-1.myhuaweicloud.com"


def test_stage_times_are_read_in_the_regions_zone_unless_configured():
    base = {"auth": {"token": "t"}, "pipeline_projects": [{"id": PROJECT}]}
    (cn,) = parse_config({**base, "region": "cn-north-4"}, {}, sources=BUILTIN).section("pipeline")
    (tr,) = parse_config({**base, "region": "tr-west-1"}, {}, sources=BUILTIN).section("pipeline")
    (own,) = parse_config({**base, "region": "cn-north-4", "pipeline_options": {"stage_time_zone": "-05:30"}},
                          {}, sources=BUILTIN).section("pipeline")
    assert [each.zone.utcoffset(None) for each in (cn, tr, own)] == [
        timedelta(hours=8), timedelta(hours=3), -timedelta(hours=5, minutes=30)]


def test_each_bad_pipeline_value_is_named_with_its_path():
    data = {"region": "cn-north-4", "auth": {"token": "t"},
            "pipeline_options": {"stage_time_zone": "Asia/Shanghai"},
            "pipeline_projects": [{"id": "short", "include": ["("], "legacy": "maybe"}, {"id": PROJECT},
                                  {"id": PROJECT, "branches": "main", "colour": 1}]}
    assert problems_of(data) == (
        'pipeline_options.stage_time_zone: expected a UTC offset such as +08:00, got "Asia/Shanghai"',
        'pipeline_projects[0].id: expected a CodeArts project id (32 letters and digits), got "short"',
        'pipeline_projects[0].include[0]: invalid regular expression "(": missing ), unterminated subpattern at '
        'position 0',
        'pipeline_projects[0].legacy: expected true or false, got "maybe"',
        "pipeline_projects[2].colour: unknown key (expected one of: id, include, exclude, branches, legacy, detail)",
        'pipeline_projects[2].branches: expected a list, got "main"',
        "pipeline_projects[2].id: duplicate of pipeline_projects[1].id",
    )
