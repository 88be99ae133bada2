"""The baseline of bench/scrape.py: the same poller, served the way prometheus_client serves by default.

A collector on a private registry builds every family from the latest snapshot on each ``collect()``
and ``start_http_server`` renders them on every scrape. Run: ``python bench/_baseline_server.py CONFIG PORT``.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from exporter import __version__
from exporter.auth.factory import build_auth
from exporter.client import CodeArtsClient
from exporter.config import load_config
from exporter.poller import Poller, PollerSettings
from exporter.sources.builtin import BUILTIN
from exporter.stats import RequestStats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the reference rendering lives in tests/
from tests.helpers.reference import live_families, snapshot_families  # noqa: E402


class SnapshotCollector:
    def __init__(self, poller: Poller, stats: RequestStats) -> None:
        self.poller = poller
        self.stats = stats

    def collect(self):
        yield from snapshot_families(self.poller.snapshot, __version__, BUILTIN)
        yield from live_families(self.stats, BUILTIN)


def main(config_path: str, port: int) -> None:
    config = load_config(config_path, sources=BUILTIN)
    stats = RequestStats()
    client = CodeArtsClient(base_urls=dict(config.endpoints.urls),
                            auth=build_auth(config.auth), timeout=config.poll.timeout_seconds, stats=stats,
                            pool_size=config.poll.concurrency)
    # The same poller as the exporter's, without the exposition: nothing is rendered until a scrape.
    targets = [target for source in config.sources for target in source.targets(config.section(source.name))]
    poller = Poller(targets, client, PollerSettings(config.poll.interval_seconds, config.poll.concurrency),
                    stats=stats, rate_limits=client.rate_limits, sources=config.sources)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(poller, stats))
    start_http_server(port, addr="127.0.0.1", registry=registry)
    poller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    poller.stop()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
