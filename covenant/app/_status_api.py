"""``/status`` (HTML) and its JSON API: what the synthetic checks, fuzz runs and
contracts look like right now.

Reads only. Access follows the broker's rule for reading, so one setting governs
everything Covenant serves: anonymous when ``broker.allow_anonymous_read`` is true,
otherwise a read-only or read-write bearer token. Errors are RFC 9457 problem
documents like the rest of the API (bad query values answer 400, not FastAPI's 422,
and a database that cannot be reached answers 503, never 500).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from covenant.app._status_data import (
    CheckDefinition,
    ContractPair,
    FindingOut,
    FuzzRunOut,
    RunOut,
    RunResult,
    StatusData,
    StatusUnavailable,
    contract_matrix,
    fuzz_findings,
    fuzz_runs,
    recent_runs,
    runs_per_check,
)
from covenant.app._status_page import (
    CONTENT_SECURITY_POLICY,
    CheckView,
    StatusView,
    render_status_page,
)
from covenant.kernel.auth import Access, TokenRules, decide
from covenant.kernel.config import CovenantConfig
from covenant.kernel.problems import PROBLEM_JSON, PROBLEM_SCHEMA
from schedules import Check, CheckFileError, LoadedCheck, load_checks, load_file

__all__ = ["CheckStatus", "load_definitions", "status_router"]

#: How many runs per check the page shows and the pass rate is computed over.
RECENT_RUNS = 20
#: Query parameter ``limit``: out of range answers 400.
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many, newest first.")]
_CHECK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_ERRORS: dict[int | str, str] = {
    400: "A query or path value is invalid",
    401: "A bearer token is required (broker.allow_anonymous_read is false) or is not valid",
    404: "No such check or fuzz run",
    503: "The database is unavailable",
    "4XX": "Another client error (for example 405 for a method other than GET)",
}


def _problems(*codes: int | str) -> dict[int | str, dict[str, Any]]:
    return {
        code: {
            "description": _ERRORS[code],
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
        for code in codes
    }


class CheckStatus(CheckDefinition):
    last_run: RunOut | None = None
    recent_runs: int = Field(description=f"Stored runs considered (at most {RECENT_RUNS}).")
    pass_rate: float | None = Field(
        default=None, description="Share of the recent runs that passed."
    )


class CheckList(BaseModel):
    checks: list[CheckStatus]
    problems: list[str] = Field(description="Problems in check files (those checks are left out).")


class RunList(BaseModel):
    runs: list[RunOut]


class FuzzRunList(BaseModel):
    runs: list[FuzzRunOut]


class FindingList(BaseModel):
    run_id: str
    findings: list[FindingOut]


class ContractMatrix(BaseModel):
    pairs: list[ContractPair]


def _schedule(check: Check) -> str:
    if check.interval is not None:
        text = f"every {check.interval:g}s"
    elif check.cron is not None:
        text = f"cron '{check.cron}'"
    else:
        text = "on demand only (no interval or cron)"
    if check.jitter and (check.interval is not None or check.cron is not None):
        text += f", jitter up to {check.jitter:g}s"
    text += f", deadline {check.deadline:g}s"
    return text if check.enabled else f"disabled ({text})"


def _describe(loaded: LoadedCheck) -> CheckDefinition:
    check = loaded.check
    return CheckDefinition(
        name=check.name,
        description=check.description,
        schedule=_schedule(check),
        interval_s=check.interval,
        cron=check.cron,
        jitter_s=check.jitter,
        deadline_s=check.deadline,
        location=check.location,
        enabled=check.enabled,
        signals=[e.signal for e in check.expect],
        source=loaded.source,
    )


def load_definitions(directory: Path) -> tuple[list[CheckDefinition], list[str]]:
    """Every valid check, plus the problems of the rest: one broken file must not
    hide the status of every other check."""
    try:
        return [_describe(c) for c in load_checks(directory)], []
    except CheckFileError as exc:
        problems = exc.problems
    found: dict[str, LoadedCheck] = {}
    if directory.is_dir():
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            for item in load_file(path)[0]:
                found.setdefault(item.check.name, item)
    return [_describe(c) for c in found.values()], problems


class _ProblemRoute(APIRoute):
    """Turns invalid parameters into 400 and an unreachable database into 503, as
    problem documents, for these routes only (other routes keep their own rules)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                    for e in exc.errors()
                )
                raise HTTPException(400, detail) from None
            except StatusUnavailable as exc:
                raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from None

        return route


