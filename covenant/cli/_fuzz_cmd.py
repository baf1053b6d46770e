"""``covenant fuzz``: Schemathesis against each service's OpenAPI document."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from covenant.cli._common import err, out, state, with_throwaway_token
from covenant.kernel.config import CovenantConfig
from covenant.kernel.errors import CovenantError, ErrorKind

if TYPE_CHECKING:
    from verifiers.fuzz import FuzzOptions, FuzzResult


def _database_url(config: CovenantConfig) -> str | None:
    from covenant.kernel.endpoints import resolve_endpoints

    postgres = resolve_endpoints(config).get("postgres")
    return postgres.target if postgres else None


def _own_database(admin_url: str, name: str) -> str:
    """A fresh, empty database for fuzzing Covenant, so fuzzed writes stay out of real
    data and each run starts alike: kept between runs, the webhooks earlier runs had
    created (hundreds) made every later publish slow enough to fail the time budget."""
    from covenant.kernel.postgres import create_database

    return create_database(admin_url, name, replace=True)


#: Where webhooks of the fuzzed broker may go.
LOOPBACK_HOSTS = ("127.0.0.0/8", "::1", "localhost")


@contextlib.contextmanager
def _serving_covenant(config: CovenantConfig, options: FuzzOptions) -> Iterator[FuzzOptions]:
    """Covenant's own API, served in-process on a free port with a throwaway token."""
    from covenant.app import BackgroundServer, create_app

    admin_url = _database_url(config)
    if admin_url is None:
        raise CovenantError("fuzzing covenant needs PostgreSQL", kind=ErrorKind.CONFIG)
    from pydantic import SecretStr

    database = SecretStr(_own_database(admin_url, "covenant_fuzz"))
    postgres = config.engines.postgres.model_copy(update={"url": database})
    # Fuzzed webhooks point at generated hosts; the broker may only call loopback
    # ones, so fuzzing never reaches (or resolves) anything outside this machine.
    broker = config.broker.model_copy(update={"webhook_allowed_hosts": LOOPBACK_HOSTS})
    own, token = with_throwaway_token(
        config.model_copy(
            update={
                "engines": config.engines.model_copy(update={"postgres": postgres}),
                "broker": broker,
            }
        ),
        replace_tokens=True,
    )
    with BackgroundServer(create_app(own)) as server:
        yield replace(
            options,
            spec=f"{server.url}/openapi.json",
            headers={"Authorization": f"Bearer {token}"},
        )


def _replay(config: CovenantConfig, finding_id: str) -> None:
    import httpx

    from verifiers.fuzz import load_finding

    database_url = _database_url(config)
    if database_url is None:
        raise CovenantError(
            "replaying needs PostgreSQL (engines.postgres.url)", kind=ErrorKind.CONFIG
        )
    finding = load_finding(database_url, finding_id)
    if finding is None:
        raise CovenantError(f"no finding '{finding_id}'", kind=ErrorKind.USAGE)
    request = finding["request"]
    headers = {k: v for k, v in (request.get("headers") or {}).items() if v != "***"}
    out.print(f"{finding['id']}: {finding['title']} ({finding['operation']})", markup=False)
    out.print(f"-> {request['method']} {request['uri']}", markup=False)
    try:
        response = httpx.request(
            request["method"],
            request["uri"],
            headers=headers,
            content=request.get("body"),
            timeout=30,
        )
    except httpx.TransportError as exc:
        raise CovenantError(f"{request['uri']}: {exc}", kind=ErrorKind.UNREACHABLE) from None
    out.print(f"<- {response.status_code} {response.reason_phrase}", markup=False)
    out.print(response.text[:2000], markup=False)


def _summary(results: list[FuzzResult]) -> Table:
    from verifiers.fuzz import summary_rows

    table = Table(title="fuzz findings by operation and check", title_justify="left")
    for column in ("service", "outcome", "operation", "check", "findings"):
        table.add_column(column, overflow="fold")
    for result in results:
        rows = summary_rows(result)
        if not rows:
            detail = "; ".join(result.errors)[:200] if result.errors else ""
            table.add_row(result.options.service, result.outcome, detail, "", "0")
        for operation, check, count in rows:
            table.add_row(result.options.service, result.outcome, operation, check, str(count))
    return table


