"""The status page: one self-contained HTML document, no build step, no external assets.

Everything shown comes from check files, stored runs, fuzz findings and pacts, all
of which may hold text an attacker chose (an error echoing a response body, a
finding's message), so every value goes through ``html.escape``; the page is also
served with a Content-Security-Policy that allows no script at all, so a value that
slipped through still could not run. Charts are inline SVG drawn here.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from covenant.app._status_data import CheckDefinition, ContractPair, FuzzRunOut, RunOut

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "REFRESH_S",
    "CheckView",
    "LatencyPoint",
    "StatusView",
    "latency_series",
    "render_status_page",
]

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
REFRESH_S = 10

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1rem;
color:#1d2330;background:#f6f7f9}
h1{margin:.2rem 0}h2{border-bottom:2px solid #d5d9e0;padding-bottom:.2rem;margin-top:2rem}
.muted{color:#667085}.note{background:#fff4d6;border:1px solid #e8c660;padding:.5rem .8rem;
margin:.5rem 0;border-radius:4px}
.check{background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:.8rem 1rem;
margin:1rem 0}.check h3{margin:0 0 .3rem;font-family:ui-monospace,monospace}
.badge{display:inline-block;min-width:3.2em;text-align:center;border-radius:3px;
padding:0 .35em;font-size:12px;font-weight:600;color:#fff;background:#98a2b3}
.pass,.success{background:#1a7f37}.fail,.failure{background:#cf222e}.error{background:#bc4c00}
ol.runs{list-style:none;display:flex;flex-wrap:wrap;gap:.3rem;padding:0;margin:.5rem 0}
ol.runs li{display:flex;flex-direction:column;align-items:center;font-size:11px}
.lasterror{white-space:pre-wrap;background:#fff0f0;border-left:3px solid #cf222e;
padding:.3rem .6rem;font-family:ui-monospace,monospace;font-size:12px;overflow-wrap:anywhere}
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}
figcaption{font-size:12px;font-family:ui-monospace,monospace}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d5d9e0;padding:.25rem .5rem;text-align:left;font-size:13px}
th{background:#eef0f4}code{font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@dataclass(frozen=True)
class LatencyPoint:
    run_id: str
    started_at: datetime
    #: ``missing``: the run did not ask for this signal (the check changed since).
    outcome: str
    latency_s: float | None = None


def latency_series(runs: Sequence[RunOut]) -> dict[str, list[LatencyPoint]]:
    """Per signal (``kind:name``), one point per run, oldest first; a run that did not
    see the signal is a point without latency, so the chart marks the gap instead of
    silently joining its neighbours."""
    ordered = sorted(runs, key=lambda r: r.started_at)
    signals = sorted({f"{e.kind}:{e.name}" for run in ordered for e in run.expectations})
    series: dict[str, list[LatencyPoint]] = {signal: [] for signal in signals}
    for run in ordered:
        seen = {f"{e.kind}:{e.name}": e for e in run.expectations}
        for signal in signals:
            item = seen.get(signal)
            latency = item.latency_s if item and item.outcome == "seen" else None
            outcome = item.outcome if item else "missing"
            series[signal].append(LatencyPoint(run.run_id, run.started_at, outcome, latency))
    return series


@dataclass(frozen=True)
class CheckView:
    definition: CheckDefinition
    #: Newest first.
    runs: list[RunOut] = field(default_factory=list)


@dataclass
class StatusView:
    generated_at: datetime
    checks: list[CheckView] = field(default_factory=list)
    fuzz_runs: list[FuzzRunOut] = field(default_factory=list)
    contracts: list[ContractPair] = field(default_factory=list)
    #: Shown at the top: no database, database down, check files with problems.
    notes: list[str] = field(default_factory=list)


def _chart(signal: str, points: Sequence[LatencyPoint]) -> str:
    """Latency per run as a line; runs that did not see the signal are red crosses on
    the baseline (they have no latency to plot, and hiding them would flatter)."""
    width, height, left, right, top, bottom = 320, 80, 40, 8, 8, 16
    plot_w, plot_h = width - left - right, height - top - bottom
    latencies = [p.latency_s for p in points if p.latency_s is not None]
    top_s = max(latencies) * 1.1 if latencies and max(latencies) > 0 else 1.0
    step = plot_w / max(len(points) - 1, 1)
    parts = [
        f'<svg class="latency" xmlns="http://www.w3.org/2000/svg" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{_e(f"latency of {signal}")}">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff"'
        ' stroke="#d5d9e0"/>',
        f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">{top_s:.2f}s</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end">0s</text>',
    ]
    path: list[str] = []
    pen_down = False
    base = top + plot_h
    for index, point in enumerate(points):
        x = left + index * step
        label = _e(f"{_when(point.started_at)} {point.outcome}")
        if point.latency_s is None:
            pen_down = False
            if point.outcome != "missing":
                parts.append(
                    f'<path class="not-seen" d="M{x - 3:.1f} {base - 3} L{x + 3:.1f} {base + 3}'
                    f' M{x - 3:.1f} {base + 3} L{x + 3:.1f} {base - 3}" stroke="#cf222e"'
                    f' stroke-width="2"><title>{label}</title></path>'
                )
            continue
        y = top + plot_h * (1 - point.latency_s / top_s)
        path.append(f"{'L' if pen_down else 'M'}{x:.1f} {y:.1f}")
        pen_down = True
        parts.append(
            f'<circle class="seen" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#0969da">'
            f"<title>{label} {point.latency_s:.3f}s</title></circle>"
        )
    if path:
        parts.insert(4, f'<path d="{" ".join(path)}" fill="none" stroke="#0969da"/>')
    parts.append("</svg>")
    return f"<figure><figcaption>{_e(signal)}</figcaption>{''.join(parts)}</figure>"


def _badge(text: str, kind: str | None = None) -> str:
    return f'<span class="badge {_e(kind or text)}">{_e(text)}</span>'


def _last_problem(runs: Sequence[RunOut]) -> str:
    for run in runs:
        if run.result == "pass":
            continue
        lines = [run.error] if run.error else []
        lines += [
            f"{e.kind}:{e.name}: {e.outcome}" + (f": {e.detail}" if e.detail else "")
            for e in run.expectations
            if e.outcome != "seen"
        ]
        text = "\n".join(lines) or run.result
        return (
            f"<p>Last problem ({_e(_when(run.started_at))}, run <code>{_e(run.run_id)}</code>):"
            f'</p><pre class="lasterror">{_e(text)}</pre>'
        )
    return ""


def _check(view: CheckView) -> str:
    d, runs = view.definition, view.runs
    passed = sum(1 for r in runs if r.result == "pass")
    head = _badge(runs[0].result) if runs else _badge("no runs", "none")
    rate = f"{passed}/{len(runs)} recent runs passed" if runs else "no runs stored yet"
    where = f" · location {_e(d.location)}" if d.location else ""
    badges = "".join(
        f'<li title="{_e(f"{r.run_id}: {r.result}" + (f" - {r.error}" if r.error else ""))}">'
        f'{_badge(r.result)}<time datetime="{_e(r.started_at.isoformat())}">'
        f"{_e(r.started_at.astimezone(UTC).strftime('%H:%M:%S'))}</time></li>"
        for r in reversed(runs)
    )
    charts = "".join(_chart(s, p) for s, p in latency_series(runs).items())
    return (
        f'<article class="check" id="check-{_e(d.name)}"><h3>{head} {_e(d.name)}</h3>'
        f"<p>{_e(d.description)}</p>"
        f'<p class="muted">Schedule: {_e(d.schedule)}{where} · {_e(rate)}'
        f" · <code>{_e(d.source)}</code></p>"
        + (f'<ol class="runs">{badges}</ol>' if runs else "")
        + _last_problem(runs)
        + (f'<div class="charts">{charts}</div>' if charts else "")
        + "</article>"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fuzz(runs: Sequence[FuzzRunOut]) -> str:
    outcome_kind = {"clean": "pass", "findings": "fail"}
    rows = [
        (
            _e(r.service),
            _badge(r.outcome, outcome_kind.get(r.outcome, "error")),
            _e(r.findings),
            _e(f"{r.operations} operations, {r.test_cases} test cases"),
            _e(_when(r.started_at)),
            f"<code>{_e(r.run_id)}</code>",
        )
        for r in runs
    ]
    headers = ("Service", "Outcome", "Findings", "Covered", "When", "Run")
    return _table(headers, rows, "No fuzz runs stored yet.")


def _contracts(pairs: Sequence[ContractPair]) -> str:
    rows = [
        (
            f"{_e(p.consumer)} &rarr; {_e(p.provider)}",
            _e(p.consumer_version),
            f"<code>{_e(p.pact_version_sha[:12])}</code>",
            _badge(p.status),
            _e(p.provider_version or "-"),
            _e(_when(p.verified_at)),
        )
        for p in pairs
    ]
    headers = ("Consumer → provider", "Latest pact from", "Pact", "Verification", "By", "When")
    return _table(headers, rows, "No pacts published yet.")


def render_status_page(view: StatusView) -> str:
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in view.notes)
    checks = "".join(_check(c) for c in view.checks) or '<p class="muted">No checks defined.</p>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH_S}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Covenant status</title><style>{_CSS}</style></head><body>"
        "<header><h1>Covenant status</h1>"
        f'<p class="muted">Updated {_e(_when(view.generated_at))}; this page reloads every'
        f" {REFRESH_S}s. JSON: <code>/api/checks</code>, <code>/api/runs</code>,"
        " <code>/api/fuzz/runs</code>, <code>/api/contracts/matrix</code>.</p></header>"
        f'{notes}<section id="checks"><h2>Synthetic checks</h2>{checks}</section>'
        f'<section id="fuzz"><h2>Fuzz runs</h2>{_fuzz(view.fuzz_runs)}</section>'
        f'<section id="contracts"><h2>Contracts</h2>{_contracts(view.contracts)}</section>'
        "</body></html>"
    )
