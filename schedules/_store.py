"""Check runs in PostgreSQL (schema ``checks``), never lost while it is down.

A run that cannot be written is appended to a spool file (one JSON line per
run, under the stack's state directory); every later write first replays the
spool. Inserts are idempotent by run id, so a run spooled twice, or spooled
after a write that did reach the database, is stored once.

:func:`latest_runs` and :func:`latest_runs_per_check` read on the reader's own
connection (the status page's); before the first run is written they find nothing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from covenant.kernel.postgres import fetch_rows
from schedules._database import UNAVAILABLE, ChecksDatabase
from schedules._run import CheckRun, ExpectationResult

__all__ = ["RunStore", "latest_runs", "latest_runs_per_check"]

log = logging.getLogger(__name__)


def _from_dict(data: dict[str, Any]) -> CheckRun:
    run = CheckRun(
        check=data["check"],
        run_id=data["run_id"],
        trace_id=data["trace_id"],
        started_at=datetime.fromisoformat(data["started_at"]),
        finished_at=datetime.fromisoformat(data["finished_at"]) if data["finished_at"] else None,
        result=data["result"],
        error=data.get("error"),
        location=data.get("location"),
        scheduled_for=(
            datetime.fromisoformat(data["scheduled_for"]) if data.get("scheduled_for") else None
        ),
        sent_at=datetime.fromisoformat(data["sent_at"]) if data.get("sent_at") else None,
        instance=data.get("instance"),
    )
    run.expectations = [
        ExpectationResult(
            name=e["name"],
            kind=e["kind"],
            outcome=e["outcome"],
            latency_s=e.get("latency_s"),
            detail=e.get("detail", ""),
            polls=e.get("polls", 0),
        )
        for e in data.get("expectations", [])
    ]
    return run


class RunStore:
    def __init__(
        self, database_url: str | None, spool: Path, database: ChecksDatabase | None = None
    ) -> None:
        self.database_url = database_url
        self.spool = spool
        self.database = database or (ChecksDatabase(database_url) if database_url else None)

    async def _insert(self, conn: psycopg.AsyncConnection, run: CheckRun) -> None:
        async with conn.transaction():
            cur = await conn.execute(
                "INSERT INTO checks.runs (run_id, check_name, location, trace_id, scheduled_for,"
                " started_at, finished_at, result, error, instance)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (run_id) DO NOTHING",
                (
                    run.run_id,
                    run.check,
                    run.location,
                    run.trace_id,
                    run.scheduled_for,
                    run.started_at,
                    run.finished_at,
                    run.result,
                    run.error,
                    run.instance,
                ),
            )
            if cur.rowcount == 0:
                return  # already stored
            for item in run.expectations:
                await conn.execute(
                    "INSERT INTO checks.expectation_results (run_id, name, kind, outcome,"
                    " latency_s, detail, polls) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        run.run_id,
                        item.name,
                        item.kind,
                        item.outcome,
                        item.latency_s,
                        item.detail,
                        item.polls,
                    ),
                )

    def _spool(self, run: CheckRun) -> None:
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        with self.spool.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(run.to_dict()) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _spooled(self) -> list[CheckRun]:
        if not self.spool.exists():
            return []
        runs = []
        for line in self.spool.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    runs.append(_from_dict(json.loads(line)))
                except (ValueError, KeyError) as exc:
                    log.warning("checks: skipping an unreadable spooled run: %s", exc)
        return runs

    async def save(self, run: CheckRun) -> bool:
        """Write ``run`` (and anything spooled before it); True when it reached the
        database, False when it was spooled to be written later."""
        if self.database is None:
            self._spool(run)
            return False
        try:
            async with self.database.connection() as conn:
                pending = self._spooled()
                for earlier in pending:
                    await self._insert(conn, earlier)
                await self._insert(conn, run)
        except UNAVAILABLE as exc:
            log.warning("checks: PostgreSQL unavailable (%s); run %s spooled", exc, run.run_id)
            self._spool(run)
            return False
        if pending:
            self.spool.unlink(missing_ok=True)
            log.info("checks: wrote %d spooled run(s)", len(pending))
        return True

    def spooled_count(self) -> int:
        """Runs waiting in the spool for PostgreSQL."""
        if not self.spool.exists():
            return 0
        return sum(1 for line in self.spool.read_text(encoding="utf-8").splitlines() if line)

    async def flush(self) -> int:
        """Write spooled runs now; how many were pending (0 when none or still down)."""
        pending = self._spooled()
        if not pending or self.database is None:
            return 0
        try:
            async with self.database.connection() as conn:
                for run in pending:
                    await self._insert(conn, run)
        except UNAVAILABLE:
            return 0
        self.spool.unlink(missing_ok=True)
        return len(pending)

    async def recent(self, check: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The latest runs, newest first, with their expectations."""
        if self.database is None:
            return []
        async with (
            self.database.connection() as conn,
            conn.cursor(row_factory=dict_row) as cur,
        ):
            await cur.execute(
                "SELECT r.*, COALESCE(json_agg(json_build_object('name', e.name, 'kind',"
                " e.kind, 'outcome', e.outcome, 'latency_s', e.latency_s, 'detail', e.detail)"
                " ORDER BY e.name) FILTER (WHERE e.name IS NOT NULL), '[]') AS expectations"
                " FROM checks.runs r LEFT JOIN checks.expectation_results e USING (run_id)"
                " WHERE %(check)s::text IS NULL OR r.check_name = %(check)s"
                " GROUP BY r.run_id ORDER BY r.started_at DESC LIMIT %(limit)s",
                {"check": check, "limit": limit},
            )
            return list(await cur.fetchall())


