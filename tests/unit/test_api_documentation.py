"""Covenant's OpenAPI document tells the truth about its answers (what Schemathesis,
``covenant contracts compare`` and API clients rely on)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from covenant.app import create_app
from covenant.config import CovenantConfig
from covenant.endpoints import Endpoint

DSN = "postgresql://u:p@127.0.0.1:9/none"


def _client() -> TestClient:
    config = CovenantConfig.model_validate({"engines": {"postgres": {"url": DSN}}})
    app = create_app(config, endpoints=lambda: {"postgres": Endpoint("postgres", DSN, "config")})
    return TestClient(app)


def test_every_broker_operation_documents_its_problem_answers() -> None:
    spec = _client().get("/openapi.json").json()
    broker_operations = [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if "broker" in op.get("tags", [])
    ]
    assert len(broker_operations) > 40
    for path, method, operation in broker_operations:
        responses = operation["responses"]
        assert "422" not in responses, (path, method)
        for status in ("400", "401", "404", "503"):
            assert "application/problem+json" in responses[status]["content"], (path, method)
        assert any(s.startswith("2") for s in responses), (path, method)
        for status in (s for s in responses if s.startswith("2") and s != "204"):
            assert "application/hal+json" in responses[status]["content"], (path, method, status)
    assert spec["components"]["schemas"]["Problem"]["required"] == ["title", "status"]


def test_metrics_is_documented_as_text() -> None:
    spec = _client().get("/openapi.json").json()
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_unknown_routes_and_wrong_methods_answer_problem_documents() -> None:
    with _client() as client:
        missing = client.get("/no/such/route")
        wrong = client.delete("/metrics")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["status"] == 404
    assert wrong.status_code == 405
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert "GET" in wrong.headers["allow"]


def test_405_lists_every_method_of_the_path() -> None:
    with _client() as client:
        answer = client.request("OPTIONS", "/environments")
    assert answer.status_code == 405
    assert {m.strip() for m in answer.headers["allow"].split(",")} >= {"GET", "POST"}
