"""``covenant stack``: the local stack of real engines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from covenant.cli._common import err, out, state

if TYPE_CHECKING:
    from covenant.stack.manager import EngineStatus, StackManager

app = typer.Typer(
    help=(
        "Run the engines Covenant needs (PostgreSQL, a Kafka-protocol broker, Prometheus, "
        "Alertmanager, the PostgreSQL exporter) on loopback, under one state directory."
    ),
    no_args_is_help=True,
)


def _progress(message: str) -> None:
    err.print(f"[dim]stack[/] {escape(message)}", markup=True, soft_wrap=True)


def _manager(ctx: typer.Context, *, report: bool = True) -> StackManager:
    from covenant.stack.manager import StackManager

    return StackManager(state(ctx).config(), report=_progress if report else _silent)


def _silent(_: str) -> None:
    return None


def status_table(rows: list[EngineStatus]) -> Table:
    table = Table(title="covenant stack", title_justify="left")
    for column in ("engine", "state", "url", "pid", "probe"):
        table.add_column(column, overflow="fold")
    colours = {"healthy": "green", "degraded": "yellow", "unhealthy": "red", "stopped": "yellow"}
    for row in rows:
        probe = ""
        if row.health is not None:
            probe = (
                (row.health.degraded or f"{row.health.latency_ms:.0f} ms")
                if row.health.healthy
                else (row.health.error or "down")
            )
        table.add_row(
            row.name,
            f"[{colours[row.state]}]{row.state}[/]",
            row.url or "-",
            str(row.pid) if row.pid else "-",
            probe,
        )
    return table


@app.command("up")
def up(ctx: typer.Context) -> None:
    """Start every engine that is not running (a second `up` is a no-op).

    Missing Debian packages are installed when running as root; otherwise the
    command names them. Engines that died are started again on their old ports.
    """
    manager = _manager(ctx)
    manager.up()
    out.print(status_table(manager.status()))


@app.command("down")
def down(
    ctx: typer.Context,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete the engines' data (PostgreSQL too).")
    ] = False,
) -> None:
    """Stop the engines this stack started; data is kept unless --purge."""
    manager = _manager(ctx)
    stopped = manager.down(purge=purge)
    out.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Each engine with its URL, pid and health. Exit 0 when all are healthy, else 1."""
    rows = _manager(ctx, report=False).status()
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        "engine": r.name,
                        "state": r.state,
                        "url": r.url,
                        "pid": r.pid,
                        "error": r.health.error if r.health else None,
                    }
                    for r in rows
                ]
            )
        )
    else:
        out.print(status_table(rows))
    if any(r.state != "healthy" for r in rows):
        raise typer.Exit(1)
