"""`covenant contracts compare` against the reference services' live OpenAPI documents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from contracts.paths import PACTS_DIR
from tests.conftest import CovenantCli
from tests.integration.conftest import RunningStack

HTTP_PROVIDERS = ["baml-extractor", "elixir-processor", "hono-api"]
WEB_CLIENT_PACT = "web-client-hono-api.json"


@pytest.fixture
def run_compare(cli: CovenantCli, tmp_path: Path) -> Any:
    """Run ``covenant contracts compare --json`` (in an empty directory, with the test
    stack as the local stack); returns (exit, JSON)."""

    def run(*args: str) -> tuple[int, dict[str, Any]]:
        done = cli("contracts", "compare", *args, "--json", cwd=tmp_path)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, json.loads(done.stdout)

    return run


def _findings(report: dict[str, Any]) -> str:
    return "\n".join(
        f"{i['code']} {i['consumer']}: {i['interaction']} {i['pact_pointer']} -> "
        f"{i['spec_pointer']}: {i['message']}"
        for p in report["providers"]
        for i in p["incompatibilities"]
    )


def test_every_committed_pact_is_compatible_with_its_live_provider(run_compare: Any) -> None:
    code, report = run_compare()
    assert code == 0, _findings(report)
    assert report["compatible"] is True
    by_provider = {p["provider"]: p for p in report["providers"]}
    for provider in HTTP_PROVIDERS:
        assert by_provider[provider]["checked"] > 0, provider
        assert by_provider[provider]["spec"].endswith("/openapi.json")
    # The Kafka pacts are counted, not compared: event-worker is only a message provider.
    assert by_provider["event-worker"]["checked"] == 0
    assert by_provider["event-worker"]["spec"] is None
    assert report["skipped_messages"] == 2


@pytest.mark.parametrize("provider", HTTP_PROVIDERS)
def test_each_provider_alone_and_with_an_explicit_spec(
    run_compare: Any, stack: RunningStack, provider: str
) -> None:
    code, report = run_compare(provider)
    assert code == 0, _findings(report)
    assert [p["provider"] for p in report["providers"]] == [provider]
    url = stack.url(provider.replace("-", "_")) + "/openapi.json"
    code, report = run_compare(provider, "--spec", url)
    assert code == 0, _findings(report)
    assert report["providers"][0]["spec"] == url


def _edited_pact(tmp_path: Path, description: str) -> tuple[Path, dict[str, Any], int]:
    """A copy of the pacts directory; returns it, the web-client pact and the index."""
    pacts = tmp_path / "pacts"
    shutil.copytree(PACTS_DIR, pacts)
    document = json.loads((pacts / WEB_CLIENT_PACT).read_text(encoding="utf-8"))
    [index] = [
        i for i, it in enumerate(document["interactions"]) if it["description"] == description
    ]
    return pacts, document, index


def _save(pacts: Path, document: dict[str, Any]) -> None:
    (pacts / WEB_CLIENT_PACT).write_text(json.dumps(document, indent=2), encoding="utf-8")


def test_a_pact_calling_an_undocumented_path(run_compare: Any, tmp_path: Path) -> None:
    pacts, document, index = _edited_pact(tmp_path, "a request for events similar to an event")
    document["interactions"][index]["request"]["path"] = "/api/events/venues/nearby/all"
    _save(pacts, document)

    code, report = run_compare("hono-api", "--pacts", str(pacts))
    assert code == 1
    [found] = report["providers"][0]["incompatibilities"]
    assert found["code"] == "request.path-or-method.unknown"
    assert found["pact_pointer"] == f"/interactions/{index}/request/path"
    assert found["spec_pointer"] == "/paths"
    assert found["consumer"] == "web-client"
    assert found["interaction"] == "a request for events similar to an event"
    assert found["pact_file"].endswith(WEB_CLIENT_PACT)


def test_a_pact_with_an_undocumented_method(run_compare: Any, tmp_path: Path) -> None:
    pacts, document, index = _edited_pact(tmp_path, "a request for an event by id")
    document["interactions"][index]["request"]["method"] = "DELETE"
    _save(pacts, document)

    code, report = run_compare("hono-api", "--pacts", str(pacts))
    assert code == 1
    [found] = report["providers"][0]["incompatibilities"]
    assert found["code"] == "request.path-or-method.unknown"
    assert found["pact_pointer"] == f"/interactions/{index}/request/method"
    assert found["spec_pointer"] == "/paths/~1api~1events~1{id}"


def test_a_pact_expecting_undocumented_or_mistyped_fields(run_compare: Any, tmp_path: Path) -> None:
    pacts, document, index = _edited_pact(tmp_path, "a request for an event by id")
    content = document["interactions"][index]["response"]["body"]["content"]
    content["venue"] = "Hall 1"  # hono-api's EventDetail has no such field
    content["speakers"][0]["twitter"] = "@ada"  # nor has Speaker
    content["qualityScore"] = "high"  # a number in the document
    _save(pacts, document)

    code, report = run_compare("hono-api", "--pacts", str(pacts))
    assert code == 1
    found = {
        (i["code"], i["pact_pointer"], i["spec_pointer"])
        for i in report["providers"][0]["incompatibilities"]
    }
    body = f"/interactions/{index}/response/body/content"
    assert found == {
        (
            "response.body.unknown-field",
            f"{body}/venue",
            "/components/schemas/EventDetail/properties",
        ),
        (
            "response.body.unknown-field",
            f"{body}/speakers/0/twitter",
            "/components/schemas/Speaker/properties",
        ),
        (
            "response.body.incompatible",
            f"{body}/qualityScore",
            "/components/schemas/EventDetail/properties/qualityScore/type",
        ),
    }
