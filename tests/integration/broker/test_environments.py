"""Environments, deployments (with undeployment) and releases (with support ended)."""

from __future__ import annotations

import uuid

from tests.integration.broker._seed_b import deploy, ensure_version, environment, release, uid
from tests.integration.broker.conftest import Broker


def test_environment_lifecycle(broker: Broker) -> None:
    name = uid("staging")
    with broker.client() as client:
        created = client.post(
            "/environments",
            json={
                "name": name,
                "displayName": "Staging",
                "production": False,
                "contacts": [{"name": "Team", "details": {"emailAddress": "t@example.com"}}],
            },
        )
        assert created.status_code == 201, created.text
        assert created.headers["content-type"].startswith("application/hal+json")
        env = created.json()
        env_uuid = env["uuid"]
        assert uuid.UUID(env_uuid)
        assert (env["name"], env["displayName"], env["production"]) == (name, "Staging", False)
        assert env["contacts"][0]["name"] == "Team"
        assert created.headers["location"] == env["_links"]["self"]["href"]
        assert env["_links"]["pb:currently-deployed-deployed-versions"]["href"].endswith(
            f"/environments/{env_uuid}/deployed-versions/currently-deployed"
        )
        assert env["_links"]["pb:currently-supported-released-versions"]["href"].endswith(
            f"/environments/{env_uuid}/released-versions/currently-supported"
        )

        duplicate = client.post("/environments", json={"name": name})
        assert duplicate.status_code == 409
        assert duplicate.headers["content-type"].startswith("application/problem+json")
        assert "name" in duplicate.json()["errors"]

        listed = client.get("/environments").json()["_embedded"]["environments"]
        assert any(e["uuid"] == env_uuid and e["name"] == name for e in listed)
        filtered = client.get("/environments", params={"name": name}).json()
        assert [e["uuid"] for e in filtered["_embedded"]["environments"]] == [env_uuid]

        fetched = client.get(f"/environments/{env_uuid}")
        assert fetched.status_code == 200
        assert fetched.json()["name"] == name

        new_name = uid("stage")
        updated = client.put(
            f"/environments/{env_uuid}",
            json={"name": new_name, "displayName": "Stage", "production": True},
        )
        assert updated.status_code == 200, updated.text
        assert (updated.json()["name"], updated.json()["production"]) == (new_name, True)

        other = environment(client)
        clash = client.put(f"/environments/{other}", json={"name": new_name})
        assert clash.status_code == 409

        assert client.delete(f"/environments/{env_uuid}").status_code == 204
        assert client.get(f"/environments/{env_uuid}").status_code == 404


