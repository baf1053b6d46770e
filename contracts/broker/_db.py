"""The broker's PostgreSQL: an async connection pool and versioned SQL migrations.

Migrations are ``migrations/NNNN_name.sql`` applied in order, each in its own
transaction, recorded in ``broker.schema_migrations``. A transaction-scoped
advisory lock makes concurrent starters (several ``covenant serve`` processes)
apply them exactly once.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from covenant.errors import EngineError, ErrorKind

__all__ = ["MIGRATIONS_DIR", "BrokerDatabase", "migrate", "pending_migrations"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x0C0E_4A47  # advisory lock id for migrations ("covenant")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def _migration_files() -> list[tuple[int, Path]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


async def _applied(conn: psycopg.AsyncConnection) -> set[int]:
    await conn.execute("CREATE SCHEMA IF NOT EXISTS broker")
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS broker.schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    rows = await (await conn.execute("SELECT version FROM broker.schema_migrations")).fetchall()
    return {int(r[0]) for r in rows}


async def pending_migrations(conn: psycopg.AsyncConnection) -> list[str]:
    applied = await _applied(conn)
    return [path.name for version, path in _migration_files() if version not in applied]


async def migrate(conn: psycopg.AsyncConnection) -> list[str]:
    """Apply pending migrations; return the names applied. ``conn`` must not be autocommit."""
    done: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        applied = await _applied(conn)
        for version, path in _migration_files():
            if version in applied:
                continue
            await conn.execute(path.read_text(encoding="utf-8").encode())
            await conn.execute(
                "INSERT INTO broker.schema_migrations (version, name) VALUES (%s, %s)",
                (version, path.name),
            )
            done.append(path.name)
    return done


class BrokerDatabase:
    """The pool the broker's endpoints borrow connections from."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.pool = AsyncConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, timeout=10
        )

    async def open(self) -> list[str]:
        try:
            await self.pool.open(wait=True, timeout=15)
        except Exception as exc:
            raise EngineError(
                "postgres", f"the broker cannot connect: {exc}", kind=ErrorKind.UNREACHABLE
            ) from None
        async with self.pool.connection() as conn:
            return await migrate(conn)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A connection inside one transaction: a write either lands whole or not at all."""
        async with self.pool.connection() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[psycopg.AsyncConnection]:
        async with self.pool.connection() as conn:
            yield conn
