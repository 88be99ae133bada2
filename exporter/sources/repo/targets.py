"""Repo pipeline targets: a pipeline of a repository, keyed ``repository_id/pipeline_id``."""

from __future__ import annotations

from exporter.snapshot import Target

API = "repo"


def pipeline_target(repository_id: int, pipeline_id: int, shard_group: str = "") -> Target:
    """The target of one Repo pipeline (``shard_group``: the shard key of a discovered one)."""
    return Target(API, f"{repository_id}/{pipeline_id}", shard_group)


def discovery_key(repository_id: int) -> str:
    """The shard key of a repository's merge request discovery, and of the pipelines it finds."""
    return f"discovery:repo:{repository_id}"


def pipeline_ids(target: Target) -> tuple[int, int]:
    """The repository and pipeline ids of a Repo pipeline target."""
    repository, pipeline = target.key.split("/", 1)
    return int(repository), int(pipeline)
