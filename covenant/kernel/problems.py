"""RFC 9457 problem documents: the one body every error of Covenant's HTTP API
answers with, and the one JSON Schema its OpenAPI document publishes for it.

Framework-free: the HTTP edge (broker resources, the app) wraps the body in a
response with :data:`PROBLEM_JSON` as its media type.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = ["PROBLEM_JSON", "PROBLEM_SCHEMA", "problem_body"]

PROBLEM_JSON = "application/problem+json"

#: The schema of :func:`problem_body`'s result, as published in OpenAPI documents.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}


def problem_body(
    status: int,
    detail: str,
    *,
    instance: str,
    title: str | None = None,
    type_: str = "about:blank",
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A problem document; ``title`` defaults to the status's reason phrase and
    ``errors`` (what failed, and where) is added only when there is any."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    return body