#: The columns of a run as the readers get it: the run's own and ``expectations``,
#: a list of name, kind, outcome, latency_s, detail, polls (by name).
_RUN_COLUMNS = sql.SQL(
    "r.run_id, r.check_name, r.location, r.trace_id, r.scheduled_for, r.started_at,"
    " r.finished_at, r.result, r.error,"
    " COALESCE((SELECT json_agg(json_build_object('name', e.name, 'kind', e.kind,"
    " 'outcome', e.outcome, 'latency_s', e.latency_s, 'detail', e.detail, 'polls', e.polls)"
    " ORDER BY e.name) FROM checks.expectation_results e WHERE e.run_id = r.run_id),"
    " '[]') AS expectations"
)


async def latest_runs(
    conn: psycopg.AsyncConnection[Any],
    *,
    check: str | None = None,
    result: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The latest runs, newest first, of one check or all, optionally of one result."""
    return await fetch_rows(
        conn,
        sql.SQL(
            "SELECT {} FROM checks.runs r"
            " WHERE (%(check)s::text IS NULL OR r.check_name = %(check)s)"
            " AND (%(result)s::text IS NULL OR r.result = %(result)s)"
            " ORDER BY r.started_at DESC, r.run_id LIMIT %(limit)s"
        ).format(_RUN_COLUMNS),
        {"check": check, "result": result, "limit": limit},
    )


async def latest_runs_per_check(
    conn: psycopg.AsyncConnection[Any], names: Sequence[str], per_check: int
) -> list[dict[str, Any]]:
    """The latest ``per_check`` runs of each named check, by check name and then newest
    first, in one query."""
    if not names:
        return []
    return await fetch_rows(
        conn,
        sql.SQL(
            "SELECT {} FROM (SELECT *, row_number() OVER (PARTITION BY check_name"
            " ORDER BY started_at DESC, run_id) AS n FROM checks.runs"
            " WHERE check_name = ANY(%(names)s)) r WHERE r.n <= %(per)s"
            " ORDER BY r.check_name, r.started_at DESC, r.run_id"
        ).format(_RUN_COLUMNS),
        {"names": list(names), "per": per_check},
    )
