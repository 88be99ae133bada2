"""CodeArts Repo: the jobs of merge-request pipelines (``repositories:``), and discovery of those pipelines
from merge requests and of repositories from CodeArts projects (``discovery:``).

Modules: ``config`` (the sections), ``targets``, ``models`` (records), ``fetch`` (requests), ``metrics``
(families), ``render`` (samples), ``history`` (run counting), ``discovery``, ``source`` (the
:class:`~exporter.sources.base.Source`, ``SOURCE``, which :mod:`exporter.registry` loads).
"""
