"""Pact versus OpenAPI comparison on small hand-written documents and pacts (no servers)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from covenant.cli._common import Context
from covenant.cli._compare_cmd import compare
from covenant.kernel.errors import CovenantError, ErrorKind, exit_code_for
from covenant.stack._ports import free_port
from verifiers.compare import (
    CODES,
    CompareResult,
    Incompatibility,
    OpenApiDocument,
    SpecUnreachable,
    compare_pacts,
    load_pact,
    load_pacts,
    load_spec,
)

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def spec_30() -> dict[str, Any]:
    """An OpenAPI 3.0 events API, in the style of the reference hono-api."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "events", "version": "1"},
        "paths": {
            "/api/events": {
                "get": {
                    "parameters": [
                        {"$ref": "#/components/parameters/Page"},
                        {
                            "name": "pageSize",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        },
                        {"name": "draft", "in": "query", "schema": {"type": "boolean"}},
                        {
                            "name": "tags",
                            "in": "query",
                            "schema": {"type": "array", "items": {"type": "string"}},
                        },
                        {
                            "name": "X-Tenant",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "enum": ["a", "b"]},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "a page",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/EventPage"}
                                }
                            },
                        },
                        "400": {"description": "bad page", "content": PROBLEM},
                    },
                },
                "post": {
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string", "minLength": 8},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/NewEvent"}
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "created",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Event"}
                                }
                            },
                        },
                        "4XX": {"description": "client error", "content": PROBLEM},
                    },
                },
            },
            "/api/events/search": {
                "get": {
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "minLength": 1},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "matches",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "items": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Event"},
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        "400": {"description": "no q", "content": PROBLEM},
                    },
                }
            },
            "/api/events/{id}": {
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                    }
                ],
                "get": {
                    "responses": {
                        "200": {
                            "description": "the event",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/EventDetail"}
                                }
                            },
                        },
                        "400": {"description": "not a uuid", "content": PROBLEM},
                        "404": {"description": "unknown", "content": PROBLEM},
                    }
                },
            },
            "/api/counters/{n}": {
                "get": {
                    "parameters": [
                        {
                            "name": "n",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
                        }
                    ],
                    "responses": {
                        "2XX": {
                            "description": "any success",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "default": {"description": "anything else", "content": PROBLEM},
                    },
                }
            },
            "/api/tags": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "a map of tag to count",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"total": {"type": "integer"}},
                                        "additionalProperties": {"type": "integer"},
                                    }
                                }
                            },
                        }
                    }
                }
            },
        },
        "components": {
            "parameters": {
                "Page": {
                    "name": "page",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "default": 1},
                }
            },
            "schemas": {
                "Event": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "title": {"type": "string"},
                        "startsAt": {"type": "string", "format": "date-time", "nullable": True},
                        "city": {"type": "string", "nullable": True},
                    },
                    "required": ["id", "title", "startsAt", "city"],
                },
                "EventDetail": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Event"},
                        {
                            "type": "object",
                            "properties": {
                                "speakers": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {"name": {"type": "string"}},
                                        "required": ["name"],
                                    },
                                }
                            },
                        },
                    ]
                },
                "EventPage": {
                    "type": "object",
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
                        "page": {"type": "integer"},
                        "total": {"type": "integer", "minimum": 0},
                    },
                    "required": ["items", "page", "total"],
                    "additionalProperties": False,
                },
                "NewEvent": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string", "minLength": 1},
                        "city": {"type": "string", "nullable": True},
                    },
                    "required": ["title"],
                },
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                    "required": ["type", "title", "status"],
                },
            },
        },
    }


EVENT_ID = "6f1c2a4e-8b7d-4c1e-9f2a-3b5d7e9a1c20"
EVENT = {"id": EVENT_ID, "title": "Pact Summit", "startsAt": None, "city": "Berlin"}


def body(content: Any, content_type: str = "application/json") -> dict[str, Any]:
    return {"content": content, "contentType": content_type, "encoded": False}


def http(
    description: str,
    method: str,
    path: str,
    status: int,
    response_body: dict[str, Any] | None = None,
    **request: Any,
) -> dict[str, Any]:
    interaction: dict[str, Any] = {
        "type": "Synchronous/HTTP",
        "description": description,
        "request": {"method": method, "path": path, **request},
        "response": {"status": status},
    }
    if response_body is not None:
        interaction["response"]["body"] = response_body
    return interaction


