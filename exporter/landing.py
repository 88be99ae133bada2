"""The landing page (``/``): what the exporter polls, how each poll went, and what is failing now.

Rendered from the published snapshot and the small, immutable :class:`LandingInfo` only: a page view never
calls CodeArts and does no I/O. Everything that came from upstream or from the configuration is
HTML-escaped, and a link is made only from an ``http(s)`` URL.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

from exporter.assumptions import Contradiction, known
from exporter.snapshot import Snapshot, TargetState
from exporter.sourcetable import SourceTable
from exporter.wording import plural

MAX_FAILING_ROWS = 200  # a page stays readable (and small) when a whole project is red


@dataclass(frozen=True, slots=True)
class LandingInfo:
    """What the page shows beside the snapshot: all plain, immutable, secret-free values."""

    version: str
    interval: float  # poll.interval_seconds: when the next regular poll is due
    settings: tuple[tuple[str, str], ...] = ()  # the configuration summary, (name, value) rows
    token_expiry: float | None = None
    assumptions: tuple[Contradiction, ...] = ()  # the first contradiction of each (api, assumption)
    sources: SourceTable = SourceTable(())  # the sources of the snapshot's targets (each lists its failing jobs)


# --- rendering --------------------------------------------------------------------------------------

def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(at: float | None, now: float) -> str:
    """``16:55:02 UTC (12 s ago)`` (the date too when not today), ``in 48 s`` for a future time; a dash
    when unknown."""
    if at is None:
        return "—"
    same_day = time.gmtime(at)[:3] == time.gmtime(now)[:3]
    stamp = time.strftime("%H:%M:%S UTC" if same_day else "%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
    delta = now - at
    relative = f"{_span(delta)} ago" if delta >= 0 else f"in {_span(-delta)}"
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    return f'<time datetime="{_e(iso)}" title="{_e(iso)}">{_e(stamp)}</time> ({relative})'


def _span(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


def _link(url: str, text: str) -> str:
    if url.lower().startswith(("https://", "http://")):
        return f'<a href="{_e(url)}" rel="noreferrer noopener">{_e(text)}</a>'
    return _e(text)


def next_poll(state: TargetState, interval: float, taken_at: float | None) -> float | None:
    """When the target is polled next: its backoff time after failures, else one interval after its last
    poll (the poller starts a cycle every interval); None before the first poll."""
    if state.next_poll_at is not None:
        return state.next_poll_at
    last = state.last_poll_at if state.last_poll_at is not None else taken_at
    return None if last is None else last + interval


def known_names(snapshot: Snapshot, sources: SourceTable) -> dict[str, str]:
    """The names the snapshot's name targets give to repository and CodeArts project ids."""
    names: dict[str, str] = {}
    for state in snapshot.states:
        names.update(sources.get(state.target.api).names(state))
    return names


