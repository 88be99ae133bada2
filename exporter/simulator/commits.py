"""Simulated CodeArts Repo commits with times, for the deployments that reference them (DORA lead time).

Pure data, no I/O. Repository ``R`` has commit ``k`` every :data:`COMMIT_PERIOD_S` seconds from
:data:`COMMIT_ORIGIN_S`; its SHA is 32 hex digits derived from ``(R, k)`` followed by ``k`` in 8 hex digits,
so the ShowCommit route finds a commit's time from the SHA alone and answers 404 for a SHA of another
repository; the commit list from a SHA (ListCommits ``ref_name``) is that commit and its predecessors, newest
first. ``committed_date`` is written as ShowCommit writes it, ISO 8601 with the +08:00 offset.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from exporter.simulator.cycle import hex_id

COMMIT_ORIGIN_S = 1_600_000_000
COMMIT_PERIOD_S = 600  # a commit every ten minutes in every repository
MAX_LAG_S = 3 * 86_400  # a run deploys a commit up to three days older than its start
_ZONE_S = 8 * 3600


@dataclass(frozen=True, slots=True)
class Commit:
    """One commit of a simulated repository."""

    repository: int
    index: int

    @property
    def sha(self) -> str:
        """Its 40-hex SHA: a digest of (repository, index), then the index."""
        return hex_id("codearts-sim/commit", self.repository, self.index) + f"{self.index:08x}"

    @property
    def committed(self) -> int:
        """Its commit time, epoch seconds."""
        return COMMIT_ORIGIN_S + self.index * COMMIT_PERIOD_S


def head_commit(repository: int, created_ms: int, draw: int) -> Commit:
    """The commit a run created at ``created_ms`` deploys: the newest one at least a drawn lag (0 s to
    :data:`MAX_LAG_S`) before the run started."""
    lag = (draw >> 24) % MAX_LAG_S
    return Commit(repository, max(0, (created_ms // 1000 - lag - COMMIT_ORIGIN_S) // COMMIT_PERIOD_S))


def commit_by_sha(repository: int, sha: str) -> Commit | None:
    """The commit of ``repository`` with this SHA; None if it has none."""
    if len(sha) != 40:
        return None
    try:
        index = int(sha[32:], 16)
    except ValueError:
        return None
    commit = Commit(repository, index)
    return commit if commit.sha == sha.lower() else None


def commit_payload(commit: Commit) -> dict[str, object]:
    """The ShowCommit body of a commit."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000+08:00", time.gmtime(commit.committed + _ZONE_S))
    return {"id": commit.sha, "short_id": commit.sha[:8], "title": f"sim change {commit.index}",
            "message": f"sim change {commit.index}", "parent_ids": [Commit(commit.repository, commit.index - 1).sha],
            "author_name": "sim", "author_email": "sim@example.com", "authored_date": stamp,
            "committer_name": "sim", "committer_email": "sim@example.com", "committed_date": stamp}


def commits_from(commit: Commit, offset: int, limit: int) -> list[Commit]:
    """``limit`` commits from ``offset`` in the list that starts at ``commit`` and goes back in time."""
    first = commit.index - offset
    return [Commit(commit.repository, index) for index in range(first, max(-1, first - limit), -1)]
