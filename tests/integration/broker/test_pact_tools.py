"""The REAL Pact tools against the broker.

* pact-python's ``Verifier`` (the Rust pact_verifier) fetches the pacts for
  verification through the broker's index, verifies a tiny provider served
  here on 127.0.0.1, and publishes its results (with the provider branch).
* ``pact broker`` (the Rust pact-broker-cli): ``create-environment``,
  ``list-environments``, ``describe-environment``, ``record-deployment``,
  ``record-undeployment``, ``record-release``, ``record-support-ended`` and
  ``can-i-deploy`` (exit 0 only when the deployed dependencies are green).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pact import Verifier

from tests.integration.broker._seed_b import publish, uid
from tests.integration.broker.conftest import Broker

PACT_CLI = Path(sys.executable).parent / "pact"


class ThingProvider:
    """Answers ``GET /things/{id}`` with ``{"id": id}`` — or, when broken, ``{"id": 0}``."""

    def __init__(self) -> None:
        self.broken = False
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                thing = self.path.rsplit("/", 1)[-1]
                body = json.dumps({"id": 0 if provider.broken else thing}).encode()
                self.send_response(200 if self.path.startswith("/things/") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # provider state changes, if the verifier sends any
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ThingProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def thing_provider() -> Iterator[ThingProvider]:
    with ThingProvider() as provider:
        yield provider


def pact_broker(broker: Broker, *args: str) -> subprocess.CompletedProcess[str]:
    if not PACT_CLI.exists():
        pytest.fail(f"{PACT_CLI} is missing: install the dev extras (pact-python-cli)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACT_BROKER_")}
    command = [
        str(PACT_CLI),
        "broker",
        *args,
        "--broker-base-url",
        broker.url,
        "--broker-token",
        broker.rw_token,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=env, check=False
    )


def verify_with_pact_python(
    broker: Broker, provider: str, provider_url: str, version: str, branch: str
) -> None:
    """The Rust verifier: pacts for verification, then results published to the broker."""
    verifier = (
        Verifier(provider, host="127.0.0.1")
        .add_transport(url=provider_url)
        .broker_source(broker.url, token=broker.rw_token, selector=True)
        .consumer_version(main_branch=True)
        .consumer_version(deployed_or_released=True)
        .include_pending()
        .provider_branch(branch)
        .build()
        .set_publish_options(version=version, branch=branch)
    )
    verifier.verify()


def matrix_rows(broker: Broker, consumer: str, version: str) -> list[dict[str, Any]]:
    with broker.client() as client:
        response = client.get(
            "/matrix", params={"q[][pacticipant]": consumer, "q[][version]": version}
        )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["matrix"]
    return rows


def test_pact_python_verifier_fetches_verifies_and_publishes(
    broker: Broker, thing_provider: ThingProvider
) -> None:
    consumer, provider = uid("shop"), uid("things")
    with broker.client() as client:
        client.patch(f"/pacticipants/{consumer}", json={"mainBranch": "main"})
        sha = publish(client, consumer, "1.0.0", {provider: "a"}, branch="main")[provider]

    verify_with_pact_python(broker, provider, thing_provider.url, "p-1", "main")

    (row,) = matrix_rows(broker, consumer, "1.0.0")
    assert row["provider"]["version"]["number"] == "p-1"
    assert row["provider"]["version"]["branch"] == "main"
    assert row["verificationResult"]["success"] is True
    with broker.client() as client:
        result = client.get(row["verificationResult"]["_links"]["self"]["href"]).json()
        assert result["verifiedBy"]["implementation"] == "Pact-Rust"
        # The branch was recorded through the provider's pb:branch-version relation.
        latest = client.get(f"/pacticipants/{provider}/branches/main/latest-version")
        assert latest.status_code == 200
        # Verified by the provider's main branch: no longer pending for it.
        pacts = client.post(
            f"/pacts/provider/{provider}/for-verification",
            json={
                "consumerVersionSelectors": [{"mainBranch": True}],
                "providerVersionBranch": "main",
                "includePendingStatus": True,
            },
        ).json()["_embedded"]["pacts"]
        assert [p["verificationProperties"]["pending"] for p in pacts] == [False]
        assert pacts[0]["_links"]["self"]["href"].endswith(sha)

    # A broken provider version fails, and the failure is published too.
    thing_provider.broken = True
    with pytest.raises(RuntimeError):
        verify_with_pact_python(broker, provider, thing_provider.url, "p-2", "main")
    rows = {r["provider"]["version"]["number"]: r for r in matrix_rows(broker, consumer, "1.0.0")}
    assert rows["p-2"]["verificationResult"]["success"] is False
    assert rows["p-1"]["verificationResult"]["success"] is True


def test_pact_broker_cli_environments_deployments_and_can_i_deploy(
    broker: Broker, thing_provider: ThingProvider
) -> None:
    consumer, provider = uid("shop"), uid("things")
    env = uid("production")

    created = pact_broker(broker, "create-environment", "--name", env, "--production")
    assert created.returncode == 0, created.stdout + created.stderr
    listed = pact_broker(broker, "list-environments")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert env in listed.stdout
    with broker.client() as client:
        found = client.get("/environments", params={"name": env}).json()
        (environment,) = found["_embedded"]["environments"]
        assert environment["production"] is True
    described = pact_broker(broker, "describe-environment", "--uuid", environment["uuid"])
    assert described.returncode == 0, described.stdout + described.stderr
    assert env in described.stdout

    with broker.client() as client:
        client.patch(f"/pacticipants/{consumer}", json={"mainBranch": "main"})
        publish(client, consumer, "1", {provider: "a"}, branch="main")
    verify_with_pact_python(broker, provider, thing_provider.url, "p-1", "main")

    def can_i_deploy(pacticipant: str, version: str) -> subprocess.CompletedProcess[str]:
        return pact_broker(
            broker,
            "can-i-deploy",
            "--pacticipant",
            pacticipant,
            "--version",
            version,
            "--to-environment",
            env,
        )

    # The provider is not deployed yet: the consumer cannot go first.
    early = can_i_deploy(consumer, "1")
    assert early.returncode != 0, early.stdout + early.stderr

    deployed = pact_broker(
        broker,
        "record-deployment",
        "--pacticipant",
        provider,
        "--version",
        "p-1",
        "--environment",
        env,
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    ok = can_i_deploy(consumer, "1")
    assert ok.returncode == 0, ok.stdout + ok.stderr

    # A new consumer version with a pact the deployed provider never verified.
    with broker.client() as client:
        publish(client, consumer, "2", {provider: "b"}, branch="main")
    blocked = can_i_deploy(consumer, "2")
    assert blocked.returncode != 0, blocked.stdout + blocked.stderr
    assert "There is no verified pact" in blocked.stdout + blocked.stderr

    # The provider can be deployed: the consumer is not in the environment yet.
    assert can_i_deploy(provider, "p-1").returncode == 0

    undeployed = pact_broker(
        broker, "record-undeployment", "--pacticipant", provider, "--environment", env
    )
    assert undeployed.returncode == 0, undeployed.stdout + undeployed.stderr
    with broker.client() as client:
        current = client.get(
            f"/environments/{environment['uuid']}/deployed-versions/currently-deployed"
        ).json()["_embedded"]["deployedVersions"]
        assert current == []
    assert can_i_deploy(consumer, "1").returncode != 0

    released = pact_broker(
        broker,
        "record-release",
        "--pacticipant",
        provider,
        "--version",
        "p-1",
        "--environment",
        env,
    )
    assert released.returncode == 0, released.stdout + released.stderr
    assert can_i_deploy(consumer, "1").returncode == 0  # released and supported counts too
    ended = pact_broker(
        broker,
        "record-support-ended",
        "--pacticipant",
        provider,
        "--version",
        "p-1",
        "--environment",
        env,
    )
    assert ended.returncode == 0, ended.stdout + ended.stderr
    with broker.client() as client:
        supported = client.get(
            f"/environments/{environment['uuid']}/released-versions/currently-supported"
        ).json()["_embedded"]["releasedVersions"]
        assert supported == []
    assert can_i_deploy(consumer, "1").returncode != 0
