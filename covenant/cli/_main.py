"""Root command, global options and the one place errors become exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from covenant import __version__
from covenant.cli import (
    _can_i_deploy_cmd,
    _check_cmd,
    _config_cmd,
    _contracts_cmd,
    _db_cmd,
    _demo_cmd,
    _fuzz_cmd,
    _serve_cmd,
    _stack_cmd,
    _verify_cmd,
)
from covenant.cli._common import Context, err
from covenant.kernel.errors import CovenantError, exit_code_for

__all__ = ["app", "main"]

app = typer.Typer(
    name="covenant",
    help=(
        "Keeps a system of services honest, from the contract to the alert.\n\n"
        "Exit codes: 0 success, 1 a check or verification failed, "
        "2 usage or configuration error, 3 an engine is unreachable, 4 an engine failed."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"covenant {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Configuration file (default: $COVENANT_CONFIG, else ./covenant.yaml if present).",
            dir_okay=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = Context(config_path=config)


app.add_typer(_config_cmd.app, name="config")
app.add_typer(_stack_cmd.app, name="stack")
app.add_typer(_db_cmd.app, name="db")
app.add_typer(_check_cmd.app, name="check")
app.command("serve")(_serve_cmd.serve)
app.command("verify")(_verify_cmd.verify)
app.command("fuzz")(_fuzz_cmd.fuzz)
app.command("demo")(_demo_cmd.demo)
_contracts_cmd.register(app)
app.command("can-i-deploy")(_can_i_deploy_cmd.can_i_deploy)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except CovenantError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}", markup=True, soft_wrap=True)
        sys.exit(exit_code_for(exc))
