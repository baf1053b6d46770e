"""``covenant contracts publish``, ``covenant can-i-deploy``, ``covenant record-deployment``:
the broker's everyday commands, over HTTP.

The broker is ``--broker``, else ``$PACT_BROKER_BASE_URL``, else the local
``covenant serve`` (server.host:server.port). The token is ``--token``, else
``$PACT_BROKER_TOKEN``; it is sent, never printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from covenant.cli._common import out, state

if TYPE_CHECKING:
    from contracts.broker.client import BrokerClient

__all__ = ["app", "can_i_deploy", "publish", "record_deployment", "register"]

app = typer.Typer(
    help="Contracts: publish pacts to the broker, compare pacts with OpenAPI documents.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

BrokerOption = Annotated[
    str | None,
    typer.Option(
        "--broker",
        help=(
            "Broker base URL (default: $PACT_BROKER_BASE_URL, "
            "else the local covenant serve at server.host:server.port)."
        ),
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="Bearer token (default: $PACT_BROKER_TOKEN). Never printed.",
        show_default=False,
    ),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the broker per request.")
]


def _broker_url(ctx: typer.Context, broker: str | None) -> str:
    if broker:
        return broker
    env = os.environ.get("PACT_BROKER_BASE_URL", "").strip()
    if env:
        return env
    server = state(ctx).config().server
    host = server.host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{server.port}"


def _client(
    ctx: typer.Context, broker: str | None, token: str | None, timeout: float
) -> BrokerClient:
    from contracts.broker.client import BrokerClient

    secret = token if token is not None else os.environ.get("PACT_BROKER_TOKEN") or None
    return BrokerClient(_broker_url(ctx, broker), secret, timeout=timeout)


def _say(text: str, style: str | None = None) -> None:
    shown = escape(text)
    out.print(f"[{style}]{shown}[/]" if style else shown, markup=True, soft_wrap=True)


def _notices(result: dict[str, Any]) -> None:
    styles = {"success": "green", "warning": "yellow", "danger": "red", "error": "red"}
    for notice in result.get("notices") or []:
        if not isinstance(notice, dict):
            continue
        kind = str(notice.get("type", "info"))
        _say(f"  [{kind}] {notice.get('text', '')}", styles.get(kind))


@app.command("publish")
def publish(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(help="Directory of *.json pact files (or one pact file).")
    ],
    version: Annotated[
        str, typer.Option("--version", help="The consumer version these pacts belong to.")
    ],
    branch: Annotated[
        str | None, typer.Option("--branch", help="The consumer version's branch.")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Tag the consumer version (repeatable).")
    ] = None,
    build_url: Annotated[
        str | None, typer.Option("--build-url", help="The CI build that made these pacts.")
    ] = None,
    broker: BrokerOption = None,
    token: TokenOption = None,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Publish every pact in DIRECTORY to the broker (POST /contracts/publish).

    Pacts are grouped by consumer; each consumer's pacts are published as one
    version. Exit codes: 0 published, 2 a malformed pact or a rejected request,
    3 broker unreachable.
    """
    from contracts.broker.client import by_consumer, publish_body, read_pacts
    from contracts.pactfile import limits_for

    pacts = read_pacts([directory], limits=limits_for(state(ctx).config().pacts))
    with _client(ctx, broker, token, timeout) as client:
        for consumer, group in by_consumer(pacts).items():
            body = publish_body(
                consumer, group, version=version, branch=branch, tags=tag or (), build_url=build_url
            )
            result = client.publish_contracts(body)
            extra = []
            if branch:
                extra.append(f"branch {branch}")
            if tag:
                extra.append("tags " + ", ".join(tag))
            suffix = f" ({'; '.join(extra)})" if extra else ""
            _say(f"published {len(group)} pact(s) of {consumer} {version}{suffix}", "green")
            for pact in group:
                _say(f"  {pact.consumer} -> {pact.provider}  ({pact.path.name})")
            _notices(result)
            contracts = result.get("_links", {}).get("pb:contracts") or []
            for entry in contracts if isinstance(contracts, list) else [contracts]:
                if isinstance(entry, dict) and entry.get("href"):
                    _say(f"  {entry['href']}")


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
) -> None:
    """Ask the broker whether VERSION of PACTICIPANT can be deployed to an environment.

    Prints the summary and every row of the matrix. With the comparison gate
    (--compare or compare.gate_can_i_deploy), every pact in the answer must also
    match its provider's OpenAPI document. Exit codes: 0 deployable, 1 not
    deployable, 2 usage or a rejected request, 3 broker or OpenAPI document
    unreachable.
    """
    gate = state(ctx).config().compare.gate_can_i_deploy if compare is None else compare
    with _client(ctx, broker, token, timeout) as client:
        result = client.can_i_deploy(pacticipant, version, to_environment)
        rows = result.get("matrix") or []
        comparison = _compare_gate(ctx, client, rows) if gate else None
    summary = result.get("summary") or {}
    deployable = summary.get("deployable") is True
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict):
            _say(f"  {_party(row, 'consumer')} -> {_party(row, 'provider')}: {_verdict(row)}")
    counts = ", ".join(
        f"{summary[k]} {k}" for k in ("success", "failed", "unknown") if k in summary
    )
    reason = str(summary.get("reason", ""))
    headline = f"{pacticipant} {version} to {to_environment}: " + (
        "deployable" if deployable else "NOT deployable"
    )
    _say(headline, "green" if deployable else "red")
    if result.get("notices"):
        _notices(result)
    elif reason:
        for line in reason.splitlines():
            _say(f"  {line}")
    if counts:
        _say(f"  ({counts})")
    if comparison is not None and not comparison:
        _say("  the pacts above do not all match their providers' OpenAPI documents", "red")
    if not deployable or comparison is False:
        raise typer.Exit(1)


