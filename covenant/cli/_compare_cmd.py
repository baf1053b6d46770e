"""``covenant contracts compare``: every pact checked against its provider's OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from covenant.cli._common import out, state
from covenant.kernel.errors import CovenantError, ErrorKind

if TYPE_CHECKING:
    from covenant.kernel.config import CovenantConfig
    from verifiers.compare import CompareResult, OpenApiDocument


def spec_source(provider: str, config: CovenantConfig) -> str:
    """Where PROVIDER's OpenAPI document is: compare.specs, else the local stack."""
    return config.compare.specs.get(provider) or _stack_spec_url(provider, config.stack.state_dir)


def _stack_spec_url(provider: str, state_dir: Path) -> str:
    from covenant.kernel.endpoints import engine_key, stack_service_url

    engine = engine_key(provider)
    url = stack_service_url(state_dir, provider)
    if url is None:
        raise CovenantError(
            f"no OpenAPI document for '{provider}': the local stack runs no '{engine}' "
            f"(start it with `covenant stack up`, pass --spec URL_OR_FILE, or set "
            f"compare.specs.{provider} in the configuration)",
            kind=ErrorKind.USAGE,
        )
    return url.rstrip("/") + "/openapi.json"


def _render(result: CompareResult) -> None:
    from rich.table import Table

    table = Table(title="pacts vs OpenAPI", title_justify="left")
    table.add_column("provider", no_wrap=True)
    table.add_column("HTTP", justify="right", no_wrap=True)
    table.add_column("messages", justify="right", no_wrap=True)
    table.add_column("incompatible", justify="right", no_wrap=True)
    table.add_column("OpenAPI document", overflow="fold")
    for report in result.providers:
        verdict = "[green]0[/]" if report.compatible else f"[red]{len(report.incompatibilities)}[/]"
        table.add_row(
            escape(report.provider),
            str(report.checked),
            str(report.skipped_messages),
            verdict,
            escape(report.spec_source or "(not needed)"),
        )
    out.print(table)
    for item in result.incompatibilities:
        out.print(
            f"[red]x[/] [bold]{escape(item.code)}[/]  {escape(item.consumer)} -> "
            f"{escape(item.provider)}: {escape(item.interaction)}",
            soft_wrap=True,
        )
        out.print(f"    {item.message}", markup=False, soft_wrap=True)
        out.print(f"    pact: {item.pact_file}#{item.pact_pointer}", markup=False, soft_wrap=True)
        out.print(f"    spec: {item.spec_pointer or '/'}", markup=False, soft_wrap=True)
    total = len(result.incompatibilities)
    if total:
        out.print(
            f"[red]incompatible[/]: {total} incompatibilit{'y' if total == 1 else 'ies'} "
            f"in {result.checked} HTTP interactions",
            soft_wrap=True,
        )
    else:
        out.print(
            f"[green]compatible[/]: {result.checked} HTTP interactions match their OpenAPI "
            f"documents ({result.skipped_messages} message interactions skipped)",
            soft_wrap=True,
        )


def compare(
    ctx: typer.Context,
    provider: Annotated[
        str | None,
        typer.Argument(help="Only this provider's pacts, e.g. hono-api (default: every one)."),
    ] = None,
    pacts: Annotated[
        Path | None,
        typer.Option("--pacts", help="Directory of pact files (default: contracts/pacts)."),
    ] = None,
    spec: Annotated[
        str | None,
        typer.Option(
            "--spec",
            help=(
                "The provider's OpenAPI document, a URL or a file, JSON or YAML "
                "(default: the local stack's PROVIDER/openapi.json). Needs PROVIDER."
            ),
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check every HTTP interaction of the pacts against its provider's OpenAPI document.

    Paths and methods, parameters, request and response bodies, statuses and
    media types; each incompatibility has a stable code and JSON pointers into
    the pact and the document. Message interactions are skipped and counted.

    Exit codes: 0 compatible, 1 incompatibilities found, 2 usage or
    configuration error (e.g. a malformed pact), 3 an OpenAPI document is
    unreachable.
    """
    from contracts.pactfile import limits_for
    from contracts.paths import PACTS_DIR
    from verifiers.compare import compare_pacts, load_pacts, load_spec

    if spec is not None and provider is None:
        raise CovenantError(
            "--spec describes one provider: name it "
            "(covenant contracts compare PROVIDER --spec ...)",
            kind=ErrorKind.USAGE,
        )
    pact_list = load_pacts(pacts or PACTS_DIR, limits=limits_for(state(ctx).config().pacts))
    if not pact_list:
        raise CovenantError(f"{pacts or PACTS_DIR}: no pact files (*.json)", kind=ErrorKind.USAGE)

    def spec_for(name: str) -> OpenApiDocument:
        if spec is not None:
            return load_spec(spec)
        return load_spec(spec_source(name, state(ctx).config()))

    result = compare_pacts(pact_list, spec_for, provider=provider)
    if json_output:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _render(result)
    if not result.compatible:
        raise typer.Exit(1)
