"""PactFlow-compatible provider contracts over HTTP: publish one
(``pf:publish-provider-contract``) and read it and its self-verification results
back. The rules and the HAL are :mod:`contracts.broker._provider_contracts`'s."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from contracts.broker._provider_contracts import (
    find_contract,
    parse_publication,
    render_contract,
    render_publication,
    render_verification_results,
    store_publication,
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

_CONTRACT = "/contracts/bi-directional/provider/{provider}/version/{version}/provider-contract"


@router.post(
    "/provider-contracts/provider/{provider}/publish",
    summary="Publish a provider contract (an OpenAPI document) for a provider version",
)
async def publish_provider_contract(
    request: Request, ctx: WriteAccess, provider: str
) -> JSONResponse:
    """What ``pact pactflow publish-provider-contract`` posts: the provider version (with
    its branch, tags and build URL), the OpenAPI document and its self-verification."""
    tokens = [*ctx.config.read_write_tokens, *ctx.config.read_only_tokens]
    publication = parse_publication(provider, await read_body(request), secrets=tokens)
    stored = await store_publication(ctx, publication)
    return hal(render_publication(base_url(request), publication, stored))


@router.get(_CONTRACT, summary="The provider contract of a provider version")
async def get_provider_contract(
    request: Request, conn: Reader, provider: str, version: str
) -> JSONResponse:
    row = await find_contract(conn, provider, version)
    return hal(render_contract(base_url(request), row))


@router.get(
    _CONTRACT + "-verification-results",
    summary="The self-verification results of a provider version's contract",
)
async def get_provider_contract_verification_results(
    request: Request, conn: Reader, provider: str, version: str
) -> JSONResponse:
    row = await find_contract(conn, provider, version)
    return hal(render_verification_results(base_url(request), row))
