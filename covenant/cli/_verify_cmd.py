"""``covenant verify``: Pact provider verification, with the options a CI pipeline
passes to the Pact verifier and the Pact tools' environment variables."""

from __future__ import annotations

import json
import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from contracts.paths import PACTS_DIR
from covenant.cli._common import err, out, state
from covenant.kernel.errors import CovenantError, ErrorKind

__all__ = ["verify"]

_SELECTOR_KEYS = frozenset(
    {
        "mainBranch",
        "branch",
        "fallbackBranch",
        "matchingBranch",
        "tag",
        "fallbackTag",
        "latest",
        "consumer",
        "deployed",
        "released",
        "deployedOrReleased",
        "environment",
    }
)


def _selectors(texts: list[str]) -> tuple[str, ...]:
    """Each ``--consumer-version-selectors`` value: a JSON object of the Pact Broker's
    selector keys (checked here, so a typo is a usage error, not an empty verification)."""
    checked = []
    for text in texts:
        try:
            selector = json.loads(text)
        except ValueError as exc:
            raise CovenantError(
                f"--consumer-version-selectors {text!r}: not JSON ({exc})", kind=ErrorKind.USAGE
            ) from None
        if not isinstance(selector, dict) or not selector:
            raise CovenantError(
                f"--consumer-version-selectors {text!r}: must be a JSON object such as"
                ' {"mainBranch": true}',
                kind=ErrorKind.USAGE,
            )
        unknown = sorted(set(selector) - _SELECTOR_KEYS)
        if unknown:
            raise CovenantError(
                f"--consumer-version-selectors {text!r}: unknown key(s) {', '.join(unknown)};"
                f" known: {', '.join(sorted(_SELECTOR_KEYS))}",
                kind=ErrorKind.USAGE,
            )
        checked.append(json.dumps(selector))
    return tuple(checked)


