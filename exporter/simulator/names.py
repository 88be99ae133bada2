"""The names the simulator gives CodeArts projects and repositories: stable, readable, derived from the id.

The same name everywhere a CodeArts API shows one: ProjectMan's project list, the Pipeline listing's
``project_name``, Repo's repository lists and ``ShowRepository``.
"""

from __future__ import annotations

from exporter.simulator.cycle import key64

PROJECT_WORDS = ("shop", "payments", "mobile", "platform", "search", "analytics", "identity", "logistics")
REPOSITORY_WORDS = ("backend", "frontend", "gateway", "billing", "catalog", "notifier", "scheduler", "docs")


def project_name(project_id: str) -> str:
    """A CodeArts project's name, e.g. ``payments-6ecb``."""
    word = PROJECT_WORDS[key64("codearts-sim/project-name", project_id) % len(PROJECT_WORDS)]
    return f"{word}-{project_id[:4]}"


def repository_name(repository_id: int) -> str:
    """A repository's name when no project lists it by another, e.g. ``billing-service-239``."""
    word = REPOSITORY_WORDS[key64("codearts-sim/repository-name", repository_id) % len(REPOSITORY_WORDS)]
    return f"{word}-service-{repository_id % 1000}"
