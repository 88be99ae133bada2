"""CodeArts Repo: the jobs of merge-request pipelines (``repositories:``), and discovery of those pipelines
from merge requests and of repositories from CodeArts projects (``discovery:``).

Modules: ``config`` (the sections), ``targets``, ``models`` (records), ``fetch`` (requests), ``metrics``
(families), ``render`` (samples), ``regions`` (its endpoint per region), ``history`` (run counting),
``discovery``, ``source`` (the
:class:`~exporter.sources.base.Source`, ``SOURCE``, listed in :mod:`exporter.sources.builtin`).
"""
