"""Read Schemathesis's NDJSON event stream into findings.

The stream is Schemathesis's documented report format (``--report ndjson``):
one JSON object per line, keyed by event type. ``ScenarioFinished`` events
carry a recorder with the generated cases, the checks run on each and the
recorded HTTP interactions, which is all a finding needs, curl line included.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from covenant.kernel.redact import MASK, is_secret_name, scrub
from verifiers.fuzz._model import Finding, finding_id, problem_of

__all__ = ["Masker", "curl_line", "read_events", "redact_headers"]

#: Shorter values are masked where they stand as a header's value, but not searched
#: for in free text (a tenant id ``7`` would otherwise mask every 7 of a report).
MIN_SCRUBBED = 4


@dataclass(frozen=True)
class Masker:
    """What must not be shown of a run's headers (``-H``, ``--auth``, ``--token``, a
    configured service's credentials): every such header's value wherever it stands
    as a header, whatever its name, and its literal text (and the token or password
    inside an ``Authorization`` value) wherever it appears in free text: Schemathesis's
    output, messages, bodies, the files it writes."""

    names: frozenset[str] = frozenset()
    values: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> Masker:
        values: set[str] = set()
        for value in headers.values():
            values.add(value)
            scheme, _, credential = value.strip().partition(" ")
            if credential:
                values.add(credential.strip())
                if scheme.lower() == "basic":
                    values.update(_basic_parts(credential.strip()))
        found = [v for v in values if len(v) >= MIN_SCRUBBED]
        # Also as they appear escaped in JSON and XML reports.
        escaped = {form for v in found for form in (json.dumps(v)[1:-1], html.escape(v))}
        return cls(
            frozenset(name.lower() for name in headers),
            tuple(sorted(set(found) | escaped, key=len, reverse=True)),
        )

    def is_secret(self, name: str) -> bool:
        return name.lower() in self.names or is_secret_name(name)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {k: (MASK if self.is_secret(k) else self.text(v)) for k, v in headers.items()}

    def text(self, text: str) -> str:
        return scrub(text, self.values) if self.values and text else text

    def file(self, path: Path) -> None:
        """Scrub a report Schemathesis wrote (NDJSON events, JUnit XML) in place."""
        if not self.values or not path.exists():
            return
        original = path.read_text(encoding="utf-8", errors="surrogateescape")
        cleaned = self.text(original)
        if cleaned != original:
            path.write_text(cleaned, encoding="utf-8", errors="surrogateescape")


def _basic_parts(credential: str) -> Iterable[str]:
    try:
        pair = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ()
    _, _, password = pair.partition(":")
    return (pair, password)


def redact_headers(headers: dict[str, Any], masker: Masker | None = None) -> dict[str, str]:
    """Schemathesis's headers (a value may be a list) flattened, secrets masked: those
    with a secret name, and every header of ``masker``."""
    flat = {
        name: ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        for name, value in (headers or {}).items()
    }
    return (masker or Masker()).headers(flat)


def _body_text(content: Any) -> str | None:
    if content is None:
        return None
    if isinstance(content, dict) and "$base64" in content:
        raw = base64.b64decode(content["$base64"])
        return raw.decode("utf-8", errors="replace")
    if isinstance(content, str):
        return content
    return json.dumps(content)


def _quote(text: str) -> str:
    """``text`` quoted for a POSIX shell; one with control or other unprintable
    characters (generated data often has them) in bash's ``$'...'`` with escapes, so a
    curl line never writes raw control characters to a terminal."""
    if text.isprintable():
        return shlex.quote(text)
    escaped = []
    for char in text:
        if char in "\\'":
            escaped.append("\\" + char)
        elif char.isprintable():
            escaped.append(char)
        elif ord(char) < 0x80:
            escaped.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(f"\\U{ord(char):08x}")
    return "$'" + "".join(escaped) + "'"


def curl_line(request: dict[str, Any], masker: Masker | None = None) -> str:
    """A copy-paste reproduction; secret headers are left for the user to fill in
    (``-H 'Authorization: ${AUTHORIZATION}'``)."""
    masker = masker or Masker()
    uri = masker.text(str(request["uri"]))
    parts = ["curl", "-X", _quote(str(request.get("method", "GET"))), _quote(uri)]
    for name, value in redact_headers(request.get("headers") or {}, masker).items():
        if value == MASK:
            value = f"${{{name.upper().replace('-', '_')}}}"
        parts += ["-H", _quote(f"{name}: {value}")]
    body = _body_text(request.get("body"))
    if body is not None:
        parts += ["--data-raw", _quote(masker.text(body))]
    return " ".join(parts)


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            line = line.strip()
            if line:
                yield json.loads(line)


def read_events(
    path: Path, masker: Masker | None = None
) -> tuple[list[Finding], int, int, list[str]]:
    """Findings (deduplicated), operations tested, test cases, and engine errors.

    A finding's id names the problem, not the run (:func:`finding_id`): the same
    problem found again, in this run or a later one, has the same id. Everything
    kept is masked by ``masker`` (and secret-named headers always are)."""
    masker = masker or Masker()
    findings: dict[tuple[str, str, str], Finding] = {}
    operations: set[str] = set()
    cases = 0
    errors: list[str] = []
    for event in _lines(path):
        if "NonFatalError" in event:
            info = event["NonFatalError"]
            errors.append(
                masker.text(
                    f"{info.get('label', '?')}: {info.get('info', {}).get('message', info)}"
                )
            )
        if "FatalError" in event:
            fatal = event["FatalError"]
            errors.append(masker.text(str(fatal.get("exception", fatal))[:500]))
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
                finding = _finding(recorder, check, interactions.get(case_id) or {}, masker)
                if finding is not None:
                    findings.setdefault(finding.key, finding)
    return list(findings.values()), len(operations), cases, errors


def _finding(
    recorder: dict[str, Any], check: dict[str, Any], interaction: dict[str, Any], masker: Masker
) -> Finding | None:
    failure = ((check.get("failure_info") or {}).get("failure")) or {}
    request = interaction.get("request") or {}
    if not request:
        return None
    response = interaction.get("response")
    operation = str(failure.get("operation") or recorder.get("label") or "?")
    name = str(check.get("name"))
    title = masker.text(str(failure.get("title") or name))
    message = masker.text(str(failure.get("message") or ""))
    problem = problem_of(title, message)
    return Finding(
        id=finding_id(operation, name, problem),
        operation=operation,
        check=name,
        code=failure.get("code"),
        title=title,
        message=message,
        severity=failure.get("severity"),
        request={
            "method": request.get("method"),
            "uri": masker.text(str(request.get("uri"))),
            "headers": redact_headers(request.get("headers") or {}, masker),
            "body": _masked(_body_text(request.get("body")), masker),
        },
        response=None
        if not response
        else {
            "status": response.get("status_code"),
            "headers": redact_headers(response.get("headers") or {}, masker),
            "body": masker.text((_body_text(response.get("content")) or "")[:2000]),
            "elapsed": response.get("elapsed"),
        },
        curl=curl_line(request, masker),
        problem=problem,
    )


def _masked(text: str | None, masker: Masker) -> str | None:
    return None if text is None else masker.text(text)
