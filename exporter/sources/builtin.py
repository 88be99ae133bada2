"""The built-in sources, in body order: the one table the CLI (and the benches and tests) hand down.

Only the entry points import this module: it loads every source, and with them the client. A core module
gets the table from the ``Config`` or from its caller (see :mod:`exporter.sourcetable`).
"""

from __future__ import annotations

from exporter.sources.build.source import SOURCE as BUILD
from exporter.sources.deploy.source import SOURCE as DEPLOY
from exporter.sources.pipeline.source import SOURCE as PIPELINE
from exporter.sources.projectman.source import SOURCE as NAMES
from exporter.sources.repo.source import SOURCE as REPO
from exporter.sources.testplan.source import SOURCE as TESTPLAN
from exporter.sourcetable import SourceTable

__all__ = ["BUILTIN"]

BUILTIN = SourceTable((REPO, BUILD, PIPELINE, DEPLOY, TESTPLAN, NAMES))


if __name__ == "__main__":  # python -m exporter.sources.builtin > table.md: the table of docs/metrics.md
    import sys

    from exporter.metrics import markdown_table

    sys.stdout.write(markdown_table(BUILTIN.specs()))
