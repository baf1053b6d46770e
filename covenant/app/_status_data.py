"""What the status page and its JSON API read: check runs, fuzz runs, the contract matrix.

Reads only, and through the stores of those who write: the check history
(:mod:`schedules`), the fuzz history (:mod:`verifiers.fuzz`) and the broker
(:mod:`contracts.broker`); this module turns their rows into the page's and the API's
models. The schemas ``checks``, ``fuzz`` and ``broker`` are created by whoever writes
first (a check run, ``covenant fuzz``, the broker), so on a young database some do
not exist yet: the stores read a missing schema, table or column as "nothing yet",
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
from pydantic import BaseModel, Field

from contracts.broker import latest_contracts
from covenant.kernel.errors import CovenantError, ErrorKind
from covenant.kernel.postgres import connect, set_statement_timeout
from covenant.kernel.redact import redact_url
from schedules import latest_runs, latest_runs_per_check
from verifiers.fuzz import read_findings
from verifiers.fuzz import read_runs as read_fuzz_runs

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


class StatusUnavailable(CovenantError):
    """The database cannot be reached or did not answer in time (the API answers 503)."""

    kind = ErrorKind.UNREACHABLE


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
        """The connection the reads below take; a query that fails (other than on a
        schema not created yet) raises :class:`StatusUnavailable` out of it."""
        if not self.database_url:
            raise StatusUnavailable("no database configured")
        try:
            # Autocommit: a missing table fails one statement, not the ones after it.
            conn = await connect(self.database_url, timeout_s=self.timeout_s, autocommit=True)
        except (psycopg.Error, OSError) as exc:
            log.warning("status: the database is unavailable: %s", exc)
            raise StatusUnavailable("the database is unavailable") from None
        try:
            await set_statement_timeout(conn, self.timeout_s)
            try:
                yield conn
            except psycopg.Error as exc:
                log.warning("status: a query failed: %s", exc)
                raise StatusUnavailable("the database did not answer") from None
        finally:
            await conn.close()


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
    rows = await latest_runs(conn, check=check, result=result, limit=limit)
    return [_run(row) for row in rows]


async def runs_per_check(
    conn: psycopg.AsyncConnection[Any], names: Sequence[str], per_check: int
) -> dict[str, list[RunOut]]:
    """The latest ``per_check`` runs of each named check (newest first), in one query."""
    found: dict[str, list[RunOut]] = {name: [] for name in names}
    for row in await latest_runs_per_check(conn, names, per_check):
        found[row["check_name"]].append(_run(row))
    return found


async def fuzz_runs(conn: psycopg.AsyncConnection[Any], limit: int = 20) -> list[FuzzRunOut]:
    """The latest fuzz runs with how many findings each stored, credentials masked."""
    rows = await read_fuzz_runs(conn, limit)
    for row in rows:
        row["spec"] = redact_url(row["spec"])
        row["base_url"] = redact_url(row["base_url"]) if row["base_url"] else None
    return [FuzzRunOut.model_validate(row) for row in rows]


async def fuzz_findings(
    conn: psycopg.AsyncConnection[Any], run_id: UUID
) -> list[FindingOut] | None:
    """The findings of one fuzz run; None when there is no such run."""
    rows = await read_findings(conn, run_id)
    return None if rows is None else [FindingOut.model_validate(row) for row in rows]


async def contract_matrix(
    conn: psycopg.AsyncConnection[Any], limit: int = 500
) -> list[ContractPair]:
    """For each consumer -> provider pair, the pact of its newest consumer version and
    the newest verification of exactly that pact content (none: unverified)."""
    return [ContractPair.model_validate(row) for row in await latest_contracts(conn, limit)]
