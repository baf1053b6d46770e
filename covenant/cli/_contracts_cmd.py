"""``covenant contracts publish``, ``covenant record-deployment`` (and the options and
client ``covenant can-i-deploy`` shares): the broker's everyday commands, over HTTP.

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

__all__ = [
    "BrokerOption",
    "TimeoutOption",
    "TokenOption",
    "app",
    "broker_client",
    "notices",
    "publish",
    "record_deployment",
    "register",
    "say",
]

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


def broker_client(
    ctx: typer.Context, broker: str | None, token: str | None, timeout: float
) -> BrokerClient:
    from contracts.broker.client import BrokerClient

    secret = token if token is not None else os.environ.get("PACT_BROKER_TOKEN") or None
    return BrokerClient(_broker_url(ctx, broker), secret, timeout=timeout)


def say(text: str, style: str | None = None) -> None:
    shown = escape(text)
    out.print(f"[{style}]{shown}[/]" if style else shown, markup=True, soft_wrap=True)


def notices(result: dict[str, Any]) -> None:
    styles = {"success": "green", "warning": "yellow", "danger": "red", "error": "red"}
    for notice in result.get("notices") or []:
        if not isinstance(notice, dict):
            continue
        kind = str(notice.get("type", "info"))
        say(f"  [{kind}] {notice.get('text', '')}", styles.get(kind))


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
    with broker_client(ctx, broker, token, timeout) as client:
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
            say(f"published {len(group)} pact(s) of {consumer} {version}{suffix}", "green")
            for pact in group:
                say(f"  {pact.consumer} -> {pact.provider}  ({pact.path.name})")
            notices(result)
            contracts = result.get("_links", {}).get("pb:contracts") or []
            for entry in contracts if isinstance(contracts, list) else [contracts]:
                if isinstance(entry, dict) and entry.get("href"):
                    say(f"  {entry['href']}")


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
    with broker_client(ctx, broker, token, timeout) as client:
        result = client.record_deployment(
            pacticipant, version, environment, application_instance=application_instance
        )
    say(f"recorded deployment of {pacticipant} {version} to {environment}", "green")
    uuid = result.get("uuid")
    if uuid:
        say(f"  deployed version {uuid}")
    notices(result)


def register(root: typer.Typer) -> None:
    """Add these commands to the ``covenant`` root command."""
    from covenant.cli._compare_cmd import compare

    app.command("compare")(compare)
    root.add_typer(app, name="contracts")
    root.command("record-deployment")(record_deployment)
