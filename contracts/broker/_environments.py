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

Here: what a request must hold, the reads and writes (each checks in the order
the answers depend on: an unknown environment before an unknown version, and so
on) and the HAL, rendered from the broker's base URL. The routes are
:mod:`contracts.broker.resources.environments`.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from contracts.broker._errors import BrokerError, unprocessable
from contracts.broker._hal import link
from contracts.broker._hal_urls import iso, pacticipant_path, version_path
from contracts.broker._queries import fetch_all as _rows
from contracts.broker._queries import fetch_one as _row
from contracts.broker._queries import require_pacticipant, require_version

__all__ = [
    "collection",
    "create_environment",
    "currently_deployed",
    "currently_supported",
    "delete_environment",
    "deployed_resource",
    "deployments_of_version",
    "environment_resource",
    "environments_body",
    "find_deployed",
    "find_environment",
    "find_released",
    "list_environments",
    "object_body",
    "patch_deployed_version",
    "patch_released_version",
    "record_deployment",
    "record_release",
    "released_resource",
    "releases_of_version",
    "update_environment",
]

MAX_NAME = 256


# --- helpers -----------------------------------------------------------------


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BrokerError(404, "Not Found", f"no {what} with UUID '{value}'") from None


def object_body(body: Any) -> dict[str, Any]:
    """A request body that must be a JSON object when given (None: no body)."""
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


def collection(
    base: str, self_path: str, key: str, entries: list[dict[str, Any]], title: str
) -> dict[str, Any]:
    """``entries`` embedded under ``key``; ``self_path`` is the path and query asked for."""
    return {"_embedded": {key: entries}, "_links": {"self": link(base, self_path, title=title)}}


# --- environments --------------------------------------------------------------


def _environment_path(env_id: Any) -> str:
    return f"/environments/{env_id}"


def environment_resource(base: str, row: dict[str, Any]) -> dict[str, Any]:
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
        "self": link(base, path, title="Environment", name=row["name"]),
        "pb:currently-deployed-deployed-versions": link(
            base,
            f"{path}/deployed-versions/currently-deployed",
            title=f"Versions currently deployed to {label} environment",
        ),
        "pb:currently-supported-released-versions": link(
            base,
            f"{path}/released-versions/currently-supported",
            title=f"Versions released and supported in {label} environment",
        ),
        "pb:environments": link(base, "/environments", title="Environments"),
    }
    return body


def environments_body(base: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "_embedded": {"environments": [environment_resource(base, r) for r in rows]},
        "_links": {
            "self": link(base, "/environments", title="Environments"),
            "pb:environments": [
                link(base, _environment_path(r["id"]), title="Environment", name=r["name"])
                for r in rows
            ],
            "pb:environment": link(
                base, "/environments/{uuid}", title="Environment", templated=True
            ),
        },
    }


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


async def list_environments(
    conn: psycopg.AsyncConnection, name: str | None
) -> list[dict[str, Any]]:
    """Every environment, or the one called ``name``."""
    return await _rows(
        conn,
        "SELECT * FROM broker.environments WHERE %(name)s::text IS NULL OR name = %(name)s"
        " ORDER BY name",
        {"name": name},
    )


async def create_environment(conn: psycopg.AsyncConnection, body: Any) -> dict[str, Any]:
    fields = _environment_fields(object_body(body))
    row = await _row(
        conn,
        "INSERT INTO broker.environments (id, name, display_name, production, contacts)"
        " VALUES (%(id)s, %(name)s, %(display_name)s, %(production)s, %(contacts)s)"
        " ON CONFLICT (name) DO NOTHING RETURNING *",
        {"id": uuid.uuid4(), **fields},
    )
    if row is None:
        raise _name_taken(fields["name"])
    return row


async def update_environment(
    conn: psycopg.AsyncConnection, env_id: str, body: Any
) -> dict[str, Any]:
    fields = _environment_fields(object_body(body))
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
    return row


async def delete_environment(conn: psycopg.AsyncConnection, env_id: str) -> None:
    await find_environment(conn, env_id)
    await conn.execute(
        "DELETE FROM broker.environments WHERE id = %s", (_uuid(env_id, "environment"),)
    )


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


def _embedded(base: str, row: dict[str, Any]) -> dict[str, Any]:
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
            "_links": {"self": link(base, pacticipant_path(row["pacticipant"]))},
        },
        "version": {
            "number": row["number"],
            "_links": {"self": link(base, version_path(row["pacticipant"], row["number"]))},
        },
        "environment": environment_resource(base, env),
    }


def deployed_resource(base: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": str(row["id"]),
        "currentlyDeployed": row["undeployed_at"] is None,
        "applicationInstance": row["application_instance"],
        "target": row["application_instance"],
        "createdAt": iso(row["created_at"]),
        "undeployedAt": iso(row["undeployed_at"]),
        "_embedded": _embedded(base, row),
        "_links": {"self": link(base, f"/deployed-versions/{row['id']}")},
    }


