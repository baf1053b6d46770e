"""What the store knows about one pacticipant version beyond its own row: its
branches and tags, the pacts it published, and where it is deployed or released.

Read in one place so that rendering a version (``_hal_urls.render_version``)
never queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from contracts.broker._queries import Version
from contracts.broker._queries import fetch_all as _rows

__all__ = ["VersionFacts", "version_facts"]

Row = dict[str, Any]


@dataclass(frozen=True)
class VersionFacts:
    branches: list[Row]
    tags: list[Row]
    pacts: list[Row]
    #: Every environment: a version may be recorded as deployed to any of them.
    environments: list[Row]
    deployed: list[Row]
    released: list[Row]


async def version_facts(conn: psycopg.AsyncConnection, version: Version) -> VersionFacts:
    branches = await _rows(
        conn,
        "SELECT b.name, bv.created_at,"
        " (bv.version_id = (SELECT max(x.version_id) FROM broker.branch_versions x"
        "   WHERE x.branch_id = b.id)) AS latest"
        " FROM broker.branch_versions bv JOIN broker.branches b ON b.id = bv.branch_id"
        " WHERE bv.version_id = %s ORDER BY bv.created_at, b.name",
        (version.id,),
    )
    tags = await _rows(
        conn,
        "SELECT name, created_at FROM broker.tags WHERE version_id = %s ORDER BY created_at, name",
        (version.id,),
    )
    pacts = await _rows(
        conn,
        "SELECT p.name AS provider FROM broker.pact_publications pp"
        " JOIN broker.pacticipants p ON p.id = pp.provider_id"
        " WHERE pp.consumer_version_id = %s ORDER BY lower(p.name)",
        (version.id,),
    )
    environments = await _rows(
        conn, "SELECT id, name, display_name FROM broker.environments ORDER BY name", ()
    )
    deployed = await _rows(
        conn,
        "SELECT d.id, d.created_at, d.undeployed_at, d.application_instance,"
        " e.name, e.display_name FROM broker.deployed_versions d"
        " JOIN broker.environments e ON e.id = d.environment_id"
        " WHERE d.version_id = %s ORDER BY d.created_at",
        (version.id,),
    )
    released = await _rows(
        conn,
        "SELECT r.id, r.created_at, r.support_ended_at, e.name, e.display_name"
        " FROM broker.released_versions r JOIN broker.environments e ON e.id = r.environment_id"
        " WHERE r.version_id = %s ORDER BY r.created_at",
        (version.id,),
    )
    return VersionFacts(branches, tags, pacts, environments, deployed, released)
