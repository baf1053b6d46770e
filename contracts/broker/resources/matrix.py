"""``GET /matrix`` and the can-i-deploy routes.

Reading the query and rendering the answer are :mod:`contracts.broker._matrix`'s,
running it :mod:`contracts.broker._matrix_query`'s; these routes call them and
answer, turning a query that names an unknown environment or pacticipant into
its problem document (422). A row whose provider version published a provider
contract links it (``pf:provider-contract``), for the pact-vs-OpenAPI gate.
"""

from __future__ import annotations

import psycopg
from fastapi import Request, Response

from contracts.broker._errors import BrokerError
from contracts.broker._matrix import (
    branch_deploy_query,
    can_i_deploy_query,
    matrix_body,
    parse_matrix_query,
    tag_deploy_query,
)
from contracts.broker._matrix_query import MatrixLookupError, MatrixQuery, MatrixResult, run_matrix
from contracts.broker._provider_contracts import versions_with_contracts
from contracts.broker.resources._http import Reader, base_url, broker_router, hal

__all__ = ["router"]

router = broker_router()


async def _run(
    conn: psycopg.AsyncConnection, query: MatrixQuery, *, selectors_as: str = "q"
) -> MatrixResult:
    """The query's result; 422 naming what it does not know, the selectors under
    ``selectors_as`` (the parameter they came from)."""
    try:
        return await run_matrix(conn, query)
    except MatrixLookupError as exc:
        where = selectors_as if exc.where == "q" else exc.where
        raise BrokerError(
            422, "Unprocessable Content", exc.detail, errors={where: list(exc.problems)}
        ) from None


async def _answer(
    request: Request, conn: psycopg.AsyncConnection, result: MatrixResult
) -> Response:
    url = request.url
    self_path = url.path + (f"?{url.query}" if url.query else "")
    provider_versions = {r.data["pv_id"] for r in result.rows if r.data["pv_id"] is not None}
    contracts = await versions_with_contracts(conn, provider_versions)
    return hal(matrix_body(base_url(request), self_path, result, contracts))


@router.get("/matrix")
async def matrix(request: Request, conn: Reader) -> Response:
    query = parse_matrix_query(list(request.query_params.multi_items()))
    return await _answer(request, conn, await _run(conn, query))


@router.get("/can-i-deploy")
async def can_i_deploy(request: Request, conn: Reader) -> Response:
    query = can_i_deploy_query(request.query_params)
    # The one selector is the pacticipant parameter.
    result = await _run(conn, query, selectors_as="pacticipant")
    return await _answer(request, conn, result)


@router.get(
    "/pacticipants/{name}/branches/{branch}/latest-version/can-i-deploy/to-environment/{environment}"
)
async def can_i_deploy_branch(
    name: str, branch: str, environment: str, request: Request, conn: Reader
) -> Response:
    query = branch_deploy_query(name, branch, environment)
    return await _answer(request, conn, await _run(conn, query))


@router.get("/pacticipants/{name}/latest-version/{tag}/can-i-deploy/to/{to}")
async def can_i_deploy_tag(
    name: str, tag: str, to: str, request: Request, conn: Reader
) -> Response:
    query = tag_deploy_query(name, tag, to)
    return await _answer(request, conn, await _run(conn, query))
