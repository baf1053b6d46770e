"""The broker's PostgreSQL: an async connection pool and versioned SQL migrations.

Migrations are ``migrations/NNNN_name.sql`` in the ``broker`` schema, applied
by :mod:`covenant.kernel.migrations` (ordered, recorded, once under concurrency).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from covenant.kernel import migrations
from covenant.kernel.errors import EngineError, ErrorKind

__all__ = [
    "MIGRATIONS_DIR",
    "BrokerDatabase",
    "DatabaseTimeout",
    "migrate",
    "pending_migrations",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SCHEMA = "broker"


async def pending_migrations(conn: psycopg.AsyncConnection) -> list[str]:
    return await migrations.pending(conn, SCHEMA, MIGRATIONS_DIR)


async def migrate(conn: psycopg.AsyncConnection) -> list[str]:
    """Apply pending broker migrations; return the names applied."""
    return await migrations.migrate(conn, SCHEMA, MIGRATIONS_DIR)


class DatabaseTimeout(psycopg.OperationalError):
    """PostgreSQL did not answer in time (frozen, overloaded, a hung host)."""


class BrokerDatabase:
    """The pool the broker's endpoints borrow connections from.

    Every use of a connection (getting it from the pool, the statements, the
    commit) has ``timeout_s`` on the client side: a PostgreSQL that is frozen
    (SIGSTOP, a hung host) keeps its sockets open and never answers, and neither
    the pool's timeout (it does not cover the connection check) nor a server-side
    ``statement_timeout`` ends that wait. When the deadline passes the transaction
    is abandoned (PostgreSQL rolls it back) and :class:`DatabaseTimeout`, an
    ``OperationalError``, becomes a 503 problem document."""

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, timeout_s: float = 15.0
    ) -> None:
        self.timeout_s = timeout_s
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=10,
            # A connection broken by a PostgreSQL restart is replaced, not handed out.
            check=AsyncConnectionPool.check_connection,
        )

    async def open(self) -> list[str]:
        try:
            await self.pool.open(wait=True, timeout=15)
        except Exception as exc:
            raise EngineError(
                "postgres", f"the broker cannot connect: {exc}", kind=ErrorKind.UNREACHABLE
            ) from None
        async with self._deadline(), self.pool.connection() as conn:
            return await migrate(conn)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def _deadline(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.timeout_s):
                yield
        except TimeoutError:
            raise DatabaseTimeout(
                f"PostgreSQL did not answer within {self.timeout_s:g} s"
            ) from None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A connection inside one transaction: a write either lands whole or not at all."""
        async with self._deadline(), self.pool.connection() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[psycopg.AsyncConnection]:
        async with self._deadline(), self.pool.connection() as conn:
            yield conn
