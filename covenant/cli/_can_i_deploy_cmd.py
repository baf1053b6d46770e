"""``covenant can-i-deploy``: may this version go to that environment? As the Pact
Broker client asks it: the broker's matrix answer, retried while verification results
are still unknown, optionally gated on the pact-vs-OpenAPI comparison, printed as a
table or JSON, and in a dry run always exit 0."""

from __future__ import annotations

import json
import os
import sys
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from covenant.cli._common import state
from covenant.cli._contracts_cmd import (
    BrokerOption,
    TimeoutOption,
    TokenOption,
    broker_client,
    notices,
    say,
)

if TYPE_CHECKING:
    from contracts.broker.client import BrokerClient

__all__ = ["can_i_deploy"]

#: As the Pact Broker client reads it: ``true`` turns every can-i-deploy into a dry run.
DRY_RUN_ENV = "PACT_BROKER_CAN_I_DEPLOY_DRY_RUN"


class Output(StrEnum):
    table = "table"
    json = "json"


def _party(row: dict[str, Any], role: str) -> str:
    party = row.get(role) or {}
    name = party.get("name", "?")
    version = (party.get("version") or {}).get("number")
    return f"{name} {version}" if version else f"{name} (no version)"


def _verdict(row: dict[str, Any]) -> str:
    result = row.get("verificationResult")
    if not isinstance(result, dict):
        return "unverified"
    return "verified" if result.get("success") else "verification FAILED"


def _unknown(result: dict[str, Any]) -> int:
    value = (result.get("summary") or {}).get("unknown")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _ask(
    client: BrokerClient,
    pacticipant: str,
    version: str,
    environment: str,
    retries: int,
    interval: float,
) -> dict[str, Any]:
    """The broker's answer, asked again every ``interval`` seconds (at most ``retries``
    more times) while some verification result is unknown: CI that deploys right after
    triggering a provider verification waits for it instead of failing."""
    for attempt in range(retries + 1):
        result = client.can_i_deploy(pacticipant, version, environment)
        unknown = _unknown(result)
        left = retries - attempt
        if not unknown or not left:
            return result
        plural = "s" if unknown != 1 else ""
        print(
            f"Waiting for {unknown} verification result{plural} to be published"
            f" (maximum of {left} more time{'s' if left != 1 else ''})",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(interval)
    raise AssertionError("unreachable")  # pragma: no cover


def can_i_deploy(
    ctx: typer.Context,
    pacticipant: Annotated[str, typer.Option("--pacticipant", help="The application.")],
    version: Annotated[str, typer.Option("--version", help="The version to deploy.")],
    to_environment: Annotated[
        str, typer.Option("--to-environment", help="Where it would be deployed.")
    ],
    broker: BrokerOption = None,
    token: TokenOption = None,
    timeout: TimeoutOption = 30.0,
    compare: Annotated[
        bool | None,
        typer.Option(
            "--compare/--no-compare",
            help="Also require each pact involved to match its provider's OpenAPI document"
            " (default: compare.gate_can_i_deploy).",
        ),
    ] = None,
    retry_while_unknown: Annotated[
        int,
        typer.Option(
            "--retry-while-unknown",
            min=0,
            max=1000,
            help="Ask again up to this many times while a verification result is unknown"
            " (the provider's verification is likely still running).",
        ),
    ] = 0,
    retry_interval: Annotated[
        float,
        typer.Option(
            "--retry-interval", min=0.0, max=3600.0, help="Seconds between those retries."
        ),
    ] = 10.0,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help=f"Print the answer and always exit 0 (also ${DRY_RUN_ENV}=true).",
        ),
    ] = False,
    output: Annotated[
        Output, typer.Option("--output", "-o", help="table (default) or json.")
    ] = Output.table,
) -> None:
    """Ask the broker whether VERSION of PACTICIPANT can be deployed to an environment.

    Prints the summary and every row of the matrix (--output json: the broker's answer
    as JSON on stdout, progress on stderr). With the comparison gate (--compare or
    compare.gate_can_i_deploy), every pact in the answer must also match its provider's
    OpenAPI document. Exit codes: 0 deployable, 1 not deployable, 2 usage or a
    rejected request, 3 broker or OpenAPI document unreachable; with --dry-run the
    answer always exits 0.
    """
    dry_run = dry_run or os.environ.get(DRY_RUN_ENV, "").strip().lower() == "true"
    gate = state(ctx).config().compare.gate_can_i_deploy if compare is None else compare
    as_json = output is Output.json
    with broker_client(ctx, broker, token, timeout) as client:
        result = _ask(
            client, pacticipant, version, to_environment, retry_while_unknown, retry_interval
        )
        rows = result.get("matrix") or []
        comparison = _compare_gate(ctx, client, rows, show=not as_json) if gate else None
    deployable = (result.get("summary") or {}).get("deployable") is True
    allowed = deployable and (comparison is None or comparison["compatible"])
    if as_json:
        answer = {**result, "deployable": allowed, "dryRun": dry_run}
        if comparison is not None:
            answer["openapiComparison"] = comparison
        typer.echo(json.dumps(answer, indent=2, sort_keys=True))
    else:
        _table(result, pacticipant, version, to_environment, comparison, dry_run)
    if not allowed and not dry_run:
        raise typer.Exit(1)


