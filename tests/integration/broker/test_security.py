"""The whole broker's access control, enumerated from the real app's routes:
every write needs a read-write token, anonymous reads can be switched off,
and tokens never show up in a response or a log line."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from covenant.app import BackgroundServer, create_app
from tests.integration.broker._webhook_receiver import Receiver, publish, unique
from tests.integration.broker.conftest import RO_TOKEN, RW_TOKEN, Broker, broker_config

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: POSTs that only query (the Pact Broker lets read-only tokens use them).
QUERY_POSTS = {("POST", "/pacts/provider/{provider}/for-verification")}
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def _walk(routes: Iterable[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        # FastAPI >= 0.12x keeps an included router as one entry wrapping the original.
        inner = getattr(route, "original_router", None) or getattr(route, "routes", None)
        if inner is not None:
            yield from _walk(getattr(inner, "routes", inner))


def broker_routes(app: FastAPI) -> list[APIRoute]:
    """Every route the broker's modules (contracts.broker.*) added to the app."""
    found = [r for r in _walk(app.routes) if r.endpoint.__module__.startswith("contracts.broker")]
    # Cross-check with the OpenAPI document, which FastAPI builds from the same routes.
    documented = {
        path
        for path, operations in app.openapi()["paths"].items()
        if any("broker" in op.get("tags", []) for op in operations.values())
    }
    assert documented <= {r.path for r in found}, documented - {r.path for r in found}
    return found


