"""Make the broker's OpenAPI description tell the truth about its answers.

FastAPI derives each operation's responses from the endpoint signature, but
the broker answers HAL documents (``application/hal+json``) on success and
RFC 9457 problem documents on every error, and reads its JSON bodies itself
(to report bad input with line and column). This post-processing documents
that for every broker operation, so clients, ``covenant contracts compare`` and
Schemathesis see what the broker really does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

__all__ = ["document_broker_operations"]

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

_ERRORS = {
    "400": "Bad input: the problem document names what and where",
    "401": "A bearer token is required, or the token is not valid",
    "403": "The token may only read",
    "404": "No such resource",
    "405": "Method not allowed",
    "409": "Conflicts with what is stored",
    "413": "The body exceeds broker.max_body_bytes",
    "415": "Unsupported media type",
    "503": "The broker database is unavailable; nothing was stored",
}
_HAL = {"schema": {"type": "object"}}


def _document(operation: dict[str, Any], method: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)  # validation errors are answered as 400 problems
    for status, response in list(responses.items()):
        if status.startswith("2"):
            response["content"] = {"application/hal+json": _HAL, "application/json": _HAL}
    extra = {"post": ("200", "201"), "put": ("200", "201"), "patch": ("200",), "delete": ("204",)}
    for status in extra.get(method, ()):
        responses.setdefault(
            status,
            {"description": "Done", "content": {"application/hal+json": _HAL}}
            if status != "204"
            else {"description": "Deleted"},
        )
    for status, description in _ERRORS.items():
        responses.setdefault(
            status,
            {
                "description": description,
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
        )
    if method in ("post", "put", "patch") and "requestBody" not in operation:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }


def document_broker_operations(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the broker's operations are documented as answered."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        for item in document.get("paths", {}).values():
            for method, operation in item.items():
                if "broker" in operation.get("tags", []):
                    _document(operation, method)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
