"""Fuzz runs and findings in PostgreSQL (schema ``fuzz``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from covenant.kernel import migrations
from verifiers.fuzz._model import FuzzResult

__all__ = ["load_finding", "save_result"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


async def _save(database_url: str, result: FuzzResult) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, connect_timeout=5) as conn:
        await migrations.migrate(conn, "fuzz", MIGRATIONS)
        async with conn.transaction():
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
    with psycopg.connect(database_url, connect_timeout=5, row_factory=dict_row) as conn:
        try:
            row = conn.execute(
                "SELECT f.*, r.service FROM fuzz.findings f JOIN fuzz.runs r ON r.id = f.run_id"
                " WHERE f.id = %s",
                (finding_id,),
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    if row is not None and isinstance(row.get("request"), str):
        row["request"] = json.loads(row["request"])
    return row
