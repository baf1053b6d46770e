"""Pacticipants (applications), their versions, branches and tags.

Writing a tag or a branch version creates the pacticipant and the version when
they do not exist yet, as the reference broker does (``pact broker
create-version-tag --auto-create-version``). Writes run in one transaction each,
committed before the route answers.

Here: what a request must hold, the reads and writes (each checks in the order
the answers depend on) and the HAL, rendered from the broker's base URL. The
routes are :mod:`contracts.broker.resources.pacticipants`.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from contracts.broker._context import BrokerContext
from contracts.broker._errors import BrokerError, bad_request, unprocessable
from contracts.broker._hal import link
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

__all__ = [
    "branch_resource",
    "branch_version_resource",
    "checked_name",
    "create_pacticipant",
    "delete_branch",
    "delete_tag",
    "find_branch",
    "find_branch_version",
    "find_pacticipant_version",
    "find_tag",
    "latest_branch_version",
    "latest_tagged_version",
    "latest_version",
    "list_branches",
    "list_pacticipants",
    "list_tags",
    "page",
    "put_branch_version",
    "put_tag",
    "render_branches",
    "render_pacticipants",
    "render_tags",
    "render_versions",
    "save_pacticipant",
    "save_version",
    "tag_resource",
    "version_fields",
    "version_resource",
    "versions_page",
]

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


def checked_name(value: str, where: str) -> str:
    """``value`` (a name in the path) if it is a usable name; 400 otherwise."""
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


async def list_pacticipants(conn: psycopg.AsyncConnection) -> list[Pacticipant]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM broker.pacticipants ORDER BY lower(name), name")
        return [Pacticipant(**r) for r in await cur.fetchall()]


def render_pacticipants(base: str, rows: list[Pacticipant]) -> dict[str, Any]:
    items = [pacticipant_resource(base, p) for p in rows]
    return {
        "_embedded": {"pacticipants": items},
        "pacticipants": items,
        "_links": {
            "self": link(base, "/pacticipants", title="Pacticipants"),
            "pb:pacticipants": [
                link(
                    base,
                    pacticipant_path(p.name),
                    title=p.display_name or display_name(p.name),
                    name=p.name,
                )
                for p in rows
            ],
        },
    }


async def create_pacticipant(ctx: BrokerContext, body: Any) -> Pacticipant:
    """A new pacticipant named by ``body`` (409 if the name is taken), its fields set."""
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
        return await _update_pacticipant(conn, Pacticipant(**row), fields)


async def save_pacticipant(
    ctx: BrokerContext, name: str, body: Any, *, replace: bool
) -> tuple[Pacticipant, bool]:
    """Create or change the pacticipant ``name`` (already checked) with the fields of
    ``body``: all of them (``replace``: left out is cleared) or those given. Returns
    the pacticipant and whether it was created."""
    fields = _pacticipant_fields(body, name, require_name=False)
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
    return p, created


# --- versions --------------------------------------------------------------


def page(page_number: str | None, page_size: str | None) -> tuple[int, int]:
    """The ``pageNumber`` and ``pageSize`` query values (1 and 100 when left out)."""
    errors: Errors = {}
    values = {}
    given = {"pageNumber": page_number, "pageSize": page_size}
    for key, default, maximum in (("pageNumber", 1, 1_000_000), ("pageSize", 100, 1000)):
        raw = given[key]
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


async def versions_page(
    conn: psycopg.AsyncConnection, p: Pacticipant, number: int, size: int
) -> tuple[list[dict[str, Any]], int]:
    """Page ``number`` of ``p``'s versions (newest first) with their tags and branches,
    and how many versions there are."""
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
    return rows, total


def render_versions(
    base: str, p: Pacticipant, rows: list[dict[str, Any]], number: int, size: int, total: int
) -> dict[str, Any]:
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
                                    base, branch_version_path(p.name, b, r["number"]), name=b
                                )
                            },
                        }
                        for b in r["branches"]
                    ],
                    "tags": [
                        {
                            "name": t,
                            "_links": {
                                "self": link(base, tag_path(p.name, r["number"], t), name=t)
                            },
                        }
                        for t in r["tags"]
                    ],
                },
                "_links": {"self": link(base, vpath, title="Version", name=r["number"])},
            }
        )
    versions_path = f"{pacticipant_path(p.name)}/versions"
    links: dict[str, Any] = {
        "self": link(
            base, f"{versions_path}?pageNumber={number}&pageSize={size}", title="Versions"
        ),
        "pb:pacticipant": link(base, pacticipant_path(p.name), title="Pacticipant", name=p.name),
    }
    if number * size < total:
        links["next"] = link(base, f"{versions_path}?pageNumber={number + 1}&pageSize={size}")
    if number > 1:
        links["previous"] = link(base, f"{versions_path}?pageNumber={number - 1}&pageSize={size}")
    return {
        "_embedded": {"versions": versions},
        "page": {"number": number, "size": size, "totalElements": total},
        "_links": links,
    }


async def find_pacticipant_version(
    conn: psycopg.AsyncConnection, name: str, version: str
) -> tuple[Pacticipant, Version]:
    p = await require_pacticipant(conn, name)
    return p, await require_version(conn, p, version)


def version_fields(raw: Any) -> tuple[str | None, list[str]]:
    """The ``buildUrl`` and ``tags`` of a version's body (``{}`` when it has none)."""
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
    return build_url, tags


