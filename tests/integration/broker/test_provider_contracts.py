"""PactFlow-compatible provider contracts against the broker, with the real tools:

* ``pact pactflow publish-provider-contract`` (the Rust pact-broker-cli in
  pact-python-cli) publishes hono-api's live OpenAPI document, as YAML, with
  Schemathesis's report as its self-verification, through the index relation
  ``pf:publish-provider-contract``; the document, the results, the branch and the
  tag are read back from the broker.
* can-i-deploy through the broker's matrix and the comparison gate
  (``verifiers.compare.compare_matrix_pacts``): the committed web-client -> hono-api
  pact, verified by every provider version, is refused where the deployed provider
  version's contract lacks an endpoint the pact calls or changes the type of a field
  it reads, accepted where the contract agrees, and compared with the provider's
  configured document where the deployed version published no contract.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from contracts.broker.client import BrokerClient
from contracts.paths import PACTS_DIR
from tests.integration.broker._seed_b import deploy, environment, uid, verify
from tests.integration.broker.conftest import Broker
from tests.integration.conftest import RunningStack
from verifiers.compare import CompareResult, OpenApiDocument, compare_matrix_pacts

PACT_CLI = Path(sys.executable).parent / "pact"
WEB_CLIENT_PACT = PACTS_DIR / "web-client-hono-api.json"
EVENT_BY_ID = "/api/events/{id}"
REPORT = "Schemathesis: 42 test cases, 0 failures\nall checks passed\n"


def pactflow(
    broker: Broker, *args: str, token: str | None = None, env_token: str | None = None
) -> subprocess.CompletedProcess[str]:
    if not PACT_CLI.exists():
        pytest.fail(f"{PACT_CLI} is missing: install the dev extras (pact-python-cli)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACT_BROKER_")}
    if env_token is not None:
        env["PACT_BROKER_TOKEN"] = env_token
    command = [str(PACT_CLI), "pactflow", *args, "-b", broker.url]
    if token is not None:
        command += ["-k", token]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=env, check=False
    )


def publish_contract(
    broker: Broker,
    provider: str,
    version: str,
    contract: Path,
    report: Path,
    *extra: str,
    token: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """The brief's command line, flag for flag (``-k`` is the token: ``-t`` is a tag)."""
    return pactflow(
        broker,
        "publish-provider-contract",
        str(contract),
        "--provider", provider,
        "--provider-app-version", version,
        "--branch", "main",
        "--specification", "oas",
        "--content-type", "application/yaml",
        "--verification-success",
        "--verification-results", str(report),
        "--verification-results-content-type", "text/plain",
        "--verifier", "schemathesis",
        *extra,
        token=broker.rw_token if token is None else token,
    )  # fmt: skip


