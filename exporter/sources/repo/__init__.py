"""CodeArts Repo: the jobs of merge-request pipelines (``repositories:``), and discovery of those pipelines
from merge requests and of repositories from CodeArts projects (``discovery:``).

Modules: ``config`` (the sections), ``targets``, ``models`` (records), ``fetch`` (requests), ``metrics``
(families), ``render`` (samples), ``history`` (run counting), ``discovery``, ``source`` (the
:class:`~exporter.sources.base.Source`).
"""

from exporter.sources.repo.source import RepoSource
from exporter.sources.repo.targets import pipeline_ids, pipeline_target

SOURCE = RepoSource()

__all__ = ["SOURCE", "RepoSource", "pipeline_ids", "pipeline_target"]
