"""Pacticipants (applications), their versions, branches and tags over HTTP.

Reads need a read token (or anonymous reads); writes need a read-write token and
commit before the response is sent. What a request must hold, the reads and
writes and the HAL are :mod:`contracts.broker._pacticipants`'s; these routes read
the request, call them and answer.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from contracts.broker import _pacticipants
from contracts.broker._context import BrokerContext
from contracts.broker._hal_urls import pacticipant_path, pacticipant_resource
from contracts.broker._queries import require_pacticipant
from contracts.broker.resources._http import (
    Reader,
    WriteAccess,
    base_url,
    broker_router,
    hal,
    link,
    read_body,
)

router = broker_router()

__all__ = ["router"]


# --- pacticipants ------------------------------------------------------------


@router.get("/pacticipants")
async def list_pacticipants(request: Request, conn: Reader) -> JSONResponse:
    rows = await _pacticipants.list_pacticipants(conn)
    return hal(_pacticipants.render_pacticipants(base_url(request), rows))


@router.post("/pacticipants")
async def create_pacticipant(request: Request, ctx: WriteAccess) -> JSONResponse:
    body = await read_body(request)
    p = await _pacticipants.create_pacticipant(ctx, body)
    location = link(request, pacticipant_path(p.name))["href"]
    return hal(pacticipant_resource(base_url(request), p), 201, headers={"Location": location})


@router.get("/pacticipants/{name}")
async def get_pacticipant(request: Request, conn: Reader, name: str) -> JSONResponse:
    p = await require_pacticipant(conn, name)
    return hal(pacticipant_resource(base_url(request), p))


async def _put_or_patch(
    request: Request, ctx: BrokerContext, name: str, *, replace: bool
) -> JSONResponse:
    name = _pacticipants.checked_name(name, "path.name")
    body = await read_body(request)
    p, created = await _pacticipants.save_pacticipant(ctx, name, body, replace=replace)
    return hal(pacticipant_resource(base_url(request), p), 201 if created else 200)


@router.put("/pacticipants/{name}")
async def put_pacticipant(request: Request, ctx: WriteAccess, name: str) -> JSONResponse:
    """Create or replace: fields left out are cleared."""
    return await _put_or_patch(request, ctx, name, replace=True)


@router.patch("/pacticipants/{name}")
async def patch_pacticipant(request: Request, ctx: WriteAccess, name: str) -> JSONResponse:
    """Create or update: only the fields given change (JSON merge patch)."""
    return await _put_or_patch(request, ctx, name, replace=False)


# --- versions --------------------------------------------------------------


@router.get("/pacticipants/{name}/versions")
async def list_versions(request: Request, conn: Reader, name: str) -> JSONResponse:
    """Versions newest first, each with its branches and tags; ``pageNumber``/``pageSize``."""
    p = await require_pacticipant(conn, name)
    params = request.query_params
    number, size = _pacticipants.page(params.get("pageNumber"), params.get("pageSize"))
    rows, total = await _pacticipants.versions_page(conn, p, number, size)
    return hal(_pacticipants.render_versions(base_url(request), p, rows, number, size, total))


@router.get("/pacticipants/{name}/versions/{version}")
async def get_version(request: Request, conn: Reader, name: str, version: str) -> JSONResponse:
    p, v = await _pacticipants.find_pacticipant_version(conn, name, version)
    return hal(await _pacticipants.version_resource(base_url(request), conn, p, v))


@router.put("/pacticipants/{name}/versions/{version}")
async def put_version(request: Request, ctx: WriteAccess, name: str, version: str) -> JSONResponse:
    """Create a version (and its pacticipant); ``buildUrl`` and ``tags`` in the body are
    applied (tags are added, never removed)."""
    name = _pacticipants.checked_name(name, "path.name")
    version = _pacticipants.checked_name(version, "path.version")
    raw = await read_body(request) if await _has_body(request) else {}
    build_url, tags = _pacticipants.version_fields(raw)
    body, created = await _pacticipants.save_version(
        ctx, base_url(request), name, version, build_url, tags
    )
    return hal(body, 201 if created else 200)


async def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return request.headers.get("transfer-encoding") is not None


@router.get("/pacticipants/{name}/latest-version")
async def latest_version(request: Request, conn: Reader, name: str) -> JSONResponse:
    p, v = await _pacticipants.latest_version(conn, name)
    return hal(
        await _pacticipants.version_resource(
            base_url(request), conn, p, v, self_path=f"{pacticipant_path(p.name)}/latest-version"
        )
    )


@router.get("/pacticipants/{name}/latest-version/{tag}")
async def latest_tagged_version(
    request: Request, conn: Reader, name: str, tag: str
) -> JSONResponse:
    p, v = await _pacticipants.latest_tagged_version(conn, name, tag)
    return hal(await _pacticipants.version_resource(base_url(request), conn, p, v))


# --- tags --------------------------------------------------------------------


@router.get("/pacticipants/{name}/versions/{version}/tags")
async def list_tags(request: Request, conn: Reader, name: str, version: str) -> JSONResponse:
    p, v, rows = await _pacticipants.list_tags(conn, name, version)
    return hal(_pacticipants.render_tags(base_url(request), p, v, rows))


@router.get("/pacticipants/{name}/versions/{version}/tags/{tag}")
async def get_tag(
    request: Request, conn: Reader, name: str, version: str, tag: str
) -> JSONResponse:
    p, v, created_at = await _pacticipants.find_tag(conn, name, version, tag)
    return hal(_pacticipants.tag_resource(base_url(request), p.name, v.number, tag, created_at))


@router.put("/pacticipants/{name}/versions/{version}/tags/{tag}")
async def put_tag(
    request: Request, ctx: WriteAccess, name: str, version: str, tag: str
) -> JSONResponse:
    """Tag a version, creating the pacticipant and version if needed (201; 200 if tagged)."""
    created_at, created = await _pacticipants.put_tag(ctx, name, version, tag)
    return hal(
        _pacticipants.tag_resource(base_url(request), name, version, tag, created_at),
        201 if created else 200,
    )


@router.delete("/pacticipants/{name}/versions/{version}/tags/{tag}")
async def delete_tag(ctx: WriteAccess, name: str, version: str, tag: str) -> Response:
    await _pacticipants.delete_tag(ctx, name, version, tag)
    return Response(status_code=204)


# --- branches ----------------------------------------------------------------


@router.get("/pacticipants/{name}/branches")
async def list_branches(request: Request, conn: Reader, name: str) -> JSONResponse:
    p, rows = await _pacticipants.list_branches(conn, name)
    return hal(_pacticipants.render_branches(base_url(request), p, rows))


@router.get("/pacticipants/{name}/branches/{branch}")
async def get_branch(request: Request, conn: Reader, name: str, branch: str) -> JSONResponse:
    p, row = await _pacticipants.find_branch(conn, name, branch)
    return hal(_pacticipants.branch_resource(base_url(request), p.name, row))


@router.delete("/pacticipants/{name}/branches/{branch}")
async def delete_branch(ctx: WriteAccess, name: str, branch: str) -> Response:
    """Remove the branch; its versions, pacts and verifications stay."""
    await _pacticipants.delete_branch(ctx, name, branch)
    return Response(status_code=204)


@router.get("/pacticipants/{name}/branches/{branch}/latest-version")
async def latest_branch_version(
    request: Request, conn: Reader, name: str, branch: str
) -> JSONResponse:
    p, v = await _pacticipants.latest_branch_version(conn, name, branch)
    return hal(await _pacticipants.version_resource(base_url(request), conn, p, v))


@router.get("/pacticipants/{name}/branches/{branch}/versions/{version}")
async def get_branch_version(
    request: Request, conn: Reader, name: str, branch: str, version: str
) -> JSONResponse:
    p, v, created_at = await _pacticipants.find_branch_version(conn, name, branch, version)
    return hal(
        _pacticipants.branch_version_resource(
            base_url(request), p.name, branch, v.number, created_at
        )
    )


async def _put_branch_version(
    request: Request, ctx: BrokerContext, name: str, branch: str, version: str
) -> JSONResponse:
    created_at, created = await _pacticipants.put_branch_version(ctx, name, branch, version)
    return hal(
        _pacticipants.branch_version_resource(base_url(request), name, branch, version, created_at),
        201 if created else 200,
    )


@router.put("/pacticipants/{name}/branches/{branch}/versions/{version}")
async def put_branch_version(
    request: Request, ctx: WriteAccess, name: str, branch: str, version: str
) -> JSONResponse:
    """Put a version on a branch, creating the pacticipant/version/branch if needed."""
    return await _put_branch_version(request, ctx, name, branch, version)


@router.put("/pacticipants/{name}/versions/{version}/branches/{branch}")
async def put_version_branch(
    request: Request, ctx: WriteAccess, name: str, version: str, branch: str
) -> JSONResponse:
    """The same, at the path ``pact broker create-or-update-version --branch`` uses."""
    return await _put_branch_version(request, ctx, name, branch, version)