async def save_version(
    ctx: BrokerContext,
    base: str,
    name: str,
    version: str,
    build_url: str | None,
    tags: list[str],
) -> tuple[dict[str, Any], bool]:
    """Create the version (and its pacticipant), add ``tags``; returns its
    representation, read in the same transaction, and whether it was created."""
    async with ctx.database.transaction() as conn:
        p = await ensure_pacticipant(conn, name)
        created = await find_version(conn, p, version) is None
        v = await ensure_version(conn, p, version, build_url)
        for tag in sorted(set(tags)):
            await add_tag(conn, v, tag)
        body = await version_resource(base, conn, p, v)
    return body, created


async def latest_version(conn: psycopg.AsyncConnection, name: str) -> tuple[Pacticipant, Version]:
    p = await require_pacticipant(conn, name)
    v = await _latest(conn, p)
    if v is None:
        raise BrokerError(404, "Not Found", f"pacticipant '{name}' has no versions")
    return p, v


async def latest_tagged_version(
    conn: psycopg.AsyncConnection, name: str, tag: str
) -> tuple[Pacticipant, Version]:
    p = await require_pacticipant(conn, name)
    v = await _latest(conn, p, tag=tag)
    if v is None:
        raise BrokerError(404, "Not Found", f"pacticipant '{name}' has no version tagged '{tag}'")
    return p, v


async def latest_branch_version(
    conn: psycopg.AsyncConnection, name: str, branch: str
) -> tuple[Pacticipant, Version]:
    p = await require_pacticipant(conn, name)
    await _require_branch(conn, p, branch)
    v = await _latest(conn, p, branch=branch)
    if v is None:
        raise BrokerError(404, "Not Found", f"branch '{branch}' of '{name}' has no versions")
    return p, v


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


def tag_resource(base: str, p: str, number: str, tag: str, created: Any) -> dict[str, Any]:
    return {
        "name": tag,
        "createdAt": iso(created),
        "_links": {
            "self": link(base, tag_path(p, number, tag), title="Tag", name=tag),
            "pb:version": link(base, version_path(p, number), title="Version", name=number),
            "pb:pacticipant": link(base, pacticipant_path(p), title="Pacticipant", name=p),
        },
    }


async def list_tags(
    conn: psycopg.AsyncConnection, name: str, version: str
) -> tuple[Pacticipant, Version, list[dict[str, Any]]]:
    p, v = await find_pacticipant_version(conn, name, version)
    rows = await _all(
        conn,
        "SELECT name, created_at FROM broker.tags WHERE version_id = %s ORDER BY created_at, name",
        (v.id,),
    )
    return p, v, rows


