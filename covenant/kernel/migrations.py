"""Versioned SQL migrations, one PostgreSQL schema per component.

A component (the broker, fuzz run history, check results) keeps numbered files
``NNNN_name.sql`` in its own directory and its own schema. ``migrate`` applies
the missing ones in order inside one transaction, recorded in
``<schema>.schema_migrations``; a transaction-scoped advisory lock per schema
makes concurrent starters (several ``covenant serve`` processes) apply each
migration exactly once.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import psycopg
from psycopg import sql

__all__ = ["migrate", "pending"]

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def _files(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


async def _applied(conn: psycopg.AsyncConnection, schema: str) -> set[int]:
    await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    await conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(sql.Identifier(schema))
    )
    cursor = await conn.execute(
        sql.SQL("SELECT version FROM {}.schema_migrations").format(sql.Identifier(schema))
    )
    return {int(row[0]) for row in await cursor.fetchall()}


async def pending(conn: psycopg.AsyncConnection, schema: str, directory: Path) -> list[str]:
    applied = await _applied(conn, schema)
    return [path.name for version, path in _files(directory) if version not in applied]


async def migrate(conn: psycopg.AsyncConnection, schema: str, directory: Path) -> list[str]:
    """Apply pending migrations of ``schema``; ``conn`` must not be in autocommit mode."""
    lock_key = zlib.crc32(f"covenant-migrations:{schema}".encode())
    done: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
        applied = await _applied(conn, schema)
        for version, path in _files(directory):
            if version in applied:
                continue
            await conn.execute(path.read_text(encoding="utf-8").encode())
            await conn.execute(
                sql.SQL("INSERT INTO {}.schema_migrations (version, name) VALUES (%s, %s)").format(
                    sql.Identifier(schema)
                ),
                (version, path.name),
            )
            done.append(path.name)
    return done
