"""CodeArts Deploy: the applications of CodeArts projects, their last deployment and every deployment
(``deploy_projects:``).

Modules: ``config`` (the section), ``targets``, ``models`` (records), ``fetch`` (requests), ``metrics``
(families), ``render`` (samples), ``regions`` (its endpoint per region), ``history`` (deployment counting),
``source`` (the :class:`~exporter.sources.base.Source`, ``SOURCE``, listed in :mod:`exporter.sources.builtin`).
"""
