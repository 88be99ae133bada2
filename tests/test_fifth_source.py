"""docs/architecture.md's "Adding a source", checked: a fifth source laid out file for file as the list says
(tests/gadgetsource/), run beside the built-in ones and the toy one with no core edit."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.config import ConfigError, parse_config
from exporter.sharding import ShardSpec
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import SIM_TOKEN, parse_samples
from .gadgetsource.fetch import THROTTLE_CODE
from .gadgetsource.source import SOURCE as GADGET
from .helpers.jsonserver import JsonServer
from .helpers.toyboxes import BOXES, boxes
from .toysource import SOURCE as TOY

ROOT = Path(__file__).resolve().parent.parent
FOLDER = "exporter/sources/deploy/"
TABLE = BUILTIN.plus(TOY, GADGET)
SHELVES = {"lamps": {"l1": 40, "l2": 60}, "radios": {"r1": 5.5}, "busy": {"b1": 1}, "empty": {}}


def listed_files() -> list[tuple[str, bool]]:
    """(path, optional) for each line of the doc's list."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- BEGIN SOURCE FILES -->\n```\n(.*?)```\n<!-- END SOURCE FILES -->", text, re.S)
    assert block, "docs/architecture.md lost its source-file list markers"
    return [(line.split()[0], "optional:" in line) for line in block.group(1).splitlines() if line.strip()]


def test_the_gadget_folder_holds_exactly_the_files_the_doc_lists_for_a_source_folder():
    listed = {path.removeprefix(FOLDER): optional for path, optional in listed_files() if path.startswith(FOLDER)}
    present = {path.name for path in (ROOT / "tests" / "gadgetsource").glob("*.py")}
    assert present <= set(listed), f"not in the doc's list: {sorted(present - set(listed))}"
    assert {name for name, optional in listed.items() if not optional} <= present


def test_outside_its_folder_a_source_is_named_only_where_the_doc_says():
    outside = {path for path, _ in listed_files() if not path.startswith(FOLDER)}
    assert "exporter/sources/builtin.py" in outside and "exporter/simulator/routes/__init__.py" in outside
    for source in BUILTIN:  # each built-in source has the route module the list asks for
        assert (ROOT / "exporter" / "simulator" / "routes" / f"{source.name}.py").is_file(), source.name
    importers = set()
    for path in (ROOT / "exporter").rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and re.fullmatch(r"exporter\.sources\.\w+\.source", node.module or ""):
                folder = "exporter/sources/" + (node.module or "").split(".")[2] + "/"
                if not relative.startswith(folder):
                    importers.add(relative)
    assert importers == {"exporter/sources/builtin.py"}


def shelves(path: str, query: str) -> tuple[int, object]:
    """``GET /v1/shelves/{shelf}/gadgets``; the ``busy`` shelf throttles its first request with its code."""
    if path.startswith("/boxes/"):
        return boxes(path, query)
    shelf = path.removeprefix("/v1/shelves/").removesuffix("/gadgets")
    if shelf == "busy" and not throttled.setdefault(shelf, False):
        throttled[shelf] = True
        return 500, {"error_code": THROTTLE_CODE, "error_msg": "slow down"}
    gadgets = [{"id": name, "watts": watts} for name, watts in SHELVES.get(shelf, {}).items()]
    page = gadgets if "page_no=0" in query else []
    return (200 if shelf in SHELVES else 404), {"gadgets": page, "total": len(gadgets)}


throttled: dict[str, bool] = {}


@pytest.fixture
def upstream() -> Iterator[JsonServer]:
    throttled.clear()
    server = JsonServer(shelves)
    yield server
    server.close()


def config_for(url: str, **extra: object):
    data = {"endpoints": {"repo": url, "build": url, "gadget": url}, "auth": {"token": SIM_TOKEN},
            "toys": {"url": url, "boxes": list(BOXES)}, "gadgets": {"shelves": list(SHELVES)},
            "poll": {"rate_limit": {"gadget": 1000}}, **extra}
    return parse_config(data, {}, sources=TABLE)


def test_a_fifth_source_is_validated_polled_sharded_throttled_and_served_with_no_core_edit(upstream):
    config = config_for(upstream.url)
    served: set[str] = set()
    for index in range(2):
        exporter = Exporter(config, shard=ShardSpec(index, 2))
        try:
            snapshot = exporter.poll_once()
            text = exporter.metrics_text().decode()
        finally:
            exporter.close()
        assert exporter.all_succeeded(snapshot)
        samples = parse_samples(text)
        mine = {state.target.key for state in snapshot.states if state.target.api == "gadget"}
        served |= mine
        for shelf in mine:
            for gadget, watts in SHELVES[shelf].items():
                assert samples[("codearts_gadget_watts", frozenset({("shelf", shelf), ("gadget", gadget)}))] == watts
        if "busy" in mine:  # its first answer was the API's throttle code: retried, and counted as throttling
            assert samples[("codearts_api_throttled_total", frozenset({("api", "gadget")}))] == 1
            assert samples[("codearts_api_retries_total", frozenset({("api", "gadget"), ("reason", "throttled")}))] == 1
        assert f"or the gadget API's HTTP 500 {THROTTLE_CODE})." in text  # the counter's help names it
    assert served == set(SHELVES)


def test_a_fifth_source_adds_its_region_column_and_older_configurations_stay_valid():
    base = {"region": "cn-north-4", "auth": {"token": SIM_TOKEN}, "projects": [{"id": "a" * 32}]}
    config = parse_config({**base, "gadgets": {"shelves": ["lamps"]}}, {}, sources=TABLE)
    assert config.endpoints.url("gadget") == "https://gadget-ext.cn-north-4.myhuaweicloud.com"
    assert config.poll.rate_limit.rate("gadget") == 4.0
    elsewhere = {**base, "region": "cn-east-3"}  # a region its column leaves out
    assert parse_config(elsewhere, {}, sources=TABLE).endpoints.url("gadget") is None  # no shelves: still valid
    with pytest.raises(ConfigError) as caught:
        parse_config({**elsewhere, "gadgets": {"shelves": ["lamps"]}}, {}, sources=TABLE)
    assert caught.value.problems == ("endpoints.gadget: required: region \"cn-east-3\" has no default gadget endpoint",)


def test_no_core_module_names_the_fifth_source():
    assert not [path for path in (ROOT / "exporter").rglob("*.py") if "gadget" in path.read_text(encoding="utf-8")]
