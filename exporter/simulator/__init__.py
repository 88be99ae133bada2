"""The built-in CodeArts simulator: living, deterministic Repo pipeline jobs and Build jobs over real HTTP.

Used by ``codearts-exporter --demo``, the integration tests and the benchmarks::

    world = World.demo(clock=lambda: 1_750_000_000.0)
    with Simulator(world, build_paging="one-repeat") as sim:
        ...  # point a client at sim.url with X-Auth-Token: sim-token
"""

from exporter.simulator.iam import AccessKey, IamService, IamUser
from exporter.simulator.server import (
    BUILD_PAGING_MODES,
    DEFAULT_TOKEN,
    REPO_PAGING_MODES,
    ROUTES,
    Fault,
    RequestRecord,
    Simulator,
)
from exporter.simulator.world import World, generated_project_id

__all__ = [
    "AccessKey",
    "IamService",
    "IamUser",
    "BUILD_PAGING_MODES",
    "DEFAULT_TOKEN",
    "REPO_PAGING_MODES",
    "ROUTES",
    "Fault",
    "RequestRecord",
    "Simulator",
    "World",
    "generated_project_id",
]