def concrete(path: str) -> str:
    """A request path for a route template: ids become a fresh uuid, names a word."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        if name in ("uuid", "id") or name.endswith(("_id", "uuid")):
            return str(uuid.uuid4())
        if name == "sha":
            return "0" * 64
        return "security-probe"

    return _PARAM.sub(fill, path)


@dataclass
class Locked:
    app: FastAPI
    url: str


@pytest.fixture(scope="module")
def locked(broker: Broker) -> Iterator[Locked]:
    """A second broker on the same database with anonymous reads switched off."""
    app = create_app(broker_config(broker.database_url, allow_anonymous_read=False))
    with BackgroundServer(app) as server:
        yield Locked(app, server.url)


def _cases(app: FastAPI, methods: set[str]) -> list[tuple[str, str]]:
    return sorted(
        {
            (method, route.path)
            for route in broker_routes(app)
            for method in route.methods or set()
            if method in methods
        }
    )


def test_the_broker_has_the_routes_of_all_three_parts(locked: Locked) -> None:
    writes = _cases(locked.app, WRITE_METHODS)
    paths = {path for _, path in writes}
    assert "/webhooks" in paths
    assert "/webhooks/{uuid}/execute" in paths
    assert "/contracts/publish" in paths
    assert len(writes) >= 8, writes


def test_every_write_needs_a_read_write_token(locked: Locked) -> None:
    writes = [case for case in _cases(locked.app, WRITE_METHODS) if case not in QUERY_POSTS]
    failures = []
    with httpx.Client(base_url=locked.url, timeout=30) as client:
        for method, template in writes:
            path = concrete(template)
            for token, expected in ((None, 401), ("not-a-token", 401), (RO_TOKEN, 403)):
                headers = {"Content-Type": "application/json"}
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                response = client.request(method, path, headers=headers, content=b"{}")
                ok = (
                    response.status_code == expected
                    and response.headers.get("content-type") == "application/problem+json"
                )
                if expected == 401:
                    ok = ok and "Bearer" in response.headers.get("www-authenticate", "")
                if not ok:
                    failures.append(
                        f"{method} {template} with {'ro' if token == RO_TOKEN else token}: "
                        f"{response.status_code} {response.text[:200]}"
                    )
    assert not failures, "\n".join(failures)


def test_query_posts_are_reads(locked: Locked) -> None:
    present = QUERY_POSTS & set(_cases(locked.app, WRITE_METHODS))
    with httpx.Client(base_url=locked.url, timeout=30) as client:
        for method, template in present:
            path = concrete(template)
            assert client.request(method, path, json={}).status_code == 401
            response = client.request(
                method, path, json={}, headers={"Authorization": f"Bearer {RO_TOKEN}"}
            )
            assert response.status_code not in (401, 403), response.text
            assert response.status_code < 500, response.text


def test_basic_auth_and_other_schemes_are_not_tokens(locked: Locked) -> None:
    with httpx.Client(base_url=locked.url, timeout=30) as client:
        for header in (f"Basic {RW_TOKEN}", RW_TOKEN, "Bearer", f"Token {RW_TOKEN}"):
            response = client.post("/webhooks", headers={"Authorization": header}, json={})
            assert response.status_code == 401, header


def test_anonymous_reads_can_be_switched_off(locked: Locked, broker: Broker) -> None:
    reads = _cases(locked.app, {"GET"})
    assert ("GET", "/webhooks") in reads
    failures = []
    with (
        httpx.Client(base_url=locked.url, timeout=30) as anonymous,
        httpx.Client(
            base_url=locked.url, timeout=30, headers={"Authorization": f"Bearer {RO_TOKEN}"}
        ) as reader,
        httpx.Client(base_url=broker.url, timeout=30) as open_broker,
    ):
        for _, template in reads:
            path = concrete(template)
            denied = anonymous.get(path)
            if denied.status_code != 401:
                failures.append(f"anonymous GET {template}: {denied.status_code}")
            allowed = reader.get(path)
            if allowed.status_code in (401, 403) or allowed.status_code >= 500:
                failures.append(f"read-only GET {template}: {allowed.status_code}")
        # The session's broker allows anonymous reads: same database, other setting.
        assert open_broker.get("/webhooks").status_code == 200
    assert not failures, "\n".join(failures)


def test_read_only_token_reads_webhooks_but_cannot_execute(broker: Broker) -> None:
    with broker.client() as writer, broker.client(RO_TOKEN) as reader, Receiver() as receiver:
        created = writer.post(
            "/webhooks",
            json={
                "events": [{"name": "contract_published"}],
                "request": {"method": "POST", "url": receiver.url},
            },
        )
        href = created.json()["_links"]["self"]["href"]
        assert reader.get(href).status_code == 200
        assert reader.get(href + "/deliveries").status_code == 200
        assert reader.post(href + "/execute").status_code == 403
        assert reader.delete(href).status_code == 403
        assert receiver.requests == []
        writer.delete(href)


def test_oversized_bodies_are_refused_before_they_are_read(broker: Broker) -> None:
    big = b'{"x": "' + b"a" * (6 * 1024 * 1024) + b'"}'
    with broker.client() as client:
        for path in ("/webhooks", "/contracts/publish"):
            response = client.post(path, content=big, headers={"Content-Type": "application/json"})
            assert response.status_code == 413, path
            assert response.headers["content-type"] == "application/problem+json"


def test_tokens_never_appear_in_responses_or_logs(
    broker: Broker, locked: Locked, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + uuid.uuid4().hex
    consumer, provider = unique("sec-c"), unique("sec-p")
    seen: list[str] = []

    def record(response: httpx.Response) -> None:
        seen.append(response.text)
        seen.extend(f"{k}: {v}" for k, v in response.headers.items())

    with broker.client() as client, Receiver(statuses=[500, 200]) as receiver:
        record(client.get("/"))
        publish(client, consumer, provider, "1")
        hook = client.post(
            "/webhooks",
            json={
                "events": [{"name": "contract_published"}],
                "request": {
                    "method": "POST",
                    "url": receiver.url,
                    "headers": {"Authorization": f"Bearer {RW_TOKEN}"},
                },
                "consumer": {"name": consumer},
            },
        )
        record(hook)
        href = hook.json()["_links"]["self"]["href"]
        publish(client, consumer, provider, "2", marker="b")
        receiver.wait_for(2)
        record(client.get(href))
        record(client.get("/webhooks"))
        record(client.post(href + "/execute"))
        record(client.get(href + "/deliveries"))
        record(client.post("/webhooks", content=b"{oops", headers={"Content-Type": "x"}))
        client.delete(href)
    with httpx.Client(base_url=locked.url, timeout=30) as other:
        for token in (wrong, RO_TOKEN):
            record(other.post("/webhooks", headers={"Authorization": f"Bearer {token}"}, json={}))
            record(other.get("/webhooks", headers={"Authorization": f"Bearer {token}"}))
    everything = "\n".join(seen)
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    for token in (RW_TOKEN, RO_TOKEN, wrong):
        assert token not in everything
        assert token not in logged
