"""``--demo``: the built-in simulator on a free loopback port and the bundled configuration against it."""

from __future__ import annotations

from importlib.resources import files

from exporter.config import Config, parse_config, parse_yaml
from exporter.simulator import DEFAULT_TOKEN, Simulator, World
from exporter.sourcetable import SourceTable

DEMO_CONFIG = "demo.yaml"


def demo_config(simulator_url: str, sources: SourceTable) -> Config:
    """The bundled demo configuration, pointed at a simulator, for ``sources``."""
    text = files("exporter").joinpath(DEMO_CONFIG).read_text(encoding="utf-8")
    env = {"CODEARTS_DEMO_URL": simulator_url, "CODEARTS_DEMO_TOKEN": DEFAULT_TOKEN}
    return parse_config(parse_yaml(text), env=env, source=f"<bundled {DEMO_CONFIG}>", sources=sources)


def start_demo(sources: SourceTable) -> tuple[Simulator, Config]:
    """Start the demo world's simulator and return it with the configuration that polls it."""
    simulator = Simulator(World.demo(), token=DEFAULT_TOKEN)
    simulator.start()
    return simulator, demo_config(simulator.url, sources)
