"""Seeding helpers for the verification / environments / matrix tests.

Pacts go in through the broker's own ``POST /contracts/publish`` (what ``pact
broker publish`` sends); verification results through the endpoint the Rust
verifier posts to. Names get a random suffix: the broker database is shared by
the whole test session.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import httpx


def uid(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def pact_content(consumer: str, provider: str, marker: str = "a") -> dict[str, Any]:
    """A tiny V3 pact; ``marker`` changes the content (and so the pact version SHA)."""
    return {
        "consumer": {"name": consumer},
        "provider": {"name": provider},
        "interactions": [
            {
                "description": f"a request for thing {marker}",
                "providerStates": [{"name": "a thing exists"}],
                "request": {"method": "GET", "path": f"/things/{marker}"},
                "response": {
                    "status": 200,
                    "headers": {"Content-Type": "application/json"},
                    "body": {"id": marker},
                },
            }
        ],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }


def publish(
    client: httpx.Client,
    consumer: str,
    version: str,
    providers: dict[str, str] | list[str],
    *,
    branch: str | None = None,
    tags: tuple[str, ...] = (),
) -> dict[str, str]:
    """Publish ``consumer`` ``version`` with a pact for each provider; returns provider -> sha.

    ``providers`` maps provider name to a content marker (same marker, same SHA)."""
    markers = providers if isinstance(providers, dict) else {p: "a" for p in providers}
    body: dict[str, Any] = {
        "pacticipantName": consumer,
        "pacticipantVersionNumber": version,
        "tags": list(tags),
        "contracts": [
            {
                "consumerName": consumer,
                "providerName": provider,
                "specification": "pact",
                "contentType": "application/json",
                "content": base64.b64encode(
                    json.dumps(pact_content(consumer, provider, marker)).encode()
                ).decode(),
            }
            for provider, marker in markers.items()
        ],
    }
    if branch:
        body["branch"] = branch
    response = client.post("/contracts/publish", json=body)
    assert response.status_code in (200, 201), response.text
    shas = {}
    for provider in markers:
        pact = client.get(f"/pacts/provider/{provider}/consumer/{consumer}/version/{version}")
        assert pact.status_code == 200, pact.text
        shas[provider] = pact.json()["_links"]["pb:pact-version"]["name"]
    return shas


def verify(
    client: httpx.Client,
    provider: str,
    consumer: str,
    sha: str,
    version: str,
    *,
    success: bool = True,
    branch: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "success": success,
        "providerApplicationVersion": version,
        "verifiedBy": {"implementation": "covenant-tests", "version": "1"},
        "testResults": [{"interactionId": "x", "success": success}],
    }
    if branch:
        body["providerVersionBranch"] = branch
    response = client.post(
        f"/pacts/provider/{provider}/consumer/{consumer}/pact-version/{sha}/verification-results",
        json=body,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def environment(client: httpx.Client, name: str | None = None, production: bool = False) -> str:
    response = client.post(
        "/environments", json={"name": name or uid("env"), "production": production}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["uuid"])


def ensure_version(client: httpx.Client, pacticipant: str, version: str) -> None:
    response = client.put(f"/pacticipants/{pacticipant}/versions/{version}", json={})
    assert response.status_code in (200, 201), response.text


def deploy(
    client: httpx.Client,
    pacticipant: str,
    version: str,
    env_uuid: str,
    instance: str | None = None,
) -> dict[str, Any]:
    body = {"applicationInstance": instance} if instance else {}
    response = client.post(
        f"/pacticipants/{pacticipant}/versions/{version}/deployed-versions/environment/{env_uuid}",
        json=body,
    )
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def release(client: httpx.Client, pacticipant: str, version: str, env_uuid: str) -> dict[str, Any]:
    response = client.post(
        f"/pacticipants/{pacticipant}/versions/{version}/released-versions/environment/{env_uuid}",
        json={},
    )
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result
