"""``covenant fuzz``: Schemathesis against each service's OpenAPI document, or against
any API given by ``--spec`` and ``--url``, optionally held against a baseline.

The session (``verifiers.fuzz.session.FuzzSession``) does the work; this command parses the
options, renders the session's events as they come and its result at the end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from covenant.cli._common import err, out, state
from covenant.kernel.errors import CovenantError, ErrorKind

if TYPE_CHECKING:
    from covenant.app import BackgroundServer
    from covenant.kernel.config import CovenantConfig
    from verifiers.fuzz import BaselineEntry, BaselineReport, Sighting
    from verifiers.fuzz.session import FuzzEvent, FuzzSession, FuzzSessionResult


class ConsoleHandler:
    """The session's progress on stderr: each service as it starts, Schemathesis's own
    output (unless ``quiet``), runs PostgreSQL did not take."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet

    def handle(self, event: FuzzEvent) -> None:
        from verifiers.fuzz.session import EngineOutput, NotStored, ServiceStarted

        if isinstance(event, ServiceStarted):
            err.print(f"[bold]fuzzing {escape(event.service)}[/]", markup=True)
        elif isinstance(event, EngineOutput):
            if not self.quiet:
                err.print(event.line, markup=False, highlight=False, style="dim")
        elif isinstance(event, NotStored):
            err.print(f"[yellow]not stored in PostgreSQL: {escape(event.error)}[/]", markup=True)


def _serve(config: CovenantConfig) -> BackgroundServer:
    """Covenant's own API for the session to fuzz, in-process on a free port."""
    from covenant.app import BackgroundServer, create_app

    return BackgroundServer(create_app(config))


def _replay(session: FuzzSession, finding_id: str) -> None:
    finding = session.finding(finding_id)
    request = finding["request"]
    out.print(f"{finding['id']}: {finding['title']} ({finding['operation']})", markup=False)
    out.print(f"-> {request['method']} {request['uri']}", markup=False)
    response = session.resend(finding)
    out.print(f"<- {response.status_code} {response.reason_phrase}", markup=False)
    out.print(response.text[:2000], markup=False)


def _summary(finished: FuzzSessionResult) -> Table:
    from verifiers.fuzz import summary_rows

    table = Table(title="fuzz findings by operation and check", title_justify="left")
    for column in ("service", "outcome", "operation", "check", "findings"):
        table.add_column(column, overflow="fold")
    for result in finished.results:
        rows = summary_rows(result)
        if not rows:
            detail = "; ".join(result.errors)[:200] if result.errors else ""
            table.add_row(result.options.service, result.outcome, detail, "", "0")
        for operation, check, count in rows:
            table.add_row(result.options.service, result.outcome, operation, check, str(count))
    return table


def _render(finished: FuzzSessionResult) -> None:
    out.print(_summary(finished))
    for finding in finished.findings:
        out.print(
            f"{finding.id} {finding.operation} {finding.check}: {finding.title}",
            markup=False,
            soft_wrap=True,
        )
        out.print(f"    {finding.curl}", markup=False, soft_wrap=True)
    if finished.baseline is not None:
        _render_baseline(finished.baseline)
    out.print(f"reports: {finished.report_dir}", markup=False)


def _sighting(tag: str, sighting: Sighting) -> str:
    finding = sighting.finding
    what = finding.problem or finding.title
    return f"  {tag:<7} {finding.id} {sighting.service} {finding.operation} {finding.check}: {what}"


def _entry(tag: str, entry: BaselineEntry) -> str:
    return f"  {tag:<7} {entry.id} {entry.service} {entry.operation} {entry.check}: {entry.message}"


