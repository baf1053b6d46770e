"""``covenant config``: inspect the resolved configuration."""

from __future__ import annotations

import typer

from covenant.cli._common import out, state

app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the resolved configuration (file + COVENANT_* environment + defaults).

    Passwords inside URLs and every secret field are masked.
    """
    from covenant.kernel.config import render_config, resolve_config_path

    context = state(ctx)
    config = context.config()
    source = resolve_config_path(context.config_path)
    out.print(f"# source: {source or '(defaults only)'} + COVENANT_* environment", markup=False)
    out.print(render_config(config), markup=False, end="")