def _table(
    result: dict[str, Any],
    pacticipant: str,
    version: str,
    environment: str,
    comparison: dict[str, Any] | None,
    dry_run: bool,
) -> None:
    prefix = "[dry-run] " if dry_run else ""
    summary = result.get("summary") or {}
    deployable = summary.get("deployable") is True
    rows = result.get("matrix") or []
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict):
            say(
                f"{prefix}  {_party(row, 'consumer')} -> {_party(row, 'provider')}: {_verdict(row)}"
            )
    counts = ", ".join(
        f"{summary[k]} {k}" for k in ("success", "failed", "unknown") if k in summary
    )
    headline = f"{prefix}{pacticipant} {version} to {environment}: " + (
        "deployable" if deployable else "NOT deployable"
    )
    say(headline, "green" if deployable else "red")
    reason = str(summary.get("reason", ""))
    if result.get("notices"):
        notices(result)
    elif reason:
        for line in reason.splitlines():
            say(f"{prefix}  {line}")
    if counts:
        say(f"{prefix}  ({counts})")
    if comparison is not None and not comparison["compatible"]:
        say(f"{prefix}  the pacts above do not all match their providers' OpenAPI documents", "red")
    if dry_run:
        say("[dry-run] exit code 0 whatever the answer (dry run)", "yellow")


def _compare_gate(
    ctx: typer.Context, client: BrokerClient, rows: Any, *, show: bool
) -> dict[str, Any]:
    """Compare the pacts of the matrix rows with their providers' documents: whether
    they are compatible and every incompatibility (printed too, unless ``show`` is off)."""
    from covenant.cli._compare_cmd import spec_source
    from verifiers.compare import compare_matrix_pacts, load_spec

    config = state(ctx).config()
    result, origins = compare_matrix_pacts(
        rows if isinstance(rows, list) else [],
        lambda href: client.request("GET", href),
        lambda provider: load_spec(spec_source(provider, config)),
    )
    found = [
        {
            "code": item.code,
            "consumer": item.consumer,
            "provider": item.provider,
            "interaction": item.interaction,
            "message": item.message,
            "pact": f"{origins.get(item.pact_file, item.pact_file)}#{item.pact_pointer}",
            "spec": item.spec_pointer or "/",
        }
        for item in result.incompatibilities
    ]
    if show:
        for item in found:
            say(
                f"  x {item['code']}  {item['consumer']} -> {item['provider']}: "
                f"{item['interaction']}",
                "red",
            )
            say(f"      {item['message']}")
            say(f"      pact: {item['pact']}")
            say(f"      spec: {item['spec']}")
        say(
            f"  OpenAPI comparison: {result.checked} HTTP interactions, {len(found)} incompatible",
            "green" if result.compatible else "red",
        )
    return {"compatible": result.compatible, "checked": result.checked, "incompatibilities": found}
