"""covenant.kernel.postgres: the pieces the broker, the check history, the fuzz history
and the status page share, and the thin users built on them. No server: fakes stand in
for connections and pools."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from contracts.broker import BrokerDatabase
from contracts.broker._db import DatabaseTimeout
from covenant.kernel import postgres
from covenant.kernel.postgres import Database, Schema, deadline, fetch_rows, open_pool
from schedules._database import UNAVAILABLE, ChecksDatabase


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn

    async def __aenter__(self) -> FakeCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, query: Any, params: Any = ()) -> None:
        self.conn.queries.append((query, params))
        if self.conn.fail is not None:
            raise self.conn.fail

    async def fetchall(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.conn.rows]


class FakeConnection:
    def __init__(self, rows: list[dict[str, Any]] | None = None, *, autocommit: bool = False):
        self.rows = rows or []
        self.fail: BaseException | None = None
        self.queries: list[tuple[Any, Any]] = []
        self.autocommit = autocommit
        self.autocommit_changes: list[bool] = []

    def cursor(self, row_factory: Any = None) -> FakeCursor:
        return FakeCursor(self)

    async def set_autocommit(self, value: bool) -> None:
        self.autocommit_changes.append(value)
        self.autocommit = value


def test_connect_timeouts_are_whole_seconds_never_zero() -> None:
    # libpq's connect_timeout=0 waits forever: a short timeout must not become that.
    assert postgres._connect_timeout(0.2) == 1
    assert postgres._connect_timeout(5) == 5
    assert postgres._connect_timeout(5.0) == 5
    assert postgres._connect_timeout(2.6) == 3


def test_a_pool_is_closed_until_opened_and_checks_its_connections() -> None:
    pool = open_pool("postgresql://u:p@127.0.0.1:1/db", max_size=4, timeout_s=7)
    assert pool.closed
    assert (pool.min_size, pool.max_size, pool.timeout) == (1, 4, 7)
    assert pool._check is AsyncConnectionPool.check_connection
    assert not pool.kwargs
    autocommit = open_pool(
        "postgresql://u:p@127.0.0.1:1/db", max_size=2, timeout_s=5, autocommit=True
    )
    assert autocommit.kwargs == {"autocommit": True}


def test_a_deadline_ends_a_wait_with_the_error_asked_for() -> None:
    async def wait(error: Any) -> None:
        async with deadline(0.01, error):
            await asyncio.sleep(5)

    with pytest.raises(DatabaseTimeout, match=r"^PostgreSQL did not answer within 0.01 s$"):
        asyncio.run(wait(DatabaseTimeout.after))
    with pytest.raises(TimeoutError):
        asyncio.run(wait(None))


def test_no_deadline_means_no_limit() -> None:
    async def quick() -> str:
        async with deadline(None, DatabaseTimeout.after):
            await asyncio.sleep(0.01)
        return "done"

    assert asyncio.run(quick()) == "done"


def test_what_is_not_there_yet_reads_as_nothing() -> None:
    conn = FakeConnection([{"a": 1}])
    assert asyncio.run(fetch_rows(conn, "SELECT a FROM x.y", {})) == [{"a": 1}]  # type: ignore[arg-type]
    for error in (
        psycopg.errors.InvalidSchemaName,
        psycopg.errors.UndefinedTable,
        psycopg.errors.UndefinedColumn,
    ):
        conn.fail = error("missing")
        assert asyncio.run(fetch_rows(conn, "SELECT a FROM x.y", {})) == []  # type: ignore[arg-type]
    conn.fail = psycopg.errors.QueryCanceled("too slow")
    with pytest.raises(psycopg.errors.QueryCanceled):
        asyncio.run(fetch_rows(conn, "SELECT a FROM x.y", {}))  # type: ignore[arg-type]
    # A plain string is sent as bytes (psycopg's literal-string rule).
    assert conn.queries[0] == (b"SELECT a FROM x.y", {})


def test_unavailable_covers_the_driver_sockets_deadlines_and_the_pool() -> None:
    assert postgres.unavailable() == UNAVAILABLE
    for error in (psycopg.OperationalError("x"), TimeoutError(), OSError(), PoolTimeout("x")):
        assert isinstance(error, UNAVAILABLE)


def _schema(calls: list[tuple[str, bool]], monkeypatch: pytest.MonkeyPatch) -> Schema:
    from covenant.kernel import migrations

    async def migrate(conn: Any, schema: str, directory: Path) -> list[str]:
        calls.append((schema, conn.autocommit))
        return ["0001_init.sql"]

    monkeypatch.setattr(migrations, "migrate", migrate)
    return Schema("things", Path("nowhere"))


def test_migrations_run_outside_autocommit_and_give_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, bool]] = []
    schema = _schema(calls, monkeypatch)
    autocommit = FakeConnection(autocommit=True)
    assert asyncio.run(schema.migrate(autocommit)) == ["0001_init.sql"]  # type: ignore[arg-type]
    assert calls == [("things", False)]
    assert autocommit.autocommit_changes == [False, True]
    plain = FakeConnection()
    asyncio.run(schema.migrate(plain))  # type: ignore[arg-type]
    assert plain.autocommit_changes == []


def _database(
    monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, bool]], **kw: Any
) -> Database:
    database = Database("postgresql://u:p@127.0.0.1:1/db", _schema(calls, monkeypatch), **kw)

    @asynccontextmanager
    async def acquire() -> AsyncIterator[Any]:
        yield FakeConnection(autocommit=database.autocommit)

    monkeypatch.setattr(database, "acquire", acquire)
    return database


def test_the_schema_is_migrated_before_the_first_use_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, bool]] = []
    database = _database(monkeypatch, calls, timeout_s=1, autocommit=True)

    async def use_twice() -> None:
        for _ in range(2):
            async with database.connection() as conn:
                assert conn.autocommit

    asyncio.run(use_twice())
    assert calls == [("things", False)]
    assert database.migrated


def test_every_use_is_under_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    database = _database(monkeypatch, [], timeout_s=0.01, timeout_error=DatabaseTimeout.after)

    async def hang() -> None:
        async with database.connection():
            await asyncio.sleep(5)

    with pytest.raises(DatabaseTimeout):
        asyncio.run(hang())


def test_without_a_pool_each_use_connects_anew() -> None:
    database = Database("postgresql://u:p@127.0.0.1:1/db", Schema("x", Path()), timeout_s=None)
    assert database.pool is None
    pooled = Database(
        "postgresql://u:p@127.0.0.1:1/db", Schema("x", Path()), timeout_s=1, pool_size=3
    )
    assert pooled.pool is not None and pooled.pool.max_size == 3


def test_the_broker_database_keeps_its_pool_and_timeout() -> None:
    database = BrokerDatabase("postgresql://u:p@127.0.0.1:1/db", timeout_s=2.5)
    assert database.timeout_s == 2.5
    assert database.pool is not None
    assert (database.pool.min_size, database.pool.max_size, database.pool.timeout) == (1, 10, 10)
    assert not database.pool.kwargs
    assert issubclass(DatabaseTimeout, psycopg.OperationalError)  # the API's 503 handler


def test_the_broker_cannot_open_an_unreachable_database(monkeypatch: pytest.MonkeyPatch) -> None:
    from covenant.kernel.errors import EngineError, ErrorKind

    database = BrokerDatabase("postgresql://u:p@127.0.0.1:1/db")
    opened: list[dict[str, Any]] = []

    async def refused(**kw: Any) -> None:
        opened.append(kw)
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(database._database, "open", refused)
    with pytest.raises(EngineError) as caught:
        asyncio.run(database.open())
    assert opened == [{"wait": True, "timeout_s": 15}]
    assert caught.value.kind is ErrorKind.UNREACHABLE
    assert str(caught.value) == "postgres: the broker cannot connect: connection refused"


def test_the_broker_migrates_when_it_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, bool]] = []
    database = BrokerDatabase("postgresql://u:p@127.0.0.1:1/db")
    inner = database._database
    inner.schema = _schema(calls, monkeypatch)

    async def opened(**kw: Any) -> None:
        return None

    @asynccontextmanager
    async def acquire() -> AsyncIterator[Any]:
        yield FakeConnection()

    monkeypatch.setattr(inner, "open", opened)
    monkeypatch.setattr(inner, "acquire", acquire)
    assert asyncio.run(database.open()) == ["0001_init.sql"]
    assert asyncio.run(database.open()) == ["0001_init.sql"]  # every open asks again
    assert len(calls) == 2 and inner.migrated


def test_the_checks_database_fails_fast_after_a_failure(closed_port: int) -> None:
    database = ChecksDatabase(f"postgresql://u:p@127.0.0.1:{closed_port}/db", timeout_s=5)
    assert database._database.pool is None and database._database.autocommit

    async def use() -> None:
        async with database.connection():
            pass

    with pytest.raises(psycopg.OperationalError):
        asyncio.run(use())
    with pytest.raises(OSError, match="unavailable moments ago"):
        asyncio.run(use())
    database.retry_now()
    with pytest.raises(psycopg.OperationalError):
        asyncio.run(use())


def test_the_checks_pool_is_autocommit() -> None:
    database = ChecksDatabase("postgresql://u:p@127.0.0.1:1/db", pool_size=4)
    pool = database._database.pool
    assert pool is not None
    assert (pool.min_size, pool.max_size, pool.timeout) == (1, 4, 5)
    assert pool.kwargs == {"autocommit": True}
