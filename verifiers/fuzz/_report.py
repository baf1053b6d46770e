"""Readable results: a summary grouped by operation and check, and an HTML report
in which every finding carries its curl reproduction. Everything shown is escaped."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Collection

from covenant.kernel.redact import redact_url
from verifiers.fuzz._model import FuzzResult

__all__ = ["render_html", "summary_rows"]


def summary_rows(result: FuzzResult) -> list[tuple[str, str, int]]:
    """(operation, check, findings) sorted by operation."""
    counts = Counter((f.operation, f.check) for f in result.findings)
    return sorted((op, check, n) for (op, check), n in counts.items())


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_html(results: list[FuzzResult], known: Collection[tuple[str, str]] | None = None) -> str:
    """The report; with ``known`` (the (service, id) pairs of a baseline) each finding
    says whether the baseline knew it."""
    sections = []
    for result in results:
        options = result.options
        findings = []
        for finding in result.findings:
            response = finding.response or {}
            status = ""
            if known is not None:
                is_known = (options.service, finding.id) in known
                status = f' <span class="{"known" if is_known else "new"}">'
                status += ("known" if is_known else "new, not in the baseline") + "</span>"
            findings.append(
                f"""<article class="finding" id="{_e(finding.id)}">
<h3>{_e(finding.id)}: {_e(finding.title)}{status}</h3>
<p><b>{_e(finding.operation)}</b> &middot; check <code>{_e(finding.check)}</code>
{f"&middot; {_e(finding.code)}" if finding.code else ""}</p>
<pre class="message">{_e(finding.message)}</pre>
<p>Response: {_e(response.get("status", "none"))}</p>
<pre class="body">{_e(response.get("body", ""))}</pre>
<p>Reproduce:</p><pre class="curl">{_e(finding.curl)}</pre>
<p>Re-send: <code>covenant fuzz --replay {_e(finding.id)}</code></p>
</article>"""
            )
        errors = "".join(f"<li>{_e(e)}</li>" for e in result.errors)
        sections.append(
            f"""<section>
<h2>{_e(options.service)} &mdash; {_e(result.outcome)}</h2>
<p>spec {_e(redact_url(options.spec))}; seed {_e(options.seed)};
phases {_e(", ".join(options.phases))};
{_e(result.operations)} operations, {_e(result.test_cases)} test cases,
{_e(len(result.findings))} findings; run {_e(result.run_id)}</p>
{f"<ul class='errors'>{errors}</ul>" if errors else ""}
{"".join(findings) or "<p>No findings.</p>"}
</section>"""
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Covenant fuzz report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 70rem; }}
pre {{ background: #f4f4f4; padding: .5rem; overflow-x: auto; white-space: pre-wrap; }}
.finding {{ border-left: 4px solid #c33; padding-left: 1rem; margin: 1rem 0; }}
.errors {{ color: #a50; }}
.known {{ color: #666; font-size: .8em; }}
.new {{ color: #c33; font-size: .8em; }}
</style></head>
<body><h1>Covenant fuzz report</h1>
{"".join(sections)}
</body></html>
"""