def _render_baseline(report: BaselineReport) -> None:
    """Which findings the baseline knew (``known``), which it did not (``new``: these
    fail the run), which of its entries were not found (``gone``); once
    ``--update-baseline`` wrote it, what was ``added``, ``kept`` and ``removed``."""
    new, known, gone = ("added", "kept", "removed") if report.written else ("new", "known", "gone")
    lines = [_sighting(new, s) for s in report.new]
    lines += [_sighting(known, s) for s in report.known]
    lines += [_entry(gone, e) for e in report.gone]
    if report.written:
        head = (
            f"baseline {report.path} written: {report.entries} findings"
            f" ({len(report.new)} added, {len(report.gone)} removed)"
        )
    else:
        head = (
            f"baseline {report.path}: {len(report.new)} new, {len(report.known)} known,"
            f" {len(report.gone)} not seen any more"
        )
    out.print(head, markup=False, soft_wrap=True)
    for line in lines:
        out.print(line, markup=False, soft_wrap=True)


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
    spec: Annotated[
        str | None,
        typer.Option(
            "--spec",
            metavar="URL_OR_FILE",
            help="Fuzz any API: its OpenAPI (or Swagger 2.0) document, URL or file.",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="BASE",
            help="With --spec: the base URL requests go to (with its base path).",
        ),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            metavar="'NAME: VALUE'",
            help="With --spec: a header for every request (its value is a secret).",
        ),
    ] = None,
    auth: Annotated[
        str | None,
        typer.Option("--auth", metavar="USER:PASSWORD", help="With --spec: basic auth."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", metavar="TOKEN", help="With --spec: a bearer token."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="With --spec: the service (default 'api')."),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            metavar="FILE",
            help="Known findings (YAML, or JSON if *.json): fail only on findings not in it.",
            dir_okay=False,
        ),
    ] = None,
    update_baseline: Annotated[
        bool,
        typer.Option("--update-baseline", help="Write the current findings into --baseline FILE."),
    ] = False,
) -> None:
    """Fuzz each service's OpenAPI endpoints with Schemathesis (all phases, the default
    checks plus Covenant's: response-time budget, no stack traces or secrets in error
    bodies, problem-document shape). Writes JUnit XML, NDJSON events and an HTML report
    with a curl line per finding; stores runs and findings in PostgreSQL.

    Any API, nothing configured: --spec URL_OR_FILE --url BASE [-H 'Name: value' ...]
    [--auth user:password | --token TOKEN]; header values and credentials are masked in
    every output, report, stored finding and curl line.

    With --baseline FILE only findings not in FILE fail the run; --update-baseline
    writes the current findings into FILE.

    Exit codes: 0 clean (or only known findings), 1 findings, 2 usage or configuration
    error, 3 service unreachable.
    """
    from verifiers.fuzz import SpecTarget
    from verifiers.fuzz.session import FuzzOverrides, FuzzSession

    one_off = {"--url": url, "-H": header, "--auth": auth, "--token": token, "--name": name}
    if spec is None:
        given = [option for option, value in one_off.items() if value]
        if given:
            verb = "goes" if len(given) == 1 else "go"
            raise CovenantError(f"{', '.join(given)} {verb} only with --spec", kind=ErrorKind.USAGE)
    elif service is not None or all_services or replay is not None:
        raise CovenantError(
            "--spec fuzzes one API of its own; leave out SERVICE, --all and --replay",
            kind=ErrorKind.USAGE,
        )

    config = state(ctx).config()
    session = FuzzSession(
        config,
        overrides=FuzzOverrides(
            max_examples=max_examples, max_time_s=max_time, seed=seed, rate_limit=rate_limit
        ),
        report_dir=report_dir,
        handlers=[ConsoleHandler(quiet=quiet)],
        serve_covenant=_serve,
        baseline=baseline,
        update_baseline=update_baseline,
    )
    if replay is not None:
        _replay(session, replay)
        return
    if spec is not None:
        target = SpecTarget.parse(
            spec, url, headers=header or (), auth=auth, token=token, name=name
        )
        result = session.run_spec(target)
    else:
        result = session.run(session.targets(service, all_services=all_services))
    _render(result)
    problem = result.problem()
    if problem is not None:
        raise problem
    if result.failed:
        raise typer.Exit(1)
