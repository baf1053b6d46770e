"""Fuzz runs and findings in PostgreSQL (schema ``fuzz``).

Writes (``covenant fuzz``) migrate the schema first; reads take the reader's
connection and find nothing, not an error, while no run was ever stored."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from covenant.kernel.postgres import Database, Schema, connect_blocking, fetch_rows
from verifiers.fuzz._model import FuzzResult

__all__ = ["load_finding", "read_findings", "read_runs", "save_result"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMA = Schema("fuzz", MIGRATIONS)


async def _save(database_url: str, result: FuzzResult) -> None:
    # One connection per save, migrated first; no client-side deadline.
    async with Database(database_url, SCHEMA, timeout_s=None).transaction() as conn:
        options = result.options
        await conn.execute(
            "INSERT INTO fuzz.runs (id, service, spec, base_url, seed, options, started_at,"
            " finished_at, outcome, operations, test_cases)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                result.run_id,
                options.service,
                options.spec,
                options.base_url,
                options.seed,
                Jsonb(
                    {
                        "phases": list(options.phases),
                        "max_examples": options.max_examples,
                        "max_time_s": options.max_time_s,
                        "rate_limit": options.rate_limit,
                        "response_time_budget_s": options.response_time_budget_s,
                    }
                ),
                result.started_at,
                result.finished_at,
                result.outcome,
                result.operations,
                result.test_cases,
            ),
        )
        for finding in result.findings:
            await conn.execute(
                "INSERT INTO fuzz.findings (id, run_id, operation, check_name, code, title,"
                " message, severity, request, response, curl)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    finding.id,
                    result.run_id,
                    finding.operation,
                    finding.check,
                    finding.code,
                    finding.title,
                    finding.message,
                    finding.severity,
                    Jsonb(finding.request),
                    Jsonb(finding.response) if finding.response else None,
                    finding.curl,
                ),
            )


def save_result(database_url: str, result: FuzzResult) -> None:
    asyncio.run(_save(database_url, result))


def load_finding(database_url: str, finding_id: str) -> dict[str, Any] | None:
    """The latest stored sighting of ``finding_id`` (ids name a problem, so every run
    that found it stored one), with its run's service."""
    with connect_blocking(database_url, row_factory=dict_row) as conn:
        try:
            row = conn.execute(
                "SELECT f.*, r.service FROM fuzz.findings f JOIN fuzz.runs r ON r.id = f.run_id"
                " WHERE f.id = %s ORDER BY r.started_at DESC, r.id LIMIT 1",
                (finding_id,),
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    if row is not None and isinstance(row.get("request"), str):
        row["request"] = json.loads(row["request"])
    return row


async def read_runs(conn: psycopg.AsyncConnection[Any], limit: int = 20) -> list[dict[str, Any]]:
    """The latest fuzz runs, newest first, each with ``findings``: how many it stored
    (``run_id`` as text; ``spec`` and ``base_url`` as stored, credentials and all)."""
    return await fetch_rows(
        conn,
        "SELECT r.id::text AS run_id, r.service, r.spec, r.base_url, r.started_at,"
        " r.finished_at, r.outcome, r.operations, r.test_cases,"
        " (SELECT count(*) FROM fuzz.findings f WHERE f.run_id = r.id) AS findings"
        " FROM fuzz.runs r ORDER BY r.started_at DESC, r.id LIMIT %(limit)s",
        {"limit": limit},
    )


async def read_findings(
    conn: psycopg.AsyncConnection[Any], run_id: UUID
) -> list[dict[str, Any]] | None:
    """The findings of one run (``check`` for the check's name), by operation; None
    when there is no such run."""
    known = await fetch_rows(conn, "SELECT 1 FROM fuzz.runs WHERE id = %(id)s", {"id": run_id})
    if not known:
        return None
    return await fetch_rows(
        conn,
        'SELECT id, operation, check_name AS "check", code, title, message, severity, curl'
        " FROM fuzz.findings WHERE run_id = %(id)s ORDER BY operation, id",
        {"id": run_id},
    )
