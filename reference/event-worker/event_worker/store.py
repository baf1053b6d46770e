"""Where the worker writes: PostgreSQL, through a small async connection pool."""

from __future__ import annotations

from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from event_worker.messages import ScrapedEvent

__all__ = ["EventStore"]

SCHEMA = Path(__file__).resolve().parents[2] / "schema.sql"


class EventStore:
    def __init__(self, database_url: str) -> None:
        self._pool = AsyncConnectionPool(
            database_url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}
        )

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=30)
        async with self._pool.connection() as conn:
            await conn.execute(SCHEMA.read_text(encoding="utf-8"))  # idempotent DDL

    async def close(self) -> None:
        await self._pool.close()

    async def ping(self) -> None:
        async with self._pool.connection(timeout=3) as conn:
            await conn.execute("SELECT 1")

    async def store(self, event: ScrapedEvent, trace_id: str | None) -> None:
        async with self._pool.connection(timeout=10) as conn:
            await conn.execute(
                """
                INSERT INTO pipeline_events
                    (event_id, url, source, requested_at, processed_at, trace_id, run_id)
                VALUES (%s, %s, %s, %s, now(), %s, %s)
                ON CONFLICT (event_id) DO UPDATE
                   SET processed_at = now(), trace_id = EXCLUDED.trace_id,
                       run_id = EXCLUDED.run_id
                """,
                (
                    event.event_id,
                    event.url,
                    event.source,
                    event.requested_at,
                    trace_id,
                    event.run_id,
                ),
            )
