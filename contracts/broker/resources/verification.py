"""Verification over HTTP: the pacts a provider should verify, and the results a
verifier publishes. The rules are :mod:`contracts.broker._verification`'s."""

from __future__ import annotations

from fastapi import Request, Response

from contracts.broker import _selectors
from contracts.broker._queries import require_pacticipant
from contracts.broker._verification import (
    latest_result_row,
    parse_result,
    record_result,
    render_for_verification_doc,
    render_pacts_for_verification,
    render_results,
    require_pact,
    result_row,
    result_rows,
    verification_resource,
)
from contracts.broker.resources._http import (
    Reader,
    WriteAccess,
    base_url,
    broker_router,
    hal,
    read_json,
)

__all__ = ["router"]

router = broker_router()


# --- pacts for verification -----------------------------------------------------------


@router.get("/pacts/provider/{provider}/for-verification")
async def for_verification_doc(provider: str, request: Request, conn: Reader) -> Response:
    await require_pacticipant(conn, provider)
    return hal(render_for_verification_doc(base_url(request), provider))


@router.post("/pacts/provider/{provider}/for-verification")
async def for_verification(provider: str, request: Request, conn: Reader) -> Response:
    query = _selectors.parse_request(await read_json(request))
    await require_pacticipant(conn, provider)
    pacts = await _selectors.pacts_for_verification(conn, provider, query)
    return hal(render_pacts_for_verification(base_url(request), provider, pacts, query))


# --- verification results ---------------------------------------------------------------


@router.post(
    "/pacts/provider/{provider}/consumer/{consumer}/pact-version/{sha}/verification-results"
)
async def publish_result(
    provider: str, consumer: str, sha: str, request: Request, ctx: WriteAccess
) -> Response:
    fields = parse_result(await read_json(request))
    resource = await record_result(ctx, base_url(request), provider, consumer, sha, fields)
    return hal(resource, 201, headers={"Location": resource["_links"]["self"]["href"]})


_RESULTS_BASE = (
    "/pacts/provider/{provider}/consumer/{consumer}/pact-version/{sha}/verification-results"
)


@router.get(_RESULTS_BASE)
async def list_results(
    provider: str, consumer: str, sha: str, request: Request, conn: Reader
) -> Response:
    await require_pact(conn, provider, consumer, sha)
    rows = await result_rows(conn, sha)
    return hal(render_results(base_url(request), provider, consumer, sha, rows))


@router.get(_RESULTS_BASE + "/latest")
async def latest_result(
    provider: str, consumer: str, sha: str, request: Request, conn: Reader
) -> Response:
    row = await latest_result_row(conn, provider, consumer, sha)
    return hal(verification_resource(base_url(request), row))


@router.get(_RESULTS_BASE + "/{result_id}")
async def get_result(
    provider: str, consumer: str, sha: str, result_id: str, request: Request, conn: Reader
) -> Response:
    row = await result_row(conn, provider, consumer, sha, result_id)
    return hal(verification_resource(base_url(request), row))
