"""``covenant check run|list|validate``: synthetic checks from ``schedules/*.yaml``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from covenant.cli._common import out, state
from covenant.kernel.errors import CovenantError, ErrorKind

if TYPE_CHECKING:
    from covenant.kernel.config import CovenantConfig
    from schedules import Check, ExpectationResult, LoadedCheck

app = typer.Typer(
    help="Synthetic checks: send Kafka, SQL or HTTP traffic (multi-step journeys), confirm"
    " metrics, logs and alerts appear.",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Directory of check files (default: checks.dir)."),
]

_STYLE = {"seen": "green", "not_seen": "red", "error": "yellow"}
_RESULT = {"pass": "green", "fail": "red", "error": "yellow"}


def _connections(config: CovenantConfig) -> frozenset[str]:
    """The SQL connection names checks may use: ``postgres`` and ``checks.connections``."""
    return frozenset({"postgres", *config.checks.connections})


def load_configured_checks(ctx: typer.Context, directory: Path | None) -> list[LoadedCheck]:
    from schedules import CheckFileError, load_checks

    config = state(ctx).config()
    try:
        return load_checks(directory or config.checks.dir, connections=_connections(config))
    except CheckFileError as exc:
        raise CovenantError(
            "invalid check files:\n  " + "\n  ".join(exc.problems), kind=ErrorKind.CONFIG
        ) from None


@app.command("validate")
def validate(
    ctx: typer.Context,
    files: Annotated[
        list[Path] | None, typer.Argument(help="Check files (default: every one in --dir).")
    ] = None,
    directory: DirOption = None,
) -> None:
    """Validate check files; every problem is named with file, line and key. Exit 2 on any."""
    from schedules import CheckFileError, load_checks

    config = state(ctx).config()
    try:
        loaded = load_checks(
            directory or config.checks.dir, files or None, connections=_connections(config)
        )
    except CheckFileError as exc:
        raise CovenantError(
            "invalid check files:\n  " + "\n  ".join(exc.problems), kind=ErrorKind.CONFIG
        ) from None
    out.print(f"[green]valid[/]: {len(loaded)} check(s)")


@app.command("list")
def list_checks(ctx: typer.Context, directory: DirOption = None) -> None:
    """Every check with its schedule, deadline, traffic and expectations."""
    table = Table(title="checks", title_justify="left")
    for column in ("check", "schedule", "deadline", "traffic", "expectations", "file"):
        table.add_column(column, overflow="fold")
    for item in load_configured_checks(ctx, directory):
        check = item.check
        schedule = f"every {check.interval:g}s" if check.interval else (check.cron or "on demand")
        if check.jitter:
            schedule += f" ±{check.jitter:g}s"
        if not check.enabled:
            schedule += " (disabled)"
        traffic = describe_traffic(check)
        table.add_row(
            escape(check.name),
            escape(schedule),
            f"{check.deadline:g}s",
            escape(traffic),
            escape(", ".join(e.signal for e in check.expect)),
            escape(item.source),
        )
    out.print(table)


def describe_traffic(check: Check) -> str:
    """One line: ``kafka TOPIC``, ``sql CONNECTION``, ``http 3 steps: a, b, c`` or ``none``."""
    traffic = check.traffic
    if traffic.kafka is not None:
        return f"kafka {traffic.kafka.topic}"
    if traffic.sql is not None:
        return f"sql {traffic.sql.connection}"
    steps = traffic.http_steps
    if steps:
        names = ", ".join(step.name for step in steps)
        return f"http {len(steps)} step{'s' if len(steps) > 1 else ''}: {names}"
    return "none (watch only)"


#: How a step's outcome reads (a step passes or fails; a signal is seen or not).
_STEP_WORD = {"seen": "passed", "not_seen": "failed", "error": "error"}


def print_expectation(result: ExpectationResult) -> None:
    """One line per HTTP step and per expectation, as each ends."""
    latency = f"{result.latency_s:.3f}s" if result.latency_s is not None else "-"
    style = _STYLE[result.outcome]
    word = _STEP_WORD[result.outcome] if result.kind == "http" else result.outcome
    out.print(
        f"  [{style}]{escape(word):9}[/] {escape(result.kind)}:{escape(result.name)}"
        f"  {latency}  {escape(result.detail)}",
        soft_wrap=True,
    )


@app.command("run")
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The check to run once.")],
    directory: DirOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
    store: Annotated[
        bool, typer.Option("--store/--no-store", help="Record the run in PostgreSQL.")
    ] = True,
) -> None:
    """Run one check now: send its traffic (each HTTP step printed with its status
    and latency as it ends), then print each expectation's outcome and latency.

    Exit codes: 0 pass, 1 fail (a step's assertion did not hold, or a signal not
    seen within the deadline), 3 error
    (Covenant could not send or ask: an engine unreachable, 5xx, auth refused),
    2 invalid check files or unknown check.
    """
    import asyncio

    from schedules import RunStore, engines_for, run_check

    config = state(ctx).config()
    checks = {item.check.name: item.check for item in load_configured_checks(ctx, directory)}
    check = checks.get(name)
    if check is None:
        raise CovenantError(
            f"no check named '{name}'; known: {', '.join(sorted(checks)) or 'none'}",
            kind=ErrorKind.USAGE,
        )
    engines = engines_for(config)
    if not json_output:
        out.print(f"running [bold]{escape(name)}[/] (deadline {check.deadline:g}s)")
    result = asyncio.run(
        run_check(
            check,
            engines,
            location=config.checks.location,
            on_result=None if json_output else print_expectation,
        )
    )
    stored = None
    if store:
        spool = config.stack.state_dir / "checks" / "spool.ndjson"
        stored = asyncio.run(RunStore(engines.databases.get("postgres"), spool).save(result))
    if json_output:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        if result.error and result.result == "error":
            out.print(f"  [yellow]error[/]: {escape(result.error)}", soft_wrap=True)
        out.print(
            f"[{_RESULT[result.result]}]{result.result}[/] {escape(name)} run {result.run_id}"
            f" in {result.duration_s:.2f}s"
            + ("" if stored is None else (" (stored)" if stored else " (spooled: PostgreSQL down)"))
        )
    if result.result == "fail":
        raise typer.Exit(1)
    if result.result == "error":
        raise typer.Exit(3)
