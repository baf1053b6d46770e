"""Provider verification of every reference service, its broken variants, and bad input."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from contracts.paths import PACTS_DIR
from covenant.stack._ports import free_port
from tests.conftest import CovenantCli
from tests.integration.conftest import RunningStack, variant
from verifiers.provider import VerifyOptions, VerifyResult, verify_provider

PROVIDERS = ["baml-extractor", "elixir-processor", "hono-api", "event-worker"]


def _verify(provider: str, base_url: str) -> VerifyResult:
    return verify_provider(VerifyOptions(provider, base_url, pacts_dir=PACTS_DIR))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_reference_provider_verifies_green(stack: RunningStack, provider: str) -> None:
    result = _verify(provider, stack.url(provider.replace("-", "_")))
    assert result.outcomes, "no interaction was verified"
    assert result.passed, "\n".join(
        f"{o.description}: {[m.describe() for m in o.mismatches]}" for o in result.failed
    )
    # Provider states are torn down: verification leaves the service healthy.
    health = httpx.get(f"{stack.url(provider.replace('-', '_'))}/health", timeout=5)
    assert health.status_code == 200, health.text


# (service, fault, the interaction that must fail, what its report must name)
BROKEN = [
    ("hono-api", "renamed-field", "a request for an event by id", "title"),
    ("hono-api", "wrong-status", "a request to scrape a Luma event page", "202"),
    ("hono-api", "missing-endpoint", "a request for events similar to an event", "404"),
    ("elixir-processor", "renamed-field", "a request to process an event page", "job_id"),
    ("elixir-processor", "wrong-status", "a request to process an event page", "202"),
    ("elixir-processor", "missing-endpoint", "a request for a job's status", "404"),
    ("baml-extractor", "renamed-field", "a request to extract an event from a page", "title"),
    (
        "baml-extractor",
        "wrong-status",
        "a request to extract an event when the LLM answers nonsense",
        "422",
    ),
    ("baml-extractor", "missing-endpoint", "a request to score an extracted event", "404"),
    ("event-worker", "renamed-field", "an event.processed message", "eventId"),
]


@pytest.mark.parametrize(("provider", "fault", "interaction", "named"), BROKEN)
def test_broken_variant_fails_naming_interaction_and_field(
    stack: RunningStack, provider: str, fault: str, interaction: str, named: str
) -> None:
    with variant(stack, provider.replace("-", "_"), fault) as base:
        result = _verify(provider, base)
    assert not result.passed
    failed = {o.description: o for o in result.failed}
    assert interaction in failed, f"{interaction!r} did not fail; failed: {list(failed)}"
    report = " ".join(m.describe() for m in failed[interaction].mismatches)
    assert named in report, report


def test_cli_verifies_and_writes_junit(
    stack: RunningStack, cli: CovenantCli, tmp_path: Path
) -> None:
    junit = tmp_path / "hono.xml"
    done = cli("verify", "hono-api", "--base-url", stack.url("hono_api"), "--junit", str(junit))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verified" in done.stdout
    xml = junit.read_text()
    assert xml.count("<testcase") >= 10 and "<failure" not in xml


def test_stopped_provider_exits_3_without_traceback() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    done = CovenantCli()("verify", "hono-api", "--base-url", closed)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "not reachable" in done.stderr
    assert "Traceback" not in done.stderr


def test_malformed_pact_exits_2_naming_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{\n  "provider": {"name": "hono-api"},\n  oops\n}')
    done = CovenantCli()(
        "verify", "hono-api", "--base-url", "http://127.0.0.1:9", "--pacts", str(tmp_path)
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "broken.json:3" in done.stderr
    assert "Traceback" not in done.stderr
