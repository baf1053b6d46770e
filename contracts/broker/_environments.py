"""Environments, and the deployments and releases of versions into them.

An environment (``test``, ``production``) has a UUID. A *deployment* says "this
version is running in that environment now" — recording a new one for the same
pacticipant and application instance marks the earlier ones as undeployed, so
exactly one version per instance is current. A *release* says "this version is
released to that environment and still supported" (mobile apps, libraries):
several can be supported at once until their support is ended.

The representations carry the fields and relations the ``pact broker``
commands read: ``_embedded.environments[].uuid/name/displayName/production``,
``pb:currently-deployed-deployed-versions``,
``_embedded.deployedVersions[]._embedded.pacticipant.name`` and
``_links.self.href`` of each deployed or released version.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from fastapi import Request, Response
from psycopg.types.json import Jsonb

from contracts.broker._errors import BrokerError, unprocessable
from contracts.broker._hal_urls import iso, pacticipant_path, version_path
from contracts.broker._queries import fetch_all as _rows
from contracts.broker._queries import fetch_one as _row
from contracts.broker._queries import require_pacticipant, require_version
from contracts.broker.resources._http import Reader, Writer, broker_router, hal, link, read_json

__all__ = ["environment_resource", "find_environment", "router"]

router = broker_router()

MAX_NAME = 256


# --- helpers -----------------------------------------------------------------


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BrokerError(404, "Not Found", f"no {what} with UUID '{value}'") from None


def _object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BrokerError(
            400, "Bad Request", "the body must be a JSON object", errors={"body": ["not an object"]}
        )
    return body


def _optional_text(body: dict[str, Any], key: str, errors: dict[str, list[str]]) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        errors.setdefault(key, []).append("must be a non-empty string")
        return None
    if len(value) > MAX_NAME:
        errors.setdefault(key, []).append(f"must be at most {MAX_NAME} characters")
        return None
    return value


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise unprocessable(errors)


# --- environments --------------------------------------------------------------


def _environment_path(env_id: Any) -> str:
    return f"/environments/{env_id}"


def environment_resource(request: Request, row: dict[str, Any]) -> dict[str, Any]:
    path = _environment_path(row["id"])
    label = row["display_name"] or row["name"]
    body: dict[str, Any] = {
        "uuid": str(row["id"]),
        "name": row["name"],
        "displayName": label,
        "production": bool(row["production"]),
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }
    if row.get("contacts") is not None:
        body["contacts"] = row["contacts"]
    body["_links"] = {
        "self": link(request, path, title="Environment", name=row["name"]),
        "pb:currently-deployed-deployed-versions": link(
            request,
            f"{path}/deployed-versions/currently-deployed",
            title=f"Versions currently deployed to {label} environment",
        ),
        "pb:currently-supported-released-versions": link(
            request,
            f"{path}/released-versions/currently-supported",
            title=f"Versions released and supported in {label} environment",
        ),
        "pb:environments": link(request, "/environments", title="Environments"),
    }
    return body


async def find_environment(conn: psycopg.AsyncConnection, env_id: str) -> dict[str, Any]:
    found = await _row(
        conn, "SELECT * FROM broker.environments WHERE id = %s", (_uuid(env_id, "environment"),)
    )
    if found is None:
        raise BrokerError(404, "Not Found", f"no environment with UUID '{env_id}'")
    return found


def _environment_fields(body: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    name = _optional_text(body, "name", errors)
    if "name" not in body or body.get("name") is None:
        errors.setdefault("name", []).append("is required")
    elif name is not None and any(c.isspace() for c in name):
        errors.setdefault("name", []).append("must not contain whitespace")
    display = _optional_text(body, "displayName", errors)
    production = body.get("production", False)
    if production is None:
        production = False
    if not isinstance(production, bool):
        errors.setdefault("production", []).append("must be true or false")
    contacts = body.get("contacts")
    if contacts is not None and not (
        isinstance(contacts, list) and all(isinstance(c, dict) for c in contacts)
    ):
        errors.setdefault("contacts", []).append("must be an array of objects")
    _raise(errors)
    return {
        "name": name,
        "display_name": display,
        "production": production,
        "contacts": Jsonb(contacts) if contacts is not None else None,
    }


def _name_taken(name: str) -> BrokerError:
    return BrokerError(
        409,
        "Conflict",
        f"an environment named '{name}' already exists",
        errors={"name": [f"another environment is already named '{name}'"]},
    )


@router.get("/environments")
async def list_environments(request: Request, conn: Reader) -> Response:
    name = request.query_params.get("name")
    rows = await _rows(
        conn,
        "SELECT * FROM broker.environments WHERE %(name)s::text IS NULL OR name = %(name)s"
        " ORDER BY name",
        {"name": name},
    )
    return hal(
        {
            "_embedded": {"environments": [environment_resource(request, r) for r in rows]},
            "_links": {
                "self": link(request, "/environments", title="Environments"),
                "pb:environments": [
                    link(request, _environment_path(r["id"]), title="Environment", name=r["name"])
                    for r in rows
                ],
                "pb:environment": link(
                    request, "/environments/{uuid}", title="Environment", templated=True
                ),
            },
        }
    )


@router.post("/environments")
async def create_environment(request: Request, conn: Writer) -> Response:
    fields = _environment_fields(_object(await read_json(request)))
    row = await _row(
        conn,
        "INSERT INTO broker.environments (id, name, display_name, production, contacts)"
        " VALUES (%(id)s, %(name)s, %(display_name)s, %(production)s, %(contacts)s)"
        " ON CONFLICT (name) DO NOTHING RETURNING *",
        {"id": uuid.uuid4(), **fields},
    )
    if row is None:
        raise _name_taken(fields["name"])
    body = environment_resource(request, row)
    return hal(body, 201, headers={"Location": body["_links"]["self"]["href"]})


@router.get("/environments/{env_id}")
async def get_environment(env_id: str, request: Request, conn: Reader) -> Response:
    return hal(environment_resource(request, await find_environment(conn, env_id)))


@router.put("/environments/{env_id}")
async def update_environment(env_id: str, request: Request, conn: Writer) -> Response:
    fields = _environment_fields(_object(await read_json(request)))
    await find_environment(conn, env_id)
    try:
        async with conn.transaction():
            row = await _row(
                conn,
                "UPDATE broker.environments SET name = %(name)s, display_name = %(display_name)s,"
                " production = %(production)s, contacts = %(contacts)s, updated_at = now()"
                " WHERE id = %(id)s RETURNING *",
                {"id": _uuid(env_id, "environment"), **fields},
            )
    except psycopg.errors.UniqueViolation:
        raise _name_taken(fields["name"]) from None
    assert row is not None
    return hal(environment_resource(request, row))


@router.delete("/environments/{env_id}")
async def delete_environment(env_id: str, conn: Writer) -> Response:
    await find_environment(conn, env_id)
    await conn.execute(
        "DELETE FROM broker.environments WHERE id = %s", (_uuid(env_id, "environment"),)
    )
    return Response(status_code=204)


# --- deployed and released versions --------------------------------------------

_DEPLOYED_SQL = """
SELECT d.id, d.created_at, d.undeployed_at, d.application_instance,
       v.number, p.name AS pacticipant,
       e.id AS env_id, e.name AS env_name, e.display_name AS env_display_name,
       e.production AS env_production, e.created_at AS env_created_at,
       e.updated_at AS env_updated_at
  FROM broker.deployed_versions d
  JOIN broker.versions v ON v.id = d.version_id
  JOIN broker.pacticipants p ON p.id = v.pacticipant_id
  JOIN broker.environments e ON e.id = d.environment_id
