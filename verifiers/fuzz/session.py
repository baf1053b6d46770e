"""A fuzz session: the whole of ``covenant fuzz`` but the rendering.

Given the configuration and the run's overrides, a session resolves the targets
(named services, or one API given by its spec: :meth:`FuzzSession.run_spec`),
serves Covenant's own API when it is one of them (on a fresh database of its own),
runs Schemathesis for each, stores what each run found, writes the HTML report,
holds the findings against a baseline of known ones (and writes it when asked) and
returns a :class:`FuzzSessionResult` that says how the session ended. Along the way
it tells its handlers what happens as events, the way Schemathesis's CLI renders
its engine's events: the caller's handlers print them, the session prints nothing.

The session stays below the shell: serving Covenant's API is the caller's to give
(``serve_covenant``), so the fuzz capability never imports the HTTP app.
"""

from __future__ import annotations

import importlib
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from covenant.kernel.config import CovenantConfig
from covenant.kernel.endpoints import resolve_endpoints
from covenant.kernel.errors import CovenantError, ErrorKind
from covenant.kernel.redact import MASK
from verifiers.fuzz._model import Finding, FuzzOptions, FuzzResult
from verifiers.fuzz._oneoff import SpecTarget
from verifiers.fuzz._report import render_html
from verifiers.fuzz._runner import run_fuzz
from verifiers.fuzz._targets import COVENANT_SERVICE, known_services, resolve_target

if TYPE_CHECKING:
    import httpx

    from verifiers.fuzz._baseline import Baseline, BaselineReport

__all__ = [
    "LOOPBACK_HOSTS",
    "OWN_DATABASE",
    "EngineOutput",
    "FuzzEvent",
    "FuzzHandler",
    "FuzzOverrides",
    "FuzzSession",
    "FuzzSessionResult",
    "NotStored",
    "Runner",
    "ServeCovenant",
    "Served",
    "ServiceFinished",
    "ServiceStarted",
    "SessionFinished",
    "SessionStarted",
    "Store",
]

#: Where webhooks of the fuzzed broker may go.
LOOPBACK_HOSTS = ("127.0.0.0/8", "::1", "localhost")
#: The database Covenant's own API is fuzzed on, created afresh for every session.
OWN_DATABASE = "covenant_fuzz"


# -- imported when needed ---------------------------------------------------------
# What only some sessions use, or only after Schemathesis has started, is imported
# then: everything imported before it starts adds to every run's time.

#: Where runs are stored; imported once Schemathesis has started (psycopg takes a fifth
#: of a second to import, which would otherwise come before Schemathesis even starts).
STORE_MODULE = "verifiers.fuzz._store"


def create_database(server_url: str, name: str, *, replace: bool = False) -> str:
    """A database ``name`` on the server of ``server_url`` (the kernel's; imported here,
    as it brings asyncio, only when Covenant's own API is fuzzed)."""
    from covenant.kernel.postgres import create_database as create

    return create(server_url, name, replace=replace)


def save_result(database_url: str, result: FuzzResult) -> None:
    """Store ``result`` in the PostgreSQL of ``database_url`` (``_store.save_result``)."""
    from verifiers.fuzz._store import save_result as save

    save(database_url, result)


def load_finding(database_url: str, finding_id: str) -> dict[str, Any] | None:
    """The latest stored sighting of ``finding_id`` (``_store.load_finding``)."""
    from verifiers.fuzz._store import load_finding as load

    return load(database_url, finding_id)


# -- events -----------------------------------------------------------------------


@dataclass(frozen=True)
class SessionStarted:
    """The session will fuzz ``services`` in this order; reports go below ``report_dir``."""

    services: tuple[str, ...]
    report_dir: Path


@dataclass(frozen=True)
class ServiceStarted:
    """``service`` resolved to ``options`` and is about to be fuzzed."""

    service: str
    options: FuzzOptions


@dataclass(frozen=True)
class EngineOutput:
    """One line of Schemathesis's own progress output for ``service``."""

    service: str
    line: str


