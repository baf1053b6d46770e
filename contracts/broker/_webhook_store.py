"""The webhooks' SQL: ``broker.webhooks`` and the delivery log ``broker.webhook_deliveries``.

Rows come back as dicts (the columns by name); nothing here validates or renders.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

__all__ = [
    "delete_webhook",
    "find_webhook",
    "latest_deliveries",
    "list_webhooks",
    "pacticipant_exists",
    "upsert_webhook",
]


async def pacticipant_exists(conn: psycopg.AsyncConnection, name: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM broker.pacticipants WHERE name = %s", (name,))
    return await cur.fetchone() is not None


async def find_webhook(
    conn: psycopg.AsyncConnection, uuid: uuid_module.UUID, *, lock: bool = False
) -> dict[str, Any] | None:
    query = "SELECT * FROM broker.webhooks WHERE id = %s"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query + " FOR UPDATE" if lock else query, (uuid,))
        return await cur.fetchone()


async def upsert_webhook(
    conn: psycopg.AsyncConnection, uuid: uuid_module.UUID, webhook: Mapping[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Store the webhook under ``uuid``: the row, and whether it is new."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO broker.webhooks"
            " (id, description, consumer_name, provider_name, events, request, enabled)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET description = EXCLUDED.description,"
            " consumer_name = EXCLUDED.consumer_name, provider_name = EXCLUDED.provider_name,"
            " events = EXCLUDED.events, request = EXCLUDED.request,"
            " enabled = EXCLUDED.enabled, updated_at = now()"
            " RETURNING *, (xmax = 0) AS created",
            (
                uuid,
                webhook["description"],
                webhook["consumer_name"],
                webhook["provider_name"],
                webhook["events"],
                Jsonb(webhook["request"]),
                webhook["enabled"],
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    return row, bool(row.pop("created"))


async def list_webhooks(
    conn: psycopg.AsyncConnection, *, consumer: str | None, provider: str | None
) -> list[dict[str, Any]]:
    """The webhooks of ``consumer`` and ``provider`` (None: any), oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM broker.webhooks"
            " WHERE (%s::text IS NULL OR consumer_name = %s)"
            " AND (%s::text IS NULL OR provider_name = %s)"
            " ORDER BY created_at, id",
            (consumer, consumer, provider, provider),
        )
        return await cur.fetchall()


async def delete_webhook(conn: psycopg.AsyncConnection, uuid: uuid_module.UUID) -> bool:
    """Delete the webhook; whether there was one."""
    cur = await conn.execute("DELETE FROM broker.webhooks WHERE id = %s RETURNING id", (uuid,))
    return await cur.fetchone() is not None


async def latest_deliveries(
    conn: psycopg.AsyncConnection, webhook_id: Any, size: int
) -> list[dict[str, Any]]:
    """The webhook's ``size`` latest deliveries, newest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM broker.webhook_deliveries WHERE webhook_id = %s"
            " ORDER BY id DESC LIMIT %s",
            (webhook_id, size),
        )
        return await cur.fetchall()
