"""Mount the broker's HTTP resources on a FastAPI application.

The broker speaks the Pact Broker HTTP API (HAL, ``application/hal+json``) so
the standard Pact tooling works against it. Each resource family lives in its
own module with its own ``router``; this module only assembles them and maps
the errors below the resources to problem documents, once.
"""

from __future__ import annotations

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from contracts.broker._context import BrokerContext
from contracts.broker._db import BrokerDatabase, DatabaseTimeout
from contracts.broker._errors import BrokerError
from contracts.broker.resources import (
    badges,
    environments,
    index,
    matrix,
    pact_lists,
    pacticipants,
    provider_contracts,
    publish,
    verification,
    webhooks,
)
from contracts.broker.resources._http import problem_response
from contracts.broker.resources._openapi import check_body, document_broker_operations
from covenant.kernel.config import BrokerConfig

__all__ = ["install_broker"]

#: In matching order: badges before the pact routes (``.../latest/badge`` is a badge,
#: not the latest pact tagged "badge"), as in the Pact Broker.
ROUTERS = (
    index,
    badges,
    publish,
    pact_lists,
    provider_contracts,
    pacticipants,
    environments,
    verification,
    matrix,
    webhooks,
)


def install_broker(app: FastAPI, config: BrokerConfig, database_url: str) -> BrokerContext:
    """Add the broker's routes to ``app``; the database opens on first use."""
    context = BrokerContext(
        config=config,
        database=BrokerDatabase(database_url, timeout_s=config.database_timeout_s),
        check_body=check_body,
    )
    app.state.broker = context
    for module in ROUTERS:
        app.include_router(module.router, tags=list(getattr(module, "TAGS", ["broker"])))
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(context)

    document_broker_operations(app)

    @app.exception_handler(BrokerError)
    async def broker_problem(request: Request, exc: BrokerError) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(psycopg.OperationalError)
    async def database_unavailable(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        # PostgreSQL went away mid-request (restart, failover): nothing was
        # committed; the client may retry once it is back.
        if isinstance(exc, DatabaseTimeout):
            # Frozen mid-request: a write is whole or absent, but if the deadline
            # fell on the COMMIT itself it may have landed; republishing the same
            # content is a no-op, so a retry is always safe.
            return problem_response(
                request,
                BrokerError(
                    503,
                    "Service Unavailable",
                    f"the broker database did not answer within {config.database_timeout_s:g} s;"
                    " a write is stored whole or not at all, retrying it is safe",
                    headers={"Retry-After": "5"},
                ),
            )
        return problem_response(
            request,
            BrokerError(
                503,
                "Service Unavailable",
                "the broker database is unavailable; nothing was stored, retry later",
                headers={"Retry-After": "5"},
            ),
        )

    @app.exception_handler(psycopg.DataError)
    async def value_not_storable(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # PostgreSQL refused a value it cannot hold (a NUL inside free-form JSON, a
        # number out of range): the transaction rolled back, nothing was stored.
        return problem_response(
            request,
            BrokerError(
                422,
                "Unprocessable Content",
                "a value in the request cannot be stored (for example a NUL character);"
                " nothing was stored",
            ),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()))
            errors.setdefault(where, []).append(str(error.get("msg")))
        detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items())
        return problem_response(request, BrokerError(400, "Bad Request", detail, errors=errors))

    return context
