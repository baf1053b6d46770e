"""PostgreSQL access shared by every component.

- URLs of sibling databases and creating one next to a server's URL (the stack,
  the self-fuzz, tests, benches): :func:`sibling_url`, :func:`database_url`,
  :func:`create_database`.
- Connecting: one rule for connect timeouts (:func:`connect`,
  :func:`connect_blocking`), a server-side :func:`set_statement_timeout`, a pool
  that replaces connections broken by a restart (:func:`open_pool`).
- :class:`Schema`: a component's schema and its migrations, applied on any
  connection (autocommit or not).
- :class:`Database`: one component's database, the piece the broker, the check
  history and the fuzz history share: a pool or a connection per use, every use
  under a client-side :func:`deadline`, the schema migrated before the first use.
- Reading a schema another process may not have created yet: :func:`fetch_rows`.

The driver (psycopg) is imported inside the functions: the kernel's other modules
must not need it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql
    from psycopg_pool import AsyncConnectionPool

__all__ = [
    "Database",
    "Schema",
    "connect",
    "connect_blocking",
    "create_database",
    "database_url",
    "deadline",
    "fetch_rows",
    "not_created_yet",
    "open_pool",
    "set_statement_timeout",
    "sibling_url",
    "unavailable",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

#: Seconds to wait for a new connection unless told otherwise.
CONNECT_TIMEOUT_S = 5.0


def sibling_url(url: str, database: str) -> str:
    """``url`` with its database replaced by ``database`` (same server, same user)."""
    return url.rsplit("/", 1)[0] + f"/{database}"


def database_url(url: str) -> str:
    """The maintenance database (``postgres``) of the server ``url`` points at."""
    return sibling_url(url, "postgres")


def _connect_timeout(seconds: float) -> int:
    """libpq's ``connect_timeout`` is whole seconds, and 0 would mean "wait forever"."""
    return max(1, round(seconds))


def connect_blocking(
    url: str,
    *,
    timeout_s: float = CONNECT_TIMEOUT_S,
    autocommit: bool = False,
    row_factory: Any = None,
) -> psycopg.Connection[Any]:
    """A new (synchronous) connection, waiting at most ``timeout_s`` for it."""
    import psycopg

    return psycopg.connect(
        url,
        connect_timeout=_connect_timeout(timeout_s),
        autocommit=autocommit,
        row_factory=row_factory,
    )


async def connect(
    url: str, *, timeout_s: float = CONNECT_TIMEOUT_S, autocommit: bool = False
) -> psycopg.AsyncConnection[Any]:
    """A new connection, waiting at most ``timeout_s`` for it."""
    import psycopg

    return await psycopg.AsyncConnection.connect(
        url, connect_timeout=_connect_timeout(timeout_s), autocommit=autocommit
    )


async def set_statement_timeout(conn: psycopg.AsyncConnection[Any], seconds: float) -> None:
    """Let the server cancel any statement of ``conn`` that runs longer than ``seconds``."""
    await conn.execute(f"SET statement_timeout = {int(seconds * 1000)}".encode())


def open_pool(
    url: str,
    *,
    max_size: int | None,
    min_size: int = 1,
    timeout_s: float,
    autocommit: bool = False,
) -> AsyncConnectionPool:
    """A pool, not open yet (``await pool.open()``), that checks a connection before
    handing it out: one broken by a PostgreSQL restart is replaced, not handed out.
    ``timeout_s``: how long a caller waits for a free connection."""
    from psycopg_pool import AsyncConnectionPool

    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        timeout=timeout_s,
        check=AsyncConnectionPool.check_connection,
        kwargs={"autocommit": True} if autocommit else None,
    )


def unavailable() -> tuple[type[BaseException], ...]:
    """What "PostgreSQL is not there right now" looks like: a driver error, a socket
    error (a deadline's ``TimeoutError`` is one) or no free pooled connection in time."""
    import psycopg
    from psycopg_pool import PoolTimeout

    return (psycopg.Error, OSError, PoolTimeout)


def not_created_yet() -> tuple[type[BaseException], ...]:
    """A missing schema, table or column: that part was never written."""
    import psycopg

    return (
        psycopg.errors.InvalidSchemaName,
        psycopg.errors.UndefinedTable,
        psycopg.errors.UndefinedColumn,
    )


async def fetch_rows(
    conn: psycopg.AsyncConnection[Any],
    query: str | sql.Composed,
    params: Mapping[str, Any] | Sequence[Any] = (),
) -> list[dict[str, Any]]:
    """Rows as dicts; none when the schema, table or column does not exist yet (on an
    autocommit connection that failure does not spoil the statements after it)."""
    from psycopg.rows import dict_row

    try:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query.encode() if isinstance(query, str) else query, params)
            return list(await cur.fetchall())
    except not_created_yet():
        return []


