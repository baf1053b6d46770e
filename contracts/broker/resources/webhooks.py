"""Webhooks over HTTP: the collections (all, per consumer, provider or pair), one
webhook, its delivery log and sending it now. Validation, storage and rendering are
:mod:`contracts.broker._webhooks`'s; ``setup`` (called by ``install_broker``)
attaches the delivery worker.
"""

from __future__ import annotations

import psycopg
from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse

from contracts.broker import _webhook_store, _webhooks
from contracts.broker._webhooks import setup
from contracts.broker.resources._http import (
    Reader,
    WriteAccess,
    Writer,
    base_url,
    broker_router,
    context,
    hal,
    read_json,
)

__all__ = ["router", "setup"]

# Names in paths may contain an encoded "/" (see resources._http).
router = broker_router()


def _allowed_hosts(request: Request) -> tuple[str, ...]:
    return context(request).config.webhook_allowed_hosts


async def _listing(
    request: Request,
    conn: psycopg.AsyncConnection,
    *,
    consumer: str | None = None,
    provider: str | None = None,
) -> JSONResponse:
    rows = await _webhook_store.list_webhooks(conn, consumer=consumer, provider=provider)
    base = base_url(request)
    return hal(_webhooks.render_listing(base, rows, consumer=consumer, provider=provider))


async def _create(
    request: Request,
    conn: psycopg.AsyncConnection,
    *,
    consumer: str | None = None,
    provider: str | None = None,
) -> JSONResponse:
    body = await read_json(request)
    allowed = _allowed_hosts(request)
    row = await _webhooks.create(conn, allowed, body, consumer=consumer, provider=provider)
    rendered = _webhooks.represent(base_url(request), row)
    return hal(rendered, 201, headers={"Location": rendered["_links"]["self"]["href"]})


# The scoped collections come first: "/webhooks/provider/x" is never a webhook uuid.


@router.get("/webhooks/provider/{provider}/consumer/{consumer}", summary="Webhooks of a pair")
async def list_pair_webhooks(
    request: Request, provider: str, consumer: str, conn: Reader
) -> JSONResponse:
    return await _listing(request, conn, consumer=consumer, provider=provider)


@router.post(
    "/webhooks/provider/{provider}/consumer/{consumer}",
    status_code=201,
    summary="Create a webhook for a consumer and provider",
)
async def create_pair_webhook(
    request: Request, provider: str, consumer: str, conn: Writer
) -> JSONResponse:
    return await _create(request, conn, consumer=consumer, provider=provider)


@router.get("/webhooks/provider/{provider}", summary="Webhooks of a provider")
async def list_provider_webhooks(request: Request, provider: str, conn: Reader) -> JSONResponse:
    return await _listing(request, conn, provider=provider)


@router.post(
    "/webhooks/provider/{provider}", status_code=201, summary="Create a webhook for a provider"
)
async def create_provider_webhook(request: Request, provider: str, conn: Writer) -> JSONResponse:
    return await _create(request, conn, provider=provider)


@router.get("/webhooks/consumer/{consumer}", summary="Webhooks of a consumer")
async def list_consumer_webhooks(request: Request, consumer: str, conn: Reader) -> JSONResponse:
    return await _listing(request, conn, consumer=consumer)


@router.post(
    "/webhooks/consumer/{consumer}", status_code=201, summary="Create a webhook for a consumer"
)
async def create_consumer_webhook(request: Request, consumer: str, conn: Writer) -> JSONResponse:
    return await _create(request, conn, consumer=consumer)


@router.get("/webhooks", summary="All webhooks")
async def list_webhooks(request: Request, conn: Reader) -> JSONResponse:
    return await _listing(request, conn)


@router.post("/webhooks", status_code=201, summary="Create a webhook")
async def create_webhook(request: Request, conn: Writer) -> JSONResponse:
    return await _create(request, conn)


@router.get("/webhooks/{uuid}", summary="One webhook")
async def get_webhook(request: Request, uuid: str, conn: Reader) -> JSONResponse:
    return hal(_webhooks.represent(base_url(request), await _webhooks.find(conn, uuid)))


@router.put("/webhooks/{uuid}", summary="Create or replace a webhook with this uuid")
async def put_webhook(request: Request, uuid: str, conn: Writer) -> JSONResponse:
    parsed = _webhooks.parse_uuid(uuid)
    body = await read_json(request)
    row, created = await _webhooks.replace(conn, _allowed_hosts(request), parsed, body)
    rendered = _webhooks.represent(base_url(request), row)
    headers = {"Location": rendered["_links"]["self"]["href"]} if created else None
    return hal(rendered, 201 if created else 200, headers=headers)


@router.delete("/webhooks/{uuid}", status_code=204, summary="Delete a webhook")
async def delete_webhook(uuid: str, conn: Writer) -> Response:
    await _webhooks.delete(conn, uuid)
    return Response(status_code=204)


@router.get("/webhooks/{uuid}/deliveries", summary="The delivery log of a webhook")
async def list_deliveries(
    request: Request,
    uuid: str,
    conn: Reader,
    size: int = Query(100, ge=1, le=1000, description="How many of the latest deliveries."),
) -> JSONResponse:
    hook, rows = await _webhooks.deliveries(conn, uuid, size)
    max_attempts = context(request).config.webhook_retries + 1
    return hal(_webhooks.render_deliveries(base_url(request), hook, rows, max_attempts))


@router.post("/webhooks/{uuid}/execute", summary="Send the webhook now with the latest data")
async def execute_webhook(request: Request, uuid: str, ctx: WriteAccess) -> JSONResponse:
    # WriteAccess: the token is checked, but no connection is held during the attempt.
    return hal(await _webhooks.execute(ctx, uuid, base_url(request)))
