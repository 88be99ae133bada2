"""Shared by the Deploy test modules: a World of Deploy projects on a fake clock, its exporter, and the
last-deployment samples the World's ground truth implies."""

from __future__ import annotations

import math
from pathlib import Path

from exporter.config import load_config
from exporter.simulator import World
from exporter.sources.builtin import BUILTIN

from ..conftest import SIM_TOKEN, ClockedRig

T0 = 1_750_000_000.0
P1, P2 = "6ecbc5bac7c8442fb3d2563d53c13582", "72271b5446614062a01b8be944c9f372"
# Written out here, independently of the exporter: Deploy state -> exported status.
STATUS = {"succeeded": "success", "failed": "failed", "timeout": "timedout", "abort": "aborted",
          "not_started": "canceled", "running": "running", "pending": "pending"}
LAST_FAMILIES = ("codearts_deploy_app_last_status", "codearts_deploy_app_last_start_timestamp_seconds",
                 "codearts_deploy_app_last_end_timestamp_seconds", "codearts_deploy_app_last_duration_seconds",
                 "codearts_deploy_app_info")

def deploy_config(path: Path, url: str, projects: list[str], *, auth: list[str] | None = None,
                  extra: str = "") -> Path:
    """A config polling ``projects`` on the simulator's Deploy host (repo and build only named: no region)."""
    lines = [
        "endpoints:", f"  repo: {url}", f"  build: {url}", f"  deploy: {url}", f"  iam: {url}",
        "auth:", *(auth or [f"  token: {SIM_TOKEN}"]),
        "poll:", "  interval_seconds: 60", "  timeout_seconds: 5", "  concurrency: 4",
        "  rate_limit: {deploy: 1000, iam: 1000}",
        "deploy_projects:", *(f"  - id: {project}" for project in projects),
    ]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


class Rig(ClockedRig):
    """A world of Deploy projects on a fake clock, its simulator and an exporter."""

    def __init__(self, tmp_path: Path, simulator_factory, projects: dict[str, int], *, extra: str = "",
                 build_projects: dict[str, int] | None = None) -> None:
        self.now = [T0]
        self.world = World(projects=build_projects, seed=7, clock=lambda: self.now[0], deploy_projects=projects)
        self.service = self.world.deploy_service
        self.sim = simulator_factory(self.world)
        self.config = load_config(deploy_config(tmp_path / "c.yaml", self.sim.url, list(projects), extra=extra),
                                  sources=BUILTIN)
        self.start_exporter(self.config)


def last_truth(rig: Rig, at: float) -> dict:
    """The last-deployment samples the simulator's ground truth implies at ``at`` (times to the second)."""
    at_ms = math.floor(at * 1000)
    expected: dict = {}
    for project in rig.service.projects:
        for app in rig.service.apps(project):
            labels = {"project_id": project, "app_id": app.id, "app": app.name}

            def put(name, value, labels=labels, **more):
                expected[(name, frozenset({**labels, **more}.items()))] = value

            put("codearts_deploy_app_info", 1.0, deploy_system=app.deploy_system)
            truth = rig.service.last(app, at_ms)
            if truth is None:
                put("codearts_deploy_app_last_status", 1.0, status="never")
                continue
            start = truth.start // 1000
            put("codearts_deploy_app_last_status", 1.0, status=STATUS[truth.state])
            put("codearts_deploy_app_last_start_timestamp_seconds", float(start))
            if truth.end is not None:
                put("codearts_deploy_app_last_end_timestamp_seconds", float(truth.end // 1000))
            put("codearts_deploy_app_last_duration_seconds",
                float(truth.end // 1000 - start) if truth.end is not None else at - start)
    return expected


def served(samples: dict, families=LAST_FAMILIES) -> dict:
    return {key: value for key, value in samples.items() if key[0] in families}
