"""A source the core has never heard of, registered from tests/: its section, targets, shards and families."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from exporter import registry
from exporter.config import ConfigError, load_config
from exporter.poller import Poller, PollerSettings
from exporter.ratelimit import RateLimits
from exporter.sharding import ShardSpec
from exporter.snapshot import Target
from exporter.stats import RequestStats
from exporter.wiring import Exporter

from .conftest import parse_samples, write_config
from .toysource import SOURCE

BOXES = {"red": {"car": 3, "ball": 1.5}, "blue": {"kite": 7}, "green": {}, "amber": {"yoyo": 2, "top": 4},
         "plum": {"train": 12}, "teal": {"drum": 5}}
ROOT = Path(__file__).resolve().parent.parent


class BoxServer:
    """A loopback HTTP server answering ``GET /boxes/{name}`` with the box's toys, counting requests."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                name = self.path.split("?", 1)[0].removeprefix("/boxes/")
                owner.requests[name] += 1
                first_page = "page=0" in self.path
                toys = [{"id": toy, "size": size} for toy, size in BOXES.get(name, {}).items()] if first_page else []
                body = json.dumps(toys).encode()
                self.send_response(200 if name in BOXES else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def toys() -> Iterator[BoxServer]:
    registry.register(SOURCE)
    server = BoxServer()
    yield server
    server.close()
    registry.unregister(SOURCE.name)


def toy_config(tmp_path: Path, body: str) -> Path:
    return write_config(tmp_path / "c.yaml", "http://127.0.0.1:9", extra=body)


def test_the_toy_section_is_validated_with_every_problem_named(toys, tmp_path):
    path = toy_config(tmp_path, f"toys:\n  url: {toys.url}\n  boxes: [red, B0X]\n  max_items: 0\n  colour: x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == (
        "toys.colour: unknown key (expected one of: url, boxes, max_items)",
        'toys.boxes[1]: expected a box name (a-z), got "B0X"',
        "toys.max_items: expected an integer 1..100, got 0",
    )


def test_without_the_toy_source_its_section_is_an_unknown_key(tmp_path):
    path = toy_config(tmp_path, "toys:\n  url: http://127.0.0.1:9\n  boxes: [red]\n")
    with pytest.raises(ConfigError, match=r'unknown key "toys" \(expected one of: region, endpoints'):
        load_config(path)


def test_toy_targets_are_polled_sharded_and_served(toys, tmp_path):
    boxes = ", ".join(BOXES)
    config = load_config(toy_config(tmp_path, f"toys:\n  url: {toys.url}\n  boxes: [{boxes}]\n"))
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
    assert all(toys.requests[box] == 1 for box in BOXES)  # each box polled once, by its shard


def test_a_target_no_source_handles_fails_at_start(toys):
    with pytest.raises(registry.UnknownSourceError, match="'deploy'"):
        Poller([Target("deploy", "x")], None, PollerSettings(interval=60, concurrency=1),  # type: ignore[arg-type]
               stats=RequestStats(), rate_limits=RateLimits({}))


def test_no_core_module_names_the_toy_source():
    core = [path for path in (ROOT / "exporter").rglob("*.py") if "simulator" not in path.parts]
    assert not [path for path in core if "toy" in path.read_text(encoding="utf-8").lower()]
