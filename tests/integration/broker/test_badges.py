"""Status badges over HTTP: SVG drawn by the broker itself (no network), with the Pact
Broker's words and colours as the pact, its verifications, tags, branches and
deployments change."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

from tests.integration.broker._seed_b import deploy, environment, publish, uid, verify
from tests.integration.broker.conftest import Broker

SVG = "{http://www.w3.org/2000/svg}"
GREEN, RED, ORANGE, GREY = "#4c1", "#e05d44", "#fe7d37", "#9f9f9f"


def badge(client: httpx.Client, path: str, **params: str) -> tuple[str, str, str]:
    """(label, message, colour) of the badge at ``path``."""
    response = client.get(path, params=params)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["cache-control"] == "no-cache"
    root = ET.fromstring(response.text)  # noqa: S314 - the broker's own SVG, under test
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    colours = [r.get("fill") for r in root.iter(f"{SVG}rect")]
    return texts[0], texts[2], str(colours[2])  # clip path, label, message, gradient


@pytest.fixture
def client(broker: Broker) -> httpx.Client:
    with broker.client() as found:
        return found


def test_the_pact_badge_follows_publications_and_verifications(broker: Broker) -> None:
    consumer, provider = uid("Web-App"), uid("order-api")
    path = f"/pacts/provider/{provider}/consumer/{consumer}/latest/badge"
    title = f"{consumer.lower()}/{provider.lower()} pact"
    with broker.client() as client:
        assert badge(client, path) == ("pact not found", "unknown", GREY)
        sha1 = publish(client, consumer, "1", {provider: "a"}, tags=("prod",))[provider]
        assert badge(client, path) == (title, "unknown", GREY)
        verify(client, provider, consumer, sha1, "p1")
        assert badge(client, path) == (title, "verified", GREEN)
        sha2 = publish(client, consumer, "2", {provider: "b"})[provider]
        assert badge(client, path) == (title, "changed", ORANGE)  # verified, then changed
        verify(client, provider, consumer, sha2, "p2", success=False)
        assert badge(client, path) == (title, "failed", RED)

        # The latest pact from versions tagged prod is still the verified one.
        tagged = f"/pacts/provider/{provider}/consumer/{consumer}/latest/prod/badge"
        assert badge(client, tagged) == (title, "verified", GREEN)
        assert badge(client, tagged.replace("/prod/", "/nope/"))[0] == "pact not found"

        # ?label= keeps one name; ?initials=true shortens names to their initials.
        assert badge(client, path, label="consumer")[0] == f"{consumer.lower()} pact"
        # uid() adds a third word, "order-api-1a2b": its initials are "oa1".
        initials = "oa" + provider.rsplit("-", 1)[1][0]
        assert badge(client, path, label="provider", initials="true")[0] == f"{initials} pact"
        assert badge(client, path, initials="true")[0].startswith("wa")
        bad = client.get(path, params={"initials": "maybe"})
        assert bad.status_code == 400
        assert bad.json()["errors"] == {"query.initials": ["must be true or false"]}

        # The source names the versions behind the badge, in a comment ("-" encoded: a
        # comment must not hold "--").
        source = client.get(path).text
        c, p = consumer.replace("-", "%2D"), provider.replace("-", "%2D")
        assert source.startswith(f"<!-- {c} version 2 {p} version p2 number ")


def test_the_matrix_badge_between_tags(broker: Broker) -> None:
    consumer, provider = uid("web"), uid("api")
    path = f"/matrix/provider/{provider}/latest/live/consumer/{consumer}/latest/prod/badge"
    title = f"{consumer} (prod)/{provider} (live) pact"
    with broker.client() as client:
        sha = publish(client, consumer, "1", {provider: "a"}, tags=("prod",))[provider]
        verify(client, provider, consumer, sha, "p1")
        assert badge(client, path) == (title, "unknown", GREY)  # p1 is not tagged live
        tagged = client.put(f"/pacticipants/{provider}/versions/p1/tags/live")
        assert tagged.status_code in (200, 201), tagged.text
        assert badge(client, path) == (title, "verified", GREEN)
        publish(client, consumer, "2", {provider: "b"}, tags=("prod",))
        assert badge(client, path) == (title, "changed", ORANGE)


def test_can_i_deploy_badges(broker: Broker) -> None:
    consumer, provider = uid("web"), uid("api")
    env = uid("production")
    base = f"/pacticipants/{consumer}"
    by_tag = f"{base}/latest-version/dev/can-i-deploy/to/live/badge"
    by_branch = f"{base}/branches/main/latest-version/can-i-deploy/to-environment/{env}/badge"
    tag_to_env = f"{base}/latest-version/dev/can-i-deploy/to-environment/{env}/badge"
    with broker.client() as client:
        assert badge(client, by_tag) == ("pacticipant", "not found", GREY)
        sha = publish(client, consumer, "1", {provider: "a"}, branch="main", tags=("dev",))[
            provider
        ]
        assert badge(client, by_branch) == ("environment", "not found", GREY)
        env_uuid = environment(client, env)

        verify(client, provider, consumer, sha, "p1")
        assert badge(client, by_tag) == ("can-i-deploy", "dev to live", RED)  # no live provider
        client.put(f"/pacticipants/{provider}/versions/p1/tags/live")
        assert badge(client, by_tag) == ("can-i-deploy", "dev to live", GREEN)

        assert badge(client, by_branch) == ("can-i-deploy", f"main to {env}", RED)
        deploy(client, provider, "p1", env_uuid)
        assert badge(client, by_branch) == ("can-i-deploy", f"main to {env}", GREEN)
        labelled = badge(client, tag_to_env, label="deploy web")
        assert labelled == ("deploy web", f"dev to {env}", GREEN)

        # A failing verification of the deployed provider version turns it red.
        sha2 = publish(client, consumer, "2", {provider: "b"}, branch="main", tags=("dev",))[
            provider
        ]
        verify(client, provider, consumer, sha2, "p1", success=False)
        assert badge(client, by_branch)[2] == RED
        assert badge(client, tag_to_env)[2] == RED

        missing_branch = by_branch.replace("/branches/main/", "/branches/nope/")
        assert badge(client, missing_branch) == ("branch", "not found", GREY)
        assert badge(client, by_tag.replace("/dev/", "/nope/")) == ("version", "not found", GREY)
        assert badge(client, tag_to_env.replace(env, uid("nowhere")))[:2] == (
            "environment",
            "not found",
        )
