"""What the status page and its JSON API read: check runs, fuzz runs, the contract matrix.

Reads only. The schemas ``checks``, ``fuzz`` and ``broker`` are created by whoever
writes first (a check run, ``covenant fuzz``, the broker), so on a young database
some do not exist yet: a missing schema, table or column reads as "nothing yet",
never as an error. A database that cannot be reached raises :class:`StatusUnavailable`
so the API can answer 503 and the page can say so, instead of a 500.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from covenant.kernel.redact import redact_url

__all__ = [
    "CheckDefinition",
    "ContractPair",
    "ExpectationOut",
    "FindingOut",
    "FuzzRunOut",
    "RunOut",
    "RunResult",
    "StatusData",
    "StatusUnavailable",
    "contract_matrix",
    "fuzz_findings",
    "fuzz_runs",
    "recent_runs",
    "runs_per_check",
]

log = logging.getLogger(__name__)

RunResult = Literal["pass", "fail", "error"]
#: Missing schema, table or column: that part was never written, so it is empty.
_NOT_CREATED_YET = (
    psycopg.errors.InvalidSchemaName,
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedColumn,
)


class StatusUnavailable(Exception):
    """The database cannot be reached or did not answer in time."""


class ExpectationOut(BaseModel):
    name: str
    kind: str
    outcome: Literal["seen", "not_seen", "error"]
    latency_s: float | None = Field(default=None, description="Seconds from send to first seen.")
    detail: str = ""
    polls: int = 0


class RunOut(BaseModel):
    run_id: str
    check: str
    location: str | None = None
    trace_id: str
    scheduled_for: datetime | None = None
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float | None = None
    result: RunResult
    error: str | None = None
    expectations: list[ExpectationOut] = Field(default_factory=list)


class FuzzRunOut(BaseModel):
    run_id: str
    service: str
    spec: str = Field(description="The OpenAPI document fuzzed (credentials masked).")
    base_url: str | None = Field(
        default=None, description="Where it was fuzzed (credentials masked)."
    )
    started_at: datetime
    finished_at: datetime
    outcome: str = Field(description="clean, findings, error or unreachable.")
    operations: int
    test_cases: int
    findings: int


class FindingOut(BaseModel):
    id: str
    operation: str
    check: str
    code: str | None = None
    title: str
    message: str
    severity: str | None = None
    curl: str


class ContractPair(BaseModel):
    """One consumer -> provider integration: its latest pact and how that pact fared."""

    consumer: str
    provider: str
    consumer_version: str = Field(description="The consumer version of the latest publication.")
    pact_version_sha: str
    published_at: datetime
    status: Literal["success", "failure", "unverified"]
    provider_version: str | None = Field(default=None, description="Who verified it last.")
    verified_at: datetime | None = None


class CheckDefinition(BaseModel):
    """What a check file says, flattened for readers of the page and the API."""

    name: str
    description: str = ""
    schedule: str = Field(description="The schedule in words, e.g. 'every 60s, jitter 5s'.")
    interval_s: float | None = None
    cron: str | None = None
    jitter_s: float = 0.0
    deadline_s: float
    location: str | None = None
    enabled: bool = True
    signals: list[str] = Field(default_factory=list, description="kind:name of each expectation.")
    source: str = Field(default="", description="file:line of the definition.")


class StatusData:
    """Opens one short-lived connection per request: the page refreshes every few
    seconds at most, and nothing stays open while PostgreSQL restarts."""

    def __init__(self, database_url: str | None, timeout_s: float = 5.0) -> None:
        self.database_url = database_url
        self.timeout_s = timeout_s

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if not self.database_url:
            raise StatusUnavailable("no database configured")
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.database_url, connect_timeout=max(1, int(self.timeout_s)), autocommit=True
            )
        except (psycopg.Error, OSError) as exc:
            log.warning("status: the database is unavailable: %s", exc)
            raise StatusUnavailable("the database is unavailable") from None
        try:
            # Autocommit: a missing table fails one statement, not the ones after it.
            await conn.execute(f"SET statement_timeout = {int(self.timeout_s * 1000)}")
            yield conn
        finally:
            await conn.close()


async def _rows(
    conn: psycopg.AsyncConnection[Any], query: str | sql.Composed, params: dict[str, Any]
) -> list[dict[str, Any]]:
    try:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query.encode() if isinstance(query, str) else query, params)
            return list(await cur.fetchall())
    except _NOT_CREATED_YET:
        return []
    except psycopg.Error as exc:
        log.warning("status: a query failed: %s", exc)
        raise StatusUnavailable("the database did not answer") from None


_RUN_COLUMNS = sql.SQL(
    "r.run_id, r.check_name, r.location, r.trace_id, r.scheduled_for, r.started_at,"
    " r.finished_at, r.result, r.error,"
    " COALESCE((SELECT json_agg(json_build_object('name', e.name, 'kind', e.kind,"
    " 'outcome', e.outcome, 'latency_s', e.latency_s, 'detail', e.detail, 'polls', e.polls)"
    " ORDER BY e.name) FROM checks.expectation_results e WHERE e.run_id = r.run_id),"
    " '[]') AS expectations"
)


def _run(row: dict[str, Any]) -> RunOut:
    started, finished = row["started_at"], row["finished_at"]
    return RunOut(
        run_id=row["run_id"],
        check=row["check_name"],
        location=row["location"],
        trace_id=row["trace_id"],
        scheduled_for=row["scheduled_for"],
        started_at=started,
        finished_at=finished,
        duration_s=round((finished - started).total_seconds(), 3) if finished else None,
        result=row["result"],
        error=row["error"],
        expectations=[ExpectationOut.model_validate(e) for e in row["expectations"] or []],
    )


async def recent_runs(
    conn: psycopg.AsyncConnection[Any],
    *,
    check: str | None = None,
    result: RunResult | None = None,
    limit: int = 50,
) -> list[RunOut]:
    """The latest runs, newest first, of one check or all, optionally of one result."""
    rows = await _rows(
        conn,
        sql.SQL(
            "SELECT {} FROM checks.runs r"
            " WHERE (%(check)s::text IS NULL OR r.check_name = %(check)s)"
            " AND (%(result)s::text IS NULL OR r.result = %(result)s)"
            " ORDER BY r.started_at DESC, r.run_id LIMIT %(limit)s"
        ).format(_RUN_COLUMNS),
        {"check": check, "result": result, "limit": limit},
    )
    return [_run(row) for row in rows]


async def runs_per_check(
    conn: psycopg.AsyncConnection[Any], names: Sequence[str], per_check: int
) -> dict[str, list[RunOut]]:
    """The latest ``per_check`` runs of each named check (newest first), in one query."""
    found: dict[str, list[RunOut]] = {name: [] for name in names}
    if not names:
        return found
    rows = await _rows(
        conn,
        sql.SQL(
            "SELECT {} FROM (SELECT *, row_number() OVER (PARTITION BY check_name"
            " ORDER BY started_at DESC, run_id) AS n FROM checks.runs"
            " WHERE check_name = ANY(%(names)s)) r WHERE r.n <= %(per)s"
            " ORDER BY r.check_name, r.started_at DESC, r.run_id"
        ).format(_RUN_COLUMNS),
        {"names": list(names), "per": per_check},
    )
    for row in rows:
        found[row["check_name"]].append(_run(row))
    return found


async def fuzz_runs(conn: psycopg.AsyncConnection[Any], limit: int = 20) -> list[FuzzRunOut]:
    """The latest fuzz runs with how many findings each stored."""
    rows = await _rows(
        conn,
        "SELECT r.id::text AS run_id, r.service, r.spec, r.base_url, r.started_at,"
        " r.finished_at, r.outcome, r.operations, r.test_cases,"
        " (SELECT count(*) FROM fuzz.findings f WHERE f.run_id = r.id) AS findings"
        " FROM fuzz.runs r ORDER BY r.started_at DESC, r.id LIMIT %(limit)s",
        {"limit": limit},
    )
    for row in rows:
        row["spec"] = redact_url(row["spec"])
        row["base_url"] = redact_url(row["base_url"]) if row["base_url"] else None
    return [FuzzRunOut.model_validate(row) for row in rows]


async def fuzz_findings(
    conn: psycopg.AsyncConnection[Any], run_id: UUID
) -> list[FindingOut] | None:
    """The findings of one fuzz run; None when there is no such run."""
    known = await _rows(conn, "SELECT 1 FROM fuzz.runs WHERE id = %(id)s", {"id": run_id})
    if not known:
        return None
    rows = await _rows(
        conn,
        'SELECT id, operation, check_name AS "check", code, title, message, severity, curl'
        " FROM fuzz.findings WHERE run_id = %(id)s ORDER BY operation, id",
        {"id": run_id},
    )
    return [FindingOut.model_validate(row) for row in rows]


async def contract_matrix(
    conn: psycopg.AsyncConnection[Any], limit: int = 500
) -> list[ContractPair]:
    """For each consumer -> provider pair, the pact of its newest consumer version and
    the newest verification of exactly that pact content (none: unverified)."""
    rows = await _rows(
        conn,
        "SELECT c.name AS consumer, p.name AS provider, cv.number AS consumer_version,"
        " pub.pact_version_sha, pub.created_at AS published_at,"
        " CASE WHEN v.id IS NULL THEN 'unverified' WHEN v.success THEN 'success'"
        " ELSE 'failure' END AS status, pv.number AS provider_version,"
        " v.created_at AS verified_at"
        " FROM (SELECT DISTINCT ON (cv.pacticipant_id, pp.provider_id) pp.*,"
        " cv.pacticipant_id AS consumer_id FROM broker.pact_publications pp"
        " JOIN broker.versions cv ON cv.id = pp.consumer_version_id"
        " ORDER BY cv.pacticipant_id, pp.provider_id, pp.consumer_version_id DESC, pp.id DESC"
        " ) pub"
        " JOIN broker.pacticipants c ON c.id = pub.consumer_id"
        " JOIN broker.pacticipants p ON p.id = pub.provider_id"
        " JOIN broker.versions cv ON cv.id = pub.consumer_version_id"
        " LEFT JOIN LATERAL (SELECT * FROM broker.verifications x"
        " WHERE x.pact_version_sha = pub.pact_version_sha ORDER BY x.id DESC LIMIT 1) v ON true"
        " LEFT JOIN broker.versions pv ON pv.id = v.provider_version_id"
        " ORDER BY c.name, p.name LIMIT %(limit)s",
        {"limit": limit},
    )
    return [ContractPair.model_validate(row) for row in rows]