def good_interactions() -> list[dict[str, Any]]:
    return [
        http(
            "a page of events",
            "GET",
            "/api/events",
            200,
            body({"items": [EVENT], "page": 1, "total": 1}),
            query={"page": ["1"], "pageSize": ["20"], "draft": ["false"], "tags": ["a,b"]},
            headers={"x-tenant": ["a"]},
        ),
        http("an event", "GET", f"/api/events/{EVENT_ID}", 200, body(EVENT)),
        http(
            "an event with speakers, fewer fields than required",
            "GET",
            f"/api/events/{EVENT_ID}",
            200,
            body({"title": "Pact Summit", "speakers": [{}]}),
        ),
        http(
            "a search",
            "GET",
            "/api/events/search",
            200,
            body({"items": [EVENT]}),
            query={"q": ["Berlin"]},
        ),
        http(
            "a search without q",
            "GET",
            "/api/events/search",
            400,
            body({"type": "about:blank", "title": "Bad Request", "status": 400}, PROBLEM_TYPE),
        ),
        http(
            "an event id that is not a uuid",
            "GET",
            "/api/events/not-a-uuid",
            400,
            body({"type": "about:blank", "title": "Bad Request", "status": 400}, PROBLEM_TYPE),
        ),
        http(
            "create an event",
            "POST",
            "/api/events",
            201,
            body(EVENT),
            headers={"Idempotency-Key": ["12345678"], "Content-Type": ["application/json"]},
            body=body({"title": "Pact Summit", "city": None}),
        ),
        http(
            "create an invalid event (negative test, 4XX documented)",
            "POST",
            "/api/events",
            422,
            body({"type": "about:blank", "title": "Unprocessable", "status": 422}, PROBLEM_TYPE),
            body=body({"title": ""}),
        ),
        http("a counter", "GET", "/api/counters/3", 203, body("3", "text/plain; charset=utf-8")),
        http(
            "a counter's failure (default response)",
            "GET",
            "/api/counters/3",
            503,
            body({"type": "about:blank", "title": "Down", "status": 503}, PROBLEM_TYPE),
        ),
        http("tags", "GET", "/api/tags", 200, body({"total": 3, "pact": 2, "openapi": 1})),
        http("no response body asserted", "GET", f"/api/events/{EVENT_ID}", 404),
        {
            "type": "Asynchronous/Messages",
            "description": "an event.scraped message",
            "contents": body({"eventId": EVENT_ID}),
        },
    ]


PROBLEM_TYPE = "application/problem+json"


def pact_doc(interactions: list[dict[str, Any]], provider: str = "events-api") -> dict[str, Any]:
    return {
        "consumer": {"name": "web-client"},
        "provider": {"name": provider},
        "interactions": interactions,
        "metadata": {"pactSpecification": {"version": "4.0"}},
    }


