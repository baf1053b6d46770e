"""Pacts by consumer version branch and tag: the real ``pact broker get-pacts`` (the Rust
pact-broker-cli in pact-python-cli) against the broker, and the same resources over
HTTP, with their index relations.

``get-pacts`` calls, without looking anything up in the index:
``--branch B`` -> ``/pacts/provider/P/branch/B``, ``--branch B --latest`` ->
``.../branch/B/latest``, neither -> ``.../branch`` (each consumer's main branch),
``--latest`` -> ``.../branch/latest``; with ``--consumer C`` the same below
``/pacts/provider/P/consumer/C`` (``--branch B --latest`` is the latest pact itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.broker._seed_b import publish, uid
from tests.integration.broker.conftest import Broker

PACT_CLI = Path(sys.executable).parent / "pact"


def get_pacts(broker: Broker, provider: str, *args: str, cwd: Path | None = None) -> Any:
    """``pact broker get-pacts --provider P ARGS --output json``; the JSON it prints."""
    if not PACT_CLI.exists():
        pytest.fail(f"{PACT_CLI} is missing: install the dev extras (pact-python-cli)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACT_BROKER_")}
    done = subprocess.run(
        [
            str(PACT_CLI),
            "broker",
            "get-pacts",
            "--provider",
            provider,
            *args,
            "--output",
            "json",
            "--broker-base-url",
            broker.url,
            "--broker-token",
            broker.ro_token,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    start = done.stdout.index("{")
    found, _ = json.JSONDecoder().raw_decode(done.stdout[start:])
    return found


def listed(found: dict[str, Any]) -> list[str]:
    """The pact URLs of a provider's pacts as get-pacts prints them, path from /pacts."""
    return [p["href"].split("/pacts/", 1)[1] for p in found["pacts"]]


@pytest.fixture(scope="module")
def seeded(broker: Broker) -> dict[str, str]:
    """Two consumers of one provider, on main/develop, a feature branch and a tag:

    web 1, 2 on main (1 tagged prod), 3 on feat-x; app 1 on feat-x, 2 on develop
    (develop becomes app's main branch, main becomes web's)."""
    names = {"web": uid("web"), "app": uid("app"), "api": uid("api")}
    web, app, api = names["web"], names["app"], names["api"]
    with broker.client() as client:
        publish(client, web, "1", {api: "w1"}, branch="main", tags=("prod",))
        publish(client, web, "2", {api: "w2"}, branch="main")
        publish(client, web, "3", {api: "w3"}, branch="feat-x")
        publish(client, app, "1", {api: "a1"}, branch="feat-x")
        publish(client, app, "2", {api: "a2"}, branch="develop")
        publish(client, web, "4", {api: "w4"}, branch="feature/login")
    return names


def test_get_pacts_for_a_consumer_branch_every_way(broker: Broker, seeded: dict[str, str]) -> None:
    web, app, api = seeded["web"], seeded["app"], seeded["api"]
    pair = f"provider/{api}/consumer"

    on_branch = get_pacts(broker, api, "--branch", "feat-x")
    assert listed(on_branch) == [f"{pair}/{app}/version/1", f"{pair}/{web}/version/3"]
    latest_on_branch = get_pacts(broker, api, "--branch", "feat-x", "--latest")
    assert listed(latest_on_branch) == listed(on_branch)
    assert {p["name"] for p in on_branch["pacts"]} == {web, app}
    assert on_branch["pacts"][1]["title"] == f"Pact between {web} (3) and {api}"

    # No branch: each consumer's own main branch (web: main, app: develop).
    main = get_pacts(broker, api)
    assert listed(main) == [
        f"{pair}/{app}/version/2",
        f"{pair}/{web}/version/2",
        f"{pair}/{web}/version/1",
    ]
    latest_main = get_pacts(broker, api, "--latest")
    assert listed(latest_main) == [f"{pair}/{app}/version/2", f"{pair}/{web}/version/2"]


def test_get_pacts_for_one_consumer(broker: Broker, seeded: dict[str, str], tmp_path: Path) -> None:
    web, api = seeded["web"], seeded["api"]
    versions = get_pacts(broker, api, "--consumer", web, "--branch", "main")
    numbers = [p["_embedded"]["consumerVersion"]["number"] for p in versions["_embedded"]["pacts"]]
    assert numbers == ["2", "1"]
    assert versions["_links"]["pb:consumer"]["name"] == web
    assert [v["href"].rsplit("/", 1)[1] for v in versions["_links"]["pb:pact-versions"]] == [
        "2",
        "1",
    ]
    assert versions["_links"]["pb:pact-versions"][0]["name"].startswith("Version 2 - ")

    main = get_pacts(broker, api, "--consumer", web)
    assert [p["_embedded"]["consumerVersion"]["number"] for p in main["_embedded"]["pacts"]] == [
        "2",
        "1",
    ]
    latest_main = get_pacts(broker, api, "--consumer", web, "--latest")
    [only] = latest_main["_embedded"]["pacts"]
    assert only["_embedded"]["consumerVersion"]["number"] == "2"

    # Consumer, branch and --latest: the latest pact itself, as the Pact Broker answers.
    pact = get_pacts(broker, api, "--consumer", web, "--branch", "feat-x", "--latest")
    assert pact["consumer"]["name"] == web
    assert pact["_links"]["pb:consumer-version"]["name"] == "3"

    # --download writes each listed pact, named as the CLI names them.
    target = tmp_path / "downloaded"
    get_pacts(broker, api, "--branch", "feat-x", "--download", "--download-dir", str(target))
    written = sorted(p.name for p in target.glob("*.json"))
    assert written == sorted([f"{seeded['app']}-{api}-1.json", f"{web}-{api}-3.json"])
    content = json.loads((target / f"{web}-{api}-3.json").read_text(encoding="utf-8"))
    assert content["interactions"][0]["description"] == "a request for thing w3"


