"""Snapshots with every kind of target, shared by the collector, exposition and history-exposition tests."""

from __future__ import annotations

from datetime import date

from exporter.snapshot import Snapshot, TargetState
from exporter.sources.build.models import BuildJob
from exporter.sources.build.targets import project_target
from exporter.sources.deploy.models import Application, Deployment, DeployTask
from exporter.sources.deploy.targets import project_target as deploy_project_target
from exporter.sources.pipeline.models import JobRun, Pipeline, PipelineRun, RunDetail, StageRun
from exporter.sources.pipeline.targets import project_target as pipeline_project_target
from exporter.sources.projectman.models import PROJECT, REPOSITORY, Name
from exporter.sources.projectman.targets import names_target
from exporter.sources.repo.models import PipelineJob
from exporter.sources.repo.targets import pipeline_target
from exporter.sources.testplan.config import TestPlanProject
from exporter.sources.testplan.models import TestPlan
from exporter.sources.testplan.targets import project_target as plan_project_target

T0 = 1_700_000_000.0


def pipeline_job(job_id, name, status, *, stage="build", created=None, started=None, finished=None):
    return PipelineJob(job_id, name, stage, status, "main", "abc123", created, started, finished, None)


def build_job(job_id, name, status, **overrides):
    fields = dict(health_score=80.0, last_build_time=T0 - 600, last_build_duration=120.0, running=False,
                  disabled=False, branch="master", scm_type="codehub", trigger_type="MANUAL", build_type="branch",
                  repo_id="569802", build_number="12")
    fields.update(overrides)
    return BuildJob(job_id, name, status, **fields)


def make_snapshot() -> Snapshot:
    pipeline = TargetState(
        pipeline_target(2111976239, 6), polled=True, up=True, last_poll_at=T0, last_success_at=T0 + 0.25,
        poll_duration=0.25, data_at=T0 + 0.25,
        records=(
            pipeline_job(10, "compile", "success", created=T0 - 100, started=T0 - 90, finished=T0 - 30),
            pipeline_job(11, "unit", "running", stage="test", created=T0 - 50, started=T0 - 40),
            pipeline_job(12, "lint", "pending", created=T0 - 5),
            pipeline_job(9, "compile", "failed", created=T0 - 900, started=T0 - 890, finished=T0 - 800),
        ),
    )
    project = TargetState(
        project_target("6ecbc5bac7c8442fb3d2563d53c13582"), polled=True, up=True, last_poll_at=T0,
        last_success_at=T0 + 0.5, poll_duration=0.5, data_at=T0 + 0.5,
        records=(
            build_job("b2", "nightly", "failed", health_score=40.0),
            build_job("b1", "ci-main", "running", running=True, last_build_duration=0.0),
            build_job("b3", "old", "none", last_build_time=None, last_build_duration=None, disabled=True),
        ),
    )
    failing = TargetState(project_target("ffffffffffffffffffffffffffffffff"), polled=True, up=False, last_poll_at=T0,
                          poll_duration=0.01, error="not found")
    stages = (StageRun("Build", 0, "success", T0 - 700, T0 - 650), StageRun("Test", 1, "failed", T0 - 650, T0 - 600),
              StageRun("Deploy", 2, "pending", None, None))
    service = TargetState(
        pipeline_project_target("6ecbc5bac7c8442fb3d2563d53c13582"), polled=True, up=True, last_poll_at=T0,
        last_success_at=T0 + 0.5, poll_duration=0.5, data_at=T0 + 0.5,
        records=(
            Pipeline("c" * 32, "deploy", "demo", "", PipelineRun("r1", 7, "failed", "FAILED", "Push", "main", "abc",
                                                                 T0 - 700, T0 - 600, stages, ref="main"),
                     RunDetail("r1", (JobRun("Test", "unit", "failed", T0 - 640, T0 - 600, 10.0),),
                               "Test/unit", "exit code 1")),
            Pipeline("d" * 32, "nightly", "demo", "ops", PipelineRun("r2", 3, "paused", "PAUSED", "Scheduler",
                                                                     "other", "def", T0 - 100, None,
                                                                     ref="feature/nightly-fix")),
            Pipeline("e" * 32, "new", "demo", "", None),
        ),
    )
    names = TargetState(names_target(None), polled=True, up=True, last_poll_at=T0, last_success_at=T0 + 0.1,
                        poll_duration=0.1, data_at=T0 + 0.1,
                        records=(Name("6ecbc5bac7c8442fb3d2563d53c13582", "payments", PROJECT),
                                 Name("2111976239", "billing-service", REPOSITORY)))
    deploy = TargetState(
        deploy_project_target("6ecbc5bac7c8442fb3d2563d53c13582"), polled=True, up=True, last_poll_at=T0,
        last_success_at=T0 + 0.5, poll_duration=0.5, data_at=T0 + 0.5,
        records=(
            Application("a" * 32, "checkout-web", "deployTemplate", False, (DeployTask("1" * 32, "failed", 12),),
                        Deployment(12, "", "failed", "failed", T0 - 300, T0 - 240, 60.0)),
            Application("b" * 32, "payments", "ansible", False, (DeployTask("2" * 32, "running", 5),),
                        Deployment(5, "", "running", "running", T0 - 50, None)),
            Application("c" * 32, "sandbox", "shell", True, (), None),
        ),
    )
    plans = TargetState(
        plan_project_target("6ecbc5bac7c8442fb3d2563d53c13582", TestPlanProject("6ecbc5bac7c8442fb3d2563d53c13582")),
        polled=True, up=True, last_poll_at=T0, last_success_at=T0 + 0.5, poll_duration=0.5, data_at=T0 + 0.5,
        records=(
            TestPlan("f" * 32, "release-7", "execute", "Sprint 12", 0.875, 40, 5, 2, 3, date(2023, 11, 11)),
            TestPlan("0" * 32, "release-6", "report", "", None, 12, None, None, None, None, "N/A"),
            TestPlan("1" * 32, "release-1", "report", "", 1.0, 9, 0, 0, 0, date(2023, 9, 1)),  # too old: dropped
        ),
    )
    return Snapshot(3, T0 + 1, (pipeline, project, failing, service, deploy, plans, names))


def awkward_snapshot() -> Snapshot:
    pipeline = TargetState(
        pipeline_target(7, 8), polled=True, up=True, last_poll_at=T0, last_success_at=T0 + 1e-7,
        poll_duration=1.5e-5, data_at=T0 + 0.123456789,
        records=(
            pipeline_job(1, 'say "hi"\\n\nbye', "running", stage="st\\age", created=1e21, started=T0 - 0.1),
            pipeline_job(2, "ünïcødé 雪", "success", created=T0 - 3, started=T0 - 2, finished=T0 + 123456.5),
        ),
    )
    build = TargetState(
        project_target("p1"), polled=True, up=True, last_success_at=T0, poll_duration=0.5, data_at=T0,
        records=(build_job("b\"1", "n\\m", "success", health_score=0.0, last_build_duration=-1.0),),
    )
    return Snapshot(1, T0, (pipeline, build, *make_snapshot().states))
