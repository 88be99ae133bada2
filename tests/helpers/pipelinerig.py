"""The Pipeline source's rig (simulator, configuration, exporter), shared by its source and history tests."""

from __future__ import annotations

from pathlib import Path

from exporter.config import load_config
from exporter.simulator import World
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from ..conftest import SIM_TOKEN, parse_samples

P1, P2 = "6ecbc5bac7c8442fb3d2563d53c13582", "72271b5446614062a01b8be944c9f372"
T0 = 1_750_000_000.0


def pipeline_config(path: Path, url: str, projects: list[str], *, auth: list[str] | None = None,
                    extra: str = "", legacy: tuple[str, ...] = (), detail: tuple[str, ...] = ()) -> Path:
    """A config polling ``projects`` on the simulator's Pipeline host (repo and build only named: no region)."""
    lines = [
        "endpoints:", f"  repo: {url}", f"  build: {url}", f"  pipeline: {url}", f"  iam: {url}",
        "auth:", *(auth or [f"  token: {SIM_TOKEN}"]),
        "poll:", "  interval_seconds: 60", "  timeout_seconds: 5", "  concurrency: 4",
        "  rate_limit: {pipeline: 1000, iam: 1000}",
        "pipeline_projects:",
    ]
    for project in projects:
        lines += [f"  - id: {project}", "    branches: ['^main$', '^release/']",
                  *(["    legacy: true"] if project in legacy else []),
                  *(["    detail: true"] if project in detail else [])]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


class Rig:
    """A world of Pipeline projects on a fake clock, its simulator and an exporter."""

    def __init__(self, tmp_path: Path, simulator_factory, projects: dict[str, int], *, paging: str = "item",
                 extra: str = "", legacy: tuple[str, ...] = (), detail: tuple[str, ...] = ()) -> None:
        self.now = [T0]
        self.world = World(seed=7, clock=lambda: self.now[0], pipeline_projects=projects, pipeline_paging=paging)
        self.service = self.world.pipeline_service
        self.service.legacy |= set(legacy)  # old-version pipelines, read with the legacy opt-in
        self.sim = simulator_factory(self.world)
        self.config = load_config(pipeline_config(tmp_path / "c.yaml", self.sim.url, list(projects), extra=extra,
                                                  legacy=legacy, detail=detail), sources=BUILTIN)
        self.exporter = Exporter(self.config, clock=lambda: self.now[0])

    def poll(self):
        return self.exporter.poll_once()

    def samples(self) -> dict:
        return parse_samples(self.exporter.metrics_text().decode())

    def close(self) -> None:
        self.exporter.close()
