"""``covenant verify`` with the options a CI pipeline passes to the Pact verifier:
selectors, provider tags, build URL, --pact-url (the webhook flow), filters, JSON
report, and the Pact tools' environment variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from contracts.paths import PACTS_DIR
from tests.integration.broker import conftest as broker_conftest
from tests.integration.broker.conftest import Broker
from tests.integration.conftest import RunningStack

#: The broker tests' session fixture (a real broker on the stack's PostgreSQL), reused.
broker = broker_conftest.broker


def covenant(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("COVENANT_", "PACT_BROKER"))},
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "covenant", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environment,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def publish_reference_pacts(broker: Broker, version: str, branch: str) -> None:
    done = covenant(
        "contracts", "publish", str(PACTS_DIR), "--version", version, "--branch", branch,
        "--broker", broker.url, PACT_BROKER_TOKEN=broker.rw_token,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_selectors_tags_build_url_and_json_report_from_the_environment(
    broker: Broker, stack: RunningStack, tmp_path: Path
) -> None:
    branch, version = f"feat-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    publish_reference_pacts(broker, version, branch)
    provider_version = f"p-{uuid.uuid4().hex[:8]}"
    report = tmp_path / "report.json"
    done = covenant(
        "verify", "hono-api", "--base-url", stack.url("hono_api"),
        "--consumer-version-selectors", json.dumps({"branch": branch}),
        "--no-pending", "--publish", "--version", provider_version, "--branch", "main",
        "--provider-tag", "ci", "--build-url", "https://ci.example/builds/7",
        "--json", str(report),
        # The broker and its token from the Pact tools' variables, no --broker.
        PACT_BROKER_BASE_URL=broker.url, PACT_BROKER_TOKEN=broker.rw_token,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["passed"] is True and document["provider"] == "hono-api"
    consumers = {i["consumer"] for i in document["interactions"]}
    assert consumers == {"web-client", "event-worker"}, consumers  # HTTP and messages
    assert all(i["passed"] and not i["pending"] for i in document["interactions"])

    with broker.client() as client:
        tags = client.get(f"/pacticipants/hono-api/versions/{provider_version}/tags/ci")
        assert tags.status_code == 200, tags.text
        matrix = client.get(
            "/matrix",
            params={"q[][pacticipant]": "web-client", "q[][version]": version, "latestby": "cvp"},
        ).json()
    rows = [r for r in matrix["matrix"] if r["provider"]["name"] == "hono-api"]
    assert rows and rows[0]["verificationResult"]["success"] is True, matrix
    assert rows[0]["provider"]["version"]["number"] == provider_version

    # The selector is what chose the pacts: a branch nobody published gets none.
    nothing = covenant(
        "verify", "hono-api", "--base-url", stack.url("hono_api"),
        "--consumer-version-selectors", json.dumps({"branch": f"none-{uuid.uuid4().hex}"}),
        PACT_BROKER_BASE_URL=broker.url, PACT_BROKER_TOKEN=broker.rw_token,
    )  # fmt: skip
    assert nothing.returncode != 0, nothing.stdout + nothing.stderr


def test_pact_url_from_a_webhook_with_filters(
    broker: Broker, stack: RunningStack, tmp_path: Path
) -> None:
    branch, version = f"hook-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    publish_reference_pacts(broker, version, branch)
    pact_url = f"{broker.url}/pacts/provider/hono-api/consumer/web-client/version/{version}"
    report = tmp_path / "report.json"
    done = covenant(
        "verify", "hono-api", "--base-url", stack.url("hono_api"), "--pact-url", pact_url,
        "--filter-description", "scrape", "--json", str(report),
        "--publish", "--version", f"p-{uuid.uuid4().hex[:8]}",
        PACT_BROKER_TOKEN=broker.rw_token,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    interactions = json.loads(report.read_text(encoding="utf-8"))["interactions"]
    assert interactions and all("scrape" in i["description"] for i in interactions)

    everything = covenant(
        "verify", "hono-api", "--base-url", stack.url("hono_api"), "--pact-url", pact_url,
        "--json", str(report), PACT_BROKER_TOKEN=broker.rw_token,
    )  # fmt: skip
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert len(json.loads(report.read_text(encoding="utf-8"))["interactions"]) > len(interactions)


def test_usage_errors_name_the_option(stack: RunningStack) -> None:
    base = ("verify", "hono-api", "--base-url", stack.url("hono_api"), "--broker", "http://x.test")
    for args, words in (
        (("--consumer-version-selectors", "{nope"), "not JSON"),
        (("--consumer-version-selectors", '{"brunch": "main"}'), "unknown key(s) brunch"),
        (("--include-wip-pacts-since", "last week"), "must be a date"),
        (("--filter-description", "(unclosed"), "not a regular expression"),
        (("--pact-url", "http://x.test/p"), "one source of pacts"),
    ):
        done = covenant(*base, *args)
        assert done.returncode == 2, (args, done.stdout + done.stderr)
        assert words in done.stdout + done.stderr, (args, done.stdout + done.stderr)


def test_an_unreachable_broker_exits_3(stack: RunningStack) -> None:
    done = covenant(
        "verify", "hono-api", "--base-url", stack.url("hono_api"),
        PACT_BROKER_BASE_URL="http://127.0.0.1:9",  # discard port: nothing listens
    )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    assert "the broker is not reachable at http://127.0.0.1:9" in done.stderr
