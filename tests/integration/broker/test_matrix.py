"""The matrix and can-i-deploy: rows, counts, deployability and the reasons given."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.broker._seed_b import deploy, environment, publish, uid, verify
from tests.integration.broker.conftest import Broker


def get(client: httpx.Client, path: str, params: Any = None) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/hal+json")
    body: dict[str, Any] = response.json()
    return body


def can_i_deploy(client: httpx.Client, pacticipant: str, version: str, env: str) -> dict[str, Any]:
    return get(
        client,
        "/can-i-deploy",
        {"pacticipant": pacticipant, "version": version, "environment": env},
    )


def test_consumer_can_deploy_only_when_the_deployed_provider_verified_its_pact(
    broker: Broker,
) -> None:
    consumer, provider = uid("web"), uid("api")
    with broker.client() as client:
        env = uid("prod")
        env_uuid = environment(client, env)
        sha_a = publish(client, consumer, "1", {provider: "a"}, branch="main")[provider]
        sha_b = publish(client, consumer, "2", {provider: "b"}, branch="main")[provider]
        verify(client, provider, consumer, sha_a, "p1")
        deploy(client, provider, "p1", env_uuid)

        ok = can_i_deploy(client, consumer, "1", env)
        assert ok["summary"] == {
            "deployable": True,
            "reason": "All required verification results are published and successful",
            "success": 1,
            "failed": 0,
            "unknown": 0,
        }
        assert ok["notices"] == [
            {
                "type": "success",
                "text": "All required verification results are published and successful",
            }
        ]
        (row,) = ok["matrix"]
        assert row["consumer"]["name"] == consumer
        assert row["consumer"]["version"]["number"] == "1"
        assert row["consumer"]["version"]["branch"] == "main"
        assert row["provider"]["name"] == provider
        assert row["provider"]["version"]["number"] == "p1"
        assert row["pact"]["createdAt"]
        assert row["pact"]["_links"]["self"]["href"].endswith(
            f"/pacts/provider/{provider}/consumer/{consumer}/version/1"
        )
        assert row["verificationResult"]["success"] is True
        assert row["verificationResult"]["verifiedAt"]
        result = client.get(row["verificationResult"]["_links"]["self"]["href"])
        assert result.status_code == 200
        assert result.json()["providerApplicationVersion"] == "p1"

        unverified = can_i_deploy(client, consumer, "2", env)
        assert unverified["summary"]["deployable"] is None
        assert (unverified["summary"]["unknown"], unverified["summary"]["success"]) == (1, 0)
        assert unverified["summary"]["reason"] == (
            f"There is no verified pact between version 2 of {consumer} and the only version"
            f" of {provider} currently deployed to {env} (p1)"
        )
        (row,) = unverified["matrix"]
        assert row["verificationResult"] is None
        assert row["provider"]["version"]["number"] == "p1"
        assert unverified["notices"][0]["type"] == "error"

        # A newer provider version verifying it does not help: p1 is what is deployed.
        verify(client, provider, consumer, sha_b, "p2")
        assert can_i_deploy(client, consumer, "2", env)["summary"]["deployable"] is None
        # The deployed version failing it is a definite "no".
        verify(client, provider, consumer, sha_b, "p1", success=False)
        failed = can_i_deploy(client, consumer, "2", env)
        assert failed["summary"]["deployable"] is False
        assert failed["summary"]["failed"] == 1
        assert failed["summary"]["reason"] == (
            f"The verification for the pact between version 2 of {consumer} and the only"
            f" version of {provider} currently deployed to {env} (p1) failed"
        )
        # Deploying p2 (which verified it) replaces p1: now yes.
        deploy(client, provider, "p2", env_uuid)
        assert can_i_deploy(client, consumer, "2", env)["summary"]["deployable"] is True
        # ... and version 1 is now unknown, as p2 never verified its pact.
        assert can_i_deploy(client, consumer, "1", env)["summary"]["deployable"] is None


def test_provider_can_deploy_only_when_it_verified_the_deployed_consumers(
    broker: Broker,
) -> None:
    consumer, provider, other = uid("web"), uid("api"), uid("mobile")
    with broker.client() as client:
        env = uid("prod")
        env_uuid = environment(client, env)
        sha = publish(client, consumer, "1", {provider: "a"})[provider]
        other_sha = publish(client, other, "9", {provider: "z"})[provider]
        deploy(client, consumer, "1", env_uuid)
        verify(client, provider, consumer, sha, "p1")
        verify(client, provider, other, other_sha, "p2")  # p2 exists, but has not verified sha

        ok = can_i_deploy(client, provider, "p1", env)
        assert ok["summary"]["deployable"] is True
        (row,) = ok["matrix"]  # "other" is not deployed: not a row
        assert (row["consumer"]["name"], row["provider"]["version"]["number"]) == (consumer, "p1")

        not_yet = can_i_deploy(client, provider, "p2", env)
        assert not_yet["summary"]["deployable"] is None
        assert not_yet["summary"]["reason"] == (
            f"There is no verified pact between the only version of {consumer} currently"
            f" deployed to {env} (1) and version p2 of {provider}"
        )


def test_missing_dependencies_and_missing_versions(broker: Broker) -> None:
    consumer, provider, loner = uid("web"), uid("api"), uid("loner")
    with broker.client() as client:
        env = uid("empty")
        environment(client, env)
        publish(client, consumer, "1", [provider])
        publish(client, loner, "1", [uid("never-deployed")])

        nobody = can_i_deploy(client, consumer, "1", env)
        assert nobody["summary"]["deployable"] is None
        assert nobody["summary"]["reason"] == (
            f"There is no verified pact between version 1 of {consumer} and a version of"
            f" {provider} currently deployed or released to {env} (no version is currently"
            " recorded as deployed/released in this environment)"
        )
        (row,) = nobody["matrix"]
        assert row["provider"]["version"] is None
        ignoring = get(
            client,
            "/matrix",
            [
                ("q[][pacticipant]", consumer),
                ("q[][version]", "1"),
                ("latestby", "cvpv"),
                ("environment", env),
                ("ignore[][pacticipant]", provider),
            ],
        )
        assert ignoring["summary"]["deployable"] is True
        assert (ignoring["summary"]["ignored"], ignoring["summary"]["unknown"]) == (1, 0)
        assert ignoring["matrix"][0]["ignored"] is True
        assert "[IGNORED] There is no verified pact between" in ignoring["summary"]["reason"]

        # A provider nobody depends on in this environment can go.
        free = can_i_deploy(client, provider, "0", env)
        assert free["summary"]["deployable"] is False  # version 0 was never published
        assert free["summary"]["reason"] == (
            f"No pacts or verifications have been published for version 0 of {provider}"
        )
        verify(
            client,
            provider,
            consumer,
            client.get(f"/pacts/provider/{provider}/consumer/{consumer}/version/1").json()[
                "_links"
            ]["pb:pact-version"]["name"],
            "p1",
        )
        free = can_i_deploy(client, provider, "p1", env)
        assert free["summary"]["deployable"] is True
        assert free["summary"]["reason"] == "There are no missing dependencies"
        assert free["matrix"] == []

        unknown = client.get(
            "/can-i-deploy",
            params={"pacticipant": uid("ghost"), "version": "1", "environment": env},
        )
        assert unknown.status_code == 422
        assert unknown.headers["content-type"].startswith("application/problem+json")
        no_env = client.get(
            "/can-i-deploy",
            params={"pacticipant": consumer, "version": "1", "environment": uid("nowhere")},
        )
        assert no_env.status_code == 422
        assert "environment" in no_env.json()["errors"]
        assert client.get("/can-i-deploy", params={"pacticipant": consumer}).status_code == 400


def test_matrix_rows_between_selected_versions(broker: Broker) -> None:
    consumer, provider = uid("web"), uid("api")
    with broker.client() as client:
        sha1 = publish(client, consumer, "1", {provider: "a"})[provider]
        sha2 = publish(client, consumer, "2", {provider: "b"})[provider]
        verify(client, provider, consumer, sha1, "p1")
        verify(client, provider, consumer, sha1, "p2", success=False)
        verify(client, provider, consumer, sha2, "p2")

        pair = get(
            client,
            f"/matrix?q[][pacticipant]={consumer}&q[][version]=1"
            f"&q[][pacticipant]={provider}&q[][version]=p1&latestby=cvpv",
        )
        assert [
            (r["consumer"]["version"]["number"], r["provider"]["version"]["number"])
            for r in pair["matrix"]
        ] == [("1", "p1")]
        assert pair["summary"]["deployable"] is True

        everything = get(client, f"/matrix?q[][pacticipant]={consumer}")
        assert sorted(
            (
                r["consumer"]["version"]["number"],
                r["provider"]["version"]["number"],
                r["verificationResult"]["success"],
            )
            for r in everything["matrix"]
        ) == [("1", "p1", True), ("1", "p2", False), ("2", "p2", True)]
        assert everything["summary"]["failed"] == 1

        per_consumer_version = get(client, f"/matrix?q[][pacticipant]={consumer}&latestby=cvp")[
            "matrix"
        ]
        assert sorted(
            (r["consumer"]["version"]["number"], r["provider"]["version"]["number"])
            for r in per_consumer_version
        ) == [("1", "p2"), ("2", "p2")]

        latest = get(
            client,
            "/matrix",
            [
                ("q[][pacticipant]", consumer),
                ("q[][latest]", "true"),
                ("latestby", "cvp"),
                ("latest", "true"),
            ],
        )
        (row,) = latest["matrix"]
        assert (row["consumer"]["version"]["number"], row["provider"]["version"]["number"]) == (
            "2",
            "p2",
        )
        assert latest["summary"]["deployable"] is True

        limited = get(client, f"/matrix?q[][pacticipant]={consumer}&limit=1")
        assert len(limited["matrix"]) == 1
        assert limited["summary"]["success"] == 2  # the summary is over every row

        for bad in (
            "/matrix",
            f"/matrix?q[][pacticipant]={consumer}&latestby=sometimes",
            f"/matrix?q[][pacticipant]={consumer}&limit=0",
            f"/matrix?q[][pacticipant]={consumer}&q[][latest]=perhaps",
            "/matrix?q[][version]=1",
        ):
            response = client.get(bad)
            assert response.status_code == 400, bad
            assert response.json()["errors"], bad


def test_can_i_deploy_to_a_tag_and_the_badge_paths(broker: Broker) -> None:
    consumer, provider = uid("web"), uid("api")
    with broker.client() as client:
        env = uid("prod")
        env_uuid = environment(client, env)
        sha = publish(client, consumer, "1", [provider], branch="main", tags=("dev",))[provider]
        verify(client, provider, consumer, sha, "p1")
        tagged = client.put(f"/pacticipants/{provider}/versions/p1/tags/prod", json={})
        assert tagged.status_code in (200, 201), tagged.text

        to_tag = get(
            client, "/can-i-deploy", {"pacticipant": consumer, "version": "1", "to": "prod"}
        )
        assert to_tag["summary"]["deployable"] is True
        by_tag = get(client, f"/pacticipants/{consumer}/latest-version/dev/can-i-deploy/to/prod")
        assert by_tag["summary"]["deployable"] is True
        missing_tag = get(
            client, f"/pacticipants/{consumer}/latest-version/dev/can-i-deploy/to/nowhere"
        )
        assert missing_tag["summary"]["deployable"] is None
        assert "the latest version of" in missing_tag["summary"]["reason"]
        assert "with tag nowhere (no such version exists)" in missing_tag["summary"]["reason"]

        path = (
            f"/pacticipants/{consumer}/branches/main/latest-version"
            f"/can-i-deploy/to-environment/{env}"
        )
        assert get(client, path)["summary"]["deployable"] is None
        deploy(client, provider, "p1", env_uuid)
        assert get(client, path)["summary"]["deployable"] is True
        no_branch = get(
            client,
            f"/pacticipants/{consumer}/branches/nope/latest-version/can-i-deploy/to-environment/{env}",
        )
        assert no_branch["summary"]["deployable"] is False
        assert no_branch["summary"]["reason"] == f"No version of {consumer} from branch nope exists"


@pytest.mark.parametrize("undeploy", [True, False])
def test_undeployment_changes_the_answer(broker: Broker, undeploy: bool) -> None:
    consumer, provider = uid("web"), uid("api")
    with broker.client() as client:
        env = uid("prod")
        env_uuid = environment(client, env)
        sha = publish(client, consumer, "1", [provider])[provider]
        verify(client, provider, consumer, sha, "p1")
        deployed = deploy(client, provider, "p1", env_uuid)
        if undeploy:
            patched = client.patch(
                deployed["_links"]["self"]["href"], json={"currentlyDeployed": False}
            )
            assert patched.status_code == 200
        answer = can_i_deploy(client, consumer, "1", env)["summary"]["deployable"]
        assert answer is (None if undeploy else True)
