"""PactFlow-compatible provider contracts: what a publication must hold (400 where it
breaks the documented schema, 422 where the content is not an OpenAPI 3.x document of
the media type it claims, each naming the place), and the can-i-deploy comparison
gate using the provider contract of the exact provider version a matrix row names."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contracts.broker._errors import BrokerError
from contracts.broker._index import RELATIONS
from contracts.broker._openapi import BADGE_TAG
from contracts.broker._provider_contracts import MAX_DEPTH, parse_publication
from covenant.app import create_app
from covenant.kernel.config import CovenantConfig
from covenant.kernel.endpoints import Endpoint
from verifiers.compare import OpenApiDocument, compare_matrix_pacts, provider_contract_links

PUBLISH = "/provider-contracts/provider/{provider}/publish"
RESULTS = "contract.selfVerificationResults"

OPENAPI_YAML = """\
openapi: 3.0.3
info: {title: things, version: "1"}
paths:
  /things/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        "200":
          description: a thing
          content:
            application/json:
              schema:
                type: object
                properties: {id: {type: string}}
                additionalProperties: false
"""


def b64(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def body(document: str | bytes = OPENAPI_YAML, **contract: Any) -> dict[str, Any]:
    return {
        "pacticipantVersionNumber": "1.2.3",
        "branch": "main",
        "tags": ["dev", "dev", "rc"],
        "buildUrl": "https://ci.example/1",
        "contract": {
            "content": b64(document),
            "contentType": "application/yaml",
            "specification": "oas",
            "selfVerificationResults": {
                "success": True,
                "content": b64("all 12 checks passed\n"),
                "contentType": "text/plain",
                "verifier": "schemathesis",
            },
            **contract,
        },
    }


def refused(provider: str, raw: Any) -> BrokerError:
    with pytest.raises(BrokerError) as caught:
        parse_publication(provider, raw)
    return caught.value


# --- the body's schema (400), through the real app's check ---------------------------


def _app() -> TestClient:
    dsn = "postgresql://u:p@127.0.0.1:9/none"
    config = CovenantConfig.model_validate(
        {"engines": {"postgres": {"url": dsn}}, "broker": {"read_write_tokens": ["rw-token"]}}
    )
    app = create_app(config, endpoints=lambda: {"postgres": Endpoint("postgres", dsn, "config")})
    return TestClient(app)


@pytest.fixture(scope="module")
def client() -> Any:
    with _app() as found:
        yield found


def _schema_errors(client: TestClient, raw: Any) -> dict[str, list[str]]:
    """The 400 the documented schema gives, before the database is ever needed."""
    from contracts.broker._body_schema import check_operation_body

    try:
        check_operation_body("POST", PUBLISH, raw)
    except BrokerError as exc:
        assert exc.status == 400
        return exc.errors or {}
    return {}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"pacticipantVersionNumber": None}, "pacticipantVersionNumber"),
        ({"pacticipantVersionNumber": " "}, "pacticipantVersionNumber"),
        ({"tags": ["ok", ""]}, "tags[1]"),
        ({"branch": "x" * 300}, "branch"),
        ({"buildUrl": "ftp://ci.example/1"}, "buildUrl"),
        ({"contract": None}, "contract"),
    ],
)
def test_the_version_fields_are_checked_against_the_schema(
    client: TestClient, change: dict[str, Any], where: str
) -> None:
    assert where in _schema_errors(client, {**body(), **change})


@pytest.mark.parametrize(
    ("contract", "where"),
    [
        ({"content": "not base64!"}, "contract.content"),
        ({"content": ""}, "contract.content"),
        ({"contentType": "text/plain"}, "contract.contentType"),
        ({"specification": "pact"}, "contract.specification"),
        ({"specification": None}, "contract.specification"),
        ({"selfVerificationResults": {"content": b64("x")}}, f"{RESULTS}.success"),
        ({"selfVerificationResults": {"success": "yes"}}, f"{RESULTS}.success"),
    ],
)  # fmt: skip
def test_the_contract_fields_are_checked_against_the_schema(
    client: TestClient, contract: dict[str, Any], where: str
) -> None:
    assert where in _schema_errors(client, body(**contract))


def test_what_the_pact_cli_sends_matches_the_schema(client: TestClient) -> None:
    assert _schema_errors(client, body()) == {}
    minimal = {
        "pacticipantVersionNumber": "1",
        "contract": {"content": b64("{}"), "contentType": "Application/JSON; charset=utf-8",
                     "specification": "OAS"},
    }  # fmt: skip
    assert _schema_errors(client, minimal) == {}


def test_writes_need_the_read_write_token(client: TestClient) -> None:
    path = "/provider-contracts/provider/api/publish"
    assert client.post(path, json=body()).status_code == 401
    denied = client.post(path, json=body(), headers={"Authorization": "Bearer nope"})
    assert denied.status_code == 401
    assert denied.headers["content-type"] == "application/problem+json"


# --- the content (422) ------------------------------------------------------------------


def test_a_yaml_or_json_openapi_document_is_accepted() -> None:
    publication = parse_publication("things", body())
    assert (publication.number, publication.branch, publication.tags) == (
        "1.2.3",
        "main",
        ["dev", "rc"],
    )
    assert publication.content == OPENAPI_YAML
    assert publication.verification is not None
    assert publication.verification.content == "all 12 checks passed\n"
    assert publication.verification.verifier == "schemathesis"
    as_json = json.dumps({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}})
    found = parse_publication("things", body(as_json, contentType="application/json"))
    assert found.content_type == "application/json"
    without_results = body()
    del without_results["contract"]["selfVerificationResults"]
    assert parse_publication("things", without_results).verification is None


@pytest.mark.parametrize(
    ("content", "content_type", "where", "words"),
    [
        ("openapi: [unclosed", "application/yaml", "contract.content", "is not YAML"),
        ("a: 1\n---\nb: 2\n", "application/yaml", "contract.content", "is not YAML"),
        ("openapi: 3.0.0\n", "application/json", "contract.content", "is not JSON"),
        ('{"openapi": "3.0.0", "openapi": "3.1.0"}', "application/json",
         "contract.content#/openapi", "appears twice"),
        ("- just\n- a list\n", "application/yaml", "contract.content", "top level"),
        ("swagger: '2.0'\n", "application/yaml", "contract.content#/swagger", "Swagger 2.0"),
        ("info: {title: t}\n", "application/yaml", "contract.content#/openapi", "is required"),
        ("openapi: 2.1.0\n", "application/yaml", "contract.content#/openapi", "3.x"),
        ("openapi: true\n", "application/yaml", "contract.content#/openapi", "is required"),
        ("openapi: 3.0.0\npaths: [1]\n", "application/yaml", "contract.content#/paths", "object"),
        (b"\xff\xfe openapi", "application/yaml", "contract.content", "not UTF-8"),
        ("openapi: 3.0.0\nx: \x00\n", "application/yaml", "contract.content", "U+0000"),
    ],
)  # fmt: skip
def test_content_that_is_not_an_openapi_3_document_is_422_naming_where(
    content: str | bytes, content_type: str, where: str, words: str
) -> None:
    error = refused("things", body(content, contentType=content_type))
    assert error.status == 422
    assert error.errors is not None and where in error.errors, error.errors
    assert words in " ".join(error.errors[where])


def test_deep_nesting_and_alias_bombs_are_refused_cheaply() -> None:
    deep = "openapi: 3.0.0\nx: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    assert "nested more than" in str(refused("things", body(deep)).errors)
    lines = ["openapi: 3.0.0", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    bomb = refused("things", body("\n".join(lines) + "\n"))
    assert bomb.status == 422 and "YAML aliases" in str(bomb.errors)
    recursive = refused("things", body("openapi: 3.0.0\nx: &a [*a]\n"))
    assert "nested more than" in str(recursive.errors)


def test_self_verification_results_must_be_text() -> None:
    results = {"success": False, "content": b64(b"\xc3\x28 not utf-8")}
    error = refused("things", body(selfVerificationResults=results))
    assert error.status == 422
    assert "contract.selfVerificationResults.content" in (error.errors or {})


def test_a_broker_token_given_as_a_tag_branch_or_version_is_refused_never_echoed() -> None:
    from pydantic import SecretStr

    token = "rw-0123456789abcdef"
    secrets = [SecretStr("other-token"), SecretStr(token)]
    raw = {**body(), "pacticipantVersionNumber": token, "branch": token, "tags": ["ok", token]}
    with pytest.raises(BrokerError) as caught:
        parse_publication("things", raw, secrets=secrets)
    error = caught.value
    assert error.status == 400
    assert set(error.errors or {}) == {"pacticipantVersionNumber", "branch", "tags[1]"}
    assert "-t is --tag" in str(error.errors) and token not in str(error.errors) + error.detail
    assert parse_publication("things", body(), secrets=secrets).tags == ["dev", "rc"]


def test_a_provider_name_that_is_not_a_name_is_400() -> None:
    error = refused("bad\x01name", body())
    assert error.status == 400 and "path.provider" in (error.errors or {})


# --- the index and the OpenAPI document -------------------------------------------------


def test_the_index_and_the_document_describe_the_new_resources(client: TestClient) -> None:
    assert RELATIONS["pf:publish-provider-contract"][0] == PUBLISH
    assert (
        RELATIONS["pb:provider-pacts-with-branch"][0]
        == "/pacts/provider/{provider}/branch/{branch}"
    )
    assert RELATIONS["pb:latest-provider-pacts-with-branch"][0].endswith("/branch/{branch}/latest")
    spec = client.get("/openapi.json").json()
    publish = spec["paths"][PUBLISH]["post"]
    schema = publish["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["pacticipantVersionNumber", "contract"]
    assert "application/hal+json" in publish["responses"]["200"]["content"]
    badges = [
        (path, op)
        for path, item in spec["paths"].items()
        for op in item.values()
        if BADGE_TAG in op.get("tags", [])
    ]
    assert len(badges) == 6
    for path, operation in badges:
        assert path.endswith("/badge")
        assert list(operation["responses"]["200"]["content"]) == ["image/svg+xml"], path
        assert "application/problem+json" in operation["responses"]["401"]["content"]
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert "label" in names, path
    for path in (
        "/pacts/provider/{provider}/branch/{branch}/latest",
        "/pacts/provider/{provider}/consumer/{consumer}/branch/{branch}",
        "/contracts/bi-directional/provider/{provider}/version/{version}/provider-contract",
    ):
        assert "broker" in spec["paths"][path]["get"]["tags"], path  # fmt: skip


def test_a_badge_refuses_an_initials_value_it_does_not_know(client: TestClient) -> None:
    answer = client.get("/pacts/provider/a/consumer/b/latest/badge?initials=yes")
    assert answer.status_code == 400
    assert answer.json()["errors"] == {"query.initials": ["must be true or false"]}


# --- the comparison gate ------------------------------------------------------------------

BASE = "http://broker.test"


def pact(consumer: str, provider: str, path: str, body_: dict[str, Any]) -> dict[str, Any]:
    return {
        "consumer": {"name": consumer},
        "provider": {"name": provider},
        "interactions": [
            {
                "description": f"get {path}",
                "request": {"method": "GET", "path": path},
                "response": {
                    "status": 200,
                    "headers": {"Content-Type": "application/json"},
                    "body": body_,
                },
            }
        ],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }


def row(pact_href: str, provider_version: str | None, contract: str | None) -> dict[str, Any]:
    links: dict[str, Any] = {
        "self": {"href": f"{BASE}/pacticipants/api/versions/{provider_version}"}
    }
    if contract:
        links["pf:provider-contract"] = {"href": contract}
    version = {"number": provider_version, "_links": links} if provider_version else None
    return {
        "consumer": {"name": "web"},
        "provider": {"name": "api", "version": version},
        "pact": {"_links": {"self": {"href": pact_href}}},
    }


def contract_resource(document: str, content_type: str = "application/yaml") -> dict[str, Any]:
    return {"content": document, "contentType": content_type, "specification": "oas"}


GOOD = f"{BASE}/contracts/bi-directional/provider/api/version/p-good/provider-contract"
BAD = f"{BASE}/contracts/bi-directional/provider/api/version/p-bad/provider-contract"
PACT_1 = f"{BASE}/pacts/provider/api/consumer/web/version/1"
RESOURCES = {
    PACT_1: pact("web", "api", "/things/7", {"id": "7"}),
    GOOD: contract_resource(OPENAPI_YAML),
    BAD: contract_resource(OPENAPI_YAML.replace("/things/{id}", "/other/{id}")),
}


def fallback_spec(document: str = OPENAPI_YAML) -> Any:
    import yaml

    asked: list[str] = []

    def spec_for(provider: str) -> OpenApiDocument:
        asked.append(provider)
        return OpenApiDocument(yaml.safe_load(document), f"spec of {provider}")

    return spec_for, asked


def test_the_gate_uses_the_provider_contract_of_the_row_s_provider_version() -> None:
    fetched: list[str] = []

    def fetch(href: str) -> Any:
        fetched.append(href)
        return RESOURCES[href]

    spec_for, asked = fallback_spec(OPENAPI_YAML.replace("/things/{id}", "/nowhere/{id}"))
    # The deployed provider version published a contract that documents the path:
    # compatible, although the configured document would not be.
    result, origins = compare_matrix_pacts([row(PACT_1, "p-good", GOOD)], fetch, spec_for)
    assert result.compatible and result.checked == 1
    assert asked == [] and fetched == [PACT_1, GOOD]
    assert list(origins.values()) == [PACT_1]
    assert result.providers[0].spec_source == GOOD

    # Its contract lacks the endpoint: incompatible, and the message names the contract.
    result, origins = compare_matrix_pacts([row(PACT_1, "p-bad", BAD)], fetch, spec_for)
    [found] = result.incompatibilities
    assert found.code == "request.path-or-method.unknown"
    assert found.message.endswith(f"(provider contract {BAD})")
    assert origins[found.pact_file] == PACT_1


def test_without_a_provider_contract_the_gate_falls_back_to_the_provider_s_document() -> None:
    spec_for, asked = fallback_spec()
    rows = [row(PACT_1, "p-old", None), row(PACT_1, None, None)]
    result, _ = compare_matrix_pacts(rows, RESOURCES.__getitem__, spec_for)
    assert result.compatible and result.checked == 1 and asked == ["api"]
    # A pact paired with a contract-less version and with one that has a contract is
    # checked against both documents; switching contracts off is the old behaviour.
    spec_for, asked = fallback_spec()
    both = [row(PACT_1, "p-old", None), row(PACT_1, "p-bad", BAD)]
    result, _ = compare_matrix_pacts(both, RESOURCES.__getitem__, spec_for)
    assert [r.spec_source for r in result.providers] == ["spec of api", BAD]
    assert len(result.incompatibilities) == 1
    result, _ = compare_matrix_pacts(
        both, RESOURCES.__getitem__, spec_for, provider_contracts=False
    )
    assert result.compatible and len(result.providers) == 1
    assert provider_contract_links(both) == [(PACT_1, BAD)]
