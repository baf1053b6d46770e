"""``covenant verify``: Pact provider verification."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from contracts.paths import PACTS_DIR
from covenant.cli._common import err, out, state
from covenant.kernel.endpoints import stack_service_url
from covenant.kernel.errors import CovenantError, ErrorKind


def verify(
    ctx: typer.Context,
    provider: Annotated[str, typer.Argument(help="Provider name as in the pacts, e.g. hono-api.")],
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", help="Where the provider runs (default: the local stack's instance)."
        ),
    ] = None,
    pacts: Annotated[
        Path | None,
        typer.Option("--pacts", help="Directory of pact files (default: contracts/pacts)."),
    ] = None,
    broker: Annotated[
        str | None,
        typer.Option(
            "--broker",
            help="Fetch pacts for verification from this broker; token from $PACT_BROKER_TOKEN.",
        ),
    ] = None,
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish results to the broker.")
    ] = False,
    version: Annotated[
        str | None, typer.Option("--version", help="Provider version (for --publish).")
    ] = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Provider branch.")] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Per-request timeout in seconds.")
    ] = 10.0,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print the Pact verifier's own report.")
    ] = False,
) -> None:
    """Replay every pact of PROVIDER against it and report each interaction.

    Exit codes: 0 verified, 1 a mismatch, 2 usage or configuration error,
    3 provider unreachable.
    """
    from contracts.pactfile import limits_for
    from verifiers.provider import (
        VerifyOptions,
        render_junit,
        render_summary_lines,
        verify_provider,
    )

    config = state(ctx).config()
    if pacts is not None and broker is not None:
        raise CovenantError("give --pacts or --broker, not both", kind=ErrorKind.USAGE)
    if publish and broker is None:
        raise CovenantError("--publish needs --broker", kind=ErrorKind.USAGE)
    url = base_url or stack_service_url(config.stack.state_dir, provider)
    if url is None:
        raise CovenantError(
            f"no --base-url given and the local stack runs no '{provider}'",
            kind=ErrorKind.USAGE,
        )
    options = VerifyOptions(
        provider=provider,
        base_url=url,
        pacts_dir=None if broker else (pacts or PACTS_DIR),
        broker_url=broker,
        broker_token=os.environ.get("PACT_BROKER_TOKEN"),
        publish=publish,
        provider_version=version,
        provider_branch=branch,
        request_timeout_s=timeout,
        pact_limits=limits_for(config.pacts),
    )
    err.print(f"verifying {escape(provider)} at {escape(url)} ...", markup=True)
    result = verify_provider(options)
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(render_junit(result), encoding="utf-8")
    if verbose or not result.passed:
        out.print(result.output, markup=False, highlight=False)
    lines = render_summary_lines(result)
    colour = "green" if result.passed else "red"
    out.print(f"[{colour}]{escape(lines[0])}[/]", markup=True, soft_wrap=True)
    for line in lines[1:]:
        out.print(line, markup=False, soft_wrap=True)
    if not result.passed:
        raise typer.Exit(1)
