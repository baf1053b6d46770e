"""Pacts for verification (selectors, pending, WIP) and verification results."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from covenant.app import BackgroundServer, create_app
from tests.integration.broker._seed_b import (
    deploy,
    environment,
    publish,
    release,
    uid,
    verify,
)
from tests.integration.broker.conftest import Broker, broker_config


@dataclass
class World:
    provider: str
    c1: str
    c2: str
    env: str
    env_uuid: str
    sha: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(broker: Broker) -> World:
    """C1 (main branch "main"): v1 main [a] tagged prod & released, v2 main [b], v3 feat-x [c].
    C2 (main branch "main"): v1 main [d] deployed, v2 main [e]."""
    provider, c1, c2 = uid("prov"), uid("cons1"), uid("cons2")
    env_name = uid("prod")
    w = World(provider, c1, c2, env_name, "")
    with broker.client() as client:
        w.env_uuid = environment(client, env_name)
        for consumer in (c1, c2):
            response = client.patch(f"/pacticipants/{consumer}", json={"mainBranch": "main"})
            assert response.status_code in (200, 201), response.text
        w.sha["a"] = publish(client, c1, "1", {provider: "a"}, branch="main", tags=("prod",))[
            provider
        ]
        w.sha["b"] = publish(client, c1, "2", {provider: "b"}, branch="main")[provider]
        w.sha["c"] = publish(client, c1, "3", {provider: "c"}, branch="feat-x")[provider]
        w.sha["d"] = publish(client, c2, "1", {provider: "d"}, branch="main")[provider]
        w.sha["e"] = publish(client, c2, "2", {provider: "e"}, branch="main")[provider]
        release(client, c1, "1", w.env_uuid)
        deploy(client, c2, "1", w.env_uuid)
    assert len(set(w.sha.values())) == 5
    return w


def pact_version(provider: str, consumer: str, sha: str) -> str:
    return f"/pacts/provider/{provider}/consumer/{consumer}/pact-version/{sha}"


def for_verification(broker: Broker, provider: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with broker.client() as client:
        response = client.post(f"/pacts/provider/{provider}/for-verification", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/hal+json")
    pacts: list[dict[str, Any]] = response.json()["_embedded"]["pacts"]
    return pacts


def shas(pacts: list[dict[str, Any]]) -> set[str]:
    return {p["_links"]["self"]["href"].rsplit("/", 1)[1] for p in pacts}


def selected(broker: Broker, w: World, *selectors: dict[str, Any], **extra: Any) -> set[str]:
    pacts = for_verification(
        broker, w.provider, {"consumerVersionSelectors": list(selectors), **extra}
    )
    by_sha = {v: k for k, v in w.sha.items()}
    return {by_sha[s] for s in shas(pacts)}


@pytest.mark.parametrize(
    ("selectors", "extra", "expected"),
    [
        ([{"mainBranch": True}], {}, {"b", "e"}),
        ([{"branch": "feat-x"}], {}, {"c"}),
        ([{"branch": "nope", "fallbackBranch": "main"}], {}, {"b", "e"}),
        ([{"matchingBranch": True}], {"providerVersionBranch": "feat-x"}, {"c"}),
        ([{"deployed": True}], {}, {"d"}),
        ([{"released": True}], {}, {"a"}),
        ([{"deployedOrReleased": True}], {}, {"a", "d"}),
        ([{"tag": "prod", "latest": True}], {}, {"a"}),
        ([{"tag": "prod"}], {}, {"a"}),
        ([{"tag": "nope", "latest": True, "fallbackTag": "prod"}], {}, {"a"}),
        ([{"latest": True}], {}, {"c", "e"}),
        ([{"branch": "main", "latest": False}], {}, {"a", "b", "d", "e"}),
        ([], {}, {"a", "b", "d", "e"}),  # defaults: main branch + deployed or released
    ],
)
def test_selectors_select_the_right_pacts(
    broker: Broker,
    world: World,
    selectors: list[dict[str, Any]],
    extra: dict[str, Any],
    expected: set[str],
) -> None:
    assert selected(broker, world, *selectors, **extra) == expected


def test_environment_and_consumer_narrow_selectors(broker: Broker, world: World) -> None:
    assert selected(broker, world, {"environment": world.env}) == {"a", "d"}
    assert selected(broker, world, {"deployed": True, "environment": "elsewhere"}) == set()
    assert selected(broker, world, {"latest": True, "consumer": world.c2}) == {"e"}
    assert selected(broker, world, {"mainBranch": True, "consumer": world.c1}) == {"b"}


def test_entries_are_deduplicated_and_described(broker: Broker, world: World) -> None:
    pacts = for_verification(
        broker,
        world.provider,
        {
            "consumerVersionSelectors": [
                {"mainBranch": True, "consumer": world.c1},
                {"branch": "main", "consumer": world.c1},
                {"deployed": True},
            ]
        },
    )
    by_sha = {p["_links"]["self"]["href"].rsplit("/", 1)[1]: p for p in pacts}
    assert set(by_sha) == {world.sha["b"], world.sha["d"]}
    b = by_sha[world.sha["b"]]
    assert b["shortDescription"] == "latest from branch main"
    assert b["_links"]["self"]["name"] == f"Pact between {world.c1} (2) and {world.provider}"
    assert b["_links"]["self"]["href"].endswith(
        f"/pacts/provider/{world.provider}/consumer/{world.c1}/pact-version/{world.sha['b']}"
    )
    notice = b["verificationProperties"]["notices"][0]
    assert notice["when"] == "before_verification"
    assert notice["text"].startswith(f"The pact at {b['_links']['self']['href']} is being verified")
    assert f"latest version of {world.c1} from branch 'main' (2)" in notice["text"]
    assert "criteria" in notice["text"]  # two selectors matched the same content
    d = by_sha[world.sha["d"]]
    assert d["shortDescription"] == f"deployed to {world.env}"
    assert (
        f"currently deployed to {world.env} (1)"
        in d["verificationProperties"]["notices"][0]["text"]
    )
    assert "pending" not in d["verificationProperties"]


def test_fallback_is_explained(broker: Broker, world: World) -> None:
    pacts = for_verification(
        broker,
        world.provider,
        {
            "consumerVersionSelectors": [
                {"branch": "nope", "fallbackBranch": "main", "consumer": world.c1}
            ]
        },
    )
    (pact,) = pacts
    assert pact["shortDescription"] == "latest from branch main"
    assert (
        "fallback branch used as no pact was found from branch 'nope'"
        in (pact["verificationProperties"]["notices"][0]["text"])
    )


def test_pending_follows_successful_verifications_on_the_provider_branch(broker: Broker) -> None:
    provider, consumer = uid("pprov"), uid("pcons")
    with broker.client() as client:
        sha = publish(client, consumer, "1", [provider], branch="main")[provider]

    def pending(branch: str | None) -> tuple[bool, list[dict[str, str]]]:
        body: dict[str, Any] = {
            "consumerVersionSelectors": [{"branch": "main"}],
            "includePendingStatus": True,
        }
        if branch:
            body["providerVersionBranch"] = branch
        (pact,) = for_verification(broker, provider, body)
        props = pact["verificationProperties"]
        return props["pending"], props["notices"]

    is_pending, notices = pending("main")
    assert is_pending is True
    assert notices[1] == {
        "when": "before_verification",
        "text": (
            f"This pact is in pending state for this version of {provider} because a successful"
            f" verification result for a version of {provider} from branch 'main' has not yet"
            " been published. If this verification fails, it will not cause the overall build"
            " to fail. Read more at https://docs.pact.io/go/pending"
        ),
    }
    assert {n["when"] for n in notices[2:]} == {
        "after_verification:success_true_published_false",
        "after_verification:success_false_published_false",
        "after_verification:success_true_published_true",
        "after_verification:success_false_published_true",
    }
    assert pending(None)[0] is True

    with broker.client() as client:
        verify(client, provider, consumer, sha, "p1", success=False, branch="main")
    assert pending("main")[0] is True  # a failure does not end the pending state
    with broker.client() as client:
        verify(client, provider, consumer, sha, "p2", success=True, branch="main")
    is_pending, notices = pending("main")
    assert is_pending is False
    assert notices[1]["text"].startswith(
        f"This pact has previously been successfully verified by a version of {provider}"
        " from branch 'main'. If this verification fails, it will fail the build."
    )
    assert len(notices) == 2
    assert pending("feature")[0] is True  # another provider branch has not verified it
    assert pending(None)[0] is False  # verified successfully by someone, ever


def test_wip_pacts(broker: Broker) -> None:
    provider, consumer = uid("wprov"), uid("wcons")
    with broker.client() as client:
        publish(client, consumer, "1", {provider: "m"}, branch="main")
        feature_sha = publish(client, consumer, "2", {provider: "f"}, branch="feat-y")[provider]
    body: dict[str, Any] = {
        "consumerVersionSelectors": [{"branch": "main"}],
        "providerVersionBranch": "main",
        "includePendingStatus": True,
        "includeWipPactsSince": "2000-01-01",
    }
    pacts = for_verification(broker, provider, body)
    wip = [p for p in pacts if p["verificationProperties"].get("wip")]
    assert shas(wip) == {feature_sha}
    assert wip[0]["verificationProperties"]["pending"] is True
    assert "'work in progress' pact" in wip[0]["verificationProperties"]["notices"][0]["text"]
    assert wip[0]["shortDescription"] == "latest from branch feat-y"
    assert len(pacts) == 2

    assert (
        len(for_verification(broker, provider, {**body, "includeWipPactsSince": "2999-01-01"})) == 1
    )
    # Once the provider's branch has verified it, it is no longer work in progress.
    with broker.client() as client:
        verify(client, provider, consumer, feature_sha, "p1", branch="main")
    assert len(for_verification(broker, provider, body)) == 1
    # ... but still is for another provider branch.
    other = for_verification(broker, provider, {**body, "providerVersionBranch": "other"})
    assert feature_sha in shas([p for p in other if p["verificationProperties"].get("wip")])


def test_for_verification_rejects_bad_input(broker: Broker, world: World) -> None:
    path = f"/pacts/provider/{world.provider}/for-verification"
    with broker.client() as client:
        # 400: against the documented schema; 422: what the schema cannot say.
        for body, where, status in (
            (
                {"consumerVersionSelectors": [{"mainBranch": False}]},
                "consumerVersionSelectors[0]",
                400,
            ),
            (
                {"consumerVersionSelectors": [{"matchingBranch": True}]},
                "consumerVersionSelectors[0]",
                422,
            ),
            ({"consumerVersionSelectors": [{"colour": "red"}]}, "consumerVersionSelectors[0]", 400),
            ({"consumerVersionSelectors": [{"consumer": "x"}]}, "consumerVersionSelectors[0]", 400),
            ({"consumerVersionSelectors": "main"}, "consumerVersionSelectors", 400),
            ({"includePendingStatus": "yes"}, "includePendingStatus", 400),
            ({"includeWipPactsSince": "last tuesday"}, "includeWipPactsSince", 422),
        ):
            response = client.post(path, json=body)
            assert response.status_code == status, (body, response.text)
            assert where in response.json()["errors"], response.json()
        assert (
            client.post(
                path, content=b"[", headers={"content-type": "application/json"}
            ).status_code
            == 400
        )
        unknown = client.post(f"/pacts/provider/{uid('nobody')}/for-verification", json={})
        assert unknown.status_code == 404
        doc = client.get(path)
        assert doc.status_code == 200
        assert doc.json()["_links"]["self"]["href"].endswith(path)
    with broker.client(broker.ro_token) as reader:
        assert reader.post(path, json={}).status_code == 200


def test_index_points_the_verifier_here(broker: Broker) -> None:
    with broker.client() as client:
        links = client.get("/").json()["_links"]
    href = links["pb:provider-pacts-for-verification"]["href"]
    assert href.endswith("/pacts/provider/{provider}/for-verification")


# --- verification results ---------------------------------------------------------------


@dataclass
class Heard:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture(scope="module")
def listened(broker: Broker) -> Iterator[tuple[str, Heard]]:
    """A second app on the same database, with a listener on its broker events."""
    heard = Heard()
    app = create_app(broker_config(broker.database_url))

    async def listener(event: str, payload: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        heard.events.append((event, payload))

    app.state.broker.listeners.append(listener)
    with BackgroundServer(app) as server:
        yield server.url, heard


def test_verification_results_are_stored_and_emitted(
    broker: Broker, listened: tuple[str, Heard]
) -> None:
    url, heard = listened
    provider, consumer = uid("vprov"), uid("vcons")
    headers = {"Authorization": f"Bearer {broker.rw_token}", "Accept": "application/hal+json"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        sha = publish(client, consumer, "c1", [provider])[provider]
        base = f"{pact_version(provider, consumer, sha)}/verification-results"
        body = {
            "success": True,
            "providerApplicationVersion": "p-1.0",
            "providerVersionBranch": "main",
            "buildUrl": "http://ci.example/1",
            "testResults": [{"interactionId": "abc", "success": True}],
            "verifiedBy": {"implementation": "Pact-Rust", "version": "1.2.3"},
        }
        created = client.post(base, json=body)
        assert created.status_code == 201, created.text
        result = created.json()
        assert result["success"] is True
        assert result["providerApplicationVersion"] == "p-1.0"
        assert result["providerVersionBranch"] == "main"
        assert result["buildUrl"] == "http://ci.example/1"
        assert result["testResults"] == body["testResults"]
        assert result["verifiedBy"] == body["verifiedBy"]
        self_href = result["_links"]["self"]["href"]
        assert created.headers["location"] == self_href
        assert result["_links"]["pb:pact-version"]["href"].endswith(
            f"/pacts/provider/{provider}/consumer/{consumer}/pact-version/{sha}"
        )

        # The provider version and its branch now exist.
        version = client.get(f"/pacticipants/{provider}/versions/p-1.0")
        assert version.status_code == 200
        branches = client.get(f"/pacticipants/{provider}/branches/main/latest-version")
        assert branches.status_code == 200, branches.text

        failed = client.post(
            base, json={**body, "success": False, "providerApplicationVersion": "p-2"}
        )
        assert failed.status_code == 201

        listing = client.get(base).json()["_embedded"]["verificationResults"]
        assert [r["providerApplicationVersion"] for r in listing] == ["p-2", "p-1.0"]
        latest = client.get(base + "/latest").json()
        assert (latest["success"], latest["providerApplicationVersion"]) == (False, "p-2")
        by_id = client.get(self_href)
        assert by_id.status_code == 200
        assert by_id.json()["providerApplicationVersion"] == "p-1.0"
        assert client.get(base + "/999999999").status_code == 404
        assert client.get(base + "/abc").status_code == 404

    events = [
        (e, p)
        for e, p in heard.events
        if p.get("providerName") == provider and e.startswith("provider_verification")
    ]
    assert [e for e, _ in events] == [
        "provider_verification_succeeded",
        "provider_verification_failed",
    ]
    payload = events[0][1]
    assert payload["consumerName"] == consumer
    assert payload["providerVersionNumber"] == "p-1.0"
    assert payload["providerVersionBranch"] == "main"
    assert payload["pactVersionSha"] == sha
    assert payload["success"] is True
    assert payload["verificationResultUrl"] == self_href.replace(broker.url, url)


def test_verification_results_reject_bad_input(broker: Broker) -> None:
    provider, consumer = uid("bprov"), uid("bcons")
    with broker.client() as client:
        sha = publish(client, consumer, "1", [provider])[provider]
        base = f"{pact_version(provider, consumer, sha)}/verification-results"
        missing = client.post(base, json={"providerApplicationVersion": "1"})
        assert missing.status_code == 400
        assert missing.json()["errors"] == {"success": ["is required"]}
        wrong = client.post(
            base, json={"success": "yes", "providerApplicationVersion": 3, "testResults": "ok"}
        )
        assert wrong.status_code == 400
        assert set(wrong.json()["errors"]) == {
            "success",
            "providerApplicationVersion",
            "testResults",
        }
        unknown = client.post(
            f"/pacts/provider/{provider}/consumer/{consumer}/pact-version/{'0' * 64}"
            "/verification-results",
            json={"success": True, "providerApplicationVersion": "1"},
        )
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")
        swapped = client.post(
            f"/pacts/provider/{consumer}/consumer/{provider}/pact-version/{sha}/verification-results",
            json={"success": True, "providerApplicationVersion": "1"},
        )
        assert swapped.status_code == 404
        assert client.get(base + "/latest").status_code == 404
        # Nothing was stored half way: no provider version "1" was created.
        assert client.get(f"/pacticipants/{provider}/versions/1").status_code == 404
    with broker.client(broker.ro_token) as reader:
        denied = reader.post(base, json={"success": True, "providerApplicationVersion": "1"})
        assert denied.status_code == 403
