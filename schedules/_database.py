"""Connections to the database that holds check runs and claims.

``covenant check run`` opens one connection per write; the scheduler shares a
small pool instead: at a thousand checks a minute, a connection per claim and
per write exhausted PostgreSQL's ``max_connections``. The ``checks`` schema
is migrated once per process, not on every write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from covenant.kernel import migrations

__all__ = ["UNAVAILABLE", "ChecksDatabase"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: Seconds to fail fast after PostgreSQL could not be reached.
RETRY_AFTER_S = 5.0

#: Seconds one use of a connection (get it, migrate, the caller's statements) may
#: take. A PostgreSQL that is frozen (SIGSTOP, a hung host) keeps its sockets open
#: and never answers, so only a client-side deadline ends the wait; it surfaces as
#: ``TimeoutError``, which is an ``OSError``: the run is spooled.
OPERATION_TIMEOUT_S = 10.0

#: What "PostgreSQL is not there right now" looks like to the callers.
UNAVAILABLE = (psycopg.Error, OSError, PoolTimeout)


class ChecksDatabase:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int | None = None,
        timeout_s: float = OPERATION_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._pool = (
            AsyncConnectionPool(
                url,
                min_size=1,
                max_size=pool_size,
                open=False,
                kwargs={"autocommit": True},
                timeout=5,
                # A restarted PostgreSQL leaves dead connections in the pool.
                check=AsyncConnectionPool.check_connection,
            )
            if pool_size
            else None
        )
        self._migrated = False
        self._down_until = 0.0

    async def open(self) -> None:
        if self._pool is not None:
            await self._pool.open(wait=False)

    def retry_now(self) -> None:
        """Forget a recent failure (a last flush before stopping should really try)."""
        self._down_until = 0.0

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """An autocommit connection (use ``conn.transaction()`` for several statements).

        After a failure, callers fail fast for ``RETRY_AFTER_S`` instead of each
        waiting out a connection timeout: runs are spooled at once, and the
        periodic flush finds PostgreSQL again when it is back."""
        if time.monotonic() < self._down_until:
            raise OSError("PostgreSQL was unavailable moments ago; not asking again yet")
        try:
            async with asyncio.timeout(self.timeout_s), self._acquire() as conn:
                await self._migrate(conn)
                yield conn
        except UNAVAILABLE:
            self._down_until = time.monotonic() + RETRY_AFTER_S
            raise

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[psycopg.AsyncConnection]:
        if self._pool is not None:
            async with self._pool.connection() as conn:
                yield conn
            return
        async with await psycopg.AsyncConnection.connect(
            self.url, connect_timeout=5, autocommit=True
        ) as conn:
            yield conn

    async def _migrate(self, conn: psycopg.AsyncConnection) -> None:
        if self._migrated:
            return
        await conn.set_autocommit(False)
        try:
            await migrations.migrate(conn, "checks", MIGRATIONS)
        finally:
            await conn.set_autocommit(True)
        self._migrated = True
