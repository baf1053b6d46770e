"""The status page reads through the stores of those who write (check history, fuzz
history, broker): no SQL of its own, the stores' rows turned into the page's models, a
schema not created yet read as nothing, and a failing query a 503, not a 500."""

from __future__ import annotations

import ast
import asyncio
import inspect
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from covenant.app import _status_data, create_app
from covenant.app._status_data import (
    StatusData,
    StatusUnavailable,
    contract_matrix,
    fuzz_findings,
    fuzz_runs,
    recent_runs,
    runs_per_check,
)
from covenant.kernel.config import CovenantConfig
from covenant.kernel.endpoints import Endpoint

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
RUN_ID = UUID("6f1c2a4e-8b7d-4c1e-9f2a-3b5d7e9a1c20")


class Cursor:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.rows: list[dict[str, Any]] = []

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, query: Any, params: Any = ()) -> None:
        text = query.decode() if isinstance(query, bytes) else query.as_string(None)
        self.conn.queries.append(text)
        answer = self.conn.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        self.rows = answer

    async def fetchall(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.rows]


class Connection:
    """Answers each statement with the next of ``answers``: rows or an error."""

    def __init__(self, *answers: list[dict[str, Any]] | BaseException) -> None:
        self.answers = list(answers)
        self.queries: list[str] = []
        self.executed: list[Any] = []
        self.closed = False

    def cursor(self, row_factory: Any = None) -> Cursor:
        return Cursor(self)

    async def execute(self, query: Any, params: Any = ()) -> None:
        self.executed.append(query)

    async def close(self) -> None:
        self.closed = True


def _run_row(run_id: str, check: str, minute: int, result: str = "pass") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "check_name": check,
        "location": None,
        "trace_id": "0" * 32,
        "scheduled_for": None,
        "started_at": T0 + timedelta(minutes=minute),
        "finished_at": T0 + timedelta(minutes=minute, seconds=1.5),
        "result": result,
        "error": None,
        "expectations": [
            {"name": "row", "kind": "sql", "outcome": "seen", "latency_s": 0.2, "detail": ""}
        ],
    }


def test_the_status_data_module_runs_no_sql_of_its_own() -> None:
    source = inspect.getsource(_status_data)
    tree = ast.parse(source)
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    sql_like = [s for s in strings if isinstance(s, str) and "SELECT" in s.upper()]
    assert sql_like == []
    assert "checks." not in source and "broker." not in source and "fuzz." not in source


def test_runs_come_from_the_check_history() -> None:
    conn = Connection([_run_row("b", "beta", 2), _run_row("a", "alpha", 1, "fail")])
    runs = asyncio.run(recent_runs(conn, check=None, result=None, limit=5))  # type: ignore[arg-type]
    assert [(r.run_id, r.check, r.result, r.duration_s) for r in runs] == [
        ("b", "beta", "pass", 1.5),
        ("a", "alpha", "fail", 1.5),
    ]
    assert runs[0].expectations[0].latency_s == 0.2
    assert "FROM checks.runs r" in conn.queries[0]


def test_runs_per_check_are_grouped_and_every_name_is_there() -> None:
    conn = Connection([_run_row("a2", "alpha", 2), _run_row("a1", "alpha", 1)])
    found = asyncio.run(runs_per_check(conn, ["alpha", "gamma"], 20))  # type: ignore[arg-type]
    assert [r.run_id for r in found["alpha"]] == ["a2", "a1"]
    assert found["gamma"] == []
    assert "row_number() OVER (PARTITION BY check_name" in conn.queries[0]
    # No names: the database is not asked at all.
    silent = Connection()
    assert asyncio.run(runs_per_check(silent, [], 20)) == {}  # type: ignore[arg-type]
    assert silent.queries == []


def test_fuzz_runs_come_from_the_fuzz_history_with_credentials_masked() -> None:
    row = {
        "run_id": str(RUN_ID),
        "service": "api",
        "spec": "http://user:s3cret@api/openapi.json",
        "base_url": "http://api/?token=abc",
        "started_at": T0,
        "finished_at": T0,
        "outcome": "findings",
        "operations": 3,
        "test_cases": 30,
        "findings": 2,
    }
    conn = Connection([row, {**row, "base_url": None}])
    runs = asyncio.run(fuzz_runs(conn, 20))  # type: ignore[arg-type]
    assert runs[0].spec == "http://user:***@api/openapi.json"
    assert runs[0].base_url == "http://api/?token=***"
    assert runs[1].base_url is None
    assert runs[0].findings == 2
    assert "FROM fuzz.runs r" in conn.queries[0]


