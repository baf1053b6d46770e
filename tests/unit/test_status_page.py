"""The status page and its API without a database: escaping, charts, badges, the
answers when there is no database or it is down, and who may read."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from covenant.app import create_app
from covenant.app._status_api import load_definitions
from covenant.app._status_data import (
    CheckDefinition,
    ContractPair,
    ExpectationOut,
    FuzzRunOut,
    RunOut,
)
from covenant.app._status_page import (
    CONTENT_SECURITY_POLICY,
    CheckView,
    StatusView,
    latency_series,
    render_status_page,
)
from covenant.kernel.config import CovenantConfig
from covenant.kernel.endpoints import Endpoint

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _run(index: int, result: str, latency: float | None, error: str | None = None) -> RunOut:
    seen = latency is not None
    return RunOut.model_validate(
        {
            "run_id": f"run-{index}",
            "check": SCRIPT,
            "trace_id": "0" * 32,
            "started_at": T0 + timedelta(minutes=index),
            "finished_at": T0 + timedelta(minutes=index, seconds=2),
            "duration_s": 2.0,
            "result": result,
            "error": error,
            "expectations": [
                ExpectationOut(
                    name="row",
                    kind="sql",
                    outcome="seen" if seen else "not_seen",
                    latency_s=latency,
                    detail="" if seen else IMG,
                )
            ],
        }
    )


def _view() -> StatusView:
    definition = CheckDefinition(
        name=SCRIPT,
        description=f"about {IMG}",
        schedule="every 60s, deadline 20s",
        deadline_s=20,
        signals=["sql:row"],
        source="checks/x.yaml:1",
    )
    runs = [
        _run(3, "error", None, error=IMG),
        _run(2, "fail", None),
        _run(1, "pass", 0.25),
        _run(0, "pass", 0.5),
    ]
    fuzz = FuzzRunOut(
        run_id="6f1c2a4e-8b7d-4c1e-9f2a-3b5d7e9a1c20",
        service=SCRIPT,
        spec="http://127.0.0.1:1/openapi.json",
        started_at=T0,
        finished_at=T0,
        outcome="findings",
        operations=3,
        test_cases=40,
        findings=2,
    )
    pair = ContractPair(
        consumer=IMG,
        provider="api",
        consumer_version="1.0.0",
        pact_version_sha="a" * 64,
        published_at=T0,
        status="failure",
        provider_version="2.0.0",
        verified_at=T0,
    )
    return StatusView(
        generated_at=T0,
        checks=[CheckView(definition, runs)],
        fuzz_runs=[fuzz],
        contracts=[pair],
        notes=[f"check files: {IMG}"],
    )


def test_every_value_is_escaped() -> None:
    page = render_status_page(_view())
    assert SCRIPT not in page
    assert IMG not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page


def test_page_has_badges_charts_and_refresh() -> None:
    page = render_status_page(_view())
    assert '<meta http-equiv="refresh" content="10">' in page
    assert page.count('<span class="badge pass">pass</span>') >= 2
    assert '<span class="badge fail">fail</span>' in page
    assert '<span class="badge error">error</span>' in page
    assert '<svg class="latency"' in page
    assert page.count('class="not-seen"') == 2  # the fail and the error run
    assert page.count('class="seen"') == 2
    assert "Last problem" in page
    assert '<span class="badge failure">failure</span>' in page  # contract verification
    assert "2/4 recent runs passed" in page


def test_latency_series_keeps_gaps_in_order() -> None:
    runs = [_run(1, "fail", None), _run(0, "pass", 0.5)]
    series = latency_series(runs)
    points = series["sql:row"]
    assert [p.run_id for p in points] == ["run-0", "run-1"]
    assert [p.latency_s for p in points] == [0.5, None]
    assert points[1].outcome == "not_seen"


def test_empty_page_says_so() -> None:
    page = render_status_page(StatusView(generated_at=T0))
    assert "No checks defined." in page
    assert "No fuzz runs stored yet." in page
    assert "No pacts published yet." in page


def _write_checks(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "good.yaml").write_text(
        "name: good\ndescription: fine\ninterval: 30s\ndeadline: 5s\n"
        "traffic:\n  sql:\n    statements: ['SELECT 1']\n"
        "expect:\n  - name: row\n    sql:\n      query: SELECT 1\n",
        encoding="utf-8",
    )
    (directory / "broken.yaml").write_text("name: [\n", encoding="utf-8")
    return directory


def test_one_broken_file_does_not_hide_the_others(tmp_path: Path) -> None:
    definitions, problems = load_definitions(_write_checks(tmp_path / "checks"))
    assert [d.name for d in definitions] == ["good"]
    assert definitions[0].schedule == "every 30s, deadline 5s"
    assert definitions[0].signals == ["sql:row"]
    assert problems and "broken.yaml" in problems[0]


@pytest.fixture
def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client(tmp_path: Path, dsn: str | None, **broker: object) -> TestClient:
    config = CovenantConfig.model_validate(
        {
            "checks": {"dir": str(_write_checks(tmp_path / "checks"))},
            "broker": broker,
            **({"engines": {"postgres": {"url": dsn}}} if dsn else {}),
        }
    )
    found = {"postgres": Endpoint("postgres", dsn, "config")} if dsn else {}
    return TestClient(create_app(config, endpoints=lambda: found))


def test_without_a_database_the_page_says_so(tmp_path: Path) -> None:
    with _client(tmp_path, None) as client:
        page = client.get("/status")
        api = client.get("/api/checks")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "no database configured" in page.text
    assert "good" in page.text
    assert api.status_code == 404


def test_an_unreachable_database_is_503_not_500(tmp_path: Path, closed_port: int) -> None:
    dsn = f"postgresql://u:p@127.0.0.1:{closed_port}/none"
    with _client(tmp_path, dsn) as client:
        page = client.get("/status")
        answers = [client.get(p) for p in ("/api/checks", "/api/runs", "/api/contracts/matrix")]
    assert page.status_code == 200
    assert "the database is unavailable" in page.text
    for answer in answers:
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "path",
    [
        "/api/runs?limit=0",
        "/api/runs?limit=501",
        "/api/runs?result=maybe",
        "/api/fuzz/runs?limit=x",
        "/api/fuzz/runs/not-a-uuid/findings",
    ],
)
def test_bad_parameters_answer_400_problems(tmp_path: Path, closed_port: int, path: str) -> None:
    with _client(tmp_path, f"postgresql://u:p@127.0.0.1:{closed_port}/none") as client:
        answer = client.get(path)
    assert answer.status_code == 400
    assert answer.json()["status"] == 400


def test_a_malformed_check_name_is_404_without_asking_the_database(tmp_path: Path) -> None:
    with _client(tmp_path, "postgresql://u:p@127.0.0.1:9/none") as client:
        answer = client.get("/api/checks/%3Cscript%3E/runs")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_tokens_are_required_when_anonymous_reads_are_off(tmp_path: Path) -> None:
    broker = {
        "allow_anonymous_read": False,
        "read_only_tokens": ["ro"],
        "read_write_tokens": ["rw"],
    }
    with _client(tmp_path, None, **broker) as client:
        anonymous = client.get("/status")
        wrong = client.get("/status", headers={"Authorization": "Bearer nope"})
        reader = client.get("/status", headers={"Authorization": "Bearer ro"})
        writer = client.get("/status", headers={"Authorization": "Bearer rw"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert wrong.status_code == 401
    assert reader.status_code == 200
    assert writer.status_code == 200


def test_the_api_is_documented(tmp_path: Path) -> None:
    with _client(tmp_path, "postgresql://u:p@127.0.0.1:9/none") as client:
        spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/status",
        "/api/checks",
        "/api/checks/{name}/runs",
        "/api/runs",
        "/api/fuzz/runs",
        "/api/fuzz/runs/{run_id}/findings",
        "/api/contracts/matrix",
    ):
        operation = paths[path]["get"]
        assert operation["tags"] == ["status"], path
        assert "422" not in operation["responses"], path
    limit = {p["name"]: p for p in paths["/api/runs"]["get"]["parameters"]}["limit"]
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 500)
    ok = paths["/api/checks"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/CheckList")
