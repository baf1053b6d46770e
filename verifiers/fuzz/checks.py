"""Covenant's own Schemathesis checks, loaded into the Schemathesis CLI through
``SCHEMATHESIS_HOOKS=verifiers.fuzz.checks`` (the documented extension point).

- ``response_time_budget``: each response within ``COVENANT_FUZZ_RESPONSE_BUDGET_S``;
  a slow answer to an idempotent request is timed once more before it is
  reported, so a machine busy for a moment is not taken for a slow endpoint.
- ``no_stack_traces_or_secrets``: error bodies carry no stack trace, no
  exception dump and nothing that looks like a credential.
- ``problem_document_shape``: where the spec promises ``application/problem+json``
  for a status, the body is a problem document (type/title/status, status matching).

Schemathesis gives every failure of such a check one title, so the first line of a
check's message is what names the problem in a finding's id: it says what is wrong
in words that stay the same from one sighting to the next (numbers, quoted values
and ids are normalised away); the particulars go on the lines after it.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

import schemathesis

_STACK_TRACE = re.compile(
    r"Traceback \(most recent call last\)"  # Python
    r"|^\s+at [\w$.<>]+ \(.*:\d+:\d+\)"  # Node
    r"|\*\* \(\w+Error\)"  # Elixir
    r"|\(elixir \d"  # Elixir stack frames
    r"|Exception in thread"  # JVM
    r"|panicked at ",  # Rust
    re.MULTILINE,
)
_SECRET = re.compile(
    r"postgres(?:ql)?://[^:\s/]+:[^@\s/]+@"  # a DSN with a password
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    # A credential-named key with a value: "password=s3cr3t!", "token": "eyJh...".
    # The value must hold a digit or a symbol, as generated secrets do, so that
    # prose such as "request.password: must be a string" is not taken for one.
    r"""|\b(?:api[_-]?key|secret|password|passwd|token)\b["']?\s*[=:]\s*["']?"""
    r"""(?=[^\s"',;}]*[0-9_+/=!@#$%^&*-])[^\s"',;}]{6,}""",
    re.IGNORECASE,
)


def _budget() -> float:
    return float(os.environ.get("COVENANT_FUZZ_RESPONSE_BUDGET_S", "2.0"))


#: RFC 9110 section 9.2.2: sending these twice has the effect of sending them once.
_IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"}


def _timed_again(response: Any, budget: float) -> float | None:
    """Seconds the same idempotent request takes when sent once more; None when it
    cannot be replayed (not idempotent, or no answer at all)."""
    import requests  # Schemathesis's own transport; its PreparedRequest is replayable

    request = getattr(response, "request", None)
    if request is None or str(request.method).upper() not in _IDEMPOTENT:
        return None
    with requests.Session() as session:
        started = time.perf_counter()
        try:
            session.send(
                request.copy(), timeout=budget * 5 + 5, verify=bool(response.verify)
            ).close()
        except requests.RequestException:
            return None
        return time.perf_counter() - started


@schemathesis.check
def response_time_budget(ctx: Any, response: Any, case: Any) -> bool | None:
    budget = _budget()
    elapsed = float(response.elapsed)
    if elapsed <= budget:
        return None
    again = _timed_again(response, budget)
    if again is not None and again <= budget:
        return None  # a moment of a busy machine, not a slow endpoint
    shown = f"{elapsed:.3f}s" + (f", and {again:.3f}s when sent again" if again is not None else "")
    # The first line names the problem (a finding's id is made of it), the second
    # the timings, which differ every time.
    raise AssertionError(f"over the {budget:.3f}s budget\nanswered in {shown}")


@schemathesis.check
def no_stack_traces_or_secrets(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    text = response.text or ""
    if _STACK_TRACE.search(text):
        raise AssertionError("the error body contains a stack trace")
    if _SECRET.search(text):
        raise AssertionError("the error body contains something that looks like a secret")
    return None


def _resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow local ``$ref``s (``#/components/...``) within the spec."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 16:
        target: Any = document
        for part in str(node["$ref"]).lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node, seen = target, seen + 1
    return node


def _promised_media_types(case: Any, status: int) -> set[str]:
    document = case.operation.schema.raw_schema
    responses = _resolve(document, (case.operation.definition.raw or {}).get("responses", {}))
    declared = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or {}
    declared = _resolve(document, declared)
    return set((declared.get("content") or {}).keys())


@schemathesis.check
def problem_document_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    try:
        promised = _promised_media_types(case, response.status_code)
    except Exception:  # an unusual spec shape is not this check's business
        return None
    if "application/problem+json" not in promised:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(
            "the spec promises application/problem+json, the response is not one\n"
            f"status {response.status_code}, Content-Type {content_type or 'none'}"
        )
    try:
        body = json.loads(response.text or "")
    except ValueError:
        raise AssertionError("the problem document is not JSON") from None
    fields = body if isinstance(body, dict) else {}
    missing = [k for k in ("type", "title", "status") if k not in fields]
    if missing:
        raise AssertionError(
            f"the problem document lacks a required member\nmissing: {', '.join(missing)}"
        )
    if body["status"] != response.status_code:
        raise AssertionError(
            "the problem document's status is not the response's\n"
            f"it says {body['status']}, the response is {response.status_code}"
        )
    return None