@pytest.fixture(scope="module")
def hono_openapi(stack: RunningStack) -> dict[str, Any]:
    """hono-api's OpenAPI document as the running service publishes it."""
    response = httpx.get(stack.url("hono_api") + "/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    assert EVENT_BY_ID in document["paths"], sorted(document["paths"])
    return document


def write_yaml(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def without_event_by_id(document: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    del changed["paths"][EVENT_BY_ID]
    return changed


def with_quality_score_as_text(document: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    changed["components"]["schemas"]["EventDetail"]["properties"]["qualityScore"] = {
        "type": "string"
    }
    return changed


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "schemathesis-report.txt"
    path.write_text(REPORT, encoding="utf-8")
    return path


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    yield {"consumer": uid("web-client"), "provider": uid("hono-api")}


def publish_web_client_pact(client: httpx.Client, consumer: str, provider: str) -> str:
    """The committed web-client -> hono-api pact as ``consumer`` 1 -> ``provider``;
    returns its pact version sha."""
    pact = json.loads(WEB_CLIENT_PACT.read_text(encoding="utf-8"))
    pact["consumer"]["name"], pact["provider"]["name"] = consumer, provider
    response = client.post(
        "/contracts/publish",
        json={
            "pacticipantName": consumer,
            "pacticipantVersionNumber": "1",
            "branch": "main",
            "contracts": [
                {
                    "consumerName": consumer,
                    "providerName": provider,
                    "specification": "pact",
                    "contentType": "application/json",
                    "content": base64.b64encode(json.dumps(pact).encode()).decode(),
                }
            ],
        },
    )
    assert response.status_code == 200, response.text
    found = client.get(f"/pacts/provider/{provider}/consumer/{consumer}/version/1")
    return str(found.json()["_links"]["pb:pact-version"]["name"])


def test_publish_provider_contract_with_the_pact_cli_and_read_it_back(
    broker: Broker, hono_openapi: dict[str, Any], report: Path, tmp_path: Path
) -> None:
    provider = uid("hono-api")
    contract = write_yaml(tmp_path / "hono-api.yaml", hono_openapi)

    with broker.client(None) as anon:
        relation = anon.get("/").json()["_links"]["pf:publish-provider-contract"]
    assert relation["href"] == broker.url + "/provider-contracts/provider/{provider}/publish"
    assert relation["templated"] is True

    done = publish_contract(broker, provider, "p-1", contract, report, "-t", "rc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Created {provider} version p-1 with branch main and tags rc" in done.stdout
    assert f"Provider contract published for {provider} version p-1." in done.stdout
    assert "Self-verification by schemathesis passed." in done.stdout

    path = f"/contracts/bi-directional/provider/{provider}/version/p-1/provider-contract"
    with broker.client(broker.ro_token) as client:
        stored = client.get(path)
        assert stored.status_code == 200, stored.text
        assert stored.headers["content-type"].startswith("application/hal+json")
        body = stored.json()
        assert body["content"] == contract.read_text(encoding="utf-8")
        assert yaml.safe_load(body["content"]) == hono_openapi
        assert (body["specification"], body["contractType"]) == ("oas", "oas")
        assert body["contentType"] == "application/yaml"
        assert body["verificationStatus"] == "success"
        assert body["_embedded"]["version"] | {"_links": None} == {
            "number": "p-1",
            "buildUrl": None,
            "branch": "main",
            "_links": None,
        }
        results = client.get(body["_links"]["pf:provider-contract-verification-results"]["href"])
        assert results.status_code == 200, results.text
        assert results.json() | {"_links": None, "createdAt": None} == {
            "success": True,
            "verificationStatus": "success",
            "content": REPORT,
            "contentType": "text/plain",
            "format": None,
            "verifier": "schemathesis",
            "verifierVersion": None,
            "createdAt": None,
            "_links": None,
        }
        # The version, its branch and its tag exist like any other version's.
        assert client.get(f"/pacticipants/{provider}/versions/p-1/tags/rc").status_code == 200
        latest = client.get(f"/pacticipants/{provider}/branches/main/latest-version")
        assert latest.json()["number"] == "p-1"
        assert client.get(path.replace("p-1", "p-2")).status_code == 404

    # Publishing the same again is unchanged; a different document replaces it.
    again = publish_contract(broker, provider, "p-1", contract, report)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "is unchanged" in again.stdout
    smaller = write_yaml(tmp_path / "smaller.yaml", without_event_by_id(hono_openapi))
    replaced = publish_contract(broker, provider, "p-1", smaller, report)
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert "was replaced" in replaced.stdout
    with broker.client() as client:
        assert EVENT_BY_ID not in yaml.safe_load(client.get(path).json()["content"])["paths"]


def test_the_cli_is_refused_without_a_read_write_token_or_with_a_non_openapi_file(
    broker: Broker, report: Path, tmp_path: Path
) -> None:
    provider = uid("hono-api")
    contract = write_yaml(tmp_path / "c.yaml", {"openapi": "3.0.3", "info": {}, "paths": {}})
    read_only = publish_contract(broker, provider, "p-1", contract, report, token=broker.ro_token)
    assert read_only.returncode != 0
    not_openapi = tmp_path / "notes.yaml"
    not_openapi.write_text("just: some notes\n", encoding="utf-8")
    refused = publish_contract(broker, provider, "p-1", not_openapi, report)
    assert refused.returncode != 0, refused.stdout
    with broker.client() as client:
        assert client.get(f"/pacticipants/{provider}").status_code == 404  # nothing stored


def test_a_token_passed_as_t_is_refused_not_stored_as_a_tag(
    broker: Broker, report: Path, tmp_path: Path
) -> None:
    """``-t`` is ``--tag``: with PACT_BROKER_TOKEN set, ``-t TOKEN`` would authenticate
    and tag the version with the token for every reader to see. The broker refuses it."""
    provider = uid("hono-api")
    contract = write_yaml(tmp_path / "c.yaml", {"openapi": "3.0.3", "info": {}, "paths": {}})
    mixed_up = pactflow(
        broker,
        "publish-provider-contract", str(contract),
        "--provider", provider, "--provider-app-version", "p-1",
        "--content-type", "application/yaml",
        "--verification-results", str(report), "--verifier", "schemathesis",
        "-t", broker.rw_token,
        env_token=broker.rw_token,
    )  # fmt: skip
    assert mixed_up.returncode != 0, mixed_up.stdout
    assert "400 Bad Request" in mixed_up.stdout
    with broker.client() as client:
        assert client.get(f"/pacticipants/{provider}").status_code == 404
        answer = client.post(
            f"/provider-contracts/provider/{provider}/publish",
            json={
                "pacticipantVersionNumber": "p-1",
                "tags": [broker.rw_token],
                "contract": {
                    "content": base64.b64encode(contract.read_bytes()).decode(),
                    "contentType": "application/yaml",
                    "specification": "oas",
                },
            },
        )
        assert answer.status_code == 400
        assert "-t is --tag" in answer.json()["errors"]["tags[0]"][0]
        assert broker.rw_token not in answer.text


def test_bad_publications_are_problem_documents_naming_the_place(broker: Broker) -> None:
    provider = uid("hono-api")
    path = f"/provider-contracts/provider/{provider}/publish"
    good = base64.b64encode(b"openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n")

    def body(**contract: Any) -> dict[str, Any]:
        return {
            "pacticipantVersionNumber": "1",
            "tags": ["ok"],
            "contract": {
                "content": good.decode(),
                "contentType": "application/yaml",
                "specification": "oas",
                **contract,
            },
        }

    with broker.client() as client:
        for raw, status, where in (
            ({**body(), "tags": ["ok", ""]}, 400, "tags[1]"),
            (body(specification="pact"), 400, "contract.specification"),
            (body(content="%%%"), 400, "contract.content"),
            (body(contentType="text/html"), 400, "contract.contentType"),
            (body(content=base64.b64encode(b"swagger: '2.0'\n").decode()), 422,
             "contract.content#/swagger"),
            (body(content=base64.b64encode(b"{").decode(), contentType="application/json"),
             422, "contract.content"),
        ):  # fmt: skip
            response = client.post(path, json=raw)
            assert response.status_code == status, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert where in response.json()["errors"], response.json()
        assert client.post(path, content=b"{not json").status_code == 400
        assert client.get(f"/pacticipants/{provider}").status_code == 404  # nothing stored
    with broker.client(broker.ro_token) as reader:
        assert reader.post(path, json=body()).status_code == 403


def can_i_deploy_gate(
    broker: Broker, consumer: str, env: str, spec_for: Any
) -> tuple[dict[str, Any], CompareResult, dict[str, str]]:
    """can-i-deploy from the broker's matrix, then the comparison gate over its rows."""
    with BrokerClient(broker.url, broker.ro_token) as client:
        answer = client.can_i_deploy(consumer, "1", env)
        result, origins = compare_matrix_pacts(
            answer["matrix"], lambda href: client.request("GET", href), spec_for
        )
    return answer, result, origins


def test_can_i_deploy_compares_each_pact_with_the_deployed_provider_version_s_contract(
    broker: Broker, hono_openapi: dict[str, Any], report: Path, tmp_path: Path
) -> None:
    consumer, provider = uid("web-client"), uid("hono-api")
    documents = {
        "p-agrees": hono_openapi,
        "p-no-endpoint": without_event_by_id(hono_openapi),
        "p-wrong-type": with_quality_score_as_text(hono_openapi),
    }
    envs: dict[str, str] = {}
    with broker.client() as client:
        sha = publish_web_client_pact(client, consumer, provider)
        for version in [*documents, "p-no-contract"]:
            # A lenient provider: every version verifies the pact successfully.
            verify(client, provider, consumer, sha, version, branch="main")
            envs[version] = uid("env")
            deploy(client, provider, version, environment(client, envs[version]))
    for version, document in documents.items():
        contract = write_yaml(tmp_path / f"{version}.yaml", document)
        done = publish_contract(broker, provider, version, contract, report)
        assert done.returncode == 0, done.stdout + done.stderr

    asked: list[str] = []

    def configured_spec(name: str) -> OpenApiDocument:
        asked.append(name)
        return OpenApiDocument(hono_openapi, "configured hono-api document")

    # The contract agrees with the pact: deployable, and no other document was needed.
    answer, result, _ = can_i_deploy_gate(broker, consumer, envs["p-agrees"], configured_spec)
    assert answer["summary"]["deployable"] is True
    [row] = answer["matrix"]
    contract_url = row["provider"]["version"]["_links"]["pf:provider-contract"]["href"]
    assert contract_url.endswith(
        f"/contracts/bi-directional/provider/{provider}/version/p-agrees/provider-contract"
    )
    assert result.compatible, [i.message for i in result.incompatibilities]
    assert result.checked == 9 and asked == []
    assert result.providers[0].spec_source == contract_url

    # Its contract lacks GET /api/events/{id}: verified, yet the gate refuses.
    answer, result, origins = can_i_deploy_gate(
        broker, consumer, envs["p-no-endpoint"], configured_spec
    )
    assert answer["summary"]["deployable"] is True
    assert not result.compatible
    found = {(i.code, i.pact_pointer) for i in result.incompatibilities}
    assert ("request.path-or-method.unknown", "/interactions/0/request/path") in found
    assert {code for code, _ in found} == {"request.path-or-method.unknown"}
    item = result.incompatibilities[0]
    assert "p-no-endpoint/provider-contract" in item.message
    assert origins[item.pact_file].endswith(f"/consumer/{consumer}/version/1")

    # Its contract says qualityScore is text; the pact reads a number.
    _, result, _ = can_i_deploy_gate(broker, consumer, envs["p-wrong-type"], configured_spec)
    assert (
        "response.body.incompatible",
        "/interactions/0/response/body/content/qualityScore",
    ) in {(i.code, i.pact_pointer) for i in result.incompatibilities}
    assert asked == []

    # No contract for the deployed version: the configured document, as before.
    answer, result, _ = can_i_deploy_gate(broker, consumer, envs["p-no-contract"], configured_spec)
    [row] = answer["matrix"]
    assert "pf:provider-contract" not in row["provider"]["version"]["_links"]
    assert result.compatible and asked == [provider]
    assert result.providers[0].spec_source == "configured hono-api document"
