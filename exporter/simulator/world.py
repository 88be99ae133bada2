"""The simulated CodeArts data: projects of build jobs and repository pipelines of jobs, alive in time.

Pure data, no I/O. What a job shows is a pure function of (seed, its ids, the moment asked about): ids,
names and branches depend only on the world's shape; timing and outcomes also on the seed. Lists are
ordered by job id, so equal inputs give equal outputs, in the same order.

Rules (see :mod:`exporter.simulator.cycle` for the run timeline):

- Build job: ``last_build_time`` is the creation of the latest run (epoch ms); while that run is pending
  or running, ``last_build_status`` is ``building``, ``is_finished`` false, ``last_job_running_status``
  ``Running`` and ``build_time`` 0; afterwards the colour of its outcome (blue, red, timeout, aborted),
  ``Finished`` and ``build_time`` = its running time in ms (queue excluded). ``build_number`` counts runs
  from the first one created at or after ORIGIN_MS. ``health_score`` = floor(100 * successes / n) over the
  last n <= 5 finished runs. Job ``index % 16 == 4`` never ran (status ``none``, zero/empty run fields);
  ``index % 16 == 6`` is disabled and frozen after a run in November 2023; ``== 9`` is flaky.
- Pipeline job: ``status`` is ``pending`` from ``created_at``, ``running`` from ``started_at``, then the
  outcome from ``finished_at`` on. ``started_at`` is "" while pending and for a skipped run (which goes
  straight from pending to skipped, its ``finished_at`` being the end of the queue); ``finished_at`` is ""
  until the run ends; ``updated_at`` is the latest of the three. Times are ISO 8601, ms, ``+08:00``.
  Job ``index % 8 == 6`` is a mostly-skipped manual job, ``== 7`` flaky.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from exporter.simulator import testreports
from exporter.simulator.cloudpipelines import PipelineService
from exporter.simulator.cycle import BUILD_TABLES, PIPELINE_TABLES, Cycle, Run, digest, hex_id, key64
from exporter.simulator.deployments import DeployService
from exporter.simulator.mergerequests import MergeRequest, MergeRequestBook, MergeRequestPlan
from exporter.simulator.names import project_name, repository_name
from exporter.simulator.records import (
    USER_IDS,
    USERS,
    BuildSpec,
    PipelineJobSpec,
    record_at,
    uuid_of,
)
from exporter.simulator.testplans import TestPlanService

ORIGIN_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z: the first run at or after it is build number 1
MAX_ID = 2_147_483_647
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("build", ("compile", "lint", "package", "docker-image", "sbom")),
    ("test", ("unit-tests", "integration-tests", "e2e-tests", "coverage", "security-scan")),
    ("deploy", ("deploy-staging", "smoke-tests", "deploy-production", "notify")),
)
COMPONENTS = ("backend", "frontend", "gateway", "billing", "auth", "search", "mobile", "docs", "infra",
              "reports", "notifier", "scheduler")
BRANCHES = ("master", "main", "develop", "release/2.3")
DEMO_PROJECTS = {"6ecbc5bac7c8442fb3d2563d53c13582": 12, "72271b5446614062a01b8be944c9f372": 7}
DEMO_PIPELINES = {(2111976239, 6): 9, (2111976239, 7): 5}
DORA_DEMO_PROJECT = "d0aa5e1f00c2440b9f3c7e8d1b2a4c6e"  # the demo's DORA services deploy from its pipelines
DEMO_PIPELINE_PROJECTS = {"6ecbc5bac7c8442fb3d2563d53c13582": 10, DORA_DEMO_PROJECT: 12}
DEMO_PIPELINE_SPEEDUP = {DORA_DEMO_PROJECT: 6}  # runs every 20 s to 100 s: DORA data within the demo's first minute
DEMO_DEPLOY_PROJECTS = {"6ecbc5bac7c8442fb3d2563d53c13582": 8}  # the Deploy service's demo project
DEMO_TESTPLAN_PROJECTS = {"6ecbc5bac7c8442fb3d2563d53c13582": 16}  # the TestPlan service's demo project
DEMO_MERGE_REQUESTS = {2111976240: MergeRequestPlan()}  # a repository whose pipelines --demo discovers
HISTORY_WINDOW_MS = 7 * 86_400_000  # the records APIs list runs created within this window


def generated_project_id(index: int) -> str:
    """The CodeArts project id (32 hex) of project ``index`` in :meth:`World.generated`."""
    return hex_id("codearts-sim/project", index)


def build_kind(index: int) -> str:
    """What the ``index``-th build job of a project is: never run, disabled, flaky or normal."""
    return {4: "none", 6: "disabled", 9: "flaky"}.get(index % 16, "normal")


def pipeline_kind(index: int) -> str:
    """The outcome profile of the ``index``-th job of a pipeline: manual (mostly skipped), flaky or normal."""
    return {6: "manual", 7: "flaky"}.get(index % 8, "normal")


class World:
    """Simulated CodeArts projects and pipelines; ask it for API payloads at any moment."""

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        projects: Mapping[str, int] | None = None,
        pipelines: Mapping[tuple[int, int], int] | None = None,
        duplicate_names: bool = False,
        history_window_ms: int = HISTORY_WINDOW_MS,
        merge_requests: Mapping[int, MergeRequestPlan] | None = None,
        project_repositories: Mapping[str, Sequence[tuple[int, str]]] | None = None,
        pipeline_projects: Mapping[str, int] | None = None,
        pipeline_paging: str = "item",
        pipeline_speedup: Mapping[str, int] | None = None,
        deploy_projects: Mapping[str, int] | None = None,
        testplan_projects: Mapping[str, int] | None = None,
        testplan_paging: str = "item",
    ) -> None:
        self.seed = seed
        self.projectman_denied = False  # True: the user lacks ProjectMan's project list permission (403)
        self.clock = clock
        self.duplicate_names = duplicate_names
        self.history_window_ms = history_window_ms
        # Build job keys (build_project_id) the batch records API leaves out of its answer, as a live answer
        # might: the exporter must not lose their history.
        self.brief_leaves_out: set[str] = set()
        # How the job listing spells ``build_number`` (None: as documented, a digit string): "#12" or 12.0 are
        # spellings no documentation rules out.
        self.build_number_spelling: Callable[[int], object] | None = None
        self._projects = {
            project_id: self._plan_project(project_id, size)
            for project_id, size in _checked_projects(projects or {}).items()
        }
        # Build jobs by id and by build_project_id, for the records APIs.
        self._by_build_key: dict[str, BuildSpec] = {
            key: spec for specs in self._projects.values() for spec in specs
            for key in (spec.template["id"], spec.template["build_project_id"])
        }
        self._pipelines = self._plan_pipelines(_checked_pipelines(pipelines or {}))
        # Repositories with merge requests, and the repositories each project lists (id, name), by id.
        self._merge_requests = {repo: MergeRequestBook(seed, repo, plan)
                                for repo, plan in (merge_requests or {}).items()}
        self._project_repositories = {project: sorted(repos) for project, repos in (project_repositories or {}).items()}
        # The CodeArts Pipeline service (pipelines of projects, each with its runs): see cloudpipelines.
        self.pipeline_service = PipelineService(seed, dict(pipeline_projects or {}), pipeline_paging, history_window_ms,
                                                speedup=dict(pipeline_speedup or {}))
        # The CodeArts Deploy service (applications of projects, each deploying): see deployments.
        self.deploy_service = DeployService(seed, dict(deploy_projects or {}))
        # The CodeArts TestPlan service (test plans of projects, moving through their stages): see testplans.
        self.testplan_service = TestPlanService(seed, dict(testplan_projects or {}), testplan_paging)
        # Fields laid over every unit-test summary of a build job (job id -> fields), to show bad input.
        self.test_report_overrides: dict[str, dict[str, Any]] = {}

    @classmethod
    def demo(cls, clock: Callable[[], float] = time.time, *, seed: int = 0, duplicate_names: bool = False) -> World:
        """The small demo world: 2 projects (12 and 7 build jobs), 1 repository with 2 pipelines (9 and 5 jobs),
        1 repository whose merge requests open every 10 minutes, each with a 3-job head pipeline, 1 project
        of 10 CodeArts Pipeline pipelines and 1 of 12 running six times as often (the DORA demo), 1 project of 8
        CodeArts Deploy applications and 1 project of 16 CodeArts TestPlan plans (every stage)."""
        return cls(seed=seed, clock=clock, projects=DEMO_PROJECTS, pipelines=DEMO_PIPELINES,
                   merge_requests=DEMO_MERGE_REQUESTS, duplicate_names=duplicate_names,
                   pipeline_projects=DEMO_PIPELINE_PROJECTS, pipeline_speedup=DEMO_PIPELINE_SPEEDUP,
                   deploy_projects=DEMO_DEPLOY_PROJECTS, testplan_projects=DEMO_TESTPLAN_PROJECTS)

    @classmethod
    def generated(
        cls,
        *,
        projects: int = 2,
        jobs_per_project: int = 10,
        repositories: int = 1,
        pipelines_per_repo: int = 2,
        jobs_per_pipeline: int = 8,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        duplicate_names: bool = False,
    ) -> World:
        """A world of the given size: projects ``generated_project_id(i)``, repositories ``1000001 + r``
        with pipelines ``1..pipelines_per_repo``."""
        return cls(
            seed=seed,
            clock=clock,
            projects={generated_project_id(i): jobs_per_project for i in range(projects)},
            pipelines={
                (1_000_001 + r, p): jobs_per_pipeline
                for r in range(repositories)
                for p in range(1, pipelines_per_repo + 1)
            },
            duplicate_names=duplicate_names,
        )

    def project_ids(self) -> list[str]:
        """Every CodeArts project id, sorted."""
        return sorted(self._projects)

    def pipeline_keys(self) -> list[tuple[int, int]]:
        """Every (repository_id, pipeline_id), sorted."""
        return sorted(self._pipelines)

    def build_jobs(self, project_id: str, at: float | None = None) -> list[dict[str, Any]] | None:
        """The jobs ``/v3/{project_id}/jobs`` lists at ``at`` (default: now), by id; None if unknown."""
        page = self.build_jobs_page(project_id, 0, None, at)
        return None if page is None else page[1]

    def build_jobs_page(
        self, project_id: str, start: int, stop: int | None, at: float | None = None
    ) -> tuple[int, list[dict[str, Any]]] | None:
        """(total, jobs[start:stop]) of a project at ``at``; None if the project is unknown."""
        specs = self._projects.get(project_id)
        if specs is None:
            return None
        at_ms = self._at_ms(at)
        records = [record_at(spec, at_ms) for spec in specs[start:stop]]
        spelling = self.build_number_spelling
        if spelling is not None:
            records = [record | {"build_number": spelling(int(record["build_number"]))} for record in records]
        return len(specs), records

    def pipeline_jobs(
        self, repository_id: int, pipeline_id: int, at: float | None = None
    ) -> list[dict[str, Any]] | None:
        """The ``JobWithStageDto`` list of a pipeline at ``at`` (default: now), by id; None if unknown."""
        page = self.pipeline_jobs_page(repository_id, pipeline_id, 0, None, at)
        return None if page is None else page[1]

    def pipeline_jobs_page(
        self, repository_id: int, pipeline_id: int, start: int, stop: int | None, at: float | None = None
    ) -> tuple[int, list[dict[str, Any]]] | None:
        """(total, jobs[start:stop]) of a pipeline at ``at``; None if the pipeline is unknown."""
        specs = self._pipelines.get((repository_id, pipeline_id))
        at_ms = self._at_ms(at)
        if specs is None:
            book = self._merge_requests.get(repository_id)
            mr = None if book is None else book.pipeline_mr(pipeline_id, at_ms)
            if book is None or mr is None:
                return None
            jobs = book.job_payloads(mr, at_ms)
            return len(jobs), jobs[start:stop]
        return len(specs), [record_at(spec, at_ms) for spec in specs[start:stop]]

    # -- merge requests and project repositories (discovery) -----------------------------------------

    def project_repositories_page(self, project_id: str, start: int,
                                  stop: int | None) -> tuple[int, list[dict[str, Any]]] | None:
        """(total, ``BasicRepositoryDto`` list[start:stop]) of a project's repositories by id; None if unknown."""
        repos = self._project_repositories.get(project_id)
        if repos is None:
            return None
        payloads = [{"id": repo_id, "name": name, "namespace": "sim", "path": name, "develop_mode": "normal",
                     "visibility": "private", "name_with_namespace": f"sim / {name}", "archived": False,
                     "status": 0} for repo_id, name in repos]
        return len(payloads), payloads[start:stop]

    # -- names (ProjectMan's project list, Repo's ShowRepository) -----------------------------------------

    def projects_by_name(self) -> list[tuple[str, str]]:
        """(project id, name) of every CodeArts project the world knows (Build, Pipeline, repository lists),
        as ProjectMan lists them by default: newest first (here: by id, descending)."""
        ids = {*self._projects, *self.pipeline_service.projects, *self._project_repositories}
        return [(project_id, project_name(project_id)) for project_id in sorted(ids, reverse=True)]

    def repository(self, repository_id: int) -> tuple[int, str] | None:
        """(id, name) of a repository the world knows; None if unknown."""
        for repos in self._project_repositories.values():
            for known, name in repos:
                if known == repository_id:
                    return known, name
        known_ids = {repo for repo, _ in self._pipelines} | set(self._merge_requests)
        return (repository_id, repository_name(repository_id)) if repository_id in known_ids else None

    def merge_request_book(self, repository_id: int) -> MergeRequestBook | None:
        """The merge requests of a repository; None if it has none planned."""
        return self._merge_requests.get(repository_id)

    def merge_requests_page(self, repository_id: int, state: str, newest_first: bool, by_update: bool,
                            start: int, stop: int | None, at: float | None = None) -> list[dict[str, Any]] | None:
        """A page of a repository's merge requests in ``state``; None if the repository is unknown."""
        book = self._merge_requests.get(repository_id)
        if book is None:
            known = {repo for repo, _ in self._pipelines} | {
                repo for repos in self._project_repositories.values() for repo, _ in repos}
            return [] if repository_id in known else None
        at_ms = self._at_ms(at)
        payloads = [book.mr_payload(mr, at_ms) for mr in book.listed(state, at_ms)]
        payloads.sort(key=lambda mr: (mr["updated_at" if by_update else "created_at"], mr["iid"]),
                      reverse=newest_first)
        return payloads[start:stop]

    def open_merge_requests(self, repository_id: int, at: float | None = None) -> list[MergeRequest]:
        """Ground truth: the merge requests open at ``at``, oldest first."""
        book = self._merge_requests.get(repository_id)
        return [] if book is None else book.listed("opened", self._at_ms(at))

    def build_spec(self, key: str) -> BuildSpec | None:
        """The build job whose id or ``build_project_id`` is ``key``; None if unknown."""
        return self._by_build_key.get(key)

    def build_runs(self, spec: BuildSpec, at: float | None = None, start: int = 0,
                   stop: int | None = None) -> tuple[int, list[tuple[int, Run]]]:
        """(total, [(build number, run)][start:stop]) of the runs of a build job created by ``at`` within the
        history window, newest first; the newest may still be pending or running."""
        cycle = spec.cycle
        if cycle is None:
            return 0, []
        at_ms = self._at_ms(at)
        effective = at_ms if spec.frozen_at is None else min(at_ms, spec.frozen_at)
        newest = cycle.index_at(effective)
        oldest = max(spec.first_index, cycle.first_index_from(at_ms - self.history_window_ms))
        indices = range(newest, oldest - 1, -1)
        return len(indices), [(index - spec.first_index + 1, cycle.run_at(index)) for index in indices[start:stop]]

    def build_run(self, spec: BuildSpec, number: int, at: float | None = None) -> Run | None:
        """Build ``number`` of a job if it was created by ``at`` (whatever its age); None otherwise."""
        cycle = spec.cycle
        if cycle is None or number < 1:
            return None
        at_ms = self._at_ms(at)
        index = spec.first_index + number - 1
        effective = at_ms if spec.frozen_at is None else min(at_ms, spec.frozen_at)
        return cycle.run_at(index) if index <= cycle.index_at(effective) else None

    def test_report(self, job_id: str, number: int, at: float | None = None) -> dict[str, int] | None:
        """Ground truth: the unit-test case counts of build ``number`` of a job at ``at`` (None: no report)."""
        spec = self.build_spec(job_id)
        run = None if spec is None or testreports.profile(self.seed, job_id) != "tests" \
            else self.build_run(spec, number, at)
        if run is None or run.finished > self._at_ms(at):
            return None
        return testreports.summary(self.seed, job_id, number, run)

    def finished_build_runs(self, project_id: str, after: float, until: float) -> list[tuple[dict[str, Any], Run]]:
        """Ground truth: (job template, run) of every run of a project's build jobs that finished in
        (``after``, ``until``], oldest first per job."""
        found: list[tuple[dict[str, Any], Run]] = []
        for spec in self._projects.get(project_id, ()):
            cycle = spec.cycle
            if cycle is None:
                continue
            stop = self._at_ms(until) if spec.frozen_at is None else min(self._at_ms(until), spec.frozen_at)
            start = self._at_ms(after)
            index = max(spec.first_index, cycle.index_at(start) - 1)
            while index <= cycle.index_at(stop):
                run = cycle.run_at(index)
                if start < run.finished <= stop:
                    found.append((spec.template, run))
                index += 1
        return found

    def now_ms(self) -> int:
        """The world's clock in epoch milliseconds."""
        return self._at_ms(None)

    def _at_ms(self, at: float | None) -> int:
        return math.floor((self.clock() if at is None else at) * 1000)

    def _plan_project(self, project_id: str, size: int) -> tuple[BuildSpec, ...]:
        specs = [self._build_spec(project_id, index) for index in range(size)]
        return tuple(sorted(specs, key=lambda spec: spec.template["id"]))

    def _build_spec(self, project_id: str, index: int) -> BuildSpec:
        ids = digest("codearts-sim/build-job", project_id, index, size=40)
        job_id = ids[:16].hex()
        kind = build_kind(index)
        template = _build_template(job_id, index, ids[16:32].hex(), int.from_bytes(ids[32:], "big"),
                                   disabled=kind == "disabled")
        if kind == "none":
            return BuildSpec(template, None, 0, None)
        cycle = Cycle.derive(key64("codearts-sim/build-cycle", self.seed, job_id),
                             BUILD_TABLES["flaky" if kind == "flaky" else "normal"])
        first = cycle.first_index_from(ORIGIN_MS)
        frozen_at = None
        if kind == "disabled":
            last = first + 20 + cycle.key % 200
            frozen_at = cycle.phase + (last + 1) * cycle.period - 1  # just before its next run would start
        return BuildSpec(template, cycle, first, frozen_at)

    def _plan_pipelines(self, sizes: dict[tuple[int, int], int]) -> dict[tuple[int, int], tuple[PipelineJobSpec, ...]]:
        used: set[int] = set()
        plan: dict[tuple[int, int], tuple[PipelineJobSpec, ...]] = {}
        for key in sorted(sizes):
            specs = [self._pipeline_spec(key, index, sizes[key], used) for index in range(sizes[key])]
            plan[key] = tuple(sorted(specs, key=lambda spec: spec.template["id"]))
        return plan

    def _pipeline_spec(self, key: tuple[int, int], index: int, size: int, used: set[int]) -> PipelineJobSpec:
        repository_id, pipeline_id = key
        job_id = key64("codearts-sim/pipeline-job", repository_id, pipeline_id, index) % MAX_ID + 1
        while job_id in used:  # ids are distinct across the world; resolve rare clashes deterministically
            job_id = job_id % MAX_ID + 1
        used.add(job_id)
        stage_index, name = _stage_and_name(index, size, self.duplicate_names)
        stage = STAGES[stage_index][0]
        shape = key64("codearts-sim/pipeline-shape", repository_id, pipeline_id)
        template = {
            "id": job_id, "sha": "", "ref": BRANCHES[shape % len(BRANCHES)], "status": "", "name": name,
            "target_url": "", "created_at": "", "started_at": "", "finished_at": "", "updated_at": "",
            "third_build_id": "", "stage_id": (shape >> 8) % 1_000_000 * 3 + stage_index + 1, "stage": stage,
        }
        project = hex_id("codearts-sim/pipeline-project", repository_id)
        pipeline = hex_id("codearts-sim/pipeline", repository_id, pipeline_id)
        cycle = Cycle.derive(key64("codearts-sim/pipeline-cycle", self.seed, job_id),
                             PIPELINE_TABLES[pipeline_kind(index)])
        url = f"https://devcloud.example.com/cicd/project/{project}/pipeline/detail/{pipeline}/"
        return PipelineJobSpec(template, cycle, url)