@asynccontextmanager
async def deadline(
    seconds: float | None, error: Callable[[float], BaseException] | None = None
) -> AsyncIterator[None]:
    """Give up on the body after ``seconds`` (None: no limit) with ``TimeoutError``, or
    with ``error(seconds)`` when given.

    A PostgreSQL that is frozen (SIGSTOP, a hung host) keeps its sockets open and
    never answers, and neither a pool's timeout (it does not cover the connection
    check) nor a server-side ``statement_timeout`` ends that wait: only the client can.
    An abandoned transaction is rolled back by PostgreSQL."""
    if seconds is None:
        yield
        return
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        if error is None:
            raise
        raise error(seconds) from None


@dataclass(frozen=True)
class Schema:
    """A component's schema and the directory of its ``NNNN_name.sql`` migrations
    (see :mod:`covenant.kernel.migrations`)."""

    name: str
    migrations: Path

    async def pending(self, conn: psycopg.AsyncConnection[Any]) -> list[str]:
        from covenant.kernel import migrations

        return await migrations.pending(conn, self.name, self.migrations)

    async def migrate(self, conn: psycopg.AsyncConnection[Any]) -> list[str]:
        """Apply the pending migrations; return the names applied. An autocommit
        connection is taken out of autocommit for it (they apply in one transaction)."""
        from covenant.kernel import migrations

        if not conn.autocommit:
            return await migrations.migrate(conn, self.name, self.migrations)
        await conn.set_autocommit(False)
        try:
            return await migrations.migrate(conn, self.name, self.migrations)
        finally:
            await conn.set_autocommit(True)


class Database:
    """One component's PostgreSQL database.

    Connections come from a pool when ``pool_size`` is given, else a new one per use
    (waiting at most ``connect_timeout_s``). Every use (getting the connection, the
    migrations, the caller's statements, the commit) is under :func:`deadline` of
    ``timeout_s``, ending in ``timeout_error(timeout_s)`` or ``TimeoutError``. The
    schema is migrated before the first use, once per instance."""

    def __init__(
        self,
        url: str,
        schema: Schema,
        *,
        timeout_s: float | None,
        timeout_error: Callable[[float], BaseException] | None = None,
        pool_size: int | None = None,
        min_size: int = 1,
        pool_timeout_s: float = 5.0,
        autocommit: bool = False,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.schema = schema
        self.timeout_s = timeout_s
        self.timeout_error = timeout_error
        self.autocommit = autocommit
        self.connect_timeout_s = connect_timeout_s
        self.pool: AsyncConnectionPool | None = (
            open_pool(
                url,
                min_size=min_size,
                max_size=pool_size,
                timeout_s=pool_timeout_s,
                autocommit=autocommit,
            )
            if pool_size
            else None
        )
        self.migrated = False

    async def open(self, *, wait: bool = False, timeout_s: float = 30.0) -> None:
        """Open the pool (nothing to do without one); ``wait``: until ``min_size``
        connections are there, at most ``timeout_s``."""
        if self.pool is not None:
            await self.pool.open(wait=wait, timeout=timeout_s)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    def deadline(self) -> AbstractAsyncContextManager[None]:
        """The deadline of one use of a connection."""
        return deadline(self.timeout_s, self.timeout_error)

    async def migrate(self, conn: psycopg.AsyncConnection[Any]) -> list[str]:
        """Apply the schema's pending migrations now; return the names applied."""
        applied = await self.schema.migrate(conn)
        self.migrated = True
        return applied

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection as it is (no deadline, no migrations)."""
        if self.pool is not None:
            async with self.pool.connection() as conn:
                yield conn
            return
        async with await connect(
            self.url, timeout_s=self.connect_timeout_s, autocommit=self.autocommit
        ) as conn:
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection under the deadline, the schema migrated."""
        async with self.deadline(), self.acquire() as conn:
            if not self.migrated:
                await self.migrate(conn)
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection inside one transaction: a write either lands whole or not at all."""
        async with self.connection() as conn, conn.transaction():
            yield conn


def create_database(
    server_url: str, name: str, *, replace: bool = False, connect_timeout_s: float = 5
) -> str:
    """Create database ``name`` on the server of ``server_url`` unless it exists (or,
    with ``replace``, drop it first, ending its sessions); return its URL.

    ``name`` must be a plain identifier: it is put into the statement as one."""
    if not _NAME.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    with connect_blocking(
        database_url(server_url), timeout_s=connect_timeout_s, autocommit=True
    ) as conn:
        if replace:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return sibling_url(server_url, name)
