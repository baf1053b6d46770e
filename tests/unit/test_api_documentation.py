"""Covenant's OpenAPI document tells the truth about its answers (what Schemathesis,
``covenant contracts compare`` and API clients rely on)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from covenant.app import create_app
from covenant.kernel.config import CovenantConfig
from covenant.kernel.endpoints import Endpoint

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
        for status in ("400", "401", "404", "422", "503"):
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


def _request_schema(spec: dict, method: str, path: str) -> dict:
    body = spec["paths"][path][method]["requestBody"]
    schema: dict = body["content"]["application/json"]["schema"]
    return schema


def test_broker_request_bodies_are_declared_as_validated() -> None:
    spec = _client().get("/openapi.json").json()
    publish = _request_schema(spec, "post", "/contracts/publish")
    assert publish["required"] == ["pacticipantName", "pacticipantVersionNumber", "contracts"]
    assert publish["properties"]["contracts"]["minItems"] == 1
    contract = publish["properties"]["contracts"]["items"]
    assert contract["required"] == ["providerName", "content"]
    assert contract["properties"]["content"]["contentEncoding"] == "base64"
    assert spec["paths"]["/contracts/publish"]["post"]["requestBody"]["required"] is True
    result = _request_schema(
        spec,
        "post",
        "/pacts/provider/{provider}/consumer/{consumer}/pact-version/{sha}/verification-results",
    )
    assert set(result["required"]) == {"success", "providerApplicationVersion"}
    assert result["properties"]["success"] == {"type": "boolean"}
    environment = _request_schema(spec, "post", "/environments")
    assert environment["required"] == ["name"]
    webhook = _request_schema(spec, "post", "/webhooks")
    assert (
        "contract_published"
        in webhook["properties"]["events"]["anyOf"][0]["items"]["properties"]["name"]["enum"]
    )


def test_broker_operations_without_a_body_declare_none() -> None:
    spec = _client().get("/openapi.json").json()
    for path in (
        "/pacticipants/{name}/versions/{version}/tags/{tag}",
        "/pacticipants/{name}/branches/{branch}/versions/{version}",
        "/pacticipants/{name}/versions/{version}/branches/{branch}",
    ):
        assert "requestBody" not in spec["paths"][path]["put"], path
    assert "requestBody" not in spec["paths"]["/webhooks/{uuid}/execute"]["post"]
    version = spec["paths"]["/pacticipants/{name}/versions/{version}"]["put"]
    assert version["requestBody"]["required"] is False


def test_broker_query_parameters_are_declared() -> None:
    spec = _client().get("/openapi.json").json()

    def query(path: str) -> dict[str, bool]:
        parameters = spec["paths"][path]["get"]["parameters"]
        return {p["name"]: p["required"] for p in parameters if p["in"] == "query"}

    can_i_deploy = query("/can-i-deploy")
    assert can_i_deploy["pacticipant"] is True
    assert can_i_deploy["version"] is False
    assert query("/matrix")["q[][pacticipant]"] is True
    assert {"latestby", "limit"} <= set(query("/matrix"))
    assert {"pageNumber", "pageSize"} <= set(query("/pacticipants/{name}/versions"))
