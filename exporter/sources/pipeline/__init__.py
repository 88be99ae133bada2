"""CodeArts Pipeline (the standalone service, API v5): the pipelines of CodeArts projects and their runs
(``pipeline_projects:``).

Modules: ``config`` (the section), ``targets``, ``models`` (records), ``fetch`` (requests), ``metrics``
(families), ``render`` (samples), ``regions`` (its endpoint per region), ``history`` (run counting), ``source`` (the
:class:`~exporter.sources.base.Source`, ``SOURCE``, listed in :mod:`exporter.sources.builtin`).
"""
