"""``covenant serve``: the HTTP API."""

from __future__ import annotations

import logging
import signal
from typing import Annotated

import typer

from covenant.cli._common import state


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: server.host).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default: server.port).")] = None,
) -> None:
    """Serve the HTTP API (/health, /metrics, the broker, the status page) and run
    every synthetic check of checks.dir on its schedule (checks.schedule).

    Check files are re-read when they change, or at once on SIGHUP. SIGTERM or
    Ctrl-C shut it down gracefully: in-flight requests and check runs finish
    within server.shutdown_timeout_s; runs still going are cancelled and
    recorded as errors.
    """
    import uvicorn  # heavy imports only for the command that needs them

    from covenant.app import create_app

    context = state(ctx)
    if host is not None:
        context.overrides["server.host"] = host
    if port is not None:
        context.overrides["server.port"] = port
    config = context.config()
    logging.basicConfig(level=config.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, scheduler=config.checks.schedule),
            host=config.server.host,
            port=config.server.port,
            log_level=config.log_level,
            timeout_graceful_shutdown=int(config.server.shutdown_timeout_s),
            lifespan="on",
        )
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the
    # signal with the handlers it found installed. No-op handlers make that a
    # clean exit 0 after a graceful shutdown instead of death by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()
