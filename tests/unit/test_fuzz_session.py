"""The fuzz session without servers: targets, overrides, events, storing, the report,
how a session ends, serving Covenant's own API, and replaying a stored finding."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from covenant.cli._fuzz_cmd import ConsoleHandler
from covenant.kernel.config import CovenantConfig
from covenant.kernel.errors import CovenantError, ErrorKind
from covenant.stack._ports import free_port
from verifiers.fuzz import Finding, FuzzOptions, FuzzResult
from verifiers.fuzz import session as session_module
from verifiers.fuzz.session import (
    LOOPBACK_HOSTS,
    OWN_DATABASE,
    EngineOutput,
    FuzzEvent,
    FuzzOverrides,
    FuzzSession,
    NotStored,
    ServiceFinished,
    ServiceStarted,
    SessionFinished,
    SessionStarted,
)

DATABASE = "postgresql://fuzz:secret@db.invalid:5432/covenant"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _config(tmp_path: Path, *, postgres: bool = False, **fuzz: Any) -> CovenantConfig:
    services = [
        {"name": "alpha", "spec": "http://alpha.invalid/openapi.json", "max_examples": 7},
        {"name": "beta", "spec": "http://beta.invalid/openapi.json", "rate_limit": "5/s"},
    ]
    return CovenantConfig.model_validate(
        {
            "stack": {"state_dir": str(tmp_path / "state")},
            "engines": {"postgres": {"url": DATABASE}} if postgres else {},
            "fuzz": {
                "include_reference": False,
                "include_covenant": False,
                "services": services,
                **fuzz,
            },
        }
    )


def _finding(operation: str = "GET /x") -> Finding:
    return Finding(
        id="F-1",
        operation=operation,
        check="not_a_server_error",
        code=None,
        title="Server error",
        message="500",
        severity=None,
        request={"method": "GET", "uri": "http://alpha.invalid/x"},
        response=None,
        curl="curl -X GET http://alpha.invalid/x",
    )


@dataclass
class FakeRunner:
    """Stands in for ``run_fuzz``: records each call, answers the outcome asked for."""

    outcomes: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[FuzzOptions, Path, Path | None]] = field(default_factory=list)

    def __call__(
        self,
        options: FuzzOptions,
        *,
        report_dir: Path,
        workdir: Path | None = None,
        on_output: Callable[[str], None] = lambda line: None,
    ) -> FuzzResult:
        self.calls.append((options, report_dir, workdir))
        on_output(f"{options.service}: 1 operation")
        outcome = self.outcomes.get(options.service, "clean")
        result = FuzzResult(options, NOW, NOW, outcome)
        if outcome == "findings":
            result.findings.append(_finding())
        elif outcome != "clean":
            result.errors.append(f"{options.service} {outcome}")
        return result


@dataclass
class Recorder:
    events: list[FuzzEvent] = field(default_factory=list)

    def handle(self, event: FuzzEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]


def _session(
    config: CovenantConfig,
    runner: FakeRunner,
    recorder: Recorder,
    tmp_path: Path,
    **kwargs: Any,
) -> FuzzSession:
    return FuzzSession(
        config,
        report_dir=tmp_path / "reports",
        handlers=[recorder],
        runner=runner,
        now=lambda: NOW,
        **kwargs,
    )


# -- targets -----------------------------------------------------------------------


def test_targets_are_one_service_or_all_known_ones(tmp_path: Path) -> None:
    session = FuzzSession(_config(tmp_path))
    assert session.targets("beta") == ["beta"]
    assert session.targets(all_services=True) == ["alpha", "beta"]
    for service, all_services in ((None, False), ("beta", True)):
        with pytest.raises(CovenantError, match="name one SERVICE or use --all") as caught:
            session.targets(service, all_services=all_services)
        assert caught.value.kind is ErrorKind.USAGE


def test_an_unknown_service_stops_the_session_before_anything_runs(tmp_path: Path) -> None:
    runner, recorder = FakeRunner(), Recorder()
    session = _session(_config(tmp_path), runner, recorder, tmp_path)
    with pytest.raises(CovenantError, match="unknown service 'nope'") as caught:
        session.run(["nope"])
    assert caught.value.kind is ErrorKind.USAGE
    assert runner.calls == []
    assert recorder.kinds() == ["SessionStarted"]


def test_a_reference_service_not_in_the_stack_is_unreachable(tmp_path: Path) -> None:
    session = _session(_config(tmp_path), FakeRunner(), Recorder(), tmp_path)
    with pytest.raises(CovenantError, match="not running in the local stack") as caught:
        session.run(["hono-api"])
    assert caught.value.kind is ErrorKind.UNREACHABLE


# -- a run -------------------------------------------------------------------------


def test_a_session_runs_each_target_in_order_and_tells_its_handlers(tmp_path: Path) -> None:
    runner, recorder = FakeRunner(), Recorder()
    session = _session(_config(tmp_path), runner, recorder, tmp_path)
    result = session.run(["alpha", "beta"])

    root = tmp_path / "reports" / "20260102T030405Z"
    assert result.report_dir == root
    assert [r.options.service for r in result.results] == ["alpha", "beta"]
    assert recorder.kinds() == [
        "SessionStarted",
        *("ServiceStarted", "EngineOutput", "ServiceFinished") * 2,
        "SessionFinished",
    ]
    started = recorder.events[0]
    assert isinstance(started, SessionStarted)
    assert started == SessionStarted(("alpha", "beta"), root)
    assert recorder.events[2] == EngineOutput("alpha", "alpha: 1 operation")
    finished = recorder.events[3]
    assert isinstance(finished, ServiceFinished) and finished.result is result.results[0]
    assert recorder.events[-1] == SessionFinished(result)
    # Each target reports below the session's directory and works in its own directory.
    state = tmp_path / "state"
    assert [(c[1], c[2]) for c in runner.calls] == [
        (root / "alpha", state / "fuzz" / "alpha"),
        (root / "beta", state / "fuzz" / "beta"),
    ]
    report = (root / "report.html").read_text(encoding="utf-8")
    assert "alpha &mdash; clean" in report and "beta &mdash; clean" in report


def test_the_report_directory_defaults_to_the_configured_one(tmp_path: Path) -> None:
    config = _config(tmp_path, report_dir=str(tmp_path / "configured"))
    session = FuzzSession(config, runner=FakeRunner(), now=lambda: NOW)
    assert session.run(["alpha"]).report_dir == tmp_path / "configured" / "20260102T030405Z"


def test_overrides_win_over_each_targets_options(tmp_path: Path) -> None:
    runner, recorder = FakeRunner(), Recorder()
    overrides = FuzzOverrides(max_examples=3, max_time_s=9, seed=0, rate_limit="1/s")
    session = _session(_config(tmp_path), runner, recorder, tmp_path, overrides=overrides)
    session.run(["alpha", "beta"])
    for options, _, _ in runner.calls:
        assert (options.max_examples, options.max_time_s, options.seed, options.rate_limit) == (
            3,
            9,
            0,  # a seed of 0 is a seed, not "unset"
            "1/s",
        )
    started = [e for e in recorder.events if isinstance(e, ServiceStarted)]
    assert [e.options for e in started] == [c[0] for c in runner.calls]


def test_without_overrides_each_target_keeps_its_own(tmp_path: Path) -> None:
    runner = FakeRunner()
    session = _session(_config(tmp_path, seed=11), runner, Recorder(), tmp_path)
    session.run(["alpha", "beta"])
    alpha, beta = (c[0] for c in runner.calls)
    assert (alpha.max_examples, alpha.rate_limit, alpha.seed) == (7, None, 11)
    assert (beta.max_examples, beta.rate_limit, beta.seed) == (25, "5/s", 11)
    assert FuzzOverrides(max_examples=0).apply(alpha) == alpha


# -- storing -----------------------------------------------------------------------


def test_runs_are_stored_unless_unreachable_or_without_postgres(tmp_path: Path) -> None:
    stored: list[tuple[str, str]] = []

    def store(url: str, result: FuzzResult) -> None:
        stored.append((url, result.options.service))

    runner = FakeRunner(outcomes={"alpha": "unreachable", "beta": "findings"})
    config = _config(tmp_path, postgres=True)
    _session(config, runner, Recorder(), tmp_path, store=store).run(["alpha", "beta"])
    assert stored == [(DATABASE, "beta")]

    stored.clear()
    _session(_config(tmp_path), runner, Recorder(), tmp_path, store=store).run(["beta"])
    assert stored == []


def test_a_run_postgres_refuses_is_told_and_the_session_goes_on(tmp_path: Path) -> None:
    def store(url: str, result: FuzzResult) -> None:
        raise OSError(f"cannot store {result.options.service}")

    runner, recorder = FakeRunner(), Recorder()
    config = _config(tmp_path, postgres=True)
    result = _session(config, runner, recorder, tmp_path, store=store).run(["alpha", "beta"])
    assert len(result.results) == 2
    refused = [e for e in recorder.events if isinstance(e, NotStored)]
    assert refused == [
        NotStored("alpha", "cannot store alpha"),
        NotStored("beta", "cannot store beta"),
    ]
    # Told before the run counts as finished.
    index = recorder.events.index(refused[0])
    assert isinstance(recorder.events[index + 1], ServiceFinished)


# -- how a session ends ------------------------------------------------------------


def _ended(tmp_path: Path, outcomes: dict[str, str]) -> Any:
    runner = FakeRunner(outcomes=outcomes)
    return _session(_config(tmp_path), runner, Recorder(), tmp_path).run(["alpha", "beta"])


def test_a_clean_session_has_no_problem_and_no_findings(tmp_path: Path) -> None:
    result = _ended(tmp_path, {})
    assert result.outcomes == {"clean"}
    assert result.problem() is None and not result.has_findings and result.findings == []


def test_findings_are_no_problem_but_are_told(tmp_path: Path) -> None:
    result = _ended(tmp_path, {"beta": "findings"})
    assert result.problem() is None
    assert result.has_findings
    assert [f.id for f in result.findings] == ["F-1"]


def test_an_unreachable_service_is_a_problem_of_its_own_kind(tmp_path: Path) -> None:
    result = _ended(tmp_path, {"alpha": "unreachable", "beta": "findings"})
    problem = result.problem()
    assert problem is not None and problem.kind is ErrorKind.UNREACHABLE
    assert str(problem) == "alpha unreachable"


def test_a_run_that_could_not_run_outranks_an_unreachable_one(tmp_path: Path) -> None:
    result = _ended(tmp_path, {"alpha": "unreachable", "beta": "error"})
    problem = result.problem()
    assert problem is not None and problem.kind is ErrorKind.USAGE
    assert str(problem) == "fuzzing could not run: alpha unreachable; beta error"


# -- Covenant's own API ------------------------------------------------------------


@dataclass
class FakeServer:
    url: str = "http://127.0.0.1:4321"


def test_covenant_is_fuzzed_on_a_fresh_database_with_a_throwaway_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[tuple[str, str, bool]] = []

    def create_database(server_url: str, name: str, *, replace: bool = False) -> str:
        created.append((server_url, name, replace))
        return f"postgresql://fuzz:secret@db.invalid:5432/{name}"

    monkeypatch.setattr(session_module, "create_database", create_database)
    served: list[CovenantConfig] = []
    serving: list[bool] = []

    @contextmanager
    def serve(config: CovenantConfig) -> Iterator[FakeServer]:
        served.append(config)
        serving.append(True)
        yield FakeServer()
        serving.append(False)

    class WhileServed(FakeRunner):
        def __call__(self, options: FuzzOptions, **kwargs: Any) -> FuzzResult:
            assert serving == [True], "fuzzed while Covenant's API was not served"
            return super().__call__(options, **kwargs)

    runner = WhileServed()
    config = _config(tmp_path, postgres=True, include_covenant=True)
    config = config.model_copy(
        update={
            "broker": config.broker.model_copy(update={"read_write_tokens": (SecretStr("kept"),)})
        }
    )
    session = _session(config, runner, Recorder(), tmp_path, serve_covenant=serve, store=_no_store)
    session.run(["covenant"])

    assert created == [(DATABASE, OWN_DATABASE, True)]
    [own] = served
    assert own.engines.postgres.url is not None
    assert own.engines.postgres.url.get_secret_value().endswith(f"/{OWN_DATABASE}")
    assert own.broker.webhook_allowed_hosts == LOOPBACK_HOSTS
    [token] = own.broker.read_write_tokens
    [(options, _, _)] = runner.calls
    assert options.spec == "http://127.0.0.1:4321/openapi.json"
    assert options.headers == {"Authorization": f"Bearer {token.get_secret_value()}"}
    assert options.accepted_statuses == ("422",)
    assert serving == [True, False]
    # The caller's configuration is left as it was.
    assert config.engines.postgres.url is not None
    assert config.engines.postgres.url.get_secret_value() == DATABASE


def _no_store(url: str, result: FuzzResult) -> None:
    pass


def test_covenant_needs_postgres_and_a_server(tmp_path: Path) -> None:
    recorder = Recorder()
    config = _config(tmp_path, include_covenant=True)
    session = _session(config, FakeRunner(), recorder, tmp_path)
    with pytest.raises(CovenantError, match="fuzzing covenant needs PostgreSQL") as caught:
        session.run(["covenant"])
    assert caught.value.kind is ErrorKind.CONFIG
    assert recorder.kinds() == ["SessionStarted", "ServiceStarted"]

    config = _config(tmp_path, postgres=True, include_covenant=True)
    session = _session(config, FakeRunner(), Recorder(), tmp_path)
    with pytest.raises(CovenantError, match="needs a server") as caught:
        session.run(["covenant"])
    assert caught.value.kind is ErrorKind.CONFIG


# -- replaying ---------------------------------------------------------------------


def test_replaying_needs_postgres(tmp_path: Path) -> None:
    with pytest.raises(CovenantError, match="replaying needs PostgreSQL") as caught:
        FuzzSession(_config(tmp_path)).finding("F-1")
    assert caught.value.kind is ErrorKind.CONFIG


def test_an_unknown_finding_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, str]] = []

    def load_finding(url: str, finding_id: str) -> None:
        asked.append((url, finding_id))

    monkeypatch.setattr(session_module, "load_finding", load_finding)
    with pytest.raises(CovenantError, match="no finding 'F-2'") as caught:
        FuzzSession(_config(tmp_path, postgres=True)).finding("F-2")
    assert caught.value.kind is ErrorKind.USAGE
    assert asked == [(DATABASE, "F-2")]


@pytest.fixture
def echo() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            seen.append({**dict(self.headers.items()), "body": body.decode()})
            self.send_response(418)
            self.end_headers()
            self.wfile.write(b"short and stout")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_resend_leaves_masked_headers_out(echo: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = echo
    finding = {
        "request": {
            "method": "POST",
            "uri": f"{url}/things",
            "headers": {"Authorization": "***", "X-Kept": "yes"},
            "body": '{"a": 1}',
        }
    }
    response = FuzzSession.resend(finding)
    assert (response.status_code, response.text) == (418, "short and stout")
    [request] = seen
    assert request["X-Kept"] == "yes" and "Authorization" not in request
    assert request["body"] == '{"a": 1}'


def test_resend_to_nowhere_is_unreachable() -> None:
    uri = f"http://127.0.0.1:{free_port()}/x"
    with pytest.raises(CovenantError, match=re.escape(uri)) as caught:
        FuzzSession.resend({"request": {"method": "GET", "uri": uri}}, timeout_s=2)
    assert caught.value.kind is ErrorKind.UNREACHABLE


# -- the command renders the events ------------------------------------------------


def test_the_console_handler_shows_progress_unless_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = FuzzOptions(service="[b]x", spec="s")
    events: list[FuzzEvent] = [
        SessionStarted(("[b]x",), tmp_path),
        ServiceStarted("[b]x", options),
        EngineOutput("[b]x", "[red]progress"),
        NotStored("[b]x", "[i]refused"),
        ServiceFinished(FuzzResult(options, NOW, NOW, "clean")),
    ]
    for quiet in (False, True):
        handler = ConsoleHandler(quiet=quiet)
        for event in events:
            handler.handle(event)
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.splitlines()
        expected = ["fuzzing [b]x", "[red]progress", "not stored in PostgreSQL: [i]refused"]
        assert lines == ([e for e in expected if e != "[red]progress"] if quiet else expected)
