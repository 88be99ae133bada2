"""CodeArts Build: the jobs of build projects and their runs (``projects:``).

Modules: ``config`` (the section), ``targets``, ``models`` (records), ``fetch`` (requests), ``metrics``
(families), ``render`` (samples), ``regions`` (its endpoint per region), ``history`` (run counting), ``source`` (the
:class:`~exporter.sources.base.Source`, ``SOURCE``, listed in :mod:`exporter.sources.builtin`).
"""
