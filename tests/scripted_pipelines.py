"""A CodeArts Pipeline upstream each test scripts run by run, over real HTTP (on :mod:`tests.hostile`'s server).

The simulator draws its world from a seed and keeps run numbers in start order; this one serves exactly the
runs a test adds, so a test can make what the documentation does not rule out: a later-numbered run that
started earlier, a numbering that starts again, one pipeline id in two projects, a denied run list. Run lists
are sorted as the exporter asks (``sort_key: start_time``, newest first) and paged with ``offset`` counting
items; a pipeline's ``latest_run`` is its highest-numbered run.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .hostile import HostileServer, Request, response

T0_MS = 1_750_000_000_000
FINISHED = {"COMPLETED": "success", "FAILED": "failed"}  # written out here, independently of the exporter
LIST = re.compile(r"^/v5/(\w+)/api/pipelines/list$")
RUNS = re.compile(r"^/v5/(\w+)/api/pipelines/(\w+)/pipeline-runs/list$")
DETAIL = re.compile(r"^/v5/(\w+)/api/pipelines/(\w+)/pipeline-runs/detail$")


@dataclass
class ScriptedRun:
    number: int
    status: str  # COMPLETED, FAILED or RUNNING
    start: int  # epoch ms
    end: int | None


@dataclass
class ScriptedPipeline:
    name: str
    runs: list[ScriptedRun] = field(default_factory=list)


class ScriptedPipelines:
    """Projects -> pipelines -> runs, served over HTTP; ``requests`` counts run-list requests per pipeline id."""

    def __init__(self) -> None:
        self.projects: dict[str, dict[str, ScriptedPipeline]] = {}
        self.denied: set[str] = set()  # pipeline ids whose run list answers HTTP 200 + DEVCP.00014031
        self.run_lists: Counter[tuple[str, str]] = Counter()  # (project, pipeline id) -> run-list requests
        self.detail_fails: set[str] = set()  # pipeline ids whose run detail answers HTTP 500
        self.details: Counter[tuple[str, str]] = Counter()  # (project, pipeline id) -> run-detail requests
        self._lock = threading.Lock()
        self.server = HostileServer(self._answer)

    def __enter__(self) -> ScriptedPipelines:
        self.server.__enter__()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        """Base URL of the upstream."""
        return self.server.url

    def pipeline(self, project: str, pipeline_id: str, name: str = "") -> ScriptedPipeline:
        """The pipeline (created empty on first use)."""
        with self._lock:
            pipelines = self.projects.setdefault(project, {})
            if pipeline_id not in pipelines:
                pipelines[pipeline_id] = ScriptedPipeline(name or f"pipe-{pipeline_id}")
            return pipelines[pipeline_id]

    def run(self, project: str, pipeline_id: str, number: int, status: str = "COMPLETED", *,
            start: int | None = None, seconds: int = 30) -> ScriptedRun:
        """Add (or replace) run ``number``; ``start`` in seconds after T0 (default: its number x 100)."""
        begin = T0_MS + 1000 * (number * 100 if start is None else start)
        run = ScriptedRun(number, status, begin, None if status == "RUNNING" else begin + seconds * 1000)
        pipeline = self.pipeline(project, pipeline_id)
        with self._lock:
            pipeline.runs = [each for each in pipeline.runs if each.number != number] + [run]
        return run

    def finish(self, project: str, pipeline_id: str, number: int, status: str = "COMPLETED") -> None:
        """End a running run."""
        with self._lock:
            for run in self.projects[project][pipeline_id].runs:
                if run.number == number:
                    run.status, run.end = status, run.start + 30_000

    def truth(self) -> Counter[tuple[str, str, str]]:
        """Finished runs per (project, pipeline id, exported status)."""
        with self._lock:
            return Counter((project, pipeline_id, FINISHED[run.status])
                           for project, pipelines in self.projects.items()
                           for pipeline_id, pipeline in pipelines.items()
                           for run in pipeline.runs if run.status in FINISHED)

    def _payload(self, pipeline_id: str, run: ScriptedRun) -> dict[str, object]:
        return {"pipeline_id": pipeline_id, "pipeline_run_id": f"{pipeline_id}-{run.number}-{run.start}",
                "run_number": run.number, "status": run.status, "trigger_type": "Manual",
                "start_time": run.start, "end_time": run.end,
                "build_params": {"target_branch": "main", "event_type": "Manual"}, "stage_status_list": []}

    def _answer(self, server: HostileServer, conn: object, request: Request) -> None:
        body = json.loads(request.body or b"{}")
        offset, limit = int(body.get("offset", 0)), int(body.get("limit", 10))
        with self._lock:
            if match := LIST.match(request.path):
                pipelines = self.projects.get(match[1], {})
                items = [{"pipeline_id": pipeline_id, "name": pipeline.name,
                          "latest_run": self._payload(pipeline_id, max(pipeline.runs, key=lambda r: r.number))
                          if pipeline.runs else None}
                         for pipeline_id, pipeline in pipelines.items()]
                answer = response(200, {"pipelines": items[offset:offset + limit], "total": len(items)})
            elif match := RUNS.match(request.path):
                self.run_lists[(match[1], match[2])] += 1
                if match[2] in self.denied:
                    answer = response(200, {"error_code": "DEVCP.00014031", "error_msg": "Insufficient permissions"})
                else:
                    runs = sorted(self.projects[match[1]][match[2]].runs, key=lambda r: r.start, reverse=True)
                    items = [self._payload(match[2], run) for run in runs]
                    answer = response(200, {"pipeline_runs": items[offset:offset + limit], "total": len(items)})
            elif match := DETAIL.match(request.path):
                self.details[(match[1], match[2])] += 1
                run_id = (request.query.get("pipeline_run_id") or [""])[0]
                answer = response(500, {"error_code": "DEVCP.00000001", "error_msg": "internal"}) \
                    if match[2] in self.detail_fails else response(200, {"id": run_id, "stages": []})
            else:
                answer = response(404, {"error_code": "X", "error_msg": f"no route {request.path}"})
        conn.sendall(answer)  # type: ignore[attr-defined]


def scripted_config(path: Path, url: str, projects: list[str], extra: str = "", detail: bool = False) -> Path:
    """A config polling ``projects`` on the scripted upstream, with run history (and run details if asked)."""
    lines = ["endpoints:", f"  repo: {url}", f"  build: {url}", f"  pipeline: {url}", f"  iam: {url}",
             "auth:", "  token: scripted", "poll:", "  interval_seconds: 60", "  timeout_seconds: 5",
             "  concurrency: 2", "  rate_limit: {pipeline: 1000, iam: 1000}", "pipeline_projects:"]
    lines += [f"  - id: {project}" + ("\n    detail: true" if detail else "") for project in projects]
    path.write_text("\n".join(lines) + "\nhistory:\n  buckets: [60]\n" + extra)
    return path


def counted(samples: dict) -> Counter[tuple[str, str, str]]:
    """codearts_pipeline_runs_total per (project, pipeline id, status), zeros left out."""
    out: Counter[tuple[str, str, str]] = Counter()
    for (name, labels), value in samples.items():
        if name == "codearts_pipeline_runs_total" and value:
            found = dict(labels)
            out[(found["project_id"], found["pipeline_id"], found["status"])] += int(value)
    return out