@dataclass(frozen=True)
class NotStored:
    """The run of ``service`` could not be stored in PostgreSQL (the session goes on)."""

    service: str
    error: str


@dataclass(frozen=True)
class ServiceFinished:
    """``result`` is done and, if PostgreSQL was there to take it, stored."""

    result: FuzzResult


@dataclass(frozen=True)
class SessionFinished:
    """Every service was fuzzed and the HTML report is written."""

    result: FuzzSessionResult


FuzzEvent = (
    SessionStarted | ServiceStarted | EngineOutput | NotStored | ServiceFinished | SessionFinished
)


class FuzzHandler(Protocol):
    """Told of every event of a session, in order. What it raises ends the session."""

    def handle(self, event: FuzzEvent) -> None:
        """React to ``event`` (print it, count it, ...)."""


# -- collaborators ----------------------------------------------------------------


class Served(Protocol):
    """A running server of Covenant's API (``covenant.app.BackgroundServer``)."""

    @property
    def url(self) -> str:
        """Its base URL, e.g. ``http://127.0.0.1:8123``."""


#: Serves Covenant's API for the configuration given while the context lasts.
ServeCovenant = Callable[[CovenantConfig], AbstractContextManager[Served]]
#: Stores one run's result in the PostgreSQL of the URL given.
Store = Callable[[str, FuzzResult], None]


class Runner(Protocol):
    """Fuzzes one target (``run_fuzz``)."""

    def __call__(
        self,
        options: FuzzOptions,
        *,
        report_dir: Path,
        workdir: Path | None = None,
        on_output: Callable[[str], None] = ...,
    ) -> FuzzResult:
        """Fuzz ``options``'s service; never raises for what the service does wrong."""


# -- options and result -----------------------------------------------------------


@dataclass(frozen=True)
class FuzzOverrides:
    """What the command line sets for every target; None (or 0) keeps the target's."""

    max_examples: int | None = None
    max_time_s: int | None = None
    seed: int | None = None
    rate_limit: str | None = None

    def apply(self, options: FuzzOptions) -> FuzzOptions:
        return replace(
            options,
            max_examples=self.max_examples or options.max_examples,
            max_time_s=self.max_time_s or options.max_time_s,
            seed=options.seed if self.seed is None else self.seed,
            rate_limit=self.rate_limit or options.rate_limit,
        )


@dataclass(frozen=True)
class FuzzSessionResult:
    """Every run of a session, in order, where its reports are, and, with a baseline,
    which findings it knew."""

    results: tuple[FuzzResult, ...]
    report_dir: Path
    baseline: BaselineReport | None = None

    @property
    def outcomes(self) -> frozenset[str]:
        return frozenset(r.outcome for r in self.results)

    @property
    def findings(self) -> list[Finding]:
        return [finding for result in self.results for finding in result.findings]

    @property
    def has_findings(self) -> bool:
        return "findings" in self.outcomes

    @property
    def failed(self) -> bool:
        """Whether the findings fail the session: any finding; with a baseline, any not
        in it; none once ``--update-baseline`` wrote them into it."""
        if self.baseline is None:
            return self.has_findings
        return not self.baseline.written and bool(self.baseline.new)

    def problem(self) -> CovenantError | None:
        """Why the session could not do its job, if it could not: a run that could not
        run at all (a usage or configuration error) outranks an unreachable service."""
        if "error" in self.outcomes:
            errors = "; ".join(e for r in self.results for e in r.errors)[:800]
            return CovenantError(f"fuzzing could not run: {errors}", kind=ErrorKind.USAGE)
        if "unreachable" in self.outcomes:
            errors = "; ".join(
                e for r in self.results if r.outcome == "unreachable" for e in r.errors
            )
            return CovenantError(errors, kind=ErrorKind.UNREACHABLE)
        return None


# -- the session ------------------------------------------------------------------