def status_router(config: CovenantConfig, database_url: str | None) -> APIRouter:
    """``/status`` always; the JSON API only with a database (there is nothing to read
    without one, and the page says so)."""
    data = StatusData(database_url)
    # BrokerConfig holds its tokens as tuples; TokenRules only iterates over them.
    broker = cast("TokenRules", config.broker)

    async def may_read(request: Request) -> None:
        """The broker's rule: no token is fine only when anonymous reads are allowed; a
        token given must be valid either way."""
        access = decide(broker, request.headers.get("authorization"), write=False)
        if access is Access.ALLOWED:
            return
        raise HTTPException(
            401, access.value, headers={"WWW-Authenticate": 'Bearer realm="covenant"'}
        )

    router = APIRouter(tags=["status"], route_class=_ProblemRoute, dependencies=[Depends(may_read)])

    async def definitions() -> tuple[list[CheckDefinition], list[str]]:
        return await asyncio.to_thread(load_definitions, config.checks.dir)

    @router.get(
        "/status",
        summary="The status page: checks, fuzz runs and contracts at a glance",
        response_class=HTMLResponse,
        responses={200: {"content": {"text/html": {}}}, **_problems(401, "4XX")},
    )
    async def status_page() -> HTMLResponse:
        checks, problems = await definitions()
        view = StatusView(generated_at=datetime.now(UTC))
        view.notes = [f"check files: {p}" for p in problems]
        runs: dict[str, list[RunOut]] = {}
        if database_url is None:
            view.notes.insert(0, "no database configured: set engines.postgres.url")
        else:
            try:
                async with data.connection() as conn:
                    runs = await runs_per_check(conn, [c.name for c in checks], RECENT_RUNS)
                    view.fuzz_runs = await fuzz_runs(conn, 20)
                    view.contracts = await contract_matrix(conn)
            except StatusUnavailable as exc:
                view.notes.insert(0, f"{exc}; showing check definitions only")
        view.checks = [CheckView(c, runs.get(c.name, [])) for c in checks]
        headers = {
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        }
        return HTMLResponse(render_status_page(view), headers=headers)

    if database_url is None:
        return router

    @router.get(
        "/api/checks",
        summary="Every check: its definition, last run and pass rate of recent runs",
        responses=_problems(401, 503, "4XX"),
    )
    async def list_checks() -> CheckList:
        checks, problems = await definitions()
        async with data.connection() as conn:
            runs = await runs_per_check(conn, [c.name for c in checks], RECENT_RUNS)
        listed = []
        for check in checks:
            recent = runs.get(check.name, [])
            passed = sum(1 for r in recent if r.result == "pass")
            listed.append(
                CheckStatus(
                    **check.model_dump(),
                    last_run=recent[0] if recent else None,
                    recent_runs=len(recent),
                    pass_rate=round(passed / len(recent), 4) if recent else None,
                )
            )
        return CheckList(checks=listed, problems=problems)

    @router.get(
        "/api/checks/{name}/runs",
        summary="The latest runs of one check",
        responses=_problems(400, 401, 404, 503, "4XX"),
    )
    async def check_runs(name: str, limit: Limit = 50) -> RunList:
        if not _CHECK_NAME.match(name):
            raise HTTPException(404, "no check has this name")
        async with data.connection() as conn:
            runs = await recent_runs(conn, check=name, limit=limit)
        if not runs and name not in {c.name for c in (await definitions())[0]}:
            raise HTTPException(404, f"no check named {name} is defined or has runs")
        return RunList(runs=runs)

    @router.get(
        "/api/runs",
        summary="The latest runs of every check",
        responses=_problems(400, 401, 503, "4XX"),
    )
    async def all_runs(limit: Limit = 50, result: RunResult | None = None) -> RunList:
        async with data.connection() as conn:
            return RunList(runs=await recent_runs(conn, result=result, limit=limit))

    @router.get(
        "/api/fuzz/runs",
        summary="The latest fuzz runs with their number of findings",
        responses=_problems(400, 401, 503, "4XX"),
    )
    async def list_fuzz_runs(limit: Limit = 20) -> FuzzRunList:
        async with data.connection() as conn:
            return FuzzRunList(runs=await fuzz_runs(conn, limit))

    @router.get(
        "/api/fuzz/runs/{run_id}/findings",
        summary="The findings of one fuzz run",
        responses=_problems(400, 401, 404, 503, "4XX"),
    )
    async def list_findings(run_id: UUID) -> FindingList:
        async with data.connection() as conn:
            found = await fuzz_findings(conn, run_id)
        if found is None:
            raise HTTPException(404, f"no fuzz run {run_id}")
        return FindingList(run_id=str(run_id), findings=found)

    @router.get(
        "/api/contracts/matrix",
        summary="Each consumer -> provider pair: its latest pact and that pact's verification",
        responses=_problems(401, 503, "4XX"),
    )
    async def matrix() -> ContractMatrix:
        async with data.connection() as conn:
            return ContractMatrix(pairs=await contract_matrix(conn))

    return router
