"""Merge requests of a simulated repository, each with one head pipeline that runs once and finishes.

Per repository with a :class:`MergeRequestPlan`, merge request ``k`` (iid ``k + 1``) opens at
``ORIGIN_MS + phase + k * every_ms`` and stays open for a duration drawn from ``open_ms``, then is merged
(or, one in five, closed). Its head pipeline (id ``PIPELINE_BASE + k``) is created 5 s after the merge
request opens, except for one merge request in seven (``k % 7 == 3``), which never gets one. The pipeline's
jobs are all created with it; each waits 2..10 s, runs 1..15 min and ends in success (or, one in eight,
failed). The pipeline is ``pending`` until a job starts, ``running`` until every job finished, then
``failed`` if any job failed, else ``success``. Everything is a pure function of (seed, repository id, k, t).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.simulator.cycle import hex_id, key64, mix
from exporter.simulator.records import hex_of, iso_time

PIPELINE_BASE = 100_000  # head pipeline ids: PIPELINE_BASE + k, apart from the small static pipeline ids
PIPELINE_DELAY_MS = 5_000
NO_PIPELINE_EVERY = 7  # k % 7 == 3: a merge request without a head pipeline
LIST_WINDOW = 200  # merge requests listed with state=all/merged/closed: the newest this many
JOBS: tuple[tuple[str, str], ...] = (("build", "compile"), ("test", "unit-tests"), ("test", "lint"),
                                     ("deploy", "preview"), ("test", "e2e-tests"))
MAX_ID = 2_147_483_647
ORIGIN_MS = 1_700_000_000_000


@dataclass(frozen=True, slots=True)
class MergeRequestPlan:
    """How often merge requests open in a repository and how long they stay open (ms)."""

    every_ms: int = 600_000
    open_ms: tuple[int, int] = (1_800_000, 14_400_000)
    jobs: int = 3

    def __post_init__(self) -> None:
        low, high = self.open_ms
        if self.every_ms < 1_000 or not 0 < low <= high or not 1 <= self.jobs <= len(JOBS):
            raise ValueError(f"invalid merge request plan {self!r}")


@dataclass(frozen=True, slots=True)
class JobRun:
    """One job of a head pipeline: it runs once."""

    id: int
    stage: str
    name: str
    created: int
    started: int
    finished: int
    outcome: str


@dataclass(frozen=True, slots=True)
class MergeRequest:
    """Merge request ``k`` of a repository; ``pipeline`` is its head pipeline id (None: it never gets one)."""

    k: int
    id: int
    opened: int
    closed: int
    closed_state: str  # merged or closed
    pipeline: int | None

    @property
    def iid(self) -> int:
        """The merge request's number within its repository."""
        return self.k + 1

    def state_at(self, at_ms: int) -> str:
        """opened, merged or closed at ``at_ms`` (at or after it opened)."""
        return "opened" if at_ms < self.closed else self.closed_state

    def pipeline_at(self, at_ms: int) -> int | None:
        """The head pipeline id once it exists."""
        return self.pipeline if self.pipeline is not None and at_ms >= self.opened + PIPELINE_DELAY_MS else None