class FuzzSession:
    """``FuzzSession(config, handlers=[...]).run(session.targets(service, all))``."""

    def __init__(
        self,
        config: CovenantConfig,
        *,
        overrides: FuzzOverrides | None = None,
        report_dir: Path | None = None,
        handlers: Sequence[FuzzHandler] = (),
        serve_covenant: ServeCovenant | None = None,
        runner: Runner = run_fuzz,
        store: Store = save_result,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        baseline: Path | None = None,
        update_baseline: bool = False,
    ) -> None:
        self.config = config
        self.baseline_path = baseline
        self.update_baseline = update_baseline
        self.overrides = overrides or FuzzOverrides()
        self.report_root = report_dir or config.fuzz.report_dir
        self.handlers = tuple(handlers)
        self.serve_covenant = serve_covenant
        self.runner = runner
        self.store = store
        self.now = now

    def emit(self, event: FuzzEvent) -> None:
        for handler in self.handlers:
            handler.handle(event)

    def database_url(self) -> str | None:
        """The PostgreSQL runs and findings are stored in, if there is one."""
        postgres = resolve_endpoints(self.config).get("postgres")
        return postgres.target if postgres else None

    def targets(self, service: str | None = None, *, all_services: bool = False) -> list[str]:
        """The services to fuzz: ``service``, or with ``all_services`` every known one."""
        if all_services == (service is not None):
            raise CovenantError(
                "name one SERVICE or use --all (or fuzz any API with --spec and --url)",
                kind=ErrorKind.USAGE,
            )
        return known_services(self.config) if all_services else [service or ""]

    def run(self, services: Sequence[str]) -> FuzzSessionResult:
        """Fuzz each of ``services`` in turn; raises (a CovenantError) only for what
        stops the session before its end: a baseline that cannot be read, an unknown
        service, one that is not running, Covenant's API without a PostgreSQL to serve
        it on."""
        baseline = self._baseline()

        def resolve(name: str) -> tuple[FuzzOptions, bool]:
            own = name == COVENANT_SERVICE
            return self.overrides.apply(resolve_target(self.config, name)), own

        return self._run(services, resolve, baseline)

    def run_spec(self, target: SpecTarget) -> FuzzSessionResult:
        """Fuzz the one API ``target`` names (``--spec``, ``--url``, ...), after checking
        that its spec loads and its base URL answers (raising a usage error, exit 2, or
        an unreachable one, exit 3, before anything is fuzzed)."""
        baseline = self._baseline()
        target.check()
        options = self.overrides.apply(target.options(self.config))
        return self._run([target.name], lambda name: (options, False), baseline)

    def _baseline(self) -> Baseline | None:
        """The baseline asked for, read before any fuzzing, so that a malformed one
        costs nothing."""
        if self.baseline_path is None:
            if self.update_baseline:
                raise CovenantError("--update-baseline needs --baseline FILE", kind=ErrorKind.USAGE)
            return None
        from verifiers.fuzz._baseline import Baseline

        return Baseline.read(self.baseline_path, missing_ok=self.update_baseline)

    def _run(
        self,
        services: Sequence[str],
        resolve: Callable[[str], tuple[FuzzOptions, bool]],
        baseline: Baseline | None,
    ) -> FuzzSessionResult:
        root = self.report_root / self.now().strftime("%Y%m%dT%H%M%SZ")
        self.emit(SessionStarted(tuple(services), root))
        results: list[FuzzResult] = []
        for name in services:
            options, own = resolve(name)
            self.emit(ServiceStarted(name, options))
            result = self._fuzz(name, options, root / name, own=own)
            results.append(result)
            self._store(result)
            self.emit(ServiceFinished(result))
        report = None if baseline is None else self._hold_against(baseline, results)
        known = None if report is None else {s.key for s in report.known}
        root.mkdir(parents=True, exist_ok=True)
        (root / "report.html").write_text(render_html(results, known), encoding="utf-8")
        finished = FuzzSessionResult(tuple(results), root, report)
        self.emit(SessionFinished(finished))
        return finished

    def _hold_against(self, baseline: Baseline, results: list[FuzzResult]) -> BaselineReport:
        """The findings against ``baseline``; with ``update_baseline`` the file is then
        rewritten with them (if any service was fuzzed to the end)."""
        report = baseline.compare(results)
        if not self.update_baseline:
            return report
        if not any(r.outcome in ("clean", "findings") for r in results):
            return report  # nothing was fuzzed to the end: the file stays as it was
        updated = baseline.updated(results)
        updated.write()
        return replace(report, written=True, entries=len(updated.entries))

    def _fuzz(self, name: str, options: FuzzOptions, report_dir: Path, *, own: bool) -> FuzzResult:
        def output(line: str) -> None:
            if STORE_MODULE not in sys.modules and self.store is save_result:
                # Schemathesis has started and runs on while the store is imported, so
                # the import no longer adds to the session's time.
                importlib.import_module(STORE_MODULE)
            self.emit(EngineOutput(name, line))

        workdir = self.config.stack.state_dir / "fuzz" / name
        if not own:
            return self.runner(options, report_dir=report_dir, workdir=workdir, on_output=output)
        with self._serving_covenant(options) as own_options:
            return self.runner(
                own_options, report_dir=report_dir, workdir=workdir, on_output=output
            )

    def _store(self, result: FuzzResult) -> None:
        database_url = self.database_url()
        if database_url is None or result.outcome == "unreachable":
            return
        try:
            self.store(database_url, result)
        except Exception as exc:
            self.emit(NotStored(result.options.service, str(exc)))

    @contextmanager
    def _serving_covenant(self, options: FuzzOptions) -> Iterator[FuzzOptions]:
        """Covenant's own API, served on a fresh, empty database, so fuzzed writes stay
        out of real data and each run starts alike (kept between runs, the webhooks
        earlier runs had created, hundreds, made every later publish slow enough to
        fail the time budget), with a throwaway token as its only one."""
        admin_url = self.database_url()
        if admin_url is None:
            raise CovenantError("fuzzing covenant needs PostgreSQL", kind=ErrorKind.CONFIG)
        if self.serve_covenant is None:
            raise CovenantError(
                "fuzzing covenant needs a server for its API", kind=ErrorKind.CONFIG
            )
        from pydantic import SecretStr

        config = self.config
        database = SecretStr(create_database(admin_url, OWN_DATABASE, replace=True))
        postgres = config.engines.postgres.model_copy(update={"url": database})
        token = secrets.token_urlsafe(24)
        # Fuzzed webhooks point at generated hosts; the broker may only call loopback
        # ones, so fuzzing never reaches (or resolves) anything outside this machine.
        broker = config.broker.model_copy(
            update={
                "webhook_allowed_hosts": LOOPBACK_HOSTS,
                "read_write_tokens": (SecretStr(token),),
            }
        )
        own = config.model_copy(
            update={
                "engines": config.engines.model_copy(update={"postgres": postgres}),
                "broker": broker,
            }
        )
        with self.serve_covenant(own) as server:
            yield replace(
                options,
                spec=f"{server.url}/openapi.json",
                headers={"Authorization": f"Bearer {token}"},
            )

    # -- replaying a stored finding ---------------------------------------------

    def finding(self, finding_id: str) -> dict[str, Any]:
        """The stored finding ``finding_id`` (its request among its columns)."""
        database_url = self.database_url()
        if database_url is None:
            raise CovenantError(
                "replaying needs PostgreSQL (engines.postgres.url)", kind=ErrorKind.CONFIG
            )
        found = load_finding(database_url, finding_id)
        if found is None:
            raise CovenantError(f"no finding '{finding_id}'", kind=ErrorKind.USAGE)
        return found

    @staticmethod
    def resend(finding: dict[str, Any], timeout_s: float = 30) -> httpx.Response:
        """Send ``finding``'s request again, masked headers left out."""
        import httpx

        request = finding["request"]
        headers = {k: v for k, v in (request.get("headers") or {}).items() if v != MASK}
        try:
            return httpx.request(
                request["method"],
                request["uri"],
                headers=headers,
                content=request.get("body"),
                timeout=timeout_s,
            )
        except httpx.TransportError as exc:
            raise CovenantError(f"{request['uri']}: {exc}", kind=ErrorKind.UNREACHABLE) from None
