"""``covenant db``: the broker's database schema."""

from __future__ import annotations

import typer

from covenant.cli._common import out, state
from covenant.kernel.errors import CovenantError, ErrorKind

app = typer.Typer(help="The broker's PostgreSQL schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Apply pending broker migrations (also done automatically by `covenant serve`)."""
    from contracts.broker import BrokerDatabase
    from covenant.kernel.endpoints import resolve_endpoints

    config = state(ctx).config()
    postgres = resolve_endpoints(config).get("postgres")
    if postgres is None:
        raise CovenantError(
            "no PostgreSQL configured (engines.postgres.url) and no local stack running",
            kind=ErrorKind.CONFIG,
        )

    async def run() -> list[str]:
        database = BrokerDatabase(postgres.target, max_size=1)
        try:
            return await database.open()
        finally:
            await database.close()

    import asyncio

    applied = asyncio.run(run())
    out.print(
        f"applied: {', '.join(applied)}" if applied else "the broker schema is up to date",
        markup=False,
    )
