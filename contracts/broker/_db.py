"""The broker's PostgreSQL: an async connection pool and versioned SQL migrations.

Migrations are ``migrations/NNNN_name.sql`` in the ``broker`` schema, applied
by :mod:`covenant.kernel.migrations` (ordered, recorded, once under concurrency).
The pool, the deadline and the migrations are the kernel's
:class:`~covenant.kernel.postgres.Database`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from covenant.kernel.errors import EngineError, ErrorKind
from covenant.kernel.postgres import Database, Schema

__all__ = [
    "MIGRATIONS_DIR",
    "BrokerDatabase",
    "DatabaseTimeout",
    "migrate",
    "pending_migrations",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SCHEMA = "broker"
_SCHEMA = Schema(SCHEMA, MIGRATIONS_DIR)


async def pending_migrations(conn: psycopg.AsyncConnection) -> list[str]:
    return await _SCHEMA.pending(conn)


async def migrate(conn: psycopg.AsyncConnection) -> list[str]:
    """Apply pending broker migrations; return the names applied."""
    return await _SCHEMA.migrate(conn)


class DatabaseTimeout(psycopg.OperationalError):
    """PostgreSQL did not answer in time (frozen, overloaded, a hung host)."""

    @classmethod
    def after(cls, seconds: float) -> DatabaseTimeout:
        return cls(f"PostgreSQL did not answer within {seconds:g} s")


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
        self._database = Database(
            url,
            _SCHEMA,
            timeout_s=timeout_s,
            timeout_error=DatabaseTimeout.after,
            pool_size=max_size,
            min_size=min_size,
            pool_timeout_s=10,
        )
        self.pool: AsyncConnectionPool | None = self._database.pool

    async def open(self) -> list[str]:
        """Open the pool and apply pending migrations; return the names applied."""
        try:
            await self._database.open(wait=True, timeout_s=15)
        except Exception as exc:
            raise EngineError(
                "postgres", f"the broker cannot connect: {exc}", kind=ErrorKind.UNREACHABLE
            ) from None
        async with self._database.deadline(), self._database.acquire() as conn:
            return await self._database.migrate(conn)

    async def close(self) -> None:
        await self._database.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A connection inside one transaction: a write either lands whole or not at all."""
        async with self._database.transaction() as conn:
            yield conn

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[psycopg.AsyncConnection]:
        async with self._database.connection() as conn:
            yield conn
