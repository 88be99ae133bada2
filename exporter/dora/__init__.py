"""DORA's four keys computed by the exporter from the runs it already counts once.

- :mod:`exporter.dora.config`: the ``dora:`` section (services and which deployments are theirs);
- :mod:`exporter.dora.ledger`: the counts, streaks and commit times (no I/O), their view and state;
- :mod:`exporter.dora.part`: the run-history part that turns counted runs into deployments and looks commit
  times up (:mod:`exporter.dora.commits`, through the shared client and the Repo rate limit);
- :mod:`exporter.dora.metrics` and :mod:`exporter.dora.render`: the families and their samples.

DORA is not a CodeArts API, so it is not a source: the core wires it beside the run history when ``dora:`` is
configured, and without it nothing here runs.
"""