def _stage_and_name(index: int, size: int, duplicate_names: bool) -> tuple[int, str]:
    """Stage and name of a pipeline's ``index``-th job: a third of the jobs per stage, names unique per stage.

    With ``duplicate_names`` the last job of a pipeline of two or more jobs copies the first job's pair.
    """
    if duplicate_names and size >= 2 and index == size - 1:
        index = 0
    stage_index = min(len(STAGES) - 1, index * len(STAGES) // size)
    first_of_stage = -(-stage_index * size // len(STAGES))
    ordinal = index - first_of_stage
    names = STAGES[stage_index][1]
    name = names[ordinal % len(names)]
    return stage_index, name if ordinal < len(names) else f"{name}-{ordinal // len(names) + 1}"


def _build_template(job_id: str, index: int, project_hex: str, shape: int, *, disabled: bool) -> dict[str, Any]:
    """The fields of a build job that never change, with the values of a job that never ran."""
    component = COMPONENTS[index % len(COMPONENTS)]
    round_ = index // len(COMPONENTS)
    repo_id = str(100_000 + shape % 900_000)
    creator = USERS[(shape >> 20) % 3]
    return {
        "id": job_id, "job_name": f"{component}-build" + (f"-{round_ + 1}" if round_ else ""),
        "job_creator": USER_IDS[creator], "user_name": creator,
        "last_build_time": 0, "health_score": 0, "source_code": "codeci", "last_build_status": "none",
        "is_finished": True, "disabled": disabled, "favorite": index % 5 == 0, "is_modify": True,
        "is_delete": True, "is_execute": True, "is_copy": True, "is_forbidden": True, "is_view": True,
        "task_id": "", "last_build_user": "", "code_branch": BRANCHES[(shape >> 8) % len(BRANCHES)],
        "commit_id": "", "trigger_type": "", "build_time": 0,
        "scm_web_url": f"https://devcloud.example.com/codehub/{repo_id}/home", "scm_type": "codehub",
        "repo_id": repo_id, "commit_detail_url": "", "build_number": "0",
        "build_project_id": uuid_of(project_hex), "build_type": "branch",
        "last_job_running_status": "", "last_build_user_id": "", "project_permission_switch": False,
    }


def _checked_projects(projects: Mapping[str, int]) -> dict[str, int]:
    for project_id, size in projects.items():
        if not isinstance(project_id, str) or not project_id or "/" in project_id:
            raise ValueError(f"project id must be a non-empty string without '/', got {project_id!r}")
        _check_size(f"project {project_id}", size)
    return dict(projects)


def _checked_pipelines(pipelines: Mapping[tuple[int, int], int]) -> dict[tuple[int, int], int]:
    for key, size in pipelines.items():
        if len(key) != 2 or not all(isinstance(part, int) and 1 <= part <= MAX_ID for part in key):
            raise ValueError(f"pipeline key must be (repository_id, pipeline_id) in 1..{MAX_ID}, got {key!r}")
        _check_size(f"pipeline {key}", size)
    return dict(pipelines)


def _check_size(what: str, size: object) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"{what}: job count must be an integer >= 0, got {size!r}")