def _get(client: httpx.Client, path: str, status: int = 200) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == status, f"{path}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(
        "application/hal+json" if status == 200 else "application/problem+json"
    )
    body: dict[str, Any] = response.json()
    return body


def test_the_same_over_http_with_index_relations_tags_and_encoded_names(
    broker: Broker, seeded: dict[str, str]
) -> None:
    web, app, api = seeded["web"], seeded["app"], seeded["api"]
    with broker.client(None) as client:
        links = _get(client, "/")["_links"]
        expected = {
            "pb:provider-pacts-with-branch": "/pacts/provider/{provider}/branch/{branch}",
            "pb:latest-provider-pacts-with-branch": "/pacts/provider/{provider}/branch/{branch}"
            "/latest",
            "pb:provider-pacts-with-main-branch": "/pacts/provider/{provider}/branch",
            "pb:latest-provider-pacts-with-main-branch": "/pacts/provider/{provider}/branch/latest",
            "pb:provider-pacts-with-tag": "/pacts/provider/{provider}/tag/{tag}",
            "pb:latest-provider-pacts-with-tag": "/pacts/provider/{provider}/latest/{tag}",
            "pb:branch-pact-versions": "/pacts/provider/{provider}/consumer/{consumer}/branch"
            "/{branch}",
            "pb:latest-branch-pact-versions": "/pacts/provider/{provider}/consumer/{consumer}"
            "/branch/{branch}/latest/versions",
            "pb:main-branch-pact-versions": "/pacts/provider/{provider}/consumer/{consumer}"
            "/branch/versions",
            "pb:latest-main-branch-pact-versions": "/pacts/provider/{provider}/consumer/{consumer}"
            "/branch/latest",
            "pb:tagged-pact-versions": "/pacts/provider/{provider}/consumer/{consumer}/tag/{tag}",
        }
        for relation, path in expected.items():
            assert links[relation]["href"] == broker.url + path, relation
            assert links[relation]["templated"] is True, relation
            href = (
                links[relation]["href"]
                .replace("{provider}", api)
                .replace("{consumer}", web)
                .replace("{branch}", "main")
                .replace("{tag}", "prod")
            )
            assert client.get(href).status_code == 200, relation

        latest = _get(client, f"/pacts/provider/{api}/branch/feat-x/latest")
        assert latest["_links"]["self"]["title"] == (
            f"Latest pact versions for the provider {api} with consumer version branch 'feat-x'"
        )
        assert latest["_links"]["pb:provider"]["name"] == api
        assert [p["name"] for p in latest["_links"]["pb:pacts"]] == [app, web]

        # A branch with a "/" travels as one encoded segment, and stays so in self.
        slashed = _get(client, f"/pacts/provider/{api}/branch/feature%2Flogin")
        assert [p["href"].rsplit("/", 1)[1] for p in slashed["_links"]["pb:pacts"]] == ["4"]
        assert slashed["_links"]["self"]["href"].endswith("/branch/feature%2Flogin")
        pair = _get(
            client, f"/pacts/provider/{api}/consumer/{web}/branch/feature%2Flogin/latest/versions"
        )
        [only] = pair["_embedded"]["pacts"]
        assert only["_embedded"]["consumerVersion"]["number"] == "4"

        tagged = _get(client, f"/pacts/provider/{api}/tag/prod")
        assert [p["href"].rsplit("/", 1)[1] for p in tagged["_links"]["pb:pacts"]] == ["1"]
        pair_tagged = _get(client, f"/pacts/provider/{api}/consumer/{web}/tag/prod")
        assert pair_tagged["_links"]["self"]["title"] == (
            f"All versions of the pact between {web} and {api} with consumer version tag 'prod'"
        )
        assert len(pair_tagged["_embedded"]["pacts"]) == 1

        # Nothing on a branch is an empty list; unknown pacticipants are 404.
        empty = _get(client, f"/pacts/provider/{api}/branch/nowhere")
        assert empty["_links"]["pb:pacts"] == []
        _get(client, f"/pacts/provider/{uid('nobody')}/branch/main", 404)
        _get(client, f"/pacts/provider/{api}/consumer/{uid('nobody')}/branch/main", 404)
