"""``covenant verify --broker``: the whole loop against the built-in broker.

Consumers publish the committed pacts, ``covenant verify`` fetches hono-api's
pacts for verification from the broker (HTTP and message interactions),
verifies the real hono-api and publishes the results, and can-i-deploy sees them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from contracts.paths import PACTS_DIR
from tests.integration.broker.conftest import Broker
from tests.integration.conftest import RunningStack


def _covenant(broker: Broker, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("COVENANT_", "PACT_BROKER"))},
        "PACT_BROKER_TOKEN": broker.rw_token,
        "PACT_BROKER_BASE_URL": broker.url,
    }
    return subprocess.run(
        [sys.executable, "-m", "covenant", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def test_publish_verify_from_broker_publish_results_can_i_deploy(
    broker: Broker, stack: RunningStack
) -> None:
    version = f"v-{uuid.uuid4().hex[:8]}"
    published = _covenant(
        broker, "contracts", "publish", str(PACTS_DIR), "--version", version, "--branch", "main"
    )
    assert published.returncode == 0, published.stdout + published.stderr

    verified = _covenant(
        broker,
        "verify",
        "hono-api",
        "--base-url",
        stack.url("hono_api"),
        "--broker",
        broker.url,
        "--publish",
        "--version",
        version,
        "--branch",
        "main",
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "interactions passed" in verified.stdout

    with broker.client() as client:
        matrix = client.get(
            "/matrix",
            params={
                "q[][pacticipant]": "web-client",
                "q[][version]": version,
                "latestby": "cvp",
            },
        ).json()
    rows = [r for r in matrix["matrix"] if r["provider"]["name"] == "hono-api"]
    assert rows and rows[0]["verificationResult"]["success"] is True, matrix
    assert rows[0]["provider"]["version"]["number"] == version