def _compare_gate(ctx: typer.Context, client: BrokerClient, rows: Any) -> bool:
    """Compare the pacts of the matrix rows with their providers' documents; print
    each incompatibility; True when there is none."""
    from covenant.cli._compare_cmd import spec_source
    from verifiers.compare import compare_matrix_pacts, load_spec

    config = state(ctx).config()
    result, origins = compare_matrix_pacts(
        rows if isinstance(rows, list) else [],
        lambda href: client.request("GET", href),
        lambda provider: load_spec(spec_source(provider, config)),
    )
    for item in result.incompatibilities:
        _say(f"  x {item.code}  {item.consumer} -> {item.provider}: {item.interaction}", "red")
        _say(f"      {item.message}")
        _say(f"      pact: {origins.get(item.pact_file, item.pact_file)}#{item.pact_pointer}")
        _say(f"      spec: {item.spec_pointer or '/'}")
    _say(
        f"  OpenAPI comparison: {result.checked} HTTP interactions, "
        f"{len(result.incompatibilities)} incompatible",
        "green" if result.compatible else "red",
    )
    return result.compatible


def record_deployment(
    ctx: typer.Context,
    pacticipant: Annotated[str, typer.Option("--pacticipant", help="The application.")],
    version: Annotated[str, typer.Option("--version", help="The version deployed.")],
    environment: Annotated[str, typer.Option("--environment", help="Where it was deployed.")],
    application_instance: Annotated[
        str | None,
        typer.Option(
            "--application-instance", help="Which instance, when several run side by side."
        ),
    ] = None,
    broker: BrokerOption = None,
    token: TokenOption = None,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Tell the broker VERSION of PACTICIPANT is now deployed to ENVIRONMENT.

    Exit codes: 0 recorded, 2 unknown version or environment, 3 broker unreachable.
    """
    with _client(ctx, broker, token, timeout) as client:
        result = client.record_deployment(
            pacticipant, version, environment, application_instance=application_instance
        )
    _say(f"recorded deployment of {pacticipant} {version} to {environment}", "green")
    uuid = result.get("uuid")
    if uuid:
        _say(f"  deployed version {uuid}")
    _notices(result)


def register(root: typer.Typer) -> None:
    """Add these commands to the ``covenant`` root command."""
    from covenant.cli._compare_cmd import compare

    app.command("compare")(compare)
    root.add_typer(app, name="contracts")
    root.command("can-i-deploy")(can_i_deploy)
    root.command("record-deployment")(record_deployment)