def write_pact(
    directory: Path, interactions: list[dict[str, Any]], provider: str = "events-api"
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"web-client-{provider}.json"
    path.write_text(json.dumps(pact_doc(interactions, provider), indent=2), encoding="utf-8")
    return path


def run(
    tmp_path: Path, interactions: list[dict[str, Any]], spec: dict[str, Any] | None = None
) -> CompareResult:
    write_pact(tmp_path / "pacts", interactions)
    document = OpenApiDocument(spec or spec_30(), "spec.json")
    return compare_pacts(load_pacts(tmp_path / "pacts"), lambda _name: document)


def only(result: CompareResult) -> Incompatibility:
    found = result.incompatibilities
    assert len(found) == 1, [f"{i.code} {i.pact_pointer} {i.message}" for i in found]
    return found[0]


def test_a_compatible_pact_passes_and_counts_messages(tmp_path: Path) -> None:
    result = run(tmp_path, good_interactions())
    assert result.incompatibilities == []
    assert result.compatible
    assert result.checked == 12
    assert result.skipped_messages == 1


def test_only_message_interactions_need_no_spec(tmp_path: Path) -> None:
    write_pact(tmp_path / "pacts", good_interactions()[-1:], provider="event-worker")

    def no_spec(name: str) -> OpenApiDocument:
        raise AssertionError(f"fetched a spec for {name}")

    result = compare_pacts(load_pacts(tmp_path / "pacts"), no_spec)
    assert result.compatible
    assert (result.checked, result.skipped_messages) == (0, 1)
    assert result.providers[0].spec_source is None


def test_unknown_path(tmp_path: Path) -> None:
    found = only(run(tmp_path, [http("x", "GET", "/api/venues", 200)]))
    assert found.code == "request.path-or-method.unknown"
    assert found.pact_pointer == "/interactions/0/request/path"
    assert found.spec_pointer == "/paths"
    assert (found.consumer, found.provider, found.interaction) == ("web-client", "events-api", "x")


def test_unknown_method(tmp_path: Path) -> None:
    found = only(run(tmp_path, [http("x", "DELETE", "/api/events/search", 204)]))
    assert found.code == "request.path-or-method.unknown"
    assert found.pact_pointer == "/interactions/0/request/method"
    assert found.spec_pointer == "/paths/~1api~1events~1search"


def test_literal_segments_win_over_templates(tmp_path: Path) -> None:
    # "search" is not a uuid: were /api/events/{id} preferred, q would be unknown.
    document = spec_30()
    document["paths"] = dict(reversed(list(document["paths"].items())))
    result = run(tmp_path, [good_interactions()[3]], document)
    assert result.incompatibilities == []
    candidates = OpenApiDocument(document, "s").candidates("/api/events/search")
    assert [c.template for c in candidates] == ["/api/events/search", "/api/events/{id}"]
    assert candidates[1].params == {"id": "search"}


def test_path_parameter_violating_its_schema_matches_no_template(tmp_path: Path) -> None:
    found = only(run(tmp_path, [http("x", "GET", "/api/events/not-a-uuid", 200, body(EVENT))]))
    assert found.code == "request.path-or-method.unknown"
    assert "id='not-a-uuid'" in found.message
    assert found.pact_pointer == "/interactions/0/request/path"
    assert found.spec_pointer == "/paths/~1api~1events~1{id}/parameters/0/schema/format"
    # OpenAPI 3.0 exclusiveMinimum: true makes 0 invalid for minimum 0.
    found = only(run(tmp_path, [http("x", "GET", "/api/counters/0", 200)]))
    assert found.code == "request.path-or-method.unknown"
    assert found.spec_pointer.endswith("/parameters/0/schema/minimum")


def test_query_parameters(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        [
            http(
                "x",
                "GET",
                "/api/events",
                200,
                query={"page": ["0"], "pageSize": ["many"], "draft": ["maybe"], "sort": ["asc"]},
            )
        ],
    )
    by_pointer = {i.pact_pointer: i for i in result.incompatibilities}
    assert sorted(by_pointer) == [
        "/interactions/0/request/query/draft",
        "/interactions/0/request/query/page",
        "/interactions/0/request/query/pageSize",
        "/interactions/0/request/query/sort",
    ]
    page = by_pointer["/interactions/0/request/query/page"]
    assert page.code == "request.query.incompatible"
    assert page.spec_pointer == "/components/parameters/Page/schema/minimum"
    size = by_pointer["/interactions/0/request/query/pageSize"]
    assert size.code == "request.query.incompatible"
    assert size.spec_pointer == "/paths/~1api~1events/get/parameters/1/schema/type"
    assert by_pointer["/interactions/0/request/query/draft"].code == "request.query.incompatible"
    sort = by_pointer["/interactions/0/request/query/sort"]
    assert sort.code == "request.query.unknown"
    assert sort.spec_pointer == "/paths/~1api~1events/get"


def test_required_parameters_and_headers(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        [
            http("no q", "GET", "/api/events/search", 200, body({"items": []})),
            http(
                "short key",
                "POST",
                "/api/events",
                201,
                headers={"idempotency-key": ["k"]},
                body=body({"title": "t"}),
            ),
            http("no key", "POST", "/api/events", 201, body=body({"title": "t"})),
            http("bad tenant", "GET", "/api/events", 200, headers={"X-Tenant": "c"}),
        ],
    )
    got = sorted((i.code, i.pact_pointer, i.spec_pointer) for i in result.incompatibilities)
    assert got == [
        (
            "request.header.incompatible",
            "/interactions/1/request/headers/idempotency-key",
            "/paths/~1api~1events/post/parameters/0/schema/minLength",
        ),
        (
            "request.header.incompatible",
            "/interactions/3/request/headers/X-Tenant",
            "/paths/~1api~1events/get/parameters/4/schema/enum",
        ),
        (
            "request.parameter.missing",
            "/interactions/0/request",
            "/paths/~1api~1events~1search/get/parameters/0",
        ),
        (
            "request.parameter.missing",
            "/interactions/2/request/headers",
            "/paths/~1api~1events/post/parameters/0",
        ),
    ]


def test_request_body(tmp_path: Path) -> None:
    key = {"Idempotency-Key": ["12345678"]}
    result = run(
        tmp_path,
        [
            http("bad body", "POST", "/api/events", 201, headers=key, body=body({"city": 3})),
            http("no body", "POST", "/api/events", 201, headers=key),
            http(
                "form body",
                "POST",
                "/api/events",
                201,
                headers=key,
                body=body("title=x", "application/x-www-form-urlencoded"),
            ),
        ],
    )
    got = sorted((i.code, i.pact_pointer, i.spec_pointer) for i in result.incompatibilities)
    assert got == [
        (
            "request.body.incompatible",
            "/interactions/0/request/body/content",
            "/components/schemas/NewEvent/required",
        ),
        (
            "request.body.incompatible",
            "/interactions/0/request/body/content/city",
            "/components/schemas/NewEvent/properties/city/type",
        ),
        (
            "request.body.missing",
            "/interactions/1/request",
            "/paths/~1api~1events/post/requestBody/required",
        ),
        (
            "request.content-type.unknown",
            "/interactions/2/request/body/contentType",
            "/paths/~1api~1events/post/requestBody/content",
        ),
    ]


def test_negative_interactions_skip_request_checks_only_for_documented_4xx(
    tmp_path: Path,
) -> None:
    problem = body({"type": "t", "title": "t", "status": 400}, PROBLEM_TYPE)
    # 400 is documented for search: a missing q is the point of the interaction.
    assert run(tmp_path, [http("x", "GET", "/api/events/search", 400, problem)]).compatible
    # 404 is not documented for search: the missing q is reported, so is the status.
    result = run(tmp_path, [http("x", "GET", "/api/events/search", 404, problem)])
    assert sorted(i.code for i in result.incompatibilities) == [
        "request.parameter.missing",
        "response.status.unknown",
    ]


def test_response_status(tmp_path: Path) -> None:
    found = only(run(tmp_path, [http("x", "GET", f"/api/events/{EVENT_ID}", 418)]))
    assert found.code == "response.status.unknown"
    assert found.pact_pointer == "/interactions/0/response/status"
    assert found.spec_pointer == "/paths/~1api~1events~1{id}/get/responses"
    assert "200, 400, 404" in found.message


def test_response_content_type(tmp_path: Path) -> None:
    found = only(
        run(tmp_path, [http("x", "GET", f"/api/events/{EVENT_ID}", 200, body("<p/>", "text/html"))])
    )
    assert found.code == "response.content-type.unknown"
    assert found.pact_pointer == "/interactions/0/response/body/contentType"
    assert found.spec_pointer == "/paths/~1api~1events~1{id}/get/responses/200/content"


def test_response_body_incompatible_points_into_both_documents(tmp_path: Path) -> None:
    page = {"items": [{**EVENT, "title": 3}], "page": 1, "total": -1}
    result = run(tmp_path, [http("x", "GET", "/api/events", 200, body(page))])
    got = sorted((i.code, i.pact_pointer, i.spec_pointer) for i in result.incompatibilities)
    assert got == [
        (
            "response.body.incompatible",
            "/interactions/0/response/body/content/items/0/title",
            "/components/schemas/Event/properties/title/type",
        ),
        (
            "response.body.incompatible",
            "/interactions/0/response/body/content/total",
            "/components/schemas/EventPage/properties/total/minimum",
        ),
    ]


def test_nullable_and_formats(tmp_path: Path) -> None:
    ok = {**EVENT, "startsAt": "2026-12-01T18:00:00.000Z", "city": None}
    assert run(tmp_path, [http("x", "GET", f"/api/events/{EVENT_ID}", 200, body(ok))]).compatible
    bad = {**EVENT, "title": None, "startsAt": "1 Dec", "id": "nope"}
    result = run(tmp_path, [http("x", "GET", f"/api/events/{EVENT_ID}", 200, body(bad))])
    got = sorted((i.pact_pointer, i.spec_pointer) for i in result.incompatibilities)
    assert got == [
        (
            "/interactions/0/response/body/content/id",
            "/components/schemas/Event/properties/id/format",
        ),
        (
            "/interactions/0/response/body/content/startsAt",
            "/components/schemas/Event/properties/startsAt/format",
        ),
        (
            "/interactions/0/response/body/content/title",
            "/components/schemas/Event/properties/title/type",
        ),
    ]


def test_undocumented_response_fields(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        [
            # additionalProperties false on EventPage: the field is not allowed at all.
            http("x", "GET", "/api/events", 200, body({"items": [], "page": 1, "next": 2})),
            # No additionalProperties on Event (inside EventDetail's allOf): undeclared.
            http(
                "y",
                "GET",
                f"/api/events/{EVENT_ID}",
                200,
                body({**EVENT, "venue": "Hall 1", "speakers": [{"name": "Ada", "bio": "x"}]}),
            ),
        ],
    )
    got = sorted((i.code, i.pact_pointer, i.spec_pointer) for i in result.incompatibilities)
    assert got == [
        (
            "response.body.unknown-field",
            "/interactions/0/response/body/content/next",
            "/components/schemas/EventPage/properties",
        ),
        (
            "response.body.unknown-field",
            "/interactions/1/response/body/content/speakers/0/bio",
            "/components/schemas/EventDetail/allOf/1/properties/speakers/items/properties",
        ),
        (
            "response.body.unknown-field",
            "/interactions/1/response/body/content/venue",
            "/components/schemas/Event/properties",
        ),
    ]


def test_openapi_31_schemas(tmp_path: Path) -> None:
    document = spec_30()
    document["openapi"] = "3.1.0"
    event = document["components"]["schemas"]["Event"]["properties"]
    event["city"] = {"type": ["string", "null"]}
    event["startsAt"] = {"type": "string", "format": "date-time"}  # no nullable in 3.1
    result = run(
        tmp_path, [http("x", "GET", f"/api/events/{EVENT_ID}", 200, body(EVENT))], document
    )
    found = only(result)
    assert found.pact_pointer == "/interactions/0/response/body/content/startsAt"
    assert found.spec_pointer == "/components/schemas/Event/properties/startsAt/type"


def test_server_base_path_is_stripped(tmp_path: Path) -> None:
    document = spec_30()
    document["servers"] = [{"url": "https://{host}/v1/", "variables": {"host": {"default": "x"}}}]
    result = run(
        tmp_path, [http("x", "GET", f"/v1/api/events/{EVENT_ID}", 200, body(EVENT))], document
    )
    assert result.compatible


def test_pact_v3_bodies_and_query_strings(tmp_path: Path) -> None:
    interaction = {
        "description": "v3",
        "request": {"method": "GET", "path": "/api/events", "query": "page=0&pageSize=2"},
        "response": {"status": 200, "body": {"items": [], "page": "1", "total": 0}},
    }
    (tmp_path / "pacts").mkdir()
    document = pact_doc([interaction])
    document["metadata"] = {"pactSpecification": {"version": "3.0.0"}}
    (tmp_path / "pacts" / "v3.json").write_text(json.dumps(document), encoding="utf-8")
    spec = OpenApiDocument(spec_30(), "spec.json")
    result = compare_pacts(load_pacts(tmp_path / "pacts"), lambda _name: spec)
    got = sorted((i.code, i.pact_pointer) for i in result.incompatibilities)
    assert got == [
        ("request.query.incompatible", "/interactions/0/request/query"),
        ("response.body.incompatible", "/interactions/0/response/body/page"),
    ]


def test_every_code_is_documented(tmp_path: Path) -> None:
    assert all(code.startswith(("request.", "response.")) for code in CODES)
    assert {"response.body.unknown-field", "request.path-or-method.unknown"} <= set(CODES)


# -- malformed input -----------------------------------------------------------------


def test_invalid_json_pact_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "consumer": {"name": "a"},\n  "provider": {,\n}\n', encoding="utf-8")
    with pytest.raises(CovenantError) as caught:
        load_pact(path)
    assert caught.value.kind is ErrorKind.USAGE
    assert caught.value.message.startswith(f"{path}:3:")


def test_structurally_malformed_pact_names_file_and_line(tmp_path: Path) -> None:
    interaction = http("x", "GET", "/api/events", 200)
    del interaction["request"]["path"]
    path = write_pact(tmp_path, [good_interactions()[1], interaction])
    with pytest.raises(CovenantError) as caught:
        load_pact(path)
    assert caught.value.kind is ErrorKind.USAGE
    text = path.read_text(encoding="utf-8").splitlines()
    line = int(caught.value.message.split(":")[1])
    assert '"request"' in text[line - 1]
    assert "/interactions/1/request/path: is required" in caught.value.message


def test_unknown_provider_is_a_usage_error(tmp_path: Path) -> None:
    write_pact(tmp_path / "pacts", good_interactions())
    with pytest.raises(CovenantError) as caught:
        compare_pacts(load_pacts(tmp_path / "pacts"), lambda _n: None, provider="nobody")  # type: ignore[arg-type, return-value]
    assert caught.value.kind is ErrorKind.USAGE


def test_load_spec_from_files_and_urls(tmp_path: Path) -> None:
    yaml_spec = tmp_path / "spec.yaml"
    yaml_spec.write_text(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n"
        "  /ping:\n    get:\n      responses:\n        204: {description: pong}\n"
    )
    document = load_spec(str(yaml_spec))
    assert document.version == "3.0.3"
    write_pact(tmp_path / "pacts", [http("ping", "GET", "/ping", 204)])
    assert compare_pacts(load_pacts(tmp_path / "pacts"), lambda _n: document).compatible
    swagger = tmp_path / "swagger.json"
    swagger.write_text(json.dumps({"swagger": "2.0", "paths": {}}))
    with pytest.raises(CovenantError, match=r"not an OpenAPI 3\.x document") as caught:
        load_spec(str(swagger))
    assert exit_code_for(caught.value) == 2
    with pytest.raises(CovenantError) as caught:
        load_spec(str(tmp_path / "missing.json"))
    assert exit_code_for(caught.value) == 2
    with pytest.raises(SpecUnreachable) as unreachable:
        load_spec(f"http://127.0.0.1:{free_port()}/openapi.json", timeout_s=2)
    assert exit_code_for(unreachable.value) == 3


def test_dangling_ref_is_a_usage_error(tmp_path: Path) -> None:
    document = spec_30()
    document["components"]["schemas"]["EventDetail"]["allOf"][0]["$ref"] = "#/nowhere"
    with pytest.raises(CovenantError, match="points nowhere"):
        run(tmp_path, [http("x", "GET", f"/api/events/{EVENT_ID}", 200, body({"x": 1}))], document)


# -- the command -----------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = Context()

    app.command("compare")(compare)
    return app


def test_command_exit_codes_and_output(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec_30()), encoding="utf-8")
    write_pact(tmp_path / "good", good_interactions())
    runner = CliRunner()
    args = ["compare", "events-api", "--pacts", str(tmp_path / "good"), "--spec", str(spec_file)]

    ok = runner.invoke(cli(), [*args, "--json"])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)
    assert report["compatible"] is True
    assert (report["checked"], report["skipped_messages"]) == (12, 1)

    bad = copy.deepcopy(good_interactions())
    bad[0]["request"]["path"] = "/api/venues"
    write_pact(tmp_path / "bad", bad)
    args[3] = str(tmp_path / "bad")
    failed = runner.invoke(cli(), [*args, "--json"])
    assert failed.exit_code == 1
    [item] = json.loads(failed.stdout)["providers"][0]["incompatibilities"]
    assert item["code"] == "request.path-or-method.unknown"
    assert item["pact_pointer"] == "/interactions/0/request/path"

    table = runner.invoke(cli(), args)
    assert table.exit_code == 1
    assert "request.path-or-method.unknown" in table.stdout
    assert "#/interactions/0/request/path" in table.stdout


def test_command_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    no_provider = runner.invoke(cli(), ["compare", "--spec", "x.json"])
    assert isinstance(no_provider.exception, CovenantError)
    assert exit_code_for(no_provider.exception) == 2

    (tmp_path / "pacts").mkdir()
    (tmp_path / "pacts" / "bad.json").write_text("{", encoding="utf-8")
    malformed = runner.invoke(cli(), ["compare", "--pacts", str(tmp_path / "pacts")])
    assert isinstance(malformed.exception, CovenantError)
    assert exit_code_for(malformed.exception) == 2
    assert "bad.json:1:2" in malformed.exception.message


def test_command_without_stack_or_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVENANT_STACK__STATE_DIR", str(tmp_path / "no-stack"))
    monkeypatch.delenv("COVENANT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    write_pact(tmp_path / "pacts", good_interactions())
    result = CliRunner().invoke(cli(), ["compare", "--pacts", str(tmp_path / "pacts")])
    assert isinstance(result.exception, CovenantError)
    assert exit_code_for(result.exception) == 2
    assert "local stack runs no 'events_api'" in result.exception.message
