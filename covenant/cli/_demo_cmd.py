"""``covenant demo``: the main job on the embedded default, end to end."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from contracts.paths import PACTS_DIR
from covenant.cli._common import err, out, state, with_throwaway_token
from covenant.cli._stack_cmd import _progress

STEPS = 5


def _step(number: int, title: str) -> None:
    err.print(f"[bold]{number}/{STEPS}[/] {escape(title)}", markup=True)


def _verify_reference_services(state_dir: Path) -> bool:
    """Verify every reference provider of the stack against the committed pacts."""
    from covenant.kernel.config import REFERENCE_SERVICES
    from covenant.kernel.endpoints import service_name
    from covenant.kernel.stackstate import load_state
    from verifiers.provider import VerifyOptions, render_summary_lines, verify_provider

    state = load_state(state_dir)
    all_passed = True
    for service in REFERENCE_SERVICES:
        record = state.engines.get(service)
        if record is None:
            continue
        provider = service_name(service)
        result = verify_provider(VerifyOptions(provider, record.url, pacts_dir=PACTS_DIR))
        lines = render_summary_lines(result)
        colour = "green" if result.passed else "red"
        out.print(f"[{colour}]{escape(lines[0])}[/]", markup=True, soft_wrap=True)
        for line in lines[1:]:
            out.print(line, markup=False, soft_wrap=True)
        all_passed = all_passed and result.passed
    return all_passed


def _run_example_checks(ctx: typer.Context) -> bool:
    """Run every check of ``checks.dir`` once against the stack and store the runs:
    the scheduled checks first, then the on-demand ones (the alert drills, which make
    an alert fire and wait for it to resolve), each group in file order."""
    import asyncio

    from covenant.cli._check_cmd import load_configured_checks, print_expectation
    from schedules import RunStore, engines_for, run_check

    config = state(ctx).config()
    engines = engines_for(config)
    store = RunStore(
        engines.databases.get("postgres"), config.stack.state_dir / "checks" / "spool.ndjson"
    )
    all_passed = True
    loaded = load_configured_checks(ctx, None)
    for item in sorted(loaded, key=lambda found: not found.check.scheduled):
        out.print(f"[bold]{escape(item.check.name)}[/]", markup=True)
        run = asyncio.run(run_check(item.check, engines, on_result=print_expectation))
        asyncio.run(store.save(run))
        colour = {"pass": "green", "fail": "red"}.get(run.result, "yellow")
        detail = f": {run.error}" if run.error else ""
        out.print(
            f"  [{colour}]{run.result}[/] in {run.duration_s:.2f}s{escape(detail)}",
            markup=True,
            soft_wrap=True,
        )
        all_passed = all_passed and run.result == "pass"
    return all_passed


def _health_table(url: str, status: int, body: dict[str, object]) -> Table:
    table = Table(title=f"GET {url}/health -> {status}", title_justify="left")
    for column in ("engine", "status", "url", "latency", "error"):
        table.add_column(column, overflow="fold")
    for engine in body["engines"]:  # type: ignore[attr-defined]
        colour = "green" if engine["status"] == "up" else "red"
        table.add_row(
            engine["engine"],
            f"[{colour}]{engine['status']}[/]",
            engine["url"],
            f"{engine['latency_ms']:.0f} ms",
            engine["error"] or "",
        )
    return table


def demo(ctx: typer.Context) -> None:
    """Bring the local stack up, verify every reference service's pacts, serve the API
    and show that every engine is healthy, then run the contract loop through the
    built-in broker: publish, verify from the broker, record deployments, can-i-deploy,
    and run each synthetic check of checks.dir once (the alert drills last).

    Exit 0 when every step passes, 1 otherwise. The stack keeps running afterwards
    (`covenant stack down` stops it).
    """

    import httpx

    from covenant.app import BackgroundServer, create_app
    from covenant.cli._demo_broker import contract_loop
    from covenant.kernel.stackstate import load_state
    from covenant.stack.manager import StackManager, port_is_free

    config = state(ctx).config()
    _step(1, "local stack: engines and reference services")
    manager = StackManager(config, report=_progress)
    manager.up()

    _step(2, "provider verification against contracts/pacts")
    verified = _verify_reference_services(manager.state_dir)

    _step(3, "covenant serve /health")
    # The demo's broker writes need a token; a throwaway one is made for this run.
    served, token = with_throwaway_token(config)
    port = config.server.port if port_is_free(config.server.port) else 0
    with BackgroundServer(create_app(served), config.server.host, port) as server:
        response = httpx.get(server.url + "/health", timeout=30)
        out.print(_health_table(server.url, response.status_code, response.json()))
        _step(4, "contract broker: publish, verify from the broker, deploy, can-i-deploy")
        brokered = contract_loop(server.url, token, load_state(manager.state_dir))

    _step(
        5,
        "synthetic checks: Kafka, SQL and HTTP journeys in; metrics, logs, rows and alerts"
        " out; then the alert drills",
    )
    checked = _run_example_checks(ctx)

    healthy = response.status_code == 200
    if not (verified and healthy and brokered and checked):
        checks = (
            ("verification", verified),
            ("health", healthy),
            ("broker loop", brokered),
            ("synthetic checks", checked),
        )
        problems = [p for p, ok in checks if not ok]
        err.print(f"[red]failed: {', '.join(problems)}[/]", markup=True)
        raise typer.Exit(1)
    out.print(
        "every provider verified, every engine healthy, every consumer deployable, "
        "every synthetic check passed; `covenant stack down` stops the stack"
    )