def test_environment_input_is_checked(broker: Broker) -> None:
    with broker.client() as client:
        missing = client.post("/environments", json={"production": True})
        assert missing.status_code == 400
        assert "name" in missing.json()["errors"]
        wrong = client.post("/environments", json={"name": uid("e"), "production": "yes"})
        assert wrong.status_code == 400
        assert wrong.json()["errors"]["production"] == ["must be of type boolean or null"]
        spaces = client.post("/environments", json={"name": "has space"})
        assert spaces.status_code == 400
        malformed = client.post(
            "/environments", content=b'{"name": ', headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 400
        assert "line 1" in malformed.json()["detail"]
        assert client.get("/environments/not-a-uuid").status_code == 404
        assert client.get(f"/environments/{uuid.uuid4()}").status_code == 404
    with broker.client(broker.ro_token) as reader:
        assert reader.get("/environments").status_code == 200
        assert reader.post("/environments", json={"name": uid("e")}).status_code == 403
    with broker.client(None) as anonymous:
        assert anonymous.post("/environments", json={"name": uid("e")}).status_code == 401


def test_record_deployment_undeploys_the_previous_version_of_the_same_instance(
    broker: Broker,
) -> None:
    app = uid("app")
    with broker.client() as client:
        env_uuid = environment(client)
        for number in ("1", "2", "3"):
            ensure_version(client, app, number)
        first = deploy(client, app, "1", env_uuid)
        blue = deploy(client, app, "1", env_uuid, instance="blue")
        second = deploy(client, app, "2", env_uuid)
        assert first["currentlyDeployed"] is True
        assert second["_embedded"]["version"]["number"] == "2"
        assert second["_embedded"]["environment"]["uuid"] == env_uuid
        assert second["_embedded"]["pacticipant"]["name"] == app

        old = client.get(first["_links"]["self"]["href"]).json()
        assert old["currentlyDeployed"] is False
        assert old["undeployedAt"] is not None
        # Another application instance is untouched.
        assert client.get(blue["_links"]["self"]["href"]).json()["currentlyDeployed"] is True

        current = client.get(
            f"/environments/{env_uuid}/deployed-versions/currently-deployed",
            params={"pacticipant": app},
        ).json()["_embedded"]["deployedVersions"]
        assert sorted(
            (d["_embedded"]["version"]["number"], d["applicationInstance"]) for d in current
        ) == [("1", "blue"), ("2", None)]

        # Deploying the current version again changes nothing.
        again = deploy(client, app, "2", env_uuid)
        assert again["uuid"] == second["uuid"]

        of_version = client.get(
            f"/pacticipants/{app}/versions/1/deployed-versions/environment/{env_uuid}"
        ).json()["_embedded"]["deployedVersions"]
        assert len(of_version) == 2

        # Undeploy (what `pact broker record-undeployment` sends).
        patched = client.patch(
            second["_links"]["self"]["href"],
            json={"currentlyDeployed": False},
            headers={"content-type": "application/merge-patch+json"},
        )
        assert patched.status_code == 200
        assert patched.json()["currentlyDeployed"] is False
        current = client.get(
            f"/environments/{env_uuid}/deployed-versions/currently-deployed",
            params={"pacticipant": app},
        ).json()["_embedded"]["deployedVersions"]
        assert [d["applicationInstance"] for d in current] == ["blue"]
        back = client.patch(second["_links"]["self"]["href"], json={"currentlyDeployed": True})
        assert back.status_code == 422
        bad = client.patch(second["_links"]["self"]["href"], json={"currentlyDeployed": "no"})
        assert bad.status_code == 400

        unknown_env = client.post(
            f"/pacticipants/{app}/versions/1/deployed-versions/environment/{uuid.uuid4()}",
            json={},
        )
        assert unknown_env.status_code == 404
        unknown_version = client.post(
            f"/pacticipants/{app}/versions/99/deployed-versions/environment/{env_uuid}", json={}
        )
        assert unknown_version.status_code == 404
        assert client.get(f"/deployed-versions/{uuid.uuid4()}").status_code == 404


def test_record_release_and_end_support(broker: Broker) -> None:
    app = uid("mobile")
    with broker.client() as client:
        env_uuid = environment(client)
        ensure_version(client, app, "1.0")
        ensure_version(client, app, "2.0")
        r1 = release(client, app, "1.0", env_uuid)
        r2 = release(client, app, "2.0", env_uuid)
        assert r1["currentlySupported"] is True
        supported = client.get(
            f"/environments/{env_uuid}/released-versions/currently-supported"
        ).json()["_embedded"]["releasedVersions"]
        assert sorted(r["_embedded"]["version"]["number"] for r in supported) == ["1.0", "2.0"]
        assert {r["_embedded"]["pacticipant"]["name"] for r in supported} == {app}

        ended = client.patch(r1["_links"]["self"]["href"], json={"currentlySupported": False})
        assert ended.status_code == 200
        assert ended.json()["currentlySupported"] is False
        assert ended.json()["supportEndedAt"] is not None
        supported = client.get(
            f"/environments/{env_uuid}/released-versions/currently-supported",
            params={"pacticipant": app},
        ).json()["_embedded"]["releasedVersions"]
        assert [r["uuid"] for r in supported] == [r2["uuid"]]

        # Releasing 1.0 again makes it supported again, same record.
        again = client.post(
            f"/pacticipants/{app}/versions/1.0/released-versions/environment/{env_uuid}"
        )
        assert again.status_code == 200
        assert again.json()["uuid"] == r1["uuid"]
        assert again.json()["currentlySupported"] is True
        assert client.get(f"/released-versions/{r1['uuid']}").json()["currentlySupported"]


def test_version_resource_links_to_record_deployment(broker: Broker) -> None:
    """The version resource (served by the core) names each environment's record links."""
    app = uid("svc")
    with broker.client() as client:
        env_name = uid("prod")
        env_uuid = environment(client, env_name)
        ensure_version(client, app, "7")
        links = client.get(f"/pacticipants/{app}/versions/7").json()["_links"]
        deployment = [link for link in links["pb:record-deployment"] if link["name"] == env_name]
        assert deployment and deployment[0]["href"].endswith(
            f"/pacticipants/{app}/versions/7/deployed-versions/environment/{env_uuid}"
        )
        posted = client.post(deployment[0]["href"], json={"applicationInstance": "a"})
        assert posted.status_code == 201