def test_findings_of_an_unknown_run_are_none_not_empty() -> None:
    assert asyncio.run(fuzz_findings(Connection([]), RUN_ID)) is None  # type: ignore[arg-type]
    finding = {
        "id": "f1",
        "operation": "GET /x",
        "check": "not_a_server_error",
        "code": None,
        "title": "500",
        "message": "boom",
        "severity": "high",
        "curl": "curl http://api/x",
    }
    conn = Connection([{"?column?": 1}], [finding])
    found = asyncio.run(fuzz_findings(conn, RUN_ID))  # type: ignore[arg-type]
    assert found is not None and [f.check for f in found] == ["not_a_server_error"]
    assert "FROM fuzz.findings WHERE run_id" in conn.queries[1]


def test_the_contract_matrix_comes_from_the_broker() -> None:
    pair = {
        "consumer": "web",
        "provider": "api",
        "consumer_version": "1.0.0",
        "pact_version_sha": "abc",
        "published_at": T0,
        "status": "unverified",
        "provider_version": None,
        "verified_at": None,
    }
    conn = Connection([pair])
    pairs = asyncio.run(contract_matrix(conn))  # type: ignore[arg-type]
    assert [(p.consumer, p.provider, p.status) for p in pairs] == [("web", "api", "unverified")]
    assert "FROM broker.pact_publications pp" in conn.queries[0]


@pytest.mark.parametrize(
    "missing",
    [
        psycopg.errors.InvalidSchemaName("no schema"),
        psycopg.errors.UndefinedTable("no table"),
        psycopg.errors.UndefinedColumn("no column"),
    ],
)
def test_what_nobody_wrote_yet_reads_as_nothing(missing: BaseException) -> None:
    assert asyncio.run(recent_runs(Connection(missing))) == []  # type: ignore[arg-type]
    assert asyncio.run(runs_per_check(Connection(missing), ["a"], 5)) == {"a": []}  # type: ignore[arg-type]
    assert asyncio.run(fuzz_runs(Connection(missing))) == []  # type: ignore[arg-type]
    assert asyncio.run(fuzz_findings(Connection(missing), RUN_ID)) is None  # type: ignore[arg-type]
    assert asyncio.run(contract_matrix(Connection(missing))) == []  # type: ignore[arg-type]


def _patched(monkeypatch: pytest.MonkeyPatch, conn: Connection) -> None:
    async def connect(url: str, **kw: Any) -> Connection:
        assert kw == {"timeout_s": 5.0, "autocommit": True}
        return conn

    monkeypatch.setattr(_status_data, "connect", connect)


def test_a_failing_query_is_status_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = Connection(psycopg.errors.QueryCanceled("canceling statement due to timeout"))
    _patched(monkeypatch, conn)

    async def read() -> None:
        async with StatusData("postgresql://u:p@db/x").connection() as c:
            await recent_runs(c)

    with pytest.raises(StatusUnavailable, match=r"^the database did not answer$"):
        asyncio.run(read())
    assert conn.executed == [b"SET statement_timeout = 5000"]
    assert conn.closed


def _client(tmp_path: Path) -> TestClient:
    config = CovenantConfig.model_validate(
        {"checks": {"dir": str(tmp_path)}, "broker": {"enabled": False}}
    )
    found = {"postgres": Endpoint("postgres", "postgresql://u:p@db/x", "config")}
    return TestClient(create_app(config, endpoints=lambda: found))


def test_a_query_that_fails_answers_503_and_the_page_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing() -> Connection:
        return Connection(*[psycopg.errors.QueryCanceled("timeout")] * 5)

    async def connect(url: str, **kw: Any) -> Connection:
        return failing()

    monkeypatch.setattr(_status_data, "connect", connect)
    (tmp_path / "a.yaml").write_text(
        "name: alpha\ninterval: 60s\nexpect:\n  - sql:\n      name: row\n      query: SELECT 1\n",
        encoding="utf-8",
    )
    with _client(tmp_path) as client:
        page = client.get("/status")
        answer = client.get("/api/runs")
    assert page.status_code == 200
    assert "the database did not answer; showing check definitions only" in page.text
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["detail"] == "the database did not answer"
