"""Build the FastAPI application; collaborators are injected for tests."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from covenant import __version__
from covenant.kernel.config import CovenantConfig
from covenant.kernel.endpoints import Endpoint, resolve_endpoints
from covenant.kernel.health import probe_all
from covenant.kernel.problems import PROBLEM_JSON, problem_body
from observability.metrics import CovenantMetrics

__all__ = ["create_app"]

EndpointSource = Callable[[], dict[str, Endpoint]]


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method documented for this path. Starlette's own 405 names only the
    first route that matched, but one path often has several routes
    (``GET /environments`` and ``POST /environments``)."""
    path = request.url.path
    methods: set[str] = set()
    for template, item in app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods.update(m.upper() for m in item if m in _HTTP_METHODS)
    return sorted(methods)


_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _scheduling(
    config: CovenantConfig, telemetry: CovenantMetrics
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the check scheduler with the app; on shutdown, give runs in flight the
    server's grace period, then cancel them cleanly."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from observability.tracing import RunTracing, configure_tracing, shutdown_tracing
        from schedules import CheckScheduler, RunListener

        tracer = configure_tracing(config.telemetry.otlp_endpoint, config.telemetry.service_name)
        # Telemetry listens to the scheduler: metrics as it runs, a trace per run.
        listeners: list[RunListener] = [RunTracing(tracer)] if tracer is not None else []
        running = CheckScheduler(config, metrics=telemetry, listeners=listeners)
        await running.start()
        app.state.scheduler = running
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            # SIGHUP re-reads the check files now (only in the main thread).
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, lambda: running.reload(force=True))
        try:
            yield
        finally:
            await running.stop(config.server.shutdown_timeout_s)
            shutdown_tracing(tracer)

    return lifespan


def create_app(
    config: CovenantConfig,
    *,
    metrics: CovenantMetrics | None = None,
    endpoints: EndpointSource | None = None,
    scheduler: bool = False,
) -> FastAPI:
    """``endpoints`` is re-read on every health check, so engines started after
    the server (``covenant stack up`` in another terminal) show up without a restart.
    ``scheduler``: run the synthetic checks of ``checks.dir`` on their schedules
    (``covenant serve``; not the in-process servers of the demo and the self-fuzz)."""
    telemetry = metrics or CovenantMetrics(version=__version__)
    find_endpoints: EndpointSource = endpoints or (lambda: resolve_endpoints(config))

    app = FastAPI(
        title="Covenant",
        version=__version__,
        description="Contracts, fuzzing and synthetic observability checks.",
        lifespan=_scheduling(config, telemetry) if scheduler else None,
    )
    app.state.scheduler = None
    app.state.config = config
    app.state.metrics = telemetry

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        telemetry.http_requests.labels(request.method, template, str(response.status_code)).inc()
        return response

    postgres = find_endpoints().get("postgres")
    if config.broker.enabled and postgres is not None:
        from contracts.broker import install_broker

        install_broker(app, config.broker, postgres.target)

    from covenant.app._status_api import status_router

    app.include_router(status_router(config, postgres.target if postgres else None))

    @app.get(
        "/health",
        summary="Reachability of every configured engine",
        responses={503: {"description": "At least one engine is unreachable"}},
    )
    async def health() -> JSONResponse:
        results = await probe_all(find_endpoints().values(), config.server.health_timeout_s)
        for result in results:
            telemetry.engine_up.labels(result.name).set(1 if result.healthy else 0)
            telemetry.engine_probe_seconds.labels(result.name).observe(result.latency_ms / 1000)
        healthy = all(r.healthy for r in results)
        body: dict[str, Any] = {
            "status": "ok" if healthy else "degraded",
            "version": __version__,
            "engines": [r.as_dict() for r in results],
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Unknown routes (404), wrong methods (405, with Allow) and the like answer
        RFC 9457 problem documents, like every other error of Covenant's API."""
        body = problem_body(exc.status_code, str(exc.detail), instance=request.url.path)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return JSONResponse(
            body,
            status_code=exc.status_code,
            media_type=PROBLEM_JSON,
            headers=headers or None,
        )

    @app.get(
        "/metrics",
        summary="Covenant's own metrics in Prometheus text format",
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    )
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(telemetry.registry), media_type=CONTENT_TYPE_LATEST)

    return app
