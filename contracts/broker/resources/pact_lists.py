"""Pacts by consumer version branch and tag over HTTP: a provider's pacts for a branch,
each consumer's main branch or a tag, and one pair's pact versions the same ways.
Queries and HAL are :mod:`contracts.broker._pact_lists`'s.

Literal segments are routed before the templated ones, as in the Pact Broker: a
branch named ``latest`` or ``versions`` is shadowed by the main-branch paths.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from contracts.broker._hal import quote_name
from contracts.broker._pact_lists import (
    PactSelection,
    pair_pact_versions,
    provider_pacts,
    render_pact_versions,
    render_provider_pacts,
)
from contracts.broker.resources._http import Reader, base_url, broker_router, hal

router = broker_router()

__all__ = ["router"]

_PROVIDER = "/pacts/provider/{provider}"
_PAIR = "/pacts/provider/{provider}/consumer/{consumer}"


def _self_path(request: Request) -> str:
    """The route's template filled with the names, each one URL-encoded segment (a
    branch ``feature/login`` stays ``feature%2Flogin``)."""
    template: str = request.scope["route"].path
    return template.format(**{k: quote_name(str(v)) for k, v in request.path_params.items()})


async def _provider(
    request: Request, conn: Reader, provider: str, selection: PactSelection
) -> JSONResponse:
    rows = await provider_pacts(conn, provider, selection)
    return hal(
        render_provider_pacts(base_url(request), _self_path(request), provider, selection, rows)
    )


async def _pair(
    request: Request, conn: Reader, provider: str, consumer: str, selection: PactSelection
) -> JSONResponse:
    rows = await pair_pact_versions(conn, provider, consumer, selection)
    body = render_pact_versions(
        base_url(request), _self_path(request), provider, consumer, selection, rows
    )
    return hal(body)


# --- a provider's pacts -------------------------------------------------------------


@router.get(_PROVIDER + "/branch", summary="A provider's pacts from each consumer's main branch")
async def provider_main_branch_pacts(request: Request, conn: Reader, provider: str) -> JSONResponse:
    return await _provider(request, conn, provider, PactSelection(main_branch=True))


@router.get(
    _PROVIDER + "/branch/latest",
    summary="The latest pact from each consumer's main branch",
)
async def latest_provider_main_branch_pacts(
    request: Request, conn: Reader, provider: str
) -> JSONResponse:
    return await _provider(request, conn, provider, PactSelection(main_branch=True, latest=True))


@router.get(_PROVIDER + "/branch/{branch}", summary="A provider's pacts from a consumer branch")
async def provider_branch_pacts(
    request: Request, conn: Reader, provider: str, branch: str
) -> JSONResponse:
    return await _provider(request, conn, provider, PactSelection(branch=branch))


@router.get(
    _PROVIDER + "/branch/{branch}/latest",
    summary="The latest pact of each consumer whose version is on the branch",
)
async def latest_provider_branch_pacts(
    request: Request, conn: Reader, provider: str, branch: str
) -> JSONResponse:
    return await _provider(request, conn, provider, PactSelection(branch=branch, latest=True))


@router.get(_PROVIDER + "/tag/{tag}", summary="A provider's pacts from tagged consumer versions")
async def provider_tagged_pacts(
    request: Request, conn: Reader, provider: str, tag: str
) -> JSONResponse:
    return await _provider(request, conn, provider, PactSelection(tag=tag))


# --- one pair's pact versions --------------------------------------------------------


@router.get(_PAIR + "/branch", summary="A pair's pact versions from the consumer's main branch")
async def main_branch_pact_versions(
    request: Request, conn: Reader, provider: str, consumer: str
) -> JSONResponse:
    return await _pair(request, conn, provider, consumer, PactSelection(main_branch=True))


@router.get(
    _PAIR + "/branch/versions",
    summary="A pair's pact versions from the consumer's main branch",
)
async def main_branch_pact_versions_list(
    request: Request, conn: Reader, provider: str, consumer: str
) -> JSONResponse:
    return await _pair(request, conn, provider, consumer, PactSelection(main_branch=True))


@router.get(
    _PAIR + "/branch/latest",
    summary="The pair's latest pact version from the consumer's main branch",
)
async def latest_main_branch_pact_versions(
    request: Request, conn: Reader, provider: str, consumer: str
) -> JSONResponse:
    selection = PactSelection(main_branch=True, latest=True)
    return await _pair(request, conn, provider, consumer, selection)


@router.get(
    _PAIR + "/branch/latest/versions",
    summary="The pair's latest pact version from the consumer's main branch",
)
async def latest_main_branch_pact_versions_list(
    request: Request, conn: Reader, provider: str, consumer: str
) -> JSONResponse:
    selection = PactSelection(main_branch=True, latest=True)
    return await _pair(request, conn, provider, consumer, selection)


@router.get(_PAIR + "/branch/{branch}", summary="A pair's pact versions from a consumer branch")
async def branch_pact_versions(
    request: Request, conn: Reader, provider: str, consumer: str, branch: str
) -> JSONResponse:
    return await _pair(request, conn, provider, consumer, PactSelection(branch=branch))


@router.get(
    _PAIR + "/branch/{branch}/latest/versions",
    summary="The pair's latest pact version from a consumer branch",
)
async def latest_branch_pact_versions(
    request: Request, conn: Reader, provider: str, consumer: str, branch: str
) -> JSONResponse:
    selection = PactSelection(branch=branch, latest=True)
    return await _pair(request, conn, provider, consumer, selection)


@router.get(_PAIR + "/tag/{tag}", summary="A pair's pact versions from tagged consumer versions")
async def tagged_pact_versions(
    request: Request, conn: Reader, provider: str, consumer: str, tag: str
) -> JSONResponse:
    return await _pair(request, conn, provider, consumer, PactSelection(tag=tag))
