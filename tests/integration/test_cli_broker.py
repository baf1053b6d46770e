"""``covenant contracts publish``, ``covenant can-i-deploy`` and
``covenant record-deployment``, run as real subprocesses against the real broker."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import CovenantCli
from tests.integration.broker import conftest as broker_conftest
from tests.integration.broker._webhook_receiver import Receiver, pact, publish, unique
from tests.integration.broker.conftest import RO_TOKEN, RW_TOKEN, Broker

#: The broker tests' session fixture (a real broker on the stack's PostgreSQL), reused.
broker = broker_conftest.broker

ROOT = Path(__file__).resolve().parents[2]


def covenant(
    *args: str, cwd: Path, token: str | None = RW_TOKEN, **env: str
) -> subprocess.CompletedProcess[str]:
    """``covenant`` with no broker settings of the caller's, the token given."""
    environment = {"PYTHONPATH": str(ROOT), **env}
    if token is not None:
        environment["PACT_BROKER_TOKEN"] = token
    result = CovenantCli()(*args, cwd=cwd, env=environment, drop=("COVENANT_", "PACT_BROKER_"))
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    for secret in (RW_TOKEN, RO_TOKEN):
        assert secret not in output
    return result


def write_pacts(directory: Path, consumer: str, *providers: str, marker: str = "a") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for provider in providers:
        path = directory / f"{consumer}-{provider}.json"
        path.write_text(json.dumps(pact(consumer, provider, marker), indent=2))


def closed_port_url() -> str:
    with Receiver() as receiver:
        return receiver.url


# -- publish ----------------------------------------------------------------------