def released_resource(base: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": str(row["id"]),
        "currentlySupported": row["support_ended_at"] is None,
        "createdAt": iso(row["created_at"]),
        "supportEndedAt": iso(row["support_ended_at"]),
        "_embedded": _embedded(base, row),
        "_links": {"self": link(base, f"/released-versions/{row['id']}")},
    }


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


async def record_deployment(
    conn: psycopg.AsyncConnection, name: str, number: str, env_id: str, body: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Record that version ``number`` of ``name`` is deployed to the environment (the
    earlier deployments of the same application instance end); returns the deployed
    version and whether it is new."""
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
    created = False
    if current is None:
        created = True
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
    return row, created


async def deployments_of_version(
    conn: psycopg.AsyncConnection, name: str, number: str, env_id: str
) -> list[dict[str, Any]]:
    env = await find_environment(conn, env_id)
    version = await require_version(conn, await require_pacticipant(conn, name), number)
    return await _rows(
        conn,
        _DEPLOYED_SQL + " WHERE d.version_id = %s AND d.environment_id = %s ORDER BY d.created_at",
        (version.id, env["id"]),
    )


async def currently_deployed(
    conn: psycopg.AsyncConnection,
    env_id: str,
    *,
    pacticipant: str | None,
    instance: str | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The environment and what is deployed there now (of ``pacticipant``, of
    ``instance``, when given)."""
    env = await find_environment(conn, env_id)
    rows = await _rows(
        conn,
        _DEPLOYED_SQL + " WHERE d.environment_id = %(env)s AND d.undeployed_at IS NULL"
        " AND (%(pacticipant)s::text IS NULL OR p.name = %(pacticipant)s)"
        " AND (%(instance)s::text IS NULL OR d.application_instance = %(instance)s)"
        " ORDER BY p.name, d.created_at",
        {"env": env["id"], "pacticipant": pacticipant, "instance": instance},
    )
    return env, rows


async def find_deployed(conn: psycopg.AsyncConnection, deployed_id: str) -> dict[str, Any]:
    row = await _row(
        conn, _DEPLOYED_SQL + " WHERE d.id = %s", (_uuid(deployed_id, "deployed version"),)
    )
    if row is None:
        raise BrokerError(404, "Not Found", f"no deployed version with UUID '{deployed_id}'")
    return row


async def patch_deployed_version(
    conn: psycopg.AsyncConnection, deployed_id: str, body: Any
) -> dict[str, Any]:
    """``currentlyDeployed: false`` ends a deployment (it cannot be made current again)."""
    body = object_body(body)
    row = await find_deployed(conn, deployed_id)
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
        row = await find_deployed(conn, deployed_id)
    return row


async def record_release(
    conn: psycopg.AsyncConnection, name: str, number: str, env_id: str
) -> tuple[dict[str, Any], bool]:
    """Record that version ``number`` of ``name`` is released to the environment (again
    supported if it was released before); returns the release and whether it is new."""
    env = await find_environment(conn, env_id)
    version = await require_version(conn, await require_pacticipant(conn, name), number)
    created = await _row(
        conn,
        "INSERT INTO broker.released_versions (id, version_id, environment_id)"
        " VALUES (%s, %s, %s) ON CONFLICT (version_id, environment_id) DO NOTHING RETURNING id",
        (uuid.uuid4(), version.id, env["id"]),
    )
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
    return row, created is not None


async def releases_of_version(
    conn: psycopg.AsyncConnection, name: str, number: str, env_id: str
) -> list[dict[str, Any]]:
    env = await find_environment(conn, env_id)
    version = await require_version(conn, await require_pacticipant(conn, name), number)
    return await _rows(
        conn,
        _RELEASED_SQL + " WHERE r.version_id = %s AND r.environment_id = %s",
        (version.id, env["id"]),
    )


async def currently_supported(
    conn: psycopg.AsyncConnection, env_id: str, *, pacticipant: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The environment and the releases still supported there (of ``pacticipant``)."""
    env = await find_environment(conn, env_id)
    rows = await _rows(
        conn,
        _RELEASED_SQL + " WHERE r.environment_id = %(env)s AND r.support_ended_at IS NULL"
        " AND (%(pacticipant)s::text IS NULL OR p.name = %(pacticipant)s)"
        " ORDER BY p.name, r.created_at",
        {"env": env["id"], "pacticipant": pacticipant},
    )
    return env, rows


async def find_released(conn: psycopg.AsyncConnection, released_id: str) -> dict[str, Any]:
    row = await _row(
        conn, _RELEASED_SQL + " WHERE r.id = %s", (_uuid(released_id, "released version"),)
    )
    if row is None:
        raise BrokerError(404, "Not Found", f"no released version with UUID '{released_id}'")
    return row


async def patch_released_version(
    conn: psycopg.AsyncConnection, released_id: str, body: Any
) -> dict[str, Any]:
    """``currentlySupported`` ends (false) or resumes (true) the support of a release."""
    body = object_body(body)
    row = await find_released(conn, released_id)
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
        row = await find_released(conn, released_id)
    return row