def render_tags(
    base: str, p: Pacticipant, v: Version, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    tags = [tag_resource(base, p.name, v.number, r["name"], r["created_at"]) for r in rows]
    return {
        "_embedded": {"tags": tags},
        "_links": {"self": link(base, f"{version_path(p.name, v.number)}/tags")},
    }


async def find_tag(
    conn: psycopg.AsyncConnection, name: str, version: str, tag: str
) -> tuple[Pacticipant, Version, Any]:
    """The pacticipant, the version and when it was tagged ``tag`` (404 if it is not)."""
    p, v = await find_pacticipant_version(conn, name, version)
    row = await _one(
        conn,
        "SELECT created_at FROM broker.tags WHERE version_id = %s AND name = %s",
        (v.id, tag),
    )
    if row is None:
        raise BrokerError(404, "Not Found", f"version '{version}' of '{name}' has no tag '{tag}'")
    return p, v, row["created_at"]


async def put_tag(ctx: BrokerContext, name: str, version: str, tag: str) -> tuple[Any, bool]:
    """Tag the version, creating the pacticipant and version if needed; returns when
    it was tagged and whether the tag is new."""
    name, version, tag = (
        checked_name(name, "path.name"),
        checked_name(version, "path.version"),
        checked_name(tag, "path.tag"),
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
    return row["created_at"], created


async def delete_tag(ctx: BrokerContext, name: str, version: str, tag: str) -> None:
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


def branch_resource(base: str, p: str, row: dict[str, Any]) -> dict[str, Any]:
    bpath = branch_path(p, row["name"])
    return {
        "name": row["name"],
        "createdAt": iso(row["created_at"]),
        "_links": {
            "self": link(base, bpath, title="Branch", name=row["name"]),
            "pb:pacticipant": link(base, pacticipant_path(p), title="Pacticipant", name=p),
            "pb:latest-version": link(
                base, f"{bpath}/latest-version", title="Latest version on this branch"
            ),
            "pb:version": link(
                base,
                f"{bpath}/versions/{{version}}",
                templated=True,
                title="Add or get a version on this branch",
            ),
        },
    }


async def list_branches(
    conn: psycopg.AsyncConnection, name: str
) -> tuple[Pacticipant, list[dict[str, Any]]]:
    p = await require_pacticipant(conn, name)
    rows = await _all(
        conn, "SELECT * FROM broker.branches WHERE pacticipant_id = %s ORDER BY name", (p.id,)
    )
    return p, rows


def render_branches(base: str, p: Pacticipant, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "_embedded": {"branches": [branch_resource(base, p.name, r) for r in rows]},
        "_links": {"self": link(base, f"{pacticipant_path(p.name)}/branches", title="Branches")},
    }


async def find_branch(
    conn: psycopg.AsyncConnection, name: str, branch: str
) -> tuple[Pacticipant, dict[str, Any]]:
    p = await require_pacticipant(conn, name)
    return p, await _require_branch(conn, p, branch)


async def delete_branch(ctx: BrokerContext, name: str, branch: str) -> None:
    """Remove the branch; its versions, pacts and verifications stay."""
    async with ctx.database.transaction() as conn:
        p = await require_pacticipant(conn, name)
        row = await _require_branch(conn, p, branch)
        await conn.execute("DELETE FROM broker.branches WHERE id = %s", (row["id"],))


def branch_version_resource(
    base: str, p: str, branch: str, number: str, created: Any
) -> dict[str, Any]:
    return {
        "name": branch,
        "createdAt": iso(created),
        "_links": {
            "self": link(
                base, branch_version_path(p, branch, number), title="Branch version", name=number
            ),
            "pb:branch": link(base, branch_path(p, branch), title="Branch", name=branch),
            "pb:version": link(base, version_path(p, number), title="Version", name=number),
        },
    }


async def find_branch_version(
    conn: psycopg.AsyncConnection, name: str, branch: str, version: str
) -> tuple[Pacticipant, Version, Any]:
    """The pacticipant, the version and when it was put on ``branch`` (404 if not)."""
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
    return p, v, row["created_at"]


async def put_branch_version(
    ctx: BrokerContext, name: str, branch: str, version: str
) -> tuple[Any, bool]:
    """Put a version on a branch, creating the pacticipant/version/branch if needed;
    returns when it was put there and whether that is new."""
    name, branch, version = (
        checked_name(name, "path.name"),
        checked_name(branch, "path.branch"),
        checked_name(version, "path.version"),
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
    return row["created_at"], before is None
