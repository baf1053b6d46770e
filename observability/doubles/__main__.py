"""Run a double as a process::

    python -m observability.doubles loki --host 127.0.0.1 --port 3100 [--auth-enabled]
    python -m observability.doubles grafana --host 127.0.0.1 --port 3000 \\
        --prometheus URL --loki URL [--alertmanager URL] [--provisioning DIR] [--dashboards DIR]

The Grafana API token is read from the environment variable ``GRAFANA_DOUBLE_TOKEN``
and the Loki gateway's bearer token from ``LOKI_DOUBLE_TOKEN``, never from the command
line (which other users of the machine can read). uvicorn
handles SIGTERM and SIGINT: it stops accepting connections, finishes the requests under
way, and the process then exits with status 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import uvicorn
from fastapi import FastAPI

from observability.doubles._grafana_provisioning import ProvisioningError
from observability.doubles.grafana import create_grafana_app
from observability.doubles.loki import DEFAULT_MAX_ENTRIES, create_loki_app

TOKEN_ENV = "GRAFANA_DOUBLE_TOKEN"  # noqa: S105 (the name of a variable, not a secret)
LOKI_TOKEN_ENV = "LOKI_DOUBLE_TOKEN"  # noqa: S105 (the name of a variable, not a secret)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m observability.doubles",
        description="Serve an in-process double of the Loki or Grafana HTTP API.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser, port: int) -> None:
        sub.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
        sub.add_argument("--port", type=int, default=port, help=f"port to bind ({port})")
        sub.add_argument(
            "--log-level",
            default="warning",
            choices=["critical", "error", "warning", "info", "debug"],
            help="uvicorn log level (warning)",
        )

    loki = commands.add_parser(
        "loki", help=f"the Loki double (bearer token required from ${LOKI_TOKEN_ENV}, if set)"
    )
    common(loki, 3100)
    loki.add_argument(
        "--auth-enabled",
        action="store_true",
        help="Loki's auth_enabled: true, every API request needs X-Scope-OrgID (off: "
        'every request is tenant "fake")',
    )
    loki.add_argument(
        "--max-entries",
        type=int,
        default=DEFAULT_MAX_ENTRIES,
        help=f"log entries kept before the oldest are dropped ({DEFAULT_MAX_ENTRIES})",
    )

    grafana = commands.add_parser(
        "grafana", help=f"the Grafana double (API token from ${TOKEN_ENV}, if set)"
    )
    common(grafana, 3000)
    grafana.add_argument("--prometheus", metavar="URL", help="URL of the real Prometheus")
    grafana.add_argument("--loki", metavar="URL", help="URL of Loki (or the Loki double)")
    grafana.add_argument("--alertmanager", metavar="URL", help="URL of Alertmanager")
    grafana.add_argument(
        "--provisioning",
        metavar="DIR",
        type=Path,
        help="Grafana provisioning directory (datasources/, alerting/)",
    )
    grafana.add_argument("--dashboards", metavar="DIR", type=Path, help="dashboard JSON files")
    return parser


def build_app(args: argparse.Namespace) -> FastAPI:
    if args.command == "loki":
        return create_loki_app(
            max_entries=args.max_entries,
            token=os.environ.get(LOKI_TOKEN_ENV) or None,
            auth_enabled=args.auth_enabled,
        )
    return create_grafana_app(
        prometheus_url=args.prometheus,
        loki_url=args.loki,
        alertmanager_url=args.alertmanager,
        provisioning_dir=args.provisioning,
        dashboards_dir=args.dashboards,
        token=os.environ.get(TOKEN_ENV) or None,
    )


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    # uvicorn swaps in its own handlers while serving, shuts down gracefully on SIGTERM
    # or SIGINT, then restores these and raises the signal again: this handler turns it
    # into exit status 0 instead of death by signal (143) or a KeyboardInterrupt.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    args = _parser().parse_args(argv)
    for name in ("provisioning", "dashboards"):
        directory = getattr(args, name, None)
        if directory is not None and not directory.is_dir():
            print(f"--{name}: {directory} is not a directory", file=sys.stderr)
            return 2
    try:
        app = build_app(args)
    except (ProvisioningError, ValueError) as exc:
        print(f"{args.command} double: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=False
    )
    uvicorn.Server(config).run()  # exits with status 1 itself when it cannot bind
    return 0


if __name__ == "__main__":
    sys.exit(main())
