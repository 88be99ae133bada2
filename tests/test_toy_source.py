"""A source the core has never heard of, registered from tests/: its section, targets, shards and families."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.config import ConfigError, load_config
from exporter.poller import Poller, PollerSettings
from exporter.ratelimit import RateLimits
from exporter.sharding import ShardSpec
from exporter.snapshot import Target
from exporter.sources.builtin import BUILTIN
from exporter.sourcetable import UnknownSourceError
from exporter.stats import RequestStats
from exporter.wiring import Exporter

from .conftest import parse_samples, write_config
from .helpers.jsonserver import JsonServer
from .helpers.toyboxes import BOXES, boxes
from .toysource import SOURCE

ROOT = Path(__file__).resolve().parent.parent
WITH_TOYS = BUILTIN.plus(SOURCE)  # the test's own table: nothing global learns of the toy source


@pytest.fixture
def toys() -> Iterator[JsonServer]:
    server = JsonServer(boxes)
    yield server
    server.close()


def toy_config(tmp_path: Path, body: str) -> Path:
    return write_config(tmp_path / "c.yaml", "http://127.0.0.1:9", extra=body)


def test_the_toy_section_is_validated_with_every_problem_named(toys, tmp_path):
    path = toy_config(tmp_path, f"toys:\n  url: {toys.url}\n  boxes: [red, B0X]\n  max_items: 0\n  colour: x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, sources=WITH_TOYS)
    assert caught.value.problems == (
        "toys.colour: unknown key (expected one of: url, boxes, max_items)",
        'toys.boxes[1]: expected a box name (a-z), got "B0X"',
        "toys.max_items: expected an integer 1..100, got 0",
    )


def test_without_the_toy_source_its_section_is_an_unknown_key(tmp_path):
    path = toy_config(tmp_path, "toys:\n  url: http://127.0.0.1:9\n  boxes: [red]\n")
    with pytest.raises(ConfigError, match=r'unknown key "toys" \(expected one of: region, endpoints'):
        load_config(path, sources=BUILTIN)


def test_toy_targets_are_polled_sharded_and_served(toys, tmp_path):
    boxes = ", ".join(BOXES)
    config = load_config(toy_config(tmp_path, f"toys:\n  url: {toys.url}\n  boxes: [{boxes}]\n"), sources=WITH_TOYS)
    served: dict[int, set[str]] = {}
    for index in range(2):
        exporter = Exporter(config, shard=ShardSpec(index, 2))
        try:
            snapshot = exporter.poll_once()
            samples = parse_samples(exporter.metrics_text().decode())
        finally:
            exporter.close()
        assert exporter.all_succeeded(snapshot)
        served[index] = {state.target.key for state in snapshot.states}
        for box in served[index]:
            assert samples[("codearts_up", frozenset({("api", "toy"), ("target", box)}))] == 1
            assert samples[("codearts_toy_box_items", frozenset({("box", box)}))] == len(BOXES[box])
            for toy, size in BOXES[box].items():
                assert samples[("codearts_toy_item_size", frozenset({("box", box), ("item", toy)}))] == size
        assert not any(name == "codearts_toy_box_items" and dict(labels)["box"] not in served[index]
                       for name, labels in samples)
    assert served[0] | served[1] == set(BOXES) and not served[0] & served[1] and served[0] and served[1]
    assert all(toys.requests[f"/boxes/{box}"] == 1 for box in BOXES)  # each box polled once, by its shard


def test_a_target_no_source_handles_fails_at_start():
    with pytest.raises(UnknownSourceError, match="'nosuchapi'"):
        Poller([Target("nosuchapi", "x")], None, PollerSettings(interval=60, concurrency=1),  # type: ignore[arg-type]
               stats=RequestStats(), rate_limits=RateLimits({}), sources=WITH_TOYS)


def test_no_core_module_names_the_toy_source():
    core = [path for path in (ROOT / "exporter").rglob("*.py") if "simulator" not in path.parts]
    assert not [path for path in core if "toy" in path.read_text(encoding="utf-8").lower()]
