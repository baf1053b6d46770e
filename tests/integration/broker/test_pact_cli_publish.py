"""The real ``pact broker`` CLI (pact-python-cli, the Rust pact-broker-cli) against the broker:
publish the repository's committed Pact V4 files, then describe and list them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.broker.conftest import Broker

REPO = Path(__file__).resolve().parents[3]
PACTS = REPO / "contracts" / "pacts"
PACT_CLI = Path(sys.executable).parent / "pact"


def pact_broker(
    broker: Broker, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    if not PACT_CLI.exists():
        pytest.fail(f"{PACT_CLI} is missing: install the dev extras (pact-python-cli)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACT_BROKER_")}
    command = [str(PACT_CLI), "broker", *args, "--broker-base-url", broker.url]
    if token:
        command += ["--broker-token", token]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.fixture
def pact_dir(tmp_path: Path) -> Path:
    """The committed pacts, renamed per test run so pacticipant names are unique."""
    suffix = uuid.uuid4().hex[:6]
    target = tmp_path / "pacts"
    target.mkdir()
    for source in sorted(PACTS.glob("*.json")):
        pact = json.loads(source.read_text(encoding="utf-8"))
        pact["consumer"]["name"] += f"-{suffix}"
        pact["provider"]["name"] += f"-{suffix}"
        (target / source.name).write_text(json.dumps(pact, indent=2), encoding="utf-8")
    return target


def committed() -> list[dict[str, object]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(PACTS.glob("*.json"))]


def test_committed_pacts_are_v4_files() -> None:
    pacts = committed()
    assert len(pacts) >= 3
    assert all(
        str(p["metadata"]["pactSpecification"]["version"]).startswith("4")  # type: ignore[index]
        for p in pacts
    )


def test_cli_publishes_describes_and_lists(broker: Broker, pact_dir: Path) -> None:
    version = "1.0." + uuid.uuid4().hex[:6]
    published = pact_broker(
        broker,
        "publish",
        str(pact_dir),
        "--consumer-app-version",
        version,
        "--branch",
        "main",
        "--tag",
        "dev",
        "--build-url",
        "https://ci.example/1",
        token=broker.rw_token,
    )
    assert published.returncode == 0, published.stdout + published.stderr
    # The CLI exits 0 even when a publish fails, so read what it said and what was stored.
    assert "❌" not in published.stdout, published.stdout
    assert "Warning" not in published.stdout, published.stdout
    pacts = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(pact_dir.glob("*.json"))]
    assert published.stdout.count("successfully published") == len(pacts), published.stdout

    with broker.client() as client:
        for pact in pacts:
            consumer, provider = pact["consumer"]["name"], pact["provider"]["name"]
            stored = client.get(f"/pacts/provider/{provider}/consumer/{consumer}/version/{version}")
            assert stored.status_code == 200, (consumer, provider)
            body = stored.json()
            assert body["interactions"] == pact["interactions"]
            assert body["consumer"] == pact["consumer"]
            branch_latest = client.get(
                f"/pacts/provider/{provider}/consumer/{consumer}/branch/main/latest"
            )
            assert branch_latest.status_code == 200

    # Republishing the same files is a no-op, not an error.
    again = pact_broker(
        broker,
        "publish",
        str(pact_dir),
        "--consumer-app-version",
        version,
        "--branch",
        "main",
        token=broker.rw_token,
    )
    assert again.returncode == 0
    assert "❌" not in again.stdout, again.stdout
    assert "unchanged" in again.stdout, again.stdout

    consumer = pacts[0]["consumer"]["name"]
    described = pact_broker(
        broker, "describe-version", "--pacticipant", consumer, "--output", "json"
    )
    assert described.returncode == 0, described.stdout + described.stderr
    version_doc = json.loads(described.stdout)
    assert version_doc["number"] == version
    assert [t["name"] for t in version_doc["_embedded"]["tags"]] == ["dev"]
    table = pact_broker(broker, "describe-version", "--pacticipant", consumer, "--latest", "dev")
    assert table.returncode == 0, table.stdout + table.stderr
    assert version in table.stdout and "dev" in table.stdout

    listed = pact_broker(broker, "list-latest-pact-versions", "--output", "json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    entries = json.loads(listed.stdout)["pacts"]
    mine = {
        (e["_embedded"]["consumer"]["name"], e["_embedded"]["provider"]["name"]): e["_embedded"][
            "consumer"
        ]["_embedded"]["version"]["number"]
        for e in entries
    }
    for pact in pacts:
        assert mine[(pact["consumer"]["name"], pact["provider"]["name"])] == version
    as_table = pact_broker(broker, "list-latest-pact-versions")
    assert as_table.returncode == 0, as_table.stdout + as_table.stderr
    assert consumer in as_table.stdout


def test_cli_pacticipant_commands(broker: Broker) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = pact_broker(
        broker,
        "create-or-update-pacticipant",
        "--name",
        name,
        "--main-branch",
        "main",
        "--repository-url",
        "https://git.example/x",
        token=broker.rw_token,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert "created successfully" in created.stdout
    updated = pact_broker(
        broker,
        "create-or-update-pacticipant",
        "--name",
        name,
        "--display-name",
        "Cli Thing",
        token=broker.rw_token,
    )
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "updated successfully" in updated.stdout
    described = pact_broker(broker, "describe-pacticipant", "--name", name, "--output", "json")
    assert described.returncode == 0, described.stdout + described.stderr
    doc = json.loads(described.stdout)
    assert (doc["displayName"], doc["mainBranch"]) == ("Cli Thing", "main")
    listed = pact_broker(broker, "list-pacticipants")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert name in listed.stdout

    tagged = pact_broker(
        broker,
        "create-version-tag",
        "--pacticipant",
        name,
        "--version",
        "2.0.0",
        "--tag",
        "prod",
        "--auto-create-version",
        token=broker.rw_token,
    )
    assert tagged.returncode == 0, tagged.stdout + tagged.stderr
    assert "Failed" not in tagged.stdout, tagged.stdout
    with broker.client() as client:
        version = client.get(f"/pacticipants/{name}/latest-version/prod")
        assert version.status_code == 200
        assert version.json()["number"] == "2.0.0"

    version_cmd = pact_broker(
        broker,
        "create-or-update-version",
        "--pacticipant",
        name,
        "--version",
        "2.1.0",
        "--branch",
        "main",
        token=broker.rw_token,
    )
    assert version_cmd.returncode == 0, version_cmd.stdout + version_cmd.stderr
    with broker.client() as client:
        on_main = client.get(f"/pacticipants/{name}/branches/main/latest-version")
        assert on_main.status_code == 200
        assert on_main.json()["number"] == "2.1.0"

    deleted = pact_broker(
        broker,
        "delete-branch",
        "--pacticipant",
        name,
        "--branch",
        "main",
        token=broker.rw_token,
    )
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    with broker.client() as client:
        assert client.get(f"/pacticipants/{name}/branches/main").status_code == 404


def test_cli_publish_is_refused_without_a_write_token(broker: Broker, pact_dir: Path) -> None:
    result = pact_broker(
        broker,
        "publish",
        str(pact_dir),
        "--consumer-app-version",
        "1.0.0",
        token=broker.ro_token,
    )
    consumer = json.loads(next(pact_dir.glob("*.json")).read_text())["consumer"]["name"]
    assert "403" in result.stdout + result.stderr, result.stdout + result.stderr
    with httpx.Client(base_url=broker.url) as client:
        assert client.get(f"/pacticipants/{consumer}").status_code == 404
