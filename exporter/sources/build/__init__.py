"""CodeArts Build: the jobs of build projects and their runs (``projects:``).

Modules: ``config`` (the section), ``targets``, ``models`` (records), ``fetch`` (requests), ``metrics``
(families), ``render`` (samples), ``history`` (run counting), ``source`` (the
:class:`~exporter.sources.base.Source`, ``SOURCE``, which :mod:`exporter.registry` loads).
"""