def test_publish_every_pact_in_a_directory(broker: Broker, tmp_path: Path) -> None:
    consumer, first, second = unique("cli-c"), unique("cli-p1"), unique("cli-p2")
    write_pacts(tmp_path / "pacts", consumer, first, second)
    (tmp_path / "pacts" / "README.txt").write_text("not a pact, not *.json")
    result = covenant(
        "contracts",
        "publish",
        str(tmp_path / "pacts"),
        "--version",
        "1.0.0",
        "--branch",
        "main",
        "--tag",
        "dev",
        "--tag",
        "rc",
        "--build-url",
        "https://ci.example/builds/1",
        "--broker",
        broker.url,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert f"published 2 pact(s) of {consumer} 1.0.0" in result.stdout
    assert f"{consumer} -> {first}" in result.stdout
    assert f"{consumer} -> {second}" in result.stdout
    assert "[success]" in result.stdout  # the broker's notices
    with broker.client() as client:
        for provider in (first, second):
            got = client.get(f"/pacts/provider/{provider}/consumer/{consumer}/version/1.0.0")
            assert got.status_code == 200
            assert got.json()["interactions"][0]["description"] == "a request for a"
        version = client.get(f"/pacticipants/{consumer}/versions/1.0.0").json()
        assert version.get("buildUrl") == "https://ci.example/builds/1"
        tags = {t["name"] for t in version["_embedded"]["tags"]}
        assert tags == {"dev", "rc"}
        branch = client.get(f"/pacticipants/{consumer}/branches/main/latest-version")
        assert branch.json()["number"] == "1.0.0"


def test_publish_finds_the_broker_in_the_environment_or_the_config(
    broker: Broker, tmp_path: Path
) -> None:
    consumer, provider = unique("cli-env-c"), unique("cli-env-p")
    write_pacts(tmp_path / "pacts", consumer, provider)
    from_env = covenant(
        "contracts",
        "publish",
        "pacts",
        "--version",
        "1",
        cwd=tmp_path,
        PACT_BROKER_BASE_URL=broker.url,
    )
    assert from_env.returncode == 0, from_env.stderr
    # No --broker and no $PACT_BROKER_BASE_URL: the local covenant serve from the config.
    port = httpx.URL(broker.url).port
    (tmp_path / "covenant.yaml").write_text(f"server:\n  host: 127.0.0.1\n  port: {port}\n")
    from_config = covenant(
        "contracts", "publish", "pacts", "--version", "2", "--token", RW_TOKEN, cwd=tmp_path
    )
    assert from_config.returncode == 0, from_config.stderr
    with broker.client() as client:
        versions = client.get(f"/pacticipants/{consumer}/versions").json()
    numbers = {v["number"] for v in versions["_embedded"]["versions"]}
    assert numbers == {"1", "2"}


def test_publish_malformed_json_names_file_and_line(broker: Broker, tmp_path: Path) -> None:
    directory = tmp_path / "pacts"
    write_pacts(directory, unique("cli-bad-c"), unique("cli-bad-p"))
    (directory / "zz-broken.json").write_text('{\n  "consumer": {"name": "x"},\n  oops\n}\n')
    result = covenant(
        "contracts",
        "publish",
        str(directory),
        "--version",
        "1",
        "--broker",
        broker.url,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "zz-broken.json:3:3" in result.stderr
    assert "not valid JSON" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"provider": {"name": "p"}, "interactions": []}', "odd.json:1:1: /consumer: is required"),
        ("[1, 2]", "odd.json:1:1: /: must be a JSON object (a pact), not a list"),
    ],
    ids=["no-consumer", "not-an-object"],
)
def test_publish_refuses_files_that_are_not_pacts(
    broker: Broker, tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "odd.json").write_text(content)
    result = covenant(
        "contracts",
        "publish",
        str(tmp_path),
        "--version",
        "1",
        "--broker",
        broker.url,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_publish_usage_errors(broker: Broker, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (
        ("contracts", "publish", str(empty), "--version", "1"),
        ("contracts", "publish", str(tmp_path / "missing"), "--version", "1"),
        ("contracts", "publish", str(empty)),  # --version is required
    ):
        result = covenant(*args, "--broker", broker.url, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
    bad_url = covenant(
        "contracts",
        "publish",
        str(empty),
        "--version",
        "1",
        "--broker",
        "not a url",
        cwd=tmp_path,
    )
    assert bad_url.returncode == 2


def test_publish_tokens_and_broker_rejections(broker: Broker, tmp_path: Path) -> None:
    consumer, provider = unique("cli-tok-c"), unique("cli-tok-p")
    write_pacts(tmp_path / "pacts", consumer, provider)
    args = ("contracts", "publish", "pacts", "--version", "1", "--broker", broker.url)
    no_token = covenant(*args, cwd=tmp_path, token=None)
    assert no_token.returncode == 2
    assert "token" in no_token.stderr
    read_only = covenant(*args, cwd=tmp_path, token=RO_TOKEN)
    assert read_only.returncode == 2
    assert "403" in read_only.stderr
    assert covenant(*args, cwd=tmp_path).returncode == 0
    # Same version, different content: the broker refuses (409), the CLI says why.
    write_pacts(tmp_path / "pacts", consumer, provider, marker="changed")
    conflict = covenant(*args, cwd=tmp_path)
    assert conflict.returncode == 2
    assert "409" in conflict.stderr


def test_publish_to_an_unreachable_broker_exits_3(tmp_path: Path) -> None:
    write_pacts(tmp_path / "pacts", "c", "p")
    result = covenant(
        "contracts",
        "publish",
        "pacts",
        "--version",
        "1",
        "--broker",
        closed_port_url(),
        "--timeout",
        "5",
        cwd=tmp_path,
    )
    assert result.returncode == 3
    assert "unreachable" in result.stderr


# -- record-deployment and can-i-deploy ---------------------------------------------


def environment(client: httpx.Client, name: str) -> str:
    response = client.post("/environments", json={"name": name, "production": False})
    assert response.status_code == 201, response.text
    uuid: str = response.json()["uuid"]
    return uuid


def verify(client: httpx.Client, consumer: str, provider: str, version: str, ok: bool) -> None:
    pact_doc = client.get(f"/pacts/provider/{provider}/consumer/{consumer}/version/{version}")
    href = pact_doc.json()["_links"]["pb:publish-verification-results"]["href"]
    response = client.post(href, json={"success": ok, "providerApplicationVersion": "p1"})
    assert response.status_code == 201, response.text


def test_record_deployment_and_can_i_deploy(broker: Broker, tmp_path: Path) -> None:
    consumer, provider = unique("cid-c"), unique("cid-p")
    env = unique("cid-env")
    with broker.client() as client:
        env_id = environment(client, env)
        publish(client, consumer, provider, "good", marker="a")
        publish(client, consumer, provider, "bad", marker="b")
        verify(client, consumer, provider, "good", ok=True)
        verify(client, consumer, provider, "bad", ok=False)

    record = covenant(
        "record-deployment",
        "--pacticipant",
        provider,
        "--version",
        "p1",
        "--environment",
        env,
        "--broker",
        broker.url,
        cwd=tmp_path,
    )
    assert record.returncode == 0, record.stderr
    assert f"recorded deployment of {provider} p1 to {env}" in record.stdout
    with broker.client() as client:
        deployed = client.get(f"/environments/{env_id}/deployed-versions/currently-deployed")
        assert provider in deployed.text

    def can_i_deploy(version: str) -> subprocess.CompletedProcess[str]:
        return covenant(
            "can-i-deploy",
            "--pacticipant",
            consumer,
            "--version",
            version,
            "--to-environment",
            env,
            "--broker",
            broker.url,
            cwd=tmp_path,
        )

    good = can_i_deploy("good")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "deployable" in good.stdout
    assert f"{consumer} good -> {provider} p1: verified" in good.stdout

    bad = can_i_deploy("bad")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "NOT deployable" in bad.stdout
    assert f"{consumer} bad -> {provider} p1: verification FAILED" in bad.stdout

    unknown = can_i_deploy("never-published")
    assert unknown.returncode in (1, 2), unknown.stdout + unknown.stderr


def test_record_deployment_usage_errors(broker: Broker, tmp_path: Path) -> None:
    consumer, provider = unique("rdu-c"), unique("rdu-p")
    env = unique("rdu-env")
    with broker.client() as client:
        environment(client, env)
        publish(client, consumer, provider, "1")
    base = ("record-deployment", "--broker", broker.url, "--pacticipant")
    no_env = covenant(*base, consumer, "--version", "1", "--environment", "nowhere", cwd=tmp_path)
    assert no_env.returncode == 2
    assert "no environment 'nowhere'" in no_env.stderr
    assert env in no_env.stderr  # the known environments are listed
    no_version = covenant(*base, consumer, "--version", "9", "--environment", env, cwd=tmp_path)
    assert no_version.returncode == 2
    assert "404" in no_version.stderr
    read_only = covenant(
        *base, consumer, "--version", "1", "--environment", env, cwd=tmp_path, token=RO_TOKEN
    )
    assert read_only.returncode == 2


@pytest.mark.parametrize(
    "command",
    [
        ("can-i-deploy", "--pacticipant", "a", "--version", "1", "--to-environment", "e"),
        ("record-deployment", "--pacticipant", "a", "--version", "1", "--environment", "e"),
    ],
    ids=["can-i-deploy", "record-deployment"],
)
def test_unreachable_broker_exits_3(command: tuple[str, ...], tmp_path: Path) -> None:
    result = covenant(*command, "--broker", closed_port_url(), "--timeout", "5", cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "unreachable" in result.stderr


def test_help_describes_the_commands(tmp_path: Path) -> None:
    for args, words in (
        (("contracts", "publish", "--help"), "Publish every pact in DIRECTORY"),
        (("can-i-deploy", "--help"), "Exit codes: 0 deployable, 1 not deployable"),
        (("record-deployment", "--help"), "now deployed to"),
    ):
        result = covenant(*args, cwd=tmp_path)
        assert result.returncode == 0
        assert words in " ".join(result.stdout.split())


# -- can-i-deploy with the OpenAPI comparison gate --------------------------------------

_SPEC = """
openapi: 3.1.0
info: {{title: things, version: "1"}}
paths:
  {path}:
    get:
      parameters:
        - {{name: marker, in: path, required: true, schema: {{type: string}}}}
      responses:
        "200":
          description: a thing
          content:
            application/json:
              schema:
                type: object
                properties: {{marker: {{type: string}}}}
                additionalProperties: false
"""


def test_can_i_deploy_with_the_comparison_gate(broker: Broker, tmp_path: Path) -> None:
    consumer, provider = unique("gate-c"), unique("gate-p")
    env = unique("gate-env")
    with broker.client() as client:
        environment(client, env)
        publish(client, consumer, provider, "1", marker="a")
        verify(client, consumer, provider, "1", ok=True)
    assert (
        covenant(
            "record-deployment",
            *("--pacticipant", provider, "--version", "p1", "--environment", env),
            *("--broker", broker.url),
            cwd=tmp_path,
        ).returncode
        == 0
    )
    documented = tmp_path / "documented.yaml"
    documented.write_text(_SPEC.format(path="/things/{marker}"))
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(_SPEC.format(path="/other/{marker}"))

    def can_i_deploy(spec: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        config = tmp_path / f"covenant-{spec.stem}.yaml"
        config.write_text(
            f"compare:\n  gate_can_i_deploy: true\n  specs:\n    {provider}: {spec}\n"
        )
        return covenant(
            *("-c", str(config), "can-i-deploy", "--pacticipant", consumer, "--version", "1"),
            *("--to-environment", env, "--broker", broker.url, *extra),
            cwd=tmp_path,
        )

    clean = can_i_deploy(documented)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "OpenAPI comparison: 1 HTTP interactions, 0 incompatible" in clean.stdout

    # Verified, so the broker alone says yes; the documented API says no.
    refused = can_i_deploy(elsewhere)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "request.path-or-method.unknown" in refused.stdout
    assert f"/pacts/provider/{provider}/consumer/{consumer}/version/1#/interactions/0" in (
        refused.stdout.replace("\n", "")
    )
    assert can_i_deploy(elsewhere, "--no-compare").returncode == 0


def test_can_i_deploy_retries_while_unknown_dry_run_and_json(
    broker: Broker, tmp_path: Path
) -> None:
    consumer, provider = unique("cir-c"), unique("cir-p")
    env = unique("cir-env")
    with broker.client() as client:
        environment(client, env)
        publish(client, consumer, provider, "good", marker="a")
        verify(client, consumer, provider, "good", ok=True)  # provider version p1
    record = covenant(
        "record-deployment", "--pacticipant", provider, "--version", "p1",
        "--environment", env, "--broker", broker.url, cwd=tmp_path,
    )  # fmt: skip
    assert record.returncode == 0, record.stdout + record.stderr
    with broker.client() as client:
        publish(client, consumer, provider, "later", marker="c")

    def ask(version: str, *options: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
        return covenant(
            "can-i-deploy", "--pacticipant", consumer, "--version", version,
            "--to-environment", env, "--broker", broker.url, *options, cwd=tmp_path, **env_vars,
        )  # fmt: skip

    # Unknown (no verification of "later" yet) and no retry: not deployable.
    unknown = ask("later", "--output", "json")
    assert unknown.returncode == 1, unknown.stdout + unknown.stderr
    answer = json.loads(unknown.stdout)
    assert answer["summary"]["unknown"] == 1 and answer["deployable"] is False
    assert answer["dryRun"] is False

    # The provider's verification lands while can-i-deploy waits for it.
    def verify_later() -> None:
        with broker.client() as client:
            verify(client, consumer, provider, "later", ok=True)

    timer = threading.Timer(2.0, verify_later)
    timer.start()
    try:
        waited = ask("later", "--retry-while-unknown", "20", "--retry-interval", "0.5")
    finally:
        timer.join(timeout=30)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "Waiting for 1 verification result to be published (maximum of 20 more times)" in (
        waited.stderr
    )
    assert f"{consumer} later -> {provider} p1: verified" in waited.stdout

    # A failed verification: not deployable, unless it is a dry run.
    with broker.client() as client:
        publish(client, consumer, provider, "bad", marker="b")
        verify(client, consumer, provider, "bad", ok=False)
    assert ask("bad").returncode == 1
    dry = ask("bad", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"[dry-run] {consumer} bad to {env}: NOT deployable" in dry.stdout
    by_env = ask("bad", "-o", "json", PACT_BROKER_CAN_I_DEPLOY_DRY_RUN="true")
    assert by_env.returncode == 0, by_env.stdout + by_env.stderr
    assert json.loads(by_env.stdout)["dryRun"] is True
