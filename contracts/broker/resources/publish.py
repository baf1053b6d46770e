"""Publishing and reading pacts over HTTP: ``POST /contracts/publish``, ``PUT`` /
``PATCH`` of one pact, and the ways to read pacts back.

The rules (what may be published, conflicts, merging, the events) are
:mod:`contracts.broker._publish`'s; these routes read the request, call it and answer.
"""

from __future__ import annotations

import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse

from contracts.broker._context import BrokerContext
from contracts.broker._hal_urls import pact_version_path
from contracts.broker._pacts import OnConflict, emit_published, find_pacts, pact_resource
from contracts.broker._publish import (
    check_pact_names,
    find_provider_pacts,
    flag,
    latest_branch_pact,
    latest_pact,
    latest_tagged_pact,
    pact_by_sha,
    pact_for_version,
    parse_publication,
    parse_single_pact,
    render_latest_pacts,
    render_provider_pacts,
    render_publication,
    store_publication,
    store_single_pact,
)
from contracts.broker.resources._http import (
    Reader,
    WriteAccess,
    base_url,
    broker_router,
    hal,
    read_body,
)

router = broker_router()

__all__ = ["router"]


@router.post("/contracts/publish")
async def publish_contracts(request: Request, ctx: WriteAccess) -> JSONResponse:
    """Publish a consumer version's pacts, branch and tags in one transaction."""
    publication = parse_publication(await read_body(request))
    published = await store_publication(ctx, publication)
    await emit_published(ctx, base_url(request), published.results, published.needs_verification)
    return hal(render_publication(base_url(request), publication, published))


async def _put_pact(
    request: Request,
    ctx: BrokerContext,
    provider: str,
    consumer: str,
    version: str,
    on_conflict: OnConflict,
) -> JSONResponse:
    check_pact_names(provider, consumer, version)
    content = parse_single_pact(await read_body(request), provider, consumer)
    result, needs, row = await store_single_pact(
        ctx, provider, consumer, version, content, on_conflict
    )
    await emit_published(ctx, base_url(request), [result], needs)
    return hal(pact_resource(base_url(request), row), 201 if result.outcome == "created" else 200)


@router.put("/pacts/provider/{provider}/consumer/{consumer}/version/{version}")
async def put_pact(
    request: Request, ctx: WriteAccess, provider: str, consumer: str, version: str
) -> JSONResponse:
    """Publish one pact; ``?allowOverwrite=true`` replaces different content (else 409)."""
    allow = flag(request.query_params.get("allowOverwrite"), "allowOverwrite")
    on_conflict: OnConflict = "overwrite" if allow else "error"
    return await _put_pact(request, ctx, provider, consumer, version, on_conflict)


@router.patch("/pacts/provider/{provider}/consumer/{consumer}/version/{version}")
async def patch_pact(
    request: Request, ctx: WriteAccess, provider: str, consumer: str, version: str
) -> JSONResponse:
    """Merge the body's interactions into the pact already published for this version."""
    return await _put_pact(request, ctx, provider, consumer, version, "merge")


# --- reading ---------------------------------------------------------------


@router.get("/pacts/provider/{provider}/consumer/{consumer}/version/{version}")
async def get_pact(
    request: Request, conn: Reader, provider: str, consumer: str, version: str
) -> JSONResponse:
    return hal(
        pact_resource(base_url(request), await pact_for_version(conn, provider, consumer, version))
    )


@router.get("/pacts/provider/{provider}/consumer/{consumer}/pact-version/{sha}")
async def get_pact_version(
    request: Request, conn: Reader, provider: str, consumer: str, sha: str
) -> JSONResponse:
    row = await pact_by_sha(conn, provider, consumer, sha)
    return hal(pact_resource(base_url(request), row, pact_version_path(provider, consumer, sha)))


@router.get("/pacts/provider/{provider}/consumer/{consumer}/latest")
async def get_latest_pact(
    request: Request, conn: Reader, provider: str, consumer: str
) -> JSONResponse:
    return hal(pact_resource(base_url(request), await latest_pact(conn, provider, consumer)))


@router.get("/pacts/provider/{provider}/consumer/{consumer}/latest/{tag}")
async def get_latest_tagged_pact(
    request: Request, conn: Reader, provider: str, consumer: str, tag: str
) -> JSONResponse:
    return hal(
        pact_resource(base_url(request), await latest_tagged_pact(conn, provider, consumer, tag))
    )


@router.get("/pacts/provider/{provider}/consumer/{consumer}/branch/{branch}/latest")
async def get_latest_branch_pact(
    request: Request, conn: Reader, provider: str, consumer: str, branch: str
) -> JSONResponse:
    return hal(
        pact_resource(base_url(request), await latest_branch_pact(conn, provider, consumer, branch))
    )


@router.get("/pacts/latest")
async def latest_pacts(request: Request, conn: Reader) -> JSONResponse:
    """The latest pact of every consumer/provider pair (``list-latest-pact-versions``)."""
    rows = await find_pacts(conn, latest_per_integration=True)
    return hal(render_latest_pacts(base_url(request), rows))


async def _provider_pacts(
    request: Request,
    conn: psycopg.AsyncConnection,
    provider: str,
    *,
    tag: str | None,
    latest: bool,
    title: str,
) -> JSONResponse:
    rows = await find_provider_pacts(conn, provider, tag=tag, latest=latest)
    return hal(
        render_provider_pacts(
            base_url(request), provider, rows, tag=tag, latest=latest, title=title
        )
    )


@router.get("/pacts/provider/{provider}")
async def provider_pacts(request: Request, conn: Reader, provider: str) -> JSONResponse:
    return await _provider_pacts(
        request,
        conn,
        provider,
        tag=None,
        latest=False,
        title=f"All pact versions for the provider {provider}",
    )


@router.get("/pacts/provider/{provider}/latest")
async def latest_provider_pacts(request: Request, conn: Reader, provider: str) -> JSONResponse:
    return await _provider_pacts(
        request,
        conn,
        provider,
        tag=None,
        latest=True,
        title=f"Latest pact versions for the provider {provider}",
    )


@router.get("/pacts/provider/{provider}/latest/{tag}")
async def latest_tagged_provider_pacts(
    request: Request, conn: Reader, provider: str, tag: str
) -> JSONResponse:
    return await _provider_pacts(
        request,
        conn,
        provider,
        tag=tag,
        latest=True,
        title=f"Latest pact versions for the provider {provider} with consumer version tag {tag}",
    )
