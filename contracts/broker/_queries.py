"""Small SQL building blocks shared by the broker's endpoints.

Every function takes the caller's connection, so a publish that creates a
pacticipant, a version, a branch, tags and a pact runs in the caller's single
transaction and either lands whole or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from contracts.broker._errors import BrokerError
from covenant.kernel.postgres import fetch_rows

__all__ = [
    "Pacticipant",
    "Version",
    "add_branch",
    "add_tag",
    "detect_main_branch",
    "ensure_pacticipant",
    "ensure_version",
    "fetch_all",
    "fetch_one",
    "find_pacticipant",
    "find_version",
    "latest_contracts",
    "require_pacticipant",
    "require_version",
]


@dataclass(frozen=True)
class Pacticipant:
    id: int
    name: str
    display_name: str | None
    main_branch: str | None
    repository_url: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Version:
    id: int
    pacticipant_id: int
    number: str
    build_url: str | None
    created_at: datetime


async def fetch_all(
    conn: psycopg.AsyncConnection, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """Rows as dicts; the one place the broker's modules read rows from."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


async def fetch_one(
    conn: psycopg.AsyncConnection, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()
) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchone()


async def find_pacticipant(conn: psycopg.AsyncConnection, name: str) -> Pacticipant | None:
    row = await fetch_one(conn, "SELECT * FROM broker.pacticipants WHERE name = %s", (name,))
    return Pacticipant(**row) if row else None


async def require_pacticipant(conn: psycopg.AsyncConnection, name: str) -> Pacticipant:
    found = await find_pacticipant(conn, name)
    if found is None:
        raise BrokerError(404, "Not Found", f"no pacticipant named '{name}'")
    return found


async def ensure_pacticipant(conn: psycopg.AsyncConnection, name: str) -> Pacticipant:
    """Get or create; safe under concurrent publishers (ON CONFLICT)."""
    row = await fetch_one(
        conn,
        "INSERT INTO broker.pacticipants (name) VALUES (%s) "
        "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING *",
        (name,),
    )
    assert row is not None
    return Pacticipant(**row)


async def find_version(
    conn: psycopg.AsyncConnection, pacticipant: Pacticipant, number: str
) -> Version | None:
    row = await fetch_one(
        conn,
        "SELECT * FROM broker.versions WHERE pacticipant_id = %s AND number = %s",
        (pacticipant.id, number),
    )
    return Version(**row) if row else None


async def require_version(
    conn: psycopg.AsyncConnection, pacticipant: Pacticipant, number: str
) -> Version:
    found = await find_version(conn, pacticipant, number)
    if found is None:
        raise BrokerError(
            404, "Not Found", f"no version '{number}' of pacticipant '{pacticipant.name}'"
        )
    return found


async def ensure_version(
    conn: psycopg.AsyncConnection,
    pacticipant: Pacticipant,
    number: str,
    build_url: str | None = None,
) -> Version:
    row = await fetch_one(
        conn,
        "INSERT INTO broker.versions (pacticipant_id, number, build_url) VALUES (%s, %s, %s) "
        "ON CONFLICT (pacticipant_id, number) DO UPDATE "
        "SET build_url = COALESCE(EXCLUDED.build_url, broker.versions.build_url) RETURNING *",
        (pacticipant.id, number, build_url),
    )
    assert row is not None
    return Version(**row)


async def add_branch(conn: psycopg.AsyncConnection, version: Version, branch: str) -> None:
    row = await fetch_one(
        conn,
        "INSERT INTO broker.branches (pacticipant_id, name) VALUES (%s, %s) "
        "ON CONFLICT (pacticipant_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        (version.pacticipant_id, branch),
    )
    assert row is not None
    await conn.execute(
        "INSERT INTO broker.branch_versions (branch_id, version_id) VALUES (%s, %s) "
        "ON CONFLICT DO NOTHING",
        (row["id"], version.id),
    )
    await detect_main_branch(conn, version.pacticipant_id, branch)


#: As the Pact Broker does (``auto_detect_main_branch``): the first of these
#: branches a pacticipant publishes from becomes its main branch, unless set.
MAIN_BRANCH_CANDIDATES = ("develop", "main", "master")


async def detect_main_branch(
    conn: psycopg.AsyncConnection, pacticipant_id: int, branch: str
) -> None:
    if branch in MAIN_BRANCH_CANDIDATES:
        await conn.execute(
            "UPDATE broker.pacticipants SET main_branch = %s, updated_at = now()"
            " WHERE id = %s AND main_branch IS NULL",
            (branch, pacticipant_id),
        )


async def add_tag(conn: psycopg.AsyncConnection, version: Version, tag: str) -> None:
    await conn.execute(
        "INSERT INTO broker.tags (version_id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (version.id, tag),
    )


async def latest_contracts(conn: psycopg.AsyncConnection, limit: int = 500) -> list[dict[str, Any]]:
    """For each consumer -> provider pair (by consumer, then provider name), the pact of
    its newest consumer version and the newest verification of exactly that pact
    content: consumer, provider, consumer_version, pact_version_sha, published_at,
    status (success, failure or unverified), provider_version and verified_at (None
    when unverified). Nothing while the broker has never started on this database."""
    return await fetch_rows(
        conn,
        "SELECT c.name AS consumer, p.name AS provider, cv.number AS consumer_version,"
        " pub.pact_version_sha, pub.created_at AS published_at,"
        " CASE WHEN v.id IS NULL THEN 'unverified' WHEN v.success THEN 'success'"
        " ELSE 'failure' END AS status, pv.number AS provider_version,"
        " v.created_at AS verified_at"
        " FROM (SELECT DISTINCT ON (cv.pacticipant_id, pp.provider_id) pp.*,"
        " cv.pacticipant_id AS consumer_id FROM broker.pact_publications pp"
        " JOIN broker.versions cv ON cv.id = pp.consumer_version_id"
        " ORDER BY cv.pacticipant_id, pp.provider_id, pp.consumer_version_id DESC, pp.id DESC"
        " ) pub"
        " JOIN broker.pacticipants c ON c.id = pub.consumer_id"
        " JOIN broker.pacticipants p ON p.id = pub.provider_id"
        " JOIN broker.versions cv ON cv.id = pub.consumer_version_id"
        " LEFT JOIN LATERAL (SELECT * FROM broker.verifications x"
        " WHERE x.pact_version_sha = pub.pact_version_sha ORDER BY x.id DESC LIMIT 1) v ON true"
        " LEFT JOIN broker.versions pv ON pv.id = v.provider_version_id"
        " ORDER BY c.name, p.name LIMIT %(limit)s",
        {"limit": limit},
    )