def _target_rows(snapshot: Snapshot, info: LandingInfo, now: float) -> str:
    names = known_names(snapshot, info.sources)
    rows = []
    for state in snapshot.states:
        if not state.polled:
            result, css = "waiting for the first poll", "wait"
        elif state.up:
            result, css = "ok", "ok"
        else:
            in_a_row = f" ({state.failures} polls in a row)" if state.failures > 1 else ""
            result, css = f"failed{in_a_row}: {state.error}", "bad"
        jobs = len(state.records)
        due = next_poll(state, info.interval, snapshot.taken_at)
        name = names.get(state.target.key.split("/", 1)[0], "")
        rows.append(
            f'<tr class="{css}"><td>{_e(state.target.api)}</td><td><code>{_e(state.target.key)}</code></td>'
            f"<td>{_e(name) or '—'}</td><td>{_when(state.last_poll_at, now)}</td><td>{_when(due, now)}</td>"
            f"<td>{_when(state.last_success_at, now)}</td><td>{jobs}</td><td class=\"result\">{_e(result)}</td></tr>")
    if not rows:
        rows.append('<tr><td colspan="8">No target yet (discovery has not found any).</td></tr>')
    return ("<table><thead><tr><th>API</th><th>Target</th><th>Name</th><th>Last polled</th><th>Next poll</th>"
            "<th>Last success</th><th>Jobs</th><th>Result</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _failing_rows(snapshot: Snapshot, sources: SourceTable, now: float) -> tuple[list[str], int]:
    names = known_names(snapshot, sources)
    rows: list[tuple[float, str]] = []
    for state in snapshot.states:
        for job in sources.get(state.target.api).failing_jobs(state):
            where = f"{names[job.owner]}: {job.where}" if job.owner in names else job.where
            rows.append((job.since or 0.0, f'<tr class="bad"><td>{_link(job.url, job.name)}</td>'
                         f"<td>{_e(job.status)}</td><td>{_e(where)}</td><td>{_when(job.since, now)}</td></tr>"))
    rows.sort(key=lambda row: row[0], reverse=True)
    return [row for _, row in rows[:MAX_FAILING_ROWS]], len(rows)


def _unknown(snapshot: Snapshot) -> str:
    """Why nobody can tell what is failing now ("" when the last poll read some target)."""
    if any(state.up for state in snapshot.states) or not snapshot.states:
        return ""
    if not any(state.polled for state in snapshot.states):
        return "Unknown yet: no target has been polled."
    return "Unknown: the last poll of every target failed (see Targets below), so nothing is known of the jobs now."


def _failing(snapshot: Snapshot, sources: SourceTable, now: float) -> str:
    rows, total = _failing_rows(snapshot, sources, now)
    unknown = _unknown(snapshot)
    if unknown:
        unknown = f'<p class="unknown"><b>{_e(unknown)}</b>' + (" The jobs below are from older polls.</p>"
                                                                if rows else "</p>")
    if not rows:
        return unknown or "<p>No job is failing or timed out right now.</p>"
    more = f"<p>… and {total - len(rows)} more (see <code>/metrics</code>).</p>" if total > len(rows) else ""
    return (f"{unknown}<p>{plural(total, 'job')} whose latest run failed or timed out, newest first. A job links "
            "to its CodeArts page where its API gives one.</p>"
            "<table><thead><tr><th>Job</th><th>Status</th><th>Where</th><th>Since</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>" + more)


def _discovery(snapshot: Snapshot, now: float) -> str:
    if snapshot.discovery is None:
        return "<p>Discovery is not configured: the targets above are the configured ones.</p>"
    rows = []
    for source in snapshot.discovery.statuses:
        what = "repositories matched" if source.source == "project" else "pipelines watched"
        found = f"{source.found} {what}"
        if source.names:
            found += ": " + ", ".join(source.names)
        outcome = "ok" if source.up else "failing (keeps what it found before)"
        rows.append(f'<tr class="{"ok" if source.up else "bad"}"><td>{_e(source.source)}</td>'
                    f"<td><code>{_e(source.id)}</code></td><td>{_e(outcome)}</td>"
                    f"<td>{_when(source.last_success_at, now)}</td><td>{_e(found)}</td></tr>")
    return ("<table><thead><tr><th>Source</th><th>Id</th><th>Last pass</th><th>Last success</th>"
            "<th>Found</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _assumptions(info: LandingInfo, now: float) -> str:
    if not info.assumptions:
        return ("<p>No CodeArts answer has contradicted an assumption about undocumented behaviour "
                "(see docs/reliability.md).</p>")
    rows = []
    for each in info.assumptions:
        try:
            fallback = known(each.assumption).fallback
        except KeyError:
            fallback = ""
        rows.append(f'<tr class="bad"><td>{_e(each.api)}</td><td><code>{_e(each.assumption)}</code></td>'
                    f"<td>{each.targets}</td><td><code>{_e(each.target)}</code>: {_e(each.detail)}</td>"
                    f"<td>{_when(each.first_at, now)}</td><td>{_e(fallback)}</td></tr>")
    return ("<p>CodeArts answered otherwise than the exporter assumed where the documentation is silent; it fell "
            "back as shown (codearts_api_assumption_failures_total counts the targets).</p>"
            "<table><thead><tr><th>API</th><th>Assumption</th><th>Targets</th><th>First seen at</th><th>When</th>"
            "<th>Fallback</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _settings(info: LandingInfo, now: float) -> str:
    rows = [f"<tr><th>{_e(name)}</th><td>{_e(value)}</td></tr>" for name, value in info.settings]
    if info.token_expiry is not None:
        rows.append(f"<tr><th>IAM token expires</th><td>{_when(info.token_expiry, now)}</td></tr>")
    return '<table class="settings"><tbody>' + "".join(rows) + "</tbody></table>"


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em 2em;color:#1d1d1f;max-width:1400px}
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.6em 0 .5em}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;
vertical-align:top}thead th{background:#f3f3f5}tr.bad td{background:#fdecec}tr.ok td:first-child{border-left:4px solid
#2e9d4f}tr.bad td:first-child{border-left:4px solid #c62828}tr.wait td:first-child{border-left:4px solid #b0b0b0}
td.result{max-width:40em;overflow-wrap:anywhere}table.settings{width:auto}
table.settings th{font-weight:600;padding-right:2em}
.summary span{display:inline-block;margin-right:1.5em}td:has(time){white-space:nowrap}
code{font-size:.95em}nav a{margin-right:1em}
"""


def render_landing(snapshot: Snapshot, info: LandingInfo, now: float) -> str:
    """The whole page, from the published snapshot and ``info`` only."""
    polled = sum(state.polled for state in snapshot.states)
    up = sum(state.up for state in snapshot.states)
    failing = _failing_rows(snapshot, info.sources, now)[1]
    failing_text = "jobs failing: <b>unknown</b>" if _unknown(snapshot) else \
        f"<b>{failing}</b> {'job' if failing == 1 else 'jobs'} failing or timed out"
    summary = (f"<span><b>{up}</b> of {plural(len(snapshot.states), 'target')} up</span>"
               f"<span><b>{polled}</b> polled</span><span>{failing_text}</span>"
               f"<span>last cycle {_when(snapshot.taken_at, now)}</span>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="refresh" content="30">'
        f"<title>CodeArts exporter {_e(info.version)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>CodeArts exporter {_e(info.version)}</h1>"
        '<nav><a href="/metrics">/metrics</a><a href="/healthz">/healthz</a><a href="/readyz">/readyz</a></nav>'
        f'<p class="summary">{summary}</p>'
        f"<h2>Failing now</h2>{_failing(snapshot, info.sources, now)}"
        f"<h2>Targets</h2>{_target_rows(snapshot, info, now)}"
        f"<h2>Discovery</h2>{_discovery(snapshot, now)}"
        f"<h2>Assumptions contradicted</h2>{_assumptions(info, now)}"
        f"<h2>Configuration</h2>{_settings(info, now)}"
        f"<p><small>Rendered {_when(now, now)} from the last poll cycle; this page never calls CodeArts "
        "and reloads every 30 s.</small></p></body></html>\n"
    )
