"""The simulator's route table: every route of every API it fakes, one module per API.

To add an API's routes (say the CodeArts Pipeline service):

1. write ``routes/pipeline.py`` declaring its :class:`~exporter.simulator.routing.Api` (error bodies),
   its :class:`~exporter.simulator.routing.Target` kinds and ``ROUTES: tuple[Route, ...]`` whose handlers
   take a :class:`~exporter.simulator.routing.RequestContext` and return a ``Reply``;
2. add ``*pipeline.ROUTES`` to ``TABLE`` below (and the module to the import).

The server authenticates, checks the method, injects faults and counts requests for every route; a
route module imports :mod:`~exporter.simulator.routing`, never the server.
"""

from __future__ import annotations

from exporter.simulator.routes import build, deploy, iam, pipeline, projectman, repo, testplan
from exporter.simulator.routing import Route

# Matched in order; the first route whose path matches (and that the simulator serves) answers.
TABLE: tuple[Route, ...] = (
    *iam.ROUTES,
    *repo.ROUTES,
    *build.ROUTES,
    *pipeline.ROUTES,
    *projectman.ROUTES,
    *deploy.ROUTES,
    *testplan.ROUTES,
)

__all__ = ["TABLE"]
