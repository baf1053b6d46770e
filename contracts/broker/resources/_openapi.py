"""Tie the broker's documented operations to the FastAPI application: the app's
OpenAPI document is post-processed by :func:`describe_broker_operations`, and
every JSON body a route reads is checked against the schema documented for that
route (:func:`check_body`, the :class:`BrokerContext`'s ``check_body``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request

from contracts.broker._body_schema import check_operation_body
from contracts.broker._openapi import describe_broker_operations

__all__ = ["check_body", "document_broker_operations"]


def document_broker_operations(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the broker's operations are documented as answered."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = describe_broker_operations(generate())
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def check_body(request: Request, body: Any) -> None:
    """Raise a 400 problem naming where ``body`` breaks the documented schema of the
    operation ``request`` was routed to."""
    route = request.scope.get("route")
    check_operation_body(request.method, getattr(route, "path", None), body)
