"""The demo's contract loop against Covenant's own broker: publish the committed
pacts, verify every reference provider from the broker and publish the results,
record the providers' deployment, and ask can-i-deploy for each consumer."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.markup import escape

from contracts.paths import PACTS_DIR
from covenant.cli._common import out
from covenant.kernel.config import REFERENCE_SERVICES
from covenant.kernel.endpoints import service_name
from covenant.kernel.stackstate import StackState

ENVIRONMENT = "demo"
BRANCH = "main"


def _say(ok: bool, text: str) -> None:
    colour = "green" if ok else "red"
    out.print(f"[{colour}]{'ok' if ok else 'FAILED'}[/] {escape(text)}", markup=True)


def contract_loop(broker_url: str, token: str, stack: StackState) -> bool:
    """True when every step succeeded; each step's outcome is printed."""
    from contracts.broker.client import BrokerClient, by_consumer, publish_body, read_pacts
    from verifiers.provider import VerifyOptions, verify_provider

    version = "demo-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    pacts = read_pacts(sorted(PACTS_DIR.glob("*.json")))
    grouped = by_consumer(pacts)
    passed = True
    with BrokerClient(broker_url, token) as broker:
        for consumer, group in sorted(grouped.items()):
            broker.publish_contracts(publish_body(consumer, group, version=version, branch=BRANCH))
        _say(True, f"published {len(pacts)} pacts of {len(grouped)} consumers as {version}")

        environments = broker.request("GET", "/environments", params={"name": ENVIRONMENT})
        if not environments.get("_embedded", {}).get("environments"):
            broker.request("POST", "/environments", json_body={"name": ENVIRONMENT})

        for service in REFERENCE_SERVICES:
            record = stack.engines.get(service)
            if record is None:
                continue
            provider = service_name(service)
            result = verify_provider(
                VerifyOptions(
                    provider,
                    record.url,
                    broker_url=broker_url,
                    broker_token=token,
                    publish=True,
                    provider_version=version,
                    provider_branch=BRANCH,
                )
            )
            _say(
                result.passed,
                f"{provider}: {len(result.outcomes)} interactions from the broker, "
                "results published",
            )
            passed = passed and result.passed
            if result.passed:
                broker.record_deployment(provider, version, ENVIRONMENT)

        for consumer in sorted(grouped):
            answer = broker.can_i_deploy(consumer, version, ENVIRONMENT)
            summary = answer.get("summary", {})
            deployable = summary.get("deployable") is True
            _say(
                deployable,
                f"can-i-deploy {consumer} {version} to {ENVIRONMENT}: {summary.get('reason', '')}",
            )
            passed = passed and deployable
    return passed