def fuzz(
    ctx: typer.Context,
    service: Annotated[
        str | None, typer.Argument(help="Service to fuzz (see --all for every known one).")
    ] = None,
    all_services: Annotated[
        bool, typer.Option("--all", help="Every reference service, Covenant, configured ones.")
    ] = False,
    replay: Annotated[
        str | None, typer.Option("--replay", help="Re-send the request of a stored finding.")
    ] = None,
    max_examples: Annotated[
        int | None, typer.Option("--max-examples", "-n", help="Examples per operation.")
    ] = None,
    max_time: Annotated[
        int | None, typer.Option("--max-time", help="Seconds per service (budget).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="For reproducible runs.")] = None,
    rate_limit: Annotated[
        str | None, typer.Option("--rate-limit", help="e.g. 100/s or 600/m.")
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report-dir", help="Where reports go (default fuzz.report_dir)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No Schemathesis progress output.")
    ] = False,
) -> None:
    """Fuzz each service's OpenAPI endpoints with Schemathesis (all phases, the default
    checks plus Covenant's: response-time budget, no stack traces or secrets in error
    bodies, problem-document shape). Writes JUnit XML, NDJSON events and an HTML report
    with a curl line per finding; stores runs and findings in PostgreSQL.

    Exit codes: 0 clean, 1 findings, 2 usage or configuration error, 3 service unreachable.
    """
    from verifiers.fuzz import (
        COVENANT_SERVICE,
        known_services,
        render_html,
        resolve_target,
        run_fuzz,
        save_result,
    )

    config = state(ctx).config()
    if replay is not None:
        _replay(config, replay)
        return
    if all_services == (service is not None):
        raise CovenantError("name one SERVICE or use --all", kind=ErrorKind.USAGE)
    names = known_services(config) if all_services else [service or ""]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    root = (report_dir or config.fuzz.report_dir) / stamp

    results: list[FuzzResult] = []
    for name in names:
        options = resolve_target(config, name)
        options = replace(
            options,
            max_examples=max_examples or options.max_examples,
            max_time_s=max_time or options.max_time_s,
            seed=options.seed if seed is None else seed,
            rate_limit=rate_limit or options.rate_limit,
        )
        err.print(f"[bold]fuzzing {escape(name)}[/]", markup=True)

        def show(line: str) -> None:
            if not quiet:
                err.print(line, markup=False, highlight=False, style="dim")

        workdir = config.stack.state_dir / "fuzz" / name
        if name == COVENANT_SERVICE:
            with _serving_covenant(config, options) as own:
                result = run_fuzz(own, report_dir=root / name, workdir=workdir, on_output=show)
        else:
            result = run_fuzz(options, report_dir=root / name, workdir=workdir, on_output=show)
        results.append(result)
        database_url = _database_url(config)
        if database_url is not None and result.outcome != "unreachable":
            try:
                save_result(database_url, result)
            except Exception as exc:
                err.print(f"[yellow]not stored in PostgreSQL: {escape(str(exc))}[/]", markup=True)

    root.mkdir(parents=True, exist_ok=True)
    (root / "report.html").write_text(render_html(results), encoding="utf-8")
    out.print(_summary(results))
    for result in results:
        for finding in result.findings:
            out.print(
                f"{finding.id} {finding.operation} {finding.check}: {finding.title}",
                markup=False,
                soft_wrap=True,
            )
            out.print(f"    {finding.curl}", markup=False, soft_wrap=True)
    out.print(f"reports: {root}", markup=False)

    outcomes = {r.outcome for r in results}
    if "error" in outcomes:
        errors = "; ".join(e for r in results for e in r.errors)[:800]
        raise CovenantError(f"fuzzing could not run: {errors}", kind=ErrorKind.USAGE)
    if "unreachable" in outcomes:
        errors = "; ".join(e for r in results if r.outcome == "unreachable" for e in r.errors)
        raise CovenantError(errors, kind=ErrorKind.UNREACHABLE)
    if "findings" in outcomes:
        raise typer.Exit(1)
