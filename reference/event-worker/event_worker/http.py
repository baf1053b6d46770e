"""The worker's HTTP side: health, metrics, OpenAPI, and the Pact message endpoint."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from event_worker.logs import log
from event_worker.messages import EVENT_PROCESSED_TOPIC, ScrapedEvent, build_event_processed
from event_worker.recovery import DATABASE_STATES, KAFKA_STATES
from event_worker.store import EventStore
from event_worker.worker import Settings, Worker, trace_id_of

__all__ = ["create_app"]

PROBLEM = "application/problem+json"
SAMPLE_EVENT = ScrapedEvent(
    event_id=uuid.UUID("6f1c2a4e-8b7d-4c1e-9f2a-3b5d7e9a1c20"),
    url="https://lu.ma/pact-summit",
    requested_at=datetime(2026, 12, 1, 18, 0, tzinfo=UTC),
    source="luma",
    traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    run_id=None,
)

_DEPENDENCY = {
    "type": "object",
    "required": ["status", "state", "since", "error", "failures"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded"]},
        "state": {
            "type": "string",
            "enum": sorted({*KAFKA_STATES, *DATABASE_STATES}),
            "description": (
                "kafka: connecting (to the broker, creating its topics), joining (the"
                " consumer group, no partition assigned yet), consuming (the only ok"
                " state), retrying (the last attempt failed; the next one follows a"
                " jittered backoff of at most 2 s). database: connected, unreachable."
            ),
        },
        "since": {
            "type": "string",
            "format": "date-time",
            "description": "when this dependency last turned ok or degraded",
        },
        "error": {"type": "string", "nullable": True, "description": "the last failure"},
        "failures": {"type": "integer", "minimum": 0, "description": "failed attempts since ok"},
    },
}
HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "service", "degraded", "since", "checks", "dependencies"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded"]},
        "service": {"type": "string", "enum": ["event-worker"]},
        "degraded": {
            "type": "array",
            "items": {"type": "string", "enum": ["database", "kafka"]},
            "description": "the dependencies that are not ok (empty when status is ok)",
        },
        "since": {
            "type": "string",
            "format": "date-time",
            "nullable": True,
            "description": "when the earliest of the degraded dependencies became so",
        },
        "checks": {
            "type": "object",
            "description": 'each dependency: "ok" or "error: STATE[: ERROR]"',
            "additionalProperties": {"type": "string"},
        },
        "dependencies": {
            "type": "object",
            "required": ["database", "kafka"],
            "properties": {"database": _DEPENDENCY, "kafka": _DEPENDENCY},
        },
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "event-worker", "version": "1.0.0"},
    "paths": {
        "/health": {
            "get": {
                "summary": "Database and Kafka consumer health",
                "description": (
                    "Always 200 while the process serves: a dependency outage is a state"
                    " the worker recovers from by itself, not a server error. `status` is"
                    " `ok` while the worker consumes and PostgreSQL answers, `degraded`"
                    " while Kafka or PostgreSQL is unreachable or the consumer is"
                    " (re)joining its group; `degraded` names the dependencies and"
                    " `since` when. The metrics `event_worker_consumer_up`,"
                    " `event_worker_kafka_state{state}` and `event_worker_database_up`"
                    " carry the same state."
                ),
                "responses": {
                    "200": {
                        "description": "ok, or degraded while a dependency recovers",
                        "content": {"application/json": {"schema": HEALTH_SCHEMA}},
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {"description": "text exposition format", "content": {"text/plain": {}}}
                },
            }
        },
    },
}


def problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def create_app(
    settings: Settings, store: EventStore, worker: Worker, registry: CollectorRegistry
) -> Starlette:
    async def health(_: Request) -> JSONResponse:
        # 200 in every state: degraded is reported in the body (reference/API.md).
        await worker.ping_database()
        return JSONResponse(worker.health())

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(_: Request) -> JSONResponse:
        return JSONResponse(OPENAPI)

    async def message(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return problem(400, "Bad Request", "the body is not JSON")
        description = body.get("description") if isinstance(body, dict) else None
        if description != "an event.processed message":
            return problem(400, "Bad Request", f"unknown message description {description!r}")
        built = build_event_processed(
            SAMPLE_EVENT,
            datetime(2026, 12, 1, 18, 0, 5, tzinfo=UTC),
            renamed_field=settings.fault == "renamed-field",
        )
        metadata = {
            "topic": EVENT_PROCESSED_TOPIC,
            "key": built.key,
            "contentType": "application/json",
            **built.headers,
        }
        metadata.pop("content-type", None)
        return JSONResponse({"contents": built.value, "metadata": metadata})

    async def provider_state(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return problem(400, "Bad Request", "the body is not JSON")
        if not isinstance(body, dict) or body.get("state", "") != "":
            return problem(400, "Bad Request", "event-worker has no provider states")
        return JSONResponse({})

    async def not_found(request: Request, _: Exception) -> Response:
        return problem(404, "Not Found", f"no route {request.url.path}")

    routes = [
        Route("/health", health),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi),
    ]
    if settings.provider_states:
        routes += [
            Route("/_pact/messages", message, methods=["POST"]),
            Route("/_pact/provider-states", provider_state, methods=["POST"]),
        ]
    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.add_middleware(RequestMetrics, registry=registry)
    return app


class RequestMetrics:
    """``http_requests_total`` and ``http_request_duration_seconds`` (reference/API.md)."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = str(scope.get("method", ""))
            elapsed = time.perf_counter() - started
            self.requests.labels(method, template, str(status)).inc()
            self.duration.labels(method, template).observe(elapsed)
            path = str(scope.get("path", ""))
            if path not in ("/health", "/metrics"):
                headers = dict(scope.get("headers") or [])
                traceparent = headers.get(b"traceparent", b"").decode("latin-1") or None
                log(
                    "info",
                    "request",
                    method=method,
                    path=path,
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    trace_id=trace_id_of(traceparent),
                )
