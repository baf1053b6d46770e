"""The fuzz session driven directly against the local stack: a reference service and
Covenant's own API in one session, and a faulty variant whose stored findings replay."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from covenant.app import BackgroundServer, create_app
from covenant.kernel.config import CovenantConfig
from covenant.kernel.errors import CovenantError, ErrorKind
from tests.integration.conftest import RunningStack, variant
from verifiers.fuzz.session import (
    OWN_DATABASE,
    EngineOutput,
    FuzzEvent,
    FuzzOverrides,
    FuzzSession,
    FuzzSessionResult,
    ServiceFinished,
    ServiceStarted,
    SessionFinished,
    SessionStarted,
)

PHASES = ["examples", "coverage"]


class Recorder:
    def __init__(self) -> None:
        self.events: list[FuzzEvent] = []

    def handle(self, event: FuzzEvent) -> None:
        self.events.append(event)


def _config(stack: RunningStack, **fuzz: object) -> CovenantConfig:
    return CovenantConfig.model_validate(
        {
            "stack": {"state_dir": str(stack.state_dir)},
            "fuzz": {"phases": PHASES, "max_examples": 3, **fuzz},
        }
    )


@contextmanager
def _serve(config: CovenantConfig) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(config)) as server:
        yield server


@pytest.fixture(scope="module")
def session_run(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> tuple[FuzzSessionResult, Recorder]:
    recorder = Recorder()
    session = FuzzSession(
        _config(stack),
        report_dir=tmp_path_factory.mktemp("session"),
        handlers=[recorder],
        serve_covenant=_serve,
    )
    return session.run(["hono-api", "covenant"]), recorder


def test_a_session_fuzzes_each_target_and_ends_clean(
    session_run: tuple[FuzzSessionResult, Recorder],
) -> None:
    result, _ = session_run
    assert [r.options.service for r in result.results] == ["hono-api", "covenant"]
    assert result.outcomes == {"clean"}, [r.errors for r in result.results]
    assert result.problem() is None and not result.has_findings
    assert (result.report_dir / "report.html").exists()
    for service in ("hono-api", "covenant"):
        assert (result.report_dir / service / "junit.xml").exists(), service
        assert (result.report_dir / service / "events.ndjson").stat().st_size > 0, service
    assert all(r.operations > 0 and r.test_cases > 0 for r in result.results)


def test_the_handlers_hear_the_whole_session_in_order(
    session_run: tuple[FuzzSessionResult, Recorder],
) -> None:
    result, recorder = session_run
    events = recorder.events
    assert events[0] == SessionStarted(("hono-api", "covenant"), result.report_dir)
    assert events[-1] == SessionFinished(result)
    started = [e.service for e in events if isinstance(e, ServiceStarted)]
    finished = [e.result for e in events if isinstance(e, ServiceFinished)]
    assert started == ["hono-api", "covenant"]
    assert finished == list(result.results)
    for service in started:
        # Schemathesis's own output arrives between the service's start and its end.
        begin = next(
            i
            for i, e in enumerate(events)
            if isinstance(e, ServiceStarted) and e.service == service
        )
        end = next(
            i
            for i, e in enumerate(events)
            if isinstance(e, ServiceFinished) and e.result.options.service == service
        )
        lines = [e for e in events[begin:end] if isinstance(e, EngineOutput)]
        assert lines and all(e.service == service for e in lines), service


def test_covenant_was_served_with_a_token_on_its_own_database(
    session_run: tuple[FuzzSessionResult, Recorder], stack: RunningStack
) -> None:
    result, _ = session_run
    covenant = result.results[1].options
    assert covenant.spec.startswith("http://127.0.0.1:") and covenant.spec.endswith("/openapi.json")
    assert covenant.headers["Authorization"].startswith("Bearer ")
    with psycopg.connect(stack.url("postgres")) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (OWN_DATABASE,)
        ).fetchone()
    assert exists is not None


def test_every_run_is_stored(
    session_run: tuple[FuzzSessionResult, Recorder], stack: RunningStack
) -> None:
    result, _ = session_run
    with psycopg.connect(stack.url("postgres")) as conn:
        rows = conn.execute(
            "SELECT service, outcome FROM fuzz.runs WHERE id = ANY(%s) ORDER BY started_at",
            ([r.run_id for r in result.results],),
        ).fetchall()
    assert rows == [("hono-api", "clean"), ("covenant", "clean")]


def test_findings_of_a_faulty_variant_are_stored_and_replay(
    stack: RunningStack, tmp_path: Path
) -> None:
    with variant(stack, "baml_extractor", "fuzz-targets", "/openapi.json") as base:
        config = _config(
            stack,
            include_reference=False,
            include_covenant=False,
            services=[{"name": "faulty", "spec": f"{base}/openapi.json"}],
        )
        session = FuzzSession(
            config, report_dir=tmp_path, overrides=FuzzOverrides(max_examples=2, seed=7)
        )
        [service] = session.targets(all_services=True)
        result = session.run([service])
        assert result.has_findings and result.problem() is None
        assert result.results[0].options.seed == 7
        finding = next(
            f
            for f in result.findings
            if (f.operation, f.check) == ("GET /health", "not_a_server_error")
        )
        stored = session.finding(finding.id)
        assert (stored["id"], stored["service"]) == (finding.id, "faulty")
        assert FuzzSession.resend(stored).status_code == 500
    with pytest.raises(CovenantError) as caught:
        FuzzSession.resend(stored, timeout_s=5)
    assert caught.value.kind is ErrorKind.UNREACHABLE


def test_an_unknown_finding_is_a_usage_error(stack: RunningStack) -> None:
    with pytest.raises(CovenantError, match="no finding 'F-none'") as caught:
        FuzzSession(_config(stack)).finding("F-none")
    assert caught.value.kind is ErrorKind.USAGE