def _since(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise CovenantError(
            f"--include-wip-pacts-since {value!r}: must be a date such as 2026-12-01",
            kind=ErrorKind.USAGE,
        ) from None


def _regex(option: str, value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise CovenantError(
                f"{option} {value!r}: not a regular expression ({exc})", kind=ErrorKind.USAGE
            ) from None
    return value


def _env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


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
            help="Fetch pacts for verification from this broker (default:"
            " $PACT_BROKER_BASE_URL); token from $PACT_BROKER_TOKEN, or basic auth from"
            " $PACT_BROKER_USERNAME/$PACT_BROKER_PASSWORD.",
        ),
    ] = None,
    pact_url: Annotated[
        list[str] | None,
        typer.Option(
            "--pact-url",
            help="Verify this pact by URL (repeatable), e.g. the ${pactbroker.pactUrl} of a"
            " contract-requiring-verification-published webhook.",
        ),
    ] = None,
    selectors: Annotated[
        list[str] | None,
        typer.Option(
            "--consumer-version-selectors",
            help='A selector as JSON, e.g. \'{"branch": "main"}\' (repeatable; default:'
            " mainBranch and deployedOrReleased).",
        ),
    ] = None,
    pending: Annotated[
        bool,
        typer.Option(
            "--enable-pending/--no-pending",
            help="Pacts this provider never verified do not fail the build (pending).",
        ),
    ] = True,
    wip_since: Annotated[
        str | None,
        typer.Option(
            "--include-wip-pacts-since",
            help="Also verify work-in-progress pacts published since this date (YYYY-MM-DD).",
        ),
    ] = None,
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish results to the broker.")
    ] = False,
    version: Annotated[
        str | None, typer.Option("--version", help="Provider version (for --publish).")
    ] = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Provider branch.")] = None,
    provider_tag: Annotated[
        list[str] | None,
        typer.Option("--provider-tag", help="Tag the provider version (repeatable)."),
    ] = None,
    build_url: Annotated[
        str | None,
        typer.Option("--build-url", help="The CI build, linked from the published results."),
    ] = None,
    state_change_url: Annotated[
        str | None,
        typer.Option(
            "--state-change-url",
            help="The provider-state endpoint (default: BASE_URL/_pact/provider-states).",
        ),
    ] = None,
    state_change_teardown: Annotated[
        bool,
        typer.Option(
            "--state-change-teardown/--no-state-change-teardown",
            help="Also call it to tear each state down.",
        ),
    ] = True,
    messages_url: Annotated[
        str | None,
        typer.Option(
            "--messages-url",
            help="Where the provider produces a message for a description (message pacts;"
            " default: BASE_URL/_pact/messages).",
        ),
    ] = None,
    consumer: Annotated[
        list[str] | None,
        typer.Option("--filter-consumer", help="Verify only this consumer (repeatable)."),
    ] = None,
    description: Annotated[
        str | None,
        typer.Option(
            "--filter-description", help="Only interactions whose description matches (regex)."
        ),
    ] = None,
    provider_state: Annotated[
        str | None,
        typer.Option("--filter-state", help="Only interactions whose state matches (regex)."),
    ] = None,
    no_state: Annotated[
        bool,
        typer.Option("--filter-no-state", help="Only interactions without a provider state."),
    ] = False,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")
    ] = None,
    json_report: Annotated[
        Path | None, typer.Option("--json", help="Write a JSON report here.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Per-request timeout in seconds.")
    ] = 10.0,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print the Pact verifier's own report.")
    ] = False,
) -> None:
    """Replay every pact of PROVIDER against it and report each interaction.

    Pacts come from --pacts (default contracts/pacts), from a broker (--broker or
    $PACT_BROKER_BASE_URL, with consumer version selectors, pending and WIP pacts),
    or by --pact-url. Exit codes: 0 verified, 1 a mismatch, 2 usage or configuration
    error, 3 provider unreachable.
    """
    from contracts.pactfile import limits_for
    from covenant.kernel.endpoints import stack_service_url
    from verifiers.provider import (
        DEFAULT_SELECTORS,
        VerifyOptions,
        render_json,
        render_junit,
        render_summary_lines,
        verify_provider,
    )

    config = state(ctx).config()
    urls = tuple(pact_url or ())
    if pacts is None and broker is None and not urls:
        broker = _env("PACT_BROKER_BASE_URL")
    if sum(bool(x) for x in (pacts is not None, broker is not None, urls)) > 1:
        raise CovenantError(
            "give one source of pacts: --pacts, --broker or --pact-url", kind=ErrorKind.USAGE
        )
    if publish and broker is None and not urls:
        raise CovenantError("--publish needs --broker or --pact-url", kind=ErrorKind.USAGE)
    url = base_url or stack_service_url(config.stack.state_dir, provider)
    if url is None:
        raise CovenantError(
            f"no --base-url given and the local stack runs no '{provider}'",
            kind=ErrorKind.USAGE,
        )
    from_broker = broker is not None or bool(urls)
    options = VerifyOptions(
        provider=provider,
        base_url=url,
        pacts_dir=None if from_broker else (pacts or PACTS_DIR),
        broker_url=broker,
        broker_token=_env("PACT_BROKER_TOKEN"),
        broker_username=_env("PACT_BROKER_USERNAME"),
        broker_password=_env("PACT_BROKER_PASSWORD"),
        pact_urls=urls,
        consumer_version_selectors=_selectors(selectors) if selectors else DEFAULT_SELECTORS,
        enable_pending=pending,
        include_wip_pacts_since=_since(wip_since),
        publish=publish,
        provider_version=version,
        provider_branch=branch,
        provider_tags=tuple(provider_tag or ()),
        build_url=build_url,
        state_change_url=state_change_url,
        state_change_teardown=state_change_teardown,
        messages_url=messages_url,
        filter_consumers=tuple(consumer or ()),
        filter_description=_regex("--filter-description", description),
        filter_state=_regex("--filter-state", provider_state),
        filter_no_state=no_state,
        request_timeout_s=timeout,
        pact_limits=limits_for(config.pacts),
    )
    err.print(f"verifying {escape(provider)} at {escape(url)} ...", markup=True)
    result = verify_provider(options)
    for path, text in ((junit, render_junit), (json_report, render_json)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(result), encoding="utf-8")
    if verbose or not result.passed:
        out.print(result.output, markup=False, highlight=False)
    lines = render_summary_lines(result)
    colour = "green" if result.passed else "red"
    out.print(f"[{colour}]{escape(lines[0])}[/]", markup=True, soft_wrap=True)
    for line in lines[1:]:
        out.print(line, markup=False, soft_wrap=True)
    if not result.passed:
        raise typer.Exit(1)
