"""Pacticipants (applications), their versions, branches and tags.

Reads need a read token (or anonymous reads); writes need a read-write token and
commit before the response is sent. Writing a tag or a branch version creates
the pacticipant and the version when they do not exist yet, as the reference
broker does (``pact broker create-version-tag --auto-create-version``).
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from psycopg import sql
from psycopg.rows import dict_row

from contracts.broker._context import BrokerContext
from contracts.broker._errors import BrokerError, bad_request, unprocessable
from contracts.broker._hal_urls import (
    branch_path,
    branch_version_path,
    display_name,
    iso,
    pacticipant_path,
    pacticipant_resource,
    render_version,
    tag_path,
    version_path,
)
from contracts.broker._inputs import whole_number
from contracts.broker._pacts import Errors, check_name
from contracts.broker._queries import (
    Pacticipant,
    Version,
    add_branch,
    add_tag,
    ensure_pacticipant,
    ensure_version,
    find_version,
    require_pacticipant,
    require_version,
)
from contracts.broker._queries import fetch_all as _all
from contracts.broker._queries import fetch_one as _one
from contracts.broker._versions import version_facts
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

_FIELDS = {
    "displayName": "display_name",
    "mainBranch": "main_branch",
    "repositoryUrl": "repository_url",
}


async def version_resource(
    base: str,
    conn: psycopg.AsyncConnection,
    pacticipant: Pacticipant,
    version: Version,
    *,
    self_path: str | None = None,
) -> dict[str, Any]:
    """The HAL representation of ``version``: read from the store, then rendered."""
    facts = await version_facts(conn, version)
    return render_version(base, pacticipant, version, facts, self_path=self_path)


def _name(value: str, where: str) -> str:
    errors: Errors = {}
    checked = check_name(value, where, errors)
    if errors or checked is None:
        raise bad_request(errors)
    return checked


# --- pacticipants ------------------------------------------------------------


def _pacticipant_fields(body: Any, name: str | None, *, require_name: bool) -> dict[str, Any]:
    """The settable fields present in ``body``, as column -> value."""
    errors: Errors = {}
    if not isinstance(body, dict):
        raise bad_request({"body": ["must be a JSON object"]})
    given = body.get("name")
    if require_name:
        check_name(given, "name", errors)
    elif given is not None and given != name:
        errors.setdefault("name", []).append(f"is '{given}' but the path names '{name}'")
    fields: dict[str, Any] = {}
    for key, column in _FIELDS.items():
        if key in body:
            value = body[key]
            if value is not None and not isinstance(value, str):
                errors.setdefault(key, []).append("must be a string or null")
            else:
                fields[column] = value
    if errors:
        raise unprocessable(errors)
    return fields


async def _update_pacticipant(
    conn: psycopg.AsyncConnection, p: Pacticipant, fields: dict[str, Any]
) -> Pacticipant:
    if not fields:
        return p
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder()) for column in fields
    )
    query = sql.SQL(
        "UPDATE broker.pacticipants SET {}, updated_at = now() WHERE id = %s RETURNING *"
    ).format(assignments)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (*fields.values(), p.id))
        row = await cur.fetchone()
    assert row is not None
    return Pacticipant(**row)


@router.get("/pacticipants")
async def list_pacticipants(request: Request, conn: Reader) -> JSONResponse:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM broker.pacticipants ORDER BY lower(name), name")
        rows = [Pacticipant(**r) for r in await cur.fetchall()]
    items = [pacticipant_resource(base_url(request), p) for p in rows]
    return hal(
        {
            "_embedded": {"pacticipants": items},
            "pacticipants": items,
            "_links": {
                "self": link(request, "/pacticipants", title="Pacticipants"),
                "pb:pacticipants": [
                    link(
                        request,
                        pacticipant_path(p.name),
                        title=p.display_name or display_name(p.name),
                        name=p.name,
                    )
                    for p in rows
                ],
            },
        }
    )


@router.post("/pacticipants")
async def create_pacticipant(request: Request, ctx: WriteAccess) -> JSONResponse:
    body = await read_body(request)
    fields = _pacticipant_fields(body, None, require_name=True)
    name = body["name"]
    async with ctx.database.transaction() as conn:
        row = await _one(
            conn,
            "INSERT INTO broker.pacticipants (name) VALUES (%s)"
            " ON CONFLICT (name) DO NOTHING RETURNING *",
            (name,),
        )
        if row is None:
            raise BrokerError(
                409,
                "Conflict",
                f"a pacticipant named '{name}' already exists;"
                " PUT or PATCH /pacticipants/{name} to change it",
                errors={"name": ["already exists"]},
            )
        p = await _update_pacticipant(conn, Pacticipant(**row), fields)
    location = link(request, pacticipant_path(name))["href"]
    return hal(pacticipant_resource(base_url(request), p), 201, headers={"Location": location})


@router.get("/pacticipants/{name}")
async def get_pacticipant(request: Request, conn: Reader, name: str) -> JSONResponse:
    p = await require_pacticipant(conn, name)
    return hal(pacticipant_resource(base_url(request), p))


async def _put_or_patch(
    request: Request, ctx: BrokerContext, name: str, *, replace: bool
) -> JSONResponse:
    name = _name(name, "path.name")
    fields = _pacticipant_fields(await read_body(request), name, require_name=False)
    if replace:
        fields = {column: fields.get(column) for column in _FIELDS.values()}
    async with ctx.database.transaction() as conn:
        row = await _one(
            conn,
            "INSERT INTO broker.pacticipants (name) VALUES (%s)"
            " ON CONFLICT (name) DO NOTHING RETURNING *",
            (name,),
        )
        created = row is not None
        p = Pacticipant(**row) if row else await require_pacticipant(conn, name)
        p = await _update_pacticipant(conn, p, fields)
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


def _page(request: Request) -> tuple[int, int]:
    errors: Errors = {}
    values = {}
    for key, default, maximum in (("pageNumber", 1, 1_000_000), ("pageSize", 100, 1000)):
        raw = request.query_params.get(key)
        number = None if raw is None else whole_number(raw, 1, maximum)
        if raw is None:
            values[key] = default
        elif number is None:
            errors[f"query.{key}"] = [f"must be a whole number from 1 to {maximum}"]
        else:
            values[key] = number
    if errors:
        raise bad_request(errors)
    return values["pageNumber"], values["pageSize"]


@router.get("/pacticipants/{name}/versions")
async def list_versions(request: Request, conn: Reader, name: str) -> JSONResponse:
    """Versions newest first, each with its branches and tags; ``pageNumber``/``pageSize``."""
    p = await require_pacticipant(conn, name)
    number, size = _page(request)
    rows = await _all(
        conn,
        "SELECT v.*,"
        " COALESCE((SELECT array_agg(t.name ORDER BY t.created_at, t.name)"
        "  FROM broker.tags t WHERE t.version_id = v.id), '{}') AS tags,"
        " COALESCE((SELECT array_agg(b.name ORDER BY bv.created_at, b.name)"
        "  FROM broker.branch_versions bv JOIN broker.branches b ON b.id = bv.branch_id"
        "  WHERE bv.version_id = v.id), '{}') AS branches,"
        " count(*) OVER () AS total"
        " FROM broker.versions v WHERE v.pacticipant_id = %s"
        " ORDER BY v.id DESC LIMIT %s OFFSET %s",
        (p.id, size, (number - 1) * size),
    )
    total = int(rows[0]["total"]) if rows else 0
    versions = []
    for r in rows:
        vpath = version_path(p.name, r["number"])
        versions.append(
            {
                "number": r["number"],
                "buildUrl": r["build_url"],
                "createdAt": iso(r["created_at"]),
                "_embedded": {
                    "branchVersions": [
                        {
                            "name": b,
                            "_links": {
                                "self": link(
                                    request, branch_version_path(p.name, b, r["number"]), name=b
                                )
                            },
                        }
                        for b in r["branches"]
                    ],
                    "tags": [
                        {
                            "name": t,
                            "_links": {
                                "self": link(request, tag_path(p.name, r["number"], t), name=t)
                            },
                        }
                        for t in r["tags"]
                    ],
                },
                "_links": {"self": link(request, vpath, title="Version", name=r["number"])},
            }
        )
    base = f"{pacticipant_path(p.name)}/versions"
    links: dict[str, Any] = {
        "self": link(request, f"{base}?pageNumber={number}&pageSize={size}", title="Versions"),
        "pb:pacticipant": link(request, pacticipant_path(p.name), title="Pacticipant", name=p.name),
    }
    if number * size < total:
        links["next"] = link(request, f"{base}?pageNumber={number + 1}&pageSize={size}")
    if number > 1:
        links["previous"] = link(request, f"{base}?pageNumber={number - 1}&pageSize={size}")
    return hal(
        {
            "_embedded": {"versions": versions},
            "page": {"number": number, "size": size, "totalElements": total},
            "_links": links,
        }
    )


@router.get("/pacticipants/{name}/versions/{version}")
async def get_version(request: Request, conn: Reader, name: str, version: str) -> JSONResponse:
    p = await require_pacticipant(conn, name)
    v = await require_version(conn, p, version)
    return hal(await version_resource(base_url(request), conn, p, v))


@router.put("/pacticipants/{name}/versions/{version}")
async def put_version(request: Request, ctx: WriteAccess, name: str, version: str) -> JSONResponse:
    """Create a version (and its pacticipant); ``buildUrl`` and ``tags`` in the body are
    applied (tags are added, never removed)."""
    name, version = _name(name, "path.name"), _name(version, "path.version")
    raw = await read_body(request) if await _has_body(request) else {}
    errors: Errors = {}
    if not isinstance(raw, dict):
        raise bad_request({"body": ["must be a JSON object"]})
    build_url = raw.get("buildUrl")
    if build_url is not None and not isinstance(build_url, str):
        errors["buildUrl"] = ["must be a string"]
    tags: list[str] = []
    raw_tags = raw.get("tags", [])
    if not isinstance(raw_tags, list):
        errors["tags"] = ['must be a list of tag names (or of {"name": ...})']
        raw_tags = []
    for index, tag in enumerate(raw_tags):
        tag_name = tag.get("name") if isinstance(tag, dict) else tag
        checked = check_name(tag_name, f"tags[{index}]", errors)
        if checked:
            tags.append(checked)
    if errors:
        raise unprocessable(errors)
    async with ctx.database.transaction() as conn:
        p = await ensure_pacticipant(conn, name)
        created = await find_version(conn, p, version) is None
        v = await ensure_version(conn, p, version, build_url)
        for tag in sorted(set(tags)):
            await add_tag(conn, v, tag)
        body = await version_resource(base_url(request), conn, p, v)
    return hal(body, 201 if created else 200)


async def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return request.headers.get("transfer-encoding") is not None


@router.get("/pacticipants/{name}/latest-version")
async def latest_version(request: Request, conn: Reader, name: str) -> JSONResponse:
    p = await require_pacticipant(conn, name)
    v = await _latest(conn, p)
    if v is None:
        raise BrokerError(404, "Not Found", f"pacticipant '{name}' has no versions")
    return hal(
        await version_resource(
            base_url(request), conn, p, v, self_path=f"{pacticipant_path(p.name)}/latest-version"
        )
    )


@router.get("/pacticipants/{name}/latest-version/{tag}")
async def latest_tagged_version(
    request: Request, conn: Reader, name: str, tag: str
) -> JSONResponse:
    p = await require_pacticipant(conn, name)
    v = await _latest(conn, p, tag=tag)
    if v is None:
        raise BrokerError(404, "Not Found", f"pacticipant '{name}' has no version tagged '{tag}'")
    return hal(await version_resource(base_url(request), conn, p, v))


async def _latest(
    conn: psycopg.AsyncConnection,
    p: Pacticipant,
    *,
    tag: str | None = None,
    branch: str | None = None,
) -> Version | None:
    sql = "SELECT v.* FROM broker.versions v WHERE v.pacticipant_id = %s"
    params: list[Any] = [p.id]
    if tag is not None:
        sql += " AND EXISTS (SELECT 1 FROM broker.tags t WHERE t.version_id = v.id AND t.name = %s)"
        params.append(tag)
    if branch is not None:
        sql += (
            " AND EXISTS (SELECT 1 FROM broker.branch_versions bv"
            " JOIN broker.branches b ON b.id = bv.branch_id"
            " WHERE bv.version_id = v.id AND b.name = %s)"
        )
        params.append(branch)
    row = await _one(conn, sql + " ORDER BY v.id DESC LIMIT 1", tuple(params))
    return Version(**row) if row else None


# --- tags --------------------------------------------------------------------


def _tag_resource(request: Request, p: str, number: str, tag: str, created: Any) -> dict[str, Any]:
    return {
        "name": tag,
        "createdAt": iso(created),
        "_links": {
            "self": link(request, tag_path(p, number, tag), title="Tag", name=tag),
            "pb:version": link(request, version_path(p, number), title="Version", name=number),
            "pb:pacticipant": link(request, pacticipant_path(p), title="Pacticipant", name=p),
        },
    }


@router.get("/pacticipants/{name}/versions/{version}/tags")
async def list_tags(request: Request, conn: Reader, name: str, version: str) -> JSONResponse:
    p = await require_pacticipant(conn, name)
    v = await require_version(conn, p, version)
    rows = await _all(
        conn,
        "SELECT name, created_at FROM broker.tags WHERE version_id = %s ORDER BY created_at, name",
        (v.id,),
    )
    tags = [_tag_resource(request, p.name, v.number, r["name"], r["created_at"]) for r in rows]
    return hal(
        {
            "_embedded": {"tags": tags},
            "_links": {"self": link(request, f"{version_path(p.name, v.number)}/tags")},
        }
    )


@router.get("/pacticipants/{name}/versions/{version}/tags/{tag}")
async def get_tag(
    request: Request, conn: Reader, name: str, version: str, tag: str
) -> JSONResponse:
    p = await require_pacticipant(conn, name)
    v = await require_version(conn, p, version)
    row = await _one(
        conn,
        "SELECT created_at FROM broker.tags WHERE version_id = %s AND name = %s",
        (v.id, tag),
    )
    if row is None:
        raise BrokerError(404, "Not Found", f"version '{version}' of '{name}' has no tag '{tag}'")
    return hal(_tag_resource(request, p.name, v.number, tag, row["created_at"]))


@router.put("/pacticipants/{name}/versions/{version}/tags/{tag}")
async def put_tag(
    request: Request, ctx: WriteAccess, name: str, version: str, tag: str
) -> JSONResponse:
    """Tag a version, creating the pacticipant and version if needed (201; 200 if tagged)."""
    name, version, tag = (
        _name(name, "path.name"),
        _name(version, "path.version"),
        _name(tag, "path.tag"),
    )
    async with ctx.database.transaction() as conn:
        p = await ensure_pacticipant(conn, name)
        v = await ensure_version(conn, p, version)
        row = await _one(
            conn,
            "INSERT INTO broker.tags (version_id, name) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING RETURNING created_at",
            (v.id, tag),
        )
        created = row is not None
        if row is None:
            row = await _one(
                conn,
                "SELECT created_at FROM broker.tags WHERE version_id = %s AND name = %s",
                (v.id, tag),
            )
        assert row is not None
    return hal(
        _tag_resource(request, name, version, tag, row["created_at"]), 201 if created else 200
    )


@router.delete("/pacticipants/{name}/versions/{version}/tags/{tag}")
async def delete_tag(ctx: WriteAccess, name: str, version: str, tag: str) -> Response:
    async with ctx.database.transaction() as conn:
        p = await require_pacticipant(conn, name)
        v = await require_version(conn, p, version)
        row = await _one(
            conn,
            "DELETE FROM broker.tags WHERE version_id = %s AND name = %s RETURNING name",
            (v.id, tag),
        )
        if row is None:
            raise BrokerError(
                404, "Not Found", f"version '{version}' of '{name}' has no tag '{tag}'"
            )
    return Response(status_code=204)


# --- branches ----------------------------------------------------------------


async def _require_branch(
    conn: psycopg.AsyncConnection, p: Pacticipant, branch: str
) -> dict[str, Any]:
    row = await _one(
        conn,
        "SELECT * FROM broker.branches WHERE pacticipant_id = %s AND name = %s",
        (p.id, branch),
    )
    if row is None:
        raise BrokerError(404, "Not Found", f"pacticipant '{p.name}' has no branch '{branch}'")
    return row


def _branch_resource(request: Request, p: str, row: dict[str, Any]) -> dict[str, Any]:
    bpath = branch_path(p, row["name"])
    return {
        "name": row["name"],
        "createdAt": iso(row["created_at"]),
        "_links": {
            "self": link(request, bpath, title="Branch", name=row["name"]),
            "pb:pacticipant": link(request, pacticipant_path(p), title="Pacticipant", name=p),
            "pb:latest-version": link(
                request, f"{bpath}/latest-version", title="Latest version on this branch"
            ),
            "pb:version": link(
                request,
                f"{bpath}/versions/{{version}}",
                templated=True,
                title="Add or get a version on this branch",
            ),
        },
    }


@router.get("/pacticipants/{name}/branches")
async def list_branches(request: Request, conn: Reader, name: str) -> JSONResponse:
    p = await require_pacticipant(conn, name)
    rows = await _all(
        conn, "SELECT * FROM broker.branches WHERE pacticipant_id = %s ORDER BY name", (p.id,)
    )
    return hal(
        {
            "_embedded": {"branches": [_branch_resource(request, p.name, r) for r in rows]},
            "_links": {
                "self": link(request, f"{pacticipant_path(p.name)}/branches", title="Branches")
            },
        }
    )


@router.get("/pacticipants/{name}/branches/{branch}")
async def get_branch(request: Request, conn: Reader, name: str, branch: str) -> JSONResponse:
    p = await require_pacticipant(conn, name)
    return hal(_branch_resource(request, p.name, await _require_branch(conn, p, branch)))


@router.delete("/pacticipants/{name}/branches/{branch}")
async def delete_branch(ctx: WriteAccess, name: str, branch: str) -> Response:
    """Remove the branch; its versions, pacts and verifications stay."""
    async with ctx.database.transaction() as conn:
        p = await require_pacticipant(conn, name)
        row = await _require_branch(conn, p, branch)
        await conn.execute("DELETE FROM broker.branches WHERE id = %s", (row["id"],))
    return Response(status_code=204)


@router.get("/pacticipants/{name}/branches/{branch}/latest-version")
async def latest_branch_version(
    request: Request, conn: Reader, name: str, branch: str
) -> JSONResponse:
    p = await require_pacticipant(conn, name)
    await _require_branch(conn, p, branch)
    v = await _latest(conn, p, branch=branch)
    if v is None:
        raise BrokerError(404, "Not Found", f"branch '{branch}' of '{name}' has no versions")
    return hal(await version_resource(base_url(request), conn, p, v))


def _branch_version_resource(
    request: Request, p: str, branch: str, number: str, created: Any
) -> dict[str, Any]:
    return {
        "name": branch,
        "createdAt": iso(created),
        "_links": {
            "self": link(
                request, branch_version_path(p, branch, number), title="Branch version", name=number
            ),
            "pb:branch": link(request, branch_path(p, branch), title="Branch", name=branch),
            "pb:version": link(request, version_path(p, number), title="Version", name=number),
        },
    }


@router.get("/pacticipants/{name}/branches/{branch}/versions/{version}")
async def get_branch_version(
    request: Request, conn: Reader, name: str, branch: str, version: str
) -> JSONResponse:
    p = await require_pacticipant(conn, name)
    b = await _require_branch(conn, p, branch)
    v = await require_version(conn, p, version)
    row = await _one(
        conn,
        "SELECT created_at FROM broker.branch_versions WHERE branch_id = %s AND version_id = %s",
        (b["id"], v.id),
    )
    if row is None:
        raise BrokerError(
            404, "Not Found", f"version '{version}' of '{name}' is not on branch '{branch}'"
        )
    return hal(_branch_version_resource(request, p.name, branch, v.number, row["created_at"]))


async def _put_branch_version(
    request: Request, ctx: BrokerContext, name: str, branch: str, version: str
) -> JSONResponse:
    name, branch, version = (
        _name(name, "path.name"),
        _name(branch, "path.branch"),
        _name(version, "path.version"),
    )
    async with ctx.database.transaction() as conn:
        p = await ensure_pacticipant(conn, name)
        v = await ensure_version(conn, p, version)
        before = await _one(
            conn,
            "SELECT 1 AS x FROM broker.branch_versions bv JOIN broker.branches b"
            " ON b.id = bv.branch_id WHERE b.pacticipant_id = %s AND b.name = %s"
            " AND bv.version_id = %s",
            (p.id, branch, v.id),
        )
        await add_branch(conn, v, branch)
        row = await _one(
            conn,
            "SELECT bv.created_at FROM broker.branch_versions bv JOIN broker.branches b"
            " ON b.id = bv.branch_id WHERE b.pacticipant_id = %s AND b.name = %s"
            " AND bv.version_id = %s",
            (p.id, branch, v.id),
        )
        assert row is not None
    return hal(
        _branch_version_resource(request, name, branch, version, row["created_at"]),
        200 if before else 201,
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