class MergeRequestBook:
    """The merge requests and head pipelines of one repository."""

    def __init__(self, seed: int, repository_id: int, plan: MergeRequestPlan) -> None:
        self.repository_id = repository_id
        self.plan = plan
        self.key = key64("codearts-sim/merge-requests", seed, repository_id)
        self.phase = self.key % plan.every_ms

    def get(self, k: int) -> MergeRequest:
        """Merge request ``k`` (k >= 0)."""
        draw = mix(self.key ^ k)
        low, high = self.plan.open_ms
        opened = ORIGIN_MS + self.phase + k * self.plan.every_ms
        closed = opened + low + draw % (high - low + 1)
        pipeline = None if k % NO_PIPELINE_EVERY == 3 else PIPELINE_BASE + k
        mr_id = key64("codearts-sim/merge-request", self.repository_id, k) % MAX_ID + 1
        return MergeRequest(k, mr_id, opened, closed, "closed" if (draw >> 40) % 5 == 0 else "merged", pipeline)

    def newest_index(self, at_ms: int) -> int:
        """Index of the newest merge request opened at or before ``at_ms`` (-1: none yet)."""
        return (at_ms - ORIGIN_MS - self.phase) // self.plan.every_ms

    def listed(self, state: str, at_ms: int) -> list[MergeRequest]:
        """Merge requests in ``state`` (opened, merged, closed, all) at ``at_ms``, oldest first."""
        newest = self.newest_index(at_ms)
        oldest_open = (at_ms - ORIGIN_MS - self.phase - self.plan.open_ms[1]) // self.plan.every_ms
        first = max(0, oldest_open if state == "opened" else newest - LIST_WINDOW + 1)
        found = [self.get(k) for k in range(first, newest + 1)]
        return [mr for mr in found if state == "all" or mr.state_at(at_ms) == state]

    def by_iid(self, iid: int, at_ms: int) -> MergeRequest | None:
        """The merge request numbered ``iid`` if it exists at ``at_ms``."""
        return self.get(iid - 1) if 1 <= iid <= self.newest_index(at_ms) + 1 else None

    def pipeline_mr(self, pipeline_id: int, at_ms: int) -> MergeRequest | None:
        """The merge request whose head pipeline is ``pipeline_id``, if that pipeline exists at ``at_ms``."""
        mr = self.by_iid(pipeline_id - PIPELINE_BASE + 1, at_ms)
        return mr if mr is not None and mr.pipeline_at(at_ms) == pipeline_id else None

    def jobs(self, mr: MergeRequest) -> list[JobRun]:
        """The jobs of a merge request's head pipeline, by id."""
        created = mr.opened + PIPELINE_DELAY_MS
        runs = []
        for index in range(self.plan.jobs):
            draw = mix(self.key ^ (mr.k << 8 | index) ^ 0x5EED)
            started = created + 2_000 + draw % 8_001
            finished = started + 60_000 + (draw >> 16) % 840_001
            outcome = "failed" if (draw >> 40) % 8 == 0 else "success"
            job_id = key64("codearts-sim/mr-job", self.repository_id, mr.pipeline, index) % MAX_ID + 1
            stage, name = JOBS[index]
            runs.append(JobRun(job_id, stage, name, created, started, finished, outcome))
        return sorted(runs, key=lambda run: run.id)

    def pipeline_status(self, mr: MergeRequest, at_ms: int) -> tuple[str, int | None]:
        """(status, finished ms or None) of a merge request's head pipeline at ``at_ms``."""
        jobs = self.jobs(mr)
        if at_ms < min(job.started for job in jobs):
            return "pending", None
        end = max(job.finished for job in jobs)
        if at_ms < end:
            return "running", None
        return ("failed" if any(job.outcome == "failed" for job in jobs) else "success"), end

    # -- payloads ----------------------------------------------------------------------------------

    def mr_payload(self, mr: MergeRequest, at_ms: int) -> dict[str, Any]:
        """The merge request as the list API shows it."""
        state = mr.state_at(at_ms)
        updated = mr.closed if state != "opened" else (mr.opened + PIPELINE_DELAY_MS
                                                       if mr.pipeline_at(at_ms) else mr.opened)
        return {
            "id": mr.id, "iid": mr.iid, "title": f"Change {mr.iid}", "state": state,
            "source_branch": f"feature/change-{mr.iid}", "target_branch": "master",
            "created_at": iso_time(mr.opened), "updated_at": iso_time(updated),
            "merged_at": iso_time(mr.closed) if state == "merged" else None,
            "closed_at": iso_time(mr.closed) if state == "closed" else None,
        }

    def head_pipeline_payload(self, mr: MergeRequest, at_ms: int) -> dict[str, Any]:
        """``ShowActualHeadPipeline``'s answer: ``is_valid`` false and no data while there is no pipeline."""
        pipeline = mr.pipeline_at(at_ms)
        if pipeline is None:
            return {"is_valid": False, "data": None}
        status, finished = self.pipeline_status(mr, at_ms)
        created = mr.opened + PIPELINE_DELAY_MS
        started = min(job.started for job in self.jobs(mr))
        return {"is_valid": True, "data": {
            "id": pipeline, "web_url": f"https://devcloud.example.com/codehub/{self.repository_id}/pipelines/"
                                       f"{pipeline}",
            "sha": hex_of(mr.id, 40, salt=4), "ref": f"feature/change-{mr.iid}", "status": status,
            "created_at": iso_time(created),
            "updated_at": iso_time(finished if finished is not None else started if status == "running" else created),
            "started_at": iso_time(started) if status != "pending" else "",
            "finished_at": iso_time(finished) if finished is not None else "",
            "repository_id": self.repository_id, "is_invalid": False, "type": "MERGE REQUEST", "stages": [],
            "is_latest": True, "trigger_user": "alice", "all_job_finished": finished is not None,
        }}

    def _job_url(self, mr: MergeRequest, job_id: int) -> str:
        """A job's CodeArts page, shaped as the Repo API's documented ``target_url`` example."""
        project = hex_id("codearts-sim/pipeline-project", self.repository_id)
        pipeline = hex_id("codearts-sim/mr-pipeline", self.repository_id, mr.pipeline)
        return f"https://devcloud.example.com/cicd/project/{project}/pipeline/detail/{pipeline}/{hex_id(job_id)}"

    def job_payloads(self, mr: MergeRequest, at_ms: int) -> list[dict[str, Any]]:
        """The head pipeline's ``JobWithStageDto`` list at ``at_ms``."""
        jobs = []
        for job in self.jobs(mr):
            phase = "pending" if at_ms < job.started else "running" if at_ms < job.finished else "done"
            updated = job.finished if phase == "done" else job.started if phase == "running" else job.created
            jobs.append({
                "id": job.id, "sha": hex_of(mr.id, 40, salt=4), "ref": f"feature/change-{mr.iid}",
                "status": job.outcome if phase == "done" else phase, "name": job.name,
                "target_url": self._job_url(mr, job.id), "created_at": iso_time(job.created),
                "started_at": iso_time(job.started) if phase != "pending" else "",
                "finished_at": iso_time(job.finished) if phase == "done" else "",
                "updated_at": iso_time(updated), "third_build_id": "", "stage_id": 1, "stage": job.stage,
            })
        return jobs
