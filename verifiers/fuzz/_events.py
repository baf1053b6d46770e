"""Read Schemathesis's NDJSON event stream into findings.

The stream is Schemathesis's documented report format (``--report ndjson``):
one JSON object per line, keyed by event type. ``ScenarioFinished`` events
carry a recorder with the generated cases, the checks run on each and the
recorded HTTP interactions, which is all a finding needs, curl line included.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from covenant.kernel.redact import MASK
from covenant.kernel.redact import redact_headers as kernel_redact_headers
from verifiers.fuzz._model import Finding

__all__ = ["curl_line", "read_events", "redact_headers"]


def redact_headers(headers: dict[str, Any]) -> dict[str, str]:
    """Schemathesis's headers (a value may be a list) flattened, secrets masked."""
    flat = {
        name: ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        for name, value in (headers or {}).items()
    }
    return kernel_redact_headers(flat)


def _body_text(content: Any) -> str | None:
    if content is None:
        return None
    if isinstance(content, dict) and "$base64" in content:
        raw = base64.b64decode(content["$base64"])
        return raw.decode("utf-8", errors="replace")
    if isinstance(content, str):
        return content
    return json.dumps(content)


def curl_line(request: dict[str, Any]) -> str:
    """A copy-paste reproduction; secret headers are left for the user to fill in."""
    parts = ["curl", "-X", str(request.get("method", "GET")), shlex.quote(str(request["uri"]))]
    for name, value in redact_headers(request.get("headers") or {}).items():
        if value == MASK:
            value = f"${{{name.upper().replace('-', '_')}}}"
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    body = _body_text(request.get("body"))
    if body is not None:
        parts += ["--data-raw", shlex.quote(body)]
    return " ".join(parts)


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            line = line.strip()
            if line:
                yield json.loads(line)


def read_events(path: Path, run_id: str = "") -> tuple[list[Finding], int, int, list[str]]:
    """Findings (deduplicated), operations tested, test cases, and engine errors.

    A finding's id is derived from the run and what was found, so it is stable
    within a run and unique across runs (``covenant fuzz --replay F-...``)."""
    findings: dict[tuple[str, str, str], Finding] = {}
    operations: set[str] = set()
    cases = 0
    errors: list[str] = []
    for event in _lines(path):
        if "NonFatalError" in event:
            info = event["NonFatalError"]
            errors.append(f"{info.get('label', '?')}: {info.get('info', {}).get('message', info)}")
        if "FatalError" in event:
            errors.append(str(event["FatalError"].get("exception", event["FatalError"]))[:500])
        if "ScenarioFinished" not in event:
            continue
        recorder = event["ScenarioFinished"].get("recorder") or {}
        if recorder.get("label"):
            operations.add(str(recorder["label"]))
        cases += len(recorder.get("cases") or {})
        interactions = recorder.get("interactions") or {}
        for case_id, checks in (recorder.get("checks") or {}).items():
            for check in checks:
                if check.get("status") == "success":
                    continue
                failure = ((check.get("failure_info") or {}).get("failure")) or {}
                interaction = interactions.get(case_id) or {}
                request = interaction.get("request") or {}
                if not request:
                    continue
                response = interaction.get("response")
                finding = Finding(
                    id="",
                    operation=str(failure.get("operation") or recorder.get("label") or "?"),
                    check=str(check.get("name")),
                    code=failure.get("code"),
                    title=str(failure.get("title") or check.get("name")),
                    message=str(failure.get("message") or ""),
                    severity=failure.get("severity"),
                    request={
                        "method": request.get("method"),
                        "uri": request.get("uri"),
                        "headers": redact_headers(request.get("headers") or {}),
                        "body": _body_text(request.get("body")),
                    },
                    response=None
                    if not response
                    else {
                        "status": response.get("status_code"),
                        "headers": redact_headers(response.get("headers") or {}),
                        "body": (_body_text(response.get("content")) or "")[:2000],
                        "elapsed": response.get("elapsed"),
                    },
                    curl=curl_line(request),
                )
                findings.setdefault(finding.key, finding)
    numbered = []
    for finding in findings.values():
        digest = hashlib.sha256("|".join((run_id, *finding.key)).encode()).hexdigest()[:10]
        numbered.append(_with_id(finding, f"F-{digest}"))
    return numbered, len(operations), cases, errors


def _with_id(finding: Finding, identifier: str) -> Finding:
    from dataclasses import replace

    return replace(finding, id=identifier)
