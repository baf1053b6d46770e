"""Connections to the database that holds check runs and claims.

``covenant check run`` opens one connection per write; the scheduler shares a
small pool instead: at a thousand checks a minute, a connection per claim and
per write exhausted PostgreSQL's ``max_connections``. The ``checks`` schema
is migrated once per process, not on every write. The pool, the deadline and
the migrations are the kernel's :class:`~covenant.kernel.postgres.Database`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg

from covenant.kernel.postgres import Database, Schema, unavailable

__all__ = ["SCHEMA", "UNAVAILABLE", "ChecksDatabase"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The ``checks`` schema: runs, expectation results, claims.
SCHEMA = Schema("checks", MIGRATIONS)

#: Seconds to fail fast after PostgreSQL could not be reached.
RETRY_AFTER_S = 5.0

#: Seconds one use of a connection (get it, migrate, the caller's statements) may
#: take. A PostgreSQL that is frozen (SIGSTOP, a hung host) keeps its sockets open
#: and never answers, so only a client-side deadline ends the wait; it surfaces as
#: ``TimeoutError``, which is an ``OSError``: the run is spooled.
OPERATION_TIMEOUT_S = 10.0

#: What "PostgreSQL is not there right now" looks like to the callers.
UNAVAILABLE = unavailable()


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
        # Autocommit: each statement stands alone; several use conn.transaction().
        self._database = Database(
            url, SCHEMA, timeout_s=timeout_s, pool_size=pool_size, autocommit=True
        )
        self._down_until = 0.0

    async def open(self) -> None:
        await self._database.open(wait=False)

    def retry_now(self) -> None:
        """Forget a recent failure (a last flush before stopping should really try)."""
        self._down_until = 0.0

    async def close(self) -> None:
        await self._database.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """An autocommit connection (use ``conn.transaction()`` for several statements).

        After a failure, callers fail fast for ``RETRY_AFTER_S`` instead of each
        waiting out a connection timeout: runs are spooled at once, and the
        periodic flush finds PostgreSQL again when it is back."""
        if time.monotonic() < self._down_until:
            raise OSError("PostgreSQL was unavailable moments ago; not asking again yet")
        try:
            async with self._database.connection() as conn:
                yield conn
        except UNAVAILABLE:
            self._down_until = time.monotonic() + RETRY_AFTER_S
            raise