"""

_RELEASED_SQL = """
SELECT r.id, r.created_at, r.support_ended_at,
       v.number, p.name AS pacticipant,
       e.id AS env_id, e.name AS env_name, e.display_name AS env_display_name,
       e.production AS env_production, e.created_at AS env_created_at,
       e.updated_at AS env_updated_at
  FROM broker.released_versions r
  JOIN broker.versions v ON v.id = r.version_id
  JOIN broker.pacticipants p ON p.id = v.pacticipant_id
  JOIN broker.environments e ON e.id = r.environment_id
"""


def _embedded(request: Request, row: dict[str, Any]) -> dict[str, Any]:
    env = {
        "id": row["env_id"],
        "name": row["env_name"],
        "display_name": row["env_display_name"],
        "production": row["env_production"],
        "created_at": row["env_created_at"],
        "updated_at": row["env_updated_at"],
    }
    return {
        "pacticipant": {
            "name": row["pacticipant"],
            "_links": {"self": link(request, pacticipant_path(row["pacticipant"]))},
        },
        "version": {
            "number": row["number"],
            "_links": {"self": link(request, version_path(row["pacticipant"], row["number"]))},
        },
        "environment": environment_resource(request, env),
    }


def deployed_resource(request: Request, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": str(row["id"]),
        "currentlyDeployed": row["undeployed_at"] is None,
        "applicationInstance": row["application_instance"],
        "target": row["application_instance"],
        "createdAt": iso(row["created_at"]),
        "undeployedAt": iso(row["undeployed_at"]),
        "_embedded": _embedded(request, row),
        "_links": {"self": link(request, f"/deployed-versions/{row['id']}")},
    }


def released_resource(request: Request, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": str(row["id"]),
        "currentlySupported": row["support_ended_at"] is None,
        "createdAt": iso(row["created_at"]),
        "supportEndedAt": iso(row["support_ended_at"]),
        "_embedded": _embedded(request, row),
        "_links": {"self": link(request, f"/released-versions/{row['id']}")},
    }


def _collection(
    request: Request, key: str, entries: list[dict[str, Any]], title: str
) -> dict[str, Any]:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return {"_embedded": {key: entries}, "_links": {"self": link(request, path, title=title)}}


def _application_instance(body: dict[str, Any], env: dict[str, Any]) -> str | None:
    errors: dict[str, list[str]] = {}
    instance = _optional_text(body, "applicationInstance", errors)
    target = _optional_text(body, "target", errors)
    _raise(errors)
    if instance is not None:
        return instance
    # ``target`` is the deprecated name of the application instance. The pact
    # broker CLI fills it with the environment's name, which is no instance at
    # all: treat that as "no instance" so API and CLI deployments replace each other.
    if target is not None and target != env["name"]:
        return target
    return None


@router.post("/pacticipants/{name}/versions/{number}/deployed-versions/environment/{env_id}")
async def record_deployment(
    name: str, number: str, env_id: str, request: Request, conn: Writer
) -> Response:
    body = _object(await read_json(request) if await _has_body(request) else None)
    env = await find_environment(conn, env_id)
    pacticipant = await require_pacticipant(conn, name)
    version = await require_version(conn, pacticipant, number)
    instance = _application_instance(body, env)
    # Serialise deployments of one pacticipant into one environment, so two
    # concurrent deployments cannot both stay current.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (f"deploy:{env['id']}:{pacticipant.id}",),
    )
    current = await _row(
        conn,
        "SELECT d.id FROM broker.deployed_versions d"
        " WHERE d.environment_id = %(env)s AND d.version_id = %(version)s"
        " AND d.undeployed_at IS NULL"
        " AND d.application_instance IS NOT DISTINCT FROM %(instance)s",
        {"env": env["id"], "version": version.id, "instance": instance},
    )
    status = 200
    if current is None:
        status = 201
        await conn.execute(
            "UPDATE broker.deployed_versions d SET undeployed_at = now()"
            "  FROM broker.versions v"
            " WHERE v.id = d.version_id AND v.pacticipant_id = %(pacticipant)s"
            "   AND d.environment_id = %(env)s AND d.undeployed_at IS NULL"
            "   AND d.application_instance IS NOT DISTINCT FROM %(instance)s",
            {"pacticipant": pacticipant.id, "env": env["id"], "instance": instance},
        )
        current = await _row(
            conn,
            "INSERT INTO broker.deployed_versions (id, version_id, environment_id,"
            " application_instance) VALUES (%s, %s, %s, %s) RETURNING id",
            (uuid.uuid4(), version.id, env["id"], instance),
        )
    assert current is not None
    row = await _row(conn, _DEPLOYED_SQL + " WHERE d.id = %s", (current["id"],))
    assert row is not None
    resource = deployed_resource(request, row)
    return hal(resource, status, headers={"Location": resource["_links"]["self"]["href"]})


async def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return request.headers.get("transfer-encoding", "").lower() == "chunked"


@router.get("/pacticipants/{name}/versions/{number}/deployed-versions/environment/{env_id}")
async def deployments_of_version(
    name: str, number: str, env_id: str, request: Request, conn: Reader
) -> Response:
    env = await find_environment(conn, env_id)
    version = await require_version(conn, await require_pacticipant(conn, name), number)
    rows = await _rows(
        conn,
        _DEPLOYED_SQL + " WHERE d.version_id = %s AND d.environment_id = %s ORDER BY d.created_at",
        (version.id, env["id"]),
    )
    entries = [deployed_resource(request, r) for r in rows]
    return hal(_collection(request, "deployedVersions", entries, "Deployed versions"))


@router.get("/environments/{env_id}/deployed-versions/currently-deployed")
async def currently_deployed(env_id: str, request: Request, conn: Reader) -> Response:
    env = await find_environment(conn, env_id)
    rows = await _rows(
        conn,
        _DEPLOYED_SQL + " WHERE d.environment_id = %(env)s AND d.undeployed_at IS NULL"
        " AND (%(pacticipant)s::text IS NULL OR p.name = %(pacticipant)s)"
        " AND (%(instance)s::text IS NULL OR d.application_instance = %(instance)s)"
        " ORDER BY p.name, d.created_at",
        {
            "env": env["id"],
            "pacticipant": request.query_params.get("pacticipant"),
            "instance": request.query_params.get("applicationInstance"),
        },
    )
    entries = [deployed_resource(request, r) for r in rows]
    title = f"Currently deployed versions for {env['display_name'] or env['name']}"
    return hal(_collection(request, "deployedVersions", entries, title))


async def _deployed(conn: psycopg.AsyncConnection, deployed_id: str) -> dict[str, Any]:
    row = await _row(
        conn, _DEPLOYED_SQL + " WHERE d.id = %s", (_uuid(deployed_id, "deployed version"),)
    )
    if row is None:
        raise BrokerError(404, "Not Found", f"no deployed version with UUID '{deployed_id}'")
    return row


@router.get("/deployed-versions/{deployed_id}")
async def get_deployed_version(deployed_id: str, request: Request, conn: Reader) -> Response:
    return hal(deployed_resource(request, await _deployed(conn, deployed_id)))


@router.patch("/deployed-versions/{deployed_id}")
async def patch_deployed_version(deployed_id: str, request: Request, conn: Writer) -> Response:
    body = _object(await read_json(request))
    row = await _deployed(conn, deployed_id)
    value = body.get("currentlyDeployed")
    if "currentlyDeployed" in body and not isinstance(value, bool):
        raise BrokerError(
            400,
            "Bad Request",
            "currentlyDeployed must be true or false",
            errors={"currentlyDeployed": ["must be true or false"]},
        )
    if value is True and row["undeployed_at"] is not None:
        raise BrokerError(
            422,
            "Unprocessable Content",
            "an undeployed version cannot be marked as deployed again; record a new deployment",
            errors={"currentlyDeployed": ["cannot be set to true once false"]},
        )
    if value is False and row["undeployed_at"] is None:
        await conn.execute(
            "UPDATE broker.deployed_versions SET undeployed_at = now() WHERE id = %s", (row["id"],)
        )
        row = await _deployed(conn, deployed_id)
    return hal(deployed_resource(request, row))


@router.post("/pacticipants/{name}/versions/{number}/released-versions/environment/{env_id}")
async def record_release(
    name: str, number: str, env_id: str, request: Request, conn: Writer
) -> Response:
    if await _has_body(request):
        _object(await read_json(request))
    env = await find_environment(conn, env_id)
    version = await require_version(conn, await require_pacticipant(conn, name), number)
    created = await _row(
        conn,
        "INSERT INTO broker.released_versions (id, version_id, environment_id)"
        " VALUES (%s, %s, %s) ON CONFLICT (version_id, environment_id) DO NOTHING RETURNING id",
        (uuid.uuid4(), version.id, env["id"]),
    )
    status = 201 if created is not None else 200
    if created is None:
        # Releasing the same version again means it is supported again.
        await conn.execute(
            "UPDATE broker.released_versions SET support_ended_at = NULL"
            " WHERE version_id = %s AND environment_id = %s",
            (version.id, env["id"]),
        )
    row = await _row(
        conn,
        _RELEASED_SQL + " WHERE r.version_id = %s AND r.environment_id = %s",
        (version.id, env["id"]),
    )
    assert row is not None
    resource = released_resource(request, row)
    return hal(resource, status, headers={"Location": resource["_links"]["self"]["href"]})


@router.get("/pacticipants/{name}/versions/{number}/released-versions/environment/{env_id}")
async def releases_of_version(
    name: str, number: str, env_id: str, request: Request, conn: Reader
) -> Response:
    env = await find_environment(conn, env_id)
    version = await require_version(conn, await require_pacticipant(conn, name), number)
    rows = await _rows(
        conn,
        _RELEASED_SQL + " WHERE r.version_id = %s AND r.environment_id = %s",
        (version.id, env["id"]),
    )
    entries = [released_resource(request, r) for r in rows]
    return hal(_collection(request, "releasedVersions", entries, "Released versions"))


@router.get("/environments/{env_id}/released-versions/currently-supported")
async def currently_supported(env_id: str, request: Request, conn: Reader) -> Response:
    env = await find_environment(conn, env_id)
    rows = await _rows(
        conn,
        _RELEASED_SQL + " WHERE r.environment_id = %(env)s AND r.support_ended_at IS NULL"
        " AND (%(pacticipant)s::text IS NULL OR p.name = %(pacticipant)s)"
        " ORDER BY p.name, r.created_at",
        {"env": env["id"], "pacticipant": request.query_params.get("pacticipant")},
    )
    entries = [released_resource(request, r) for r in rows]
    title = f"Currently supported released versions for {env['display_name'] or env['name']}"
    return hal(_collection(request, "releasedVersions", entries, title))


async def _released(conn: psycopg.AsyncConnection, released_id: str) -> dict[str, Any]:
    row = await _row(
        conn, _RELEASED_SQL + " WHERE r.id = %s", (_uuid(released_id, "released version"),)
    )
    if row is None:
        raise BrokerError(404, "Not Found", f"no released version with UUID '{released_id}'")
    return row


@router.get("/released-versions/{released_id}")
async def get_released_version(released_id: str, request: Request, conn: Reader) -> Response:
    return hal(released_resource(request, await _released(conn, released_id)))


@router.patch("/released-versions/{released_id}")
async def patch_released_version(released_id: str, request: Request, conn: Writer) -> Response:
    body = _object(await read_json(request))
    row = await _released(conn, released_id)
    value = body.get("currentlySupported")
    if "currentlySupported" in body and not isinstance(value, bool):
        raise BrokerError(
            400,
            "Bad Request",
            "currentlySupported must be true or false",
            errors={"currentlySupported": ["must be true or false"]},
        )
    if value is not None and value != (row["support_ended_at"] is None):
        await conn.execute(
            "UPDATE broker.released_versions SET support_ended_at ="
            " CASE WHEN %s THEN NULL ELSE now() END WHERE id = %s",
            (value, row["id"]),
        )
        row = await _released(conn, released_id)
    return hal(released_resource(request, row))
