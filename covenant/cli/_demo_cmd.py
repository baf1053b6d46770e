"""``covenant demo``: the main job on the embedded default, end to end."""

from __future__ import annotations

import httpx
import typer
from rich.table import Table

from covenant.app import BackgroundServer, create_app
from covenant.cli._common import err, out, state
from covenant.cli._stack_cmd import _progress
from covenant.stack._ports import port_is_free
from covenant.stack.manager import StackManager


def demo(ctx: typer.Context) -> None:
    """Bring the local stack up, serve the API and show that every engine is healthy.

    Exit 0 when /health reports every engine up, 1 otherwise. The stack keeps
    running afterwards (`covenant stack down` stops it).
    """
    config = state(ctx).config()
    err.print("[bold]1/2[/] local stack", markup=True)
    StackManager(config, report=_progress).up()

    err.print("[bold]2/2[/] covenant serve /health", markup=True)
    port = config.server.port if port_is_free(config.server.port) else 0
    with BackgroundServer(create_app(config), config.server.host, port) as server:
        response = httpx.get(server.url + "/health", timeout=30)
        body = response.json()
    table = Table(title=f"GET {server.url}/health -> {response.status_code}", title_justify="left")
    for column in ("engine", "status", "url", "latency", "error"):
        table.add_column(column, overflow="fold")
    for engine in body["engines"]:
        colour = "green" if engine["status"] == "up" else "red"
        table.add_row(
            engine["engine"],
            f"[{colour}]{engine['status']}[/]",
            engine["url"],
            f"{engine['latency_ms']:.0f} ms",
            engine["error"] or "",
        )
    out.print(table)
    if response.status_code != 200:
        err.print("[red]some engines are unhealthy[/]", markup=True)
        raise typer.Exit(1)
    out.print("every engine is healthy; `covenant stack down` stops the stack")
