"""The broker client the CLI uses: requests it sends, pact files it reads, and how
each kind of failure becomes an exit code. HTTP is an in-memory transport."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.broker.client import BrokerClient, BrokerRequestError, publish_body, read_pacts
from covenant.kernel.errors import CovenantError, ErrorKind, exit_code_for

TOKEN = "tok-unit-0123456789"
BASE = "http://broker.test"


def client_for(
    handler: Callable[[httpx.Request], httpx.Response], token: str | None = TOKEN
) -> BrokerClient:
    return BrokerClient(BASE, token, transport=httpx.MockTransport(handler))


def problem(status: int, detail: str, errors: dict[str, list[str]] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"title": "x", "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


# -- requests -----------------------------------------------------------------------


def test_the_token_is_sent_as_a_bearer_token_and_hal_is_asked_for() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"summary": {"deployable": True}})

    with client_for(handler) as client:
        client.can_i_deploy("app", "1.0", "prod")
    with client_for(handler, token=None) as client:
        client.can_i_deploy("app", "1.0", "prod")
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert "application/hal+json" in seen[0].headers["Accept"]
    assert "Authorization" not in seen[1].headers
    assert seen[0].url.path == "/can-i-deploy"
    assert dict(seen[0].url.params) == {
        "pacticipant": "app",
        "version": "1.0",
        "environment": "prod",
    }


def test_publish_posts_the_body() -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, json.loads(request.content)))
        return httpx.Response(200, json={"notices": []})

    with client_for(handler) as client:
        assert client.publish_contracts({"pacticipantName": "c"}) == {"notices": []}
    assert seen == [("POST", "/contracts/publish", {"pacticipantName": "c"})]


def test_record_deployment_follows_the_link_named_after_the_environment() -> None:
    posted: list[tuple[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            assert request.url.raw_path == b"/pacticipants/my%20app/versions/1%2F2"
            return httpx.Response(
                200,
                json={
                    "_links": {
                        "pb:record-deployment": [
                            {"name": "test", "href": f"{BASE}/deploy/test-uuid"},
                            {"name": "prod", "href": f"{BASE}/deploy/prod-uuid"},
                        ]
                    }
                },
            )
        posted.append((request.url.path, json.loads(request.content)))
        return httpx.Response(201, json={"uuid": "d-1"})

    with client_for(handler) as client:
        answer = client.record_deployment("my app", "1/2", "prod", application_instance="blue")
    assert answer == {"uuid": "d-1"}
    assert posted == [("/deploy/prod-uuid", {"applicationInstance": "blue"})]


def test_record_deployment_to_an_unknown_environment_lists_the_known_ones() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        link = {"name": "test", "href": f"{BASE}/deploy/t"}
        return httpx.Response(200, json={"_links": {"pb:record-deployment": link}})

    with client_for(handler) as client, pytest.raises(BrokerRequestError) as caught:
        client.record_deployment("app", "1", "prod")
    assert caught.value.kind is ErrorKind.USAGE
    assert "no environment 'prod' (known: test)" in caught.value.message


# -- failures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "kind", "exit_code", "words"),
    [
        (problem(401, "a bearer token is required"), ErrorKind.CONFIG, 2, "valid token"),
        (problem(403, "this token may only read"), ErrorKind.CONFIG, 2, "may only read"),
        (problem(404, "no pacticipant named 'x'"), ErrorKind.USAGE, 2, "no pacticipant"),
        (
            problem(400, "bad", {"contracts[0].content": ["is not base64"]}),
            ErrorKind.USAGE,
            2,
            "contracts[0].content: is not base64",
        ),
        (problem(409, "differs"), ErrorKind.USAGE, 2, "HTTP 409"),
        (problem(503, "database down"), ErrorKind.UNREACHABLE, 3, "unavailable"),
        (httpx.Response(502, text="bad gateway"), ErrorKind.UNREACHABLE, 3, "bad gateway"),
        (httpx.Response(500, text="boom"), ErrorKind.ENGINE, 4, "boom"),
        (httpx.Response(200, text="<html>"), ErrorKind.ENGINE, 4, "not JSON"),
    ],
    ids=["401", "403", "404", "400", "409", "503", "502", "500", "200-not-json"],
)
def test_each_failure_has_its_kind_and_exit_code(
    response: httpx.Response, kind: ErrorKind, exit_code: int, words: str
) -> None:
    with client_for(lambda _: response) as client, pytest.raises(CovenantError) as caught:
        client.can_i_deploy("a", "1", "e")
    assert caught.value.kind is kind
    assert exit_code_for(caught.value) == exit_code
    assert words in caught.value.message


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("server hung up"),
    ],
    ids=["refused", "timeout", "hung-up"],
)
def test_a_broker_that_does_not_answer_is_unreachable(error: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    with client_for(handler) as client, pytest.raises(CovenantError) as caught:
        client.publish_contracts({})
    assert caught.value.kind is ErrorKind.UNREACHABLE
    assert exit_code_for(caught.value) == 3
    assert BASE in caught.value.message


def test_the_token_never_appears_in_an_error_even_if_the_broker_echoes_it() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return problem(400, f"bad header {request.headers['Authorization']}")

    with client_for(handler) as client, pytest.raises(CovenantError) as caught:
        client.publish_contracts({})
    assert TOKEN not in caught.value.message
    assert "**********" in caught.value.message


@pytest.mark.parametrize("url", ["broker.test", "ftp://broker.test", "", "http://"])
def test_the_broker_url_must_be_absolute_http(url: str) -> None:
    with pytest.raises(CovenantError) as caught:
        BrokerClient(url)
    assert caught.value.kind is ErrorKind.USAGE


# -- pact files -------------------------------------------------------------------------


def a_pact(consumer: str = "web", provider: str = "api") -> dict[str, Any]:
    return {"consumer": {"name": consumer}, "provider": {"name": provider}, "interactions": []}


def test_read_pacts_takes_every_json_file_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps(a_pact(provider="b")))
    (tmp_path / "a.json").write_text(json.dumps(a_pact(provider="a")))
    (tmp_path / "notes.txt").write_text("ignored")
    pacts = read_pacts([tmp_path])
    assert [(p.path.name, p.consumer, p.provider) for p in pacts] == [
        ("a.json", "web", "a"),
        ("b.json", "web", "b"),
    ]
    assert read_pacts([tmp_path / "a.json"])[0].provider == "a"


def test_malformed_json_is_reported_with_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "consumer": {"name": "web"},\n  "provider": \n}\n')
    with pytest.raises(CovenantError) as caught:
        read_pacts([tmp_path])
    assert caught.value.kind is ErrorKind.USAGE
    assert caught.value.message.startswith(f"{bad}:4:1: not valid JSON")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"[]", "/: must be a JSON object (a pact), not a list"),
        (json.dumps({"provider": {"name": "p"}}).encode(), ":1:1: /consumer: is required"),
        (
            json.dumps({"consumer": {"name": "c"}, "provider": "p"}).encode(),
            ":1:41: /provider: must be an object, not a string",
        ),
        (b"\xff\xfe{}", "is not UTF-8 text"),
    ],
    ids=["array", "no-consumer", "provider-not-object", "not-utf8"],
)
def test_files_that_are_not_pacts_are_refused(tmp_path: Path, content: bytes, words: str) -> None:
    (tmp_path / "odd.json").write_bytes(content)
    with pytest.raises(CovenantError) as caught:
        read_pacts([tmp_path])
    assert caught.value.kind is ErrorKind.USAGE
    assert words in caught.value.message
    assert "odd.json" in caught.value.message


def test_no_pacts_or_no_such_path_is_a_usage_error(tmp_path: Path) -> None:
    for path in (tmp_path, tmp_path / "missing"):
        with pytest.raises(CovenantError) as caught:
            read_pacts([path])
        assert caught.value.kind is ErrorKind.USAGE


def test_publish_body_carries_the_file_bytes_base64(tmp_path: Path) -> None:
    raw = json.dumps(a_pact(), indent=3).encode()
    (tmp_path / "p.json").write_bytes(raw)
    pacts = read_pacts([tmp_path])
    body = publish_body(
        "web", pacts, version="1.2", branch="main", tags=["a", "", "b"], build_url="https://ci/1"
    )
    assert body["pacticipantName"] == "web"
    assert body["pacticipantVersionNumber"] == "1.2"
    assert body["branch"] == "main"
    assert body["tags"] == ["a", "b"]
    assert body["buildUrl"] == "https://ci/1"
    [contract] = body["contracts"]
    assert contract["consumerName"] == "web"
    assert contract["providerName"] == "api"
    assert contract["specification"] == "pact"
    assert contract["contentType"] == "application/json"
    assert base64.b64decode(contract["content"]) == raw
    bare = publish_body("web", pacts, version="1")
    assert "branch" not in bare and "tags" not in bare and "buildUrl" not in bare


def test_pacts_are_grouped_by_consumer_in_first_seen_order(tmp_path: Path) -> None:
    from contracts.broker.client import by_consumer, read_pacts

    for name, consumer in (("a.json", "web"), ("b.json", "api"), ("c.json", "web")):
        pact = {
            "consumer": {"name": consumer},
            "provider": {"name": f"{name}-provider"},
            "interactions": [],
            "metadata": {"pactSpecification": {"version": "4.0"}},
        }
        (tmp_path / name).write_text(json.dumps(pact))
    grouped = by_consumer(read_pacts([tmp_path]))
    assert list(grouped) == ["web", "api"]
    assert [p.path.name for p in grouped["web"]] == ["a.json", "c.json"]
