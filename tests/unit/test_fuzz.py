"""Fuzz internals without servers: the event reader, the command line, the report."""

from __future__ import annotations

import base64
import json
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from verifiers.fuzz import Finding, FuzzOptions, FuzzResult, render_html
from verifiers.fuzz._events import Masker, curl_line, read_events
from verifiers.fuzz._model import finding_id
from verifiers.fuzz._runner import POSITIVE_DATA_DEFAULT, build_command, write_config
from verifiers.fuzz.checks import _SECRET


def _scenario(
    case_id: str, check: str, status: str, uri: str, headers: dict[str, list[str]]
) -> str:
    event = {
        "ScenarioFinished": {
            "status": "failure" if status != "success" else "success",
            "recorder": {
                "label": "POST /things",
                "cases": {case_id: {"value": {"method": "POST", "path": "/things"}}},
                "checks": {
                    case_id: [
                        {
                            "name": check,
                            "status": status,
                            "failure_info": {
                                "failure": {
                                    "code": "ST101",
                                    "operation": "POST /things",
                                    "title": "Server error",
                                    "message": "500 <script>alert(1)</script>",
                                    "severity": "critical",
                                }
                            },
                        }
                    ]
                },
                "interactions": {
                    case_id: {
                        "request": {
                            "method": "POST",
                            "uri": uri,
                            "headers": headers,
                            "body": {"$base64": base64.b64encode(b'{"a": "it\'s"}').decode()},
                        },
                        "response": {
                            "status_code": 500,
                            "headers": {"content-type": ["text/plain"]},
                            "content": {"$base64": base64.b64encode(b"boom").decode()},
                            "elapsed": 0.01,
                        },
                    }
                },
            },
        }
    }
    return json.dumps(event)


def test_read_events_deduplicates_and_redacts(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    headers = {"Authorization": ["Bearer s3cr3t-token"], "X-Trace": ["abc"]}
    events.write_text(
        "\n".join(
            [
                json.dumps({"Initialize": {"seed": 1}}),
                _scenario("a", "not_a_server_error", "failure", "http://h/things", headers),
                _scenario("b", "not_a_server_error", "failure", "http://h/things?x=1", headers),
                _scenario("c", "not_a_server_error", "success", "http://h/things", headers),
            ]
        )
    )
    findings, operations, cases, errors = read_events(events)
    assert len(findings) == 1, "the same problem found twice is one finding"
    finding = findings[0]
    assert finding.id.startswith("F-") and operations == 1 and cases == 3 and errors == []
    assert finding.response is not None and finding.response["status"] == 500
    assert "s3cr3t" not in json.dumps(finding.request) and "s3cr3t" not in finding.curl
    assert finding.request["headers"]["Authorization"] == "***"
    assert "${AUTHORIZATION}" in finding.curl
    assert "--data-raw" in finding.curl and "it'\"'\"'s" in finding.curl


def test_finding_ids_name_the_problem_not_the_run(tmp_path: Path) -> None:
    """Two runs that find the same problem with different generated requests and
    responses give it the same id (a baseline matches on it)."""
    first, second = tmp_path / "first.ndjson", tmp_path / "second.ndjson"
    first.write_text(_scenario("a", "not_a_server_error", "failure", "http://h/t?q=1", {}))
    second.write_text(_scenario("zz", "not_a_server_error", "failure", "http://h:9/t?q=2", {}))
    [one], *_ = read_events(first)
    [two], *_ = read_events(second)
    assert one.id == two.id and one.request["uri"] != two.request["uri"]
    assert one.id == finding_id("POST /things", "not_a_server_error", "Server error")


def test_a_secret_header_value_is_masked_everywhere_it_appears(tmp_path: Path) -> None:
    """Headers given to the run (-H, --auth) are masked whatever their name, and their
    values scrubbed from messages, bodies and URLs."""
    events = tmp_path / "events.ndjson"
    scenario = json.loads(
        _scenario("a", "not_a_server_error", "failure", "http://h/t?echo=tenant-42", {})
    )
    recorder = scenario["ScenarioFinished"]["recorder"]
    recorder["interactions"]["a"]["request"]["headers"] = {"X-Tenant": ["tenant-42"]}
    recorder["checks"]["a"][0]["failure_info"]["failure"]["message"] = "500 for tenant-42"
    body = base64.b64encode(b"no such tenant tenant-42").decode()
    recorder["interactions"]["a"]["response"]["content"] = {"$base64": body}
    events.write_text(json.dumps(scenario))
    [finding], *_ = read_events(events, Masker.of({"X-Tenant": "tenant-42"}))
    assert "tenant-42" not in json.dumps(finding.__dict__)
    assert finding.request["headers"] == {"X-Tenant": "***"}
    assert "-H 'X-Tenant: ${X_TENANT}'" in finding.curl


def test_curl_line_quotes_the_url() -> None:
    line = curl_line({"method": "GET", "uri": "http://h/x?a=1&b=$(id)", "headers": {}})
    assert line == "curl -X GET 'http://h/x?a=1&b=$(id)'"


def test_secret_headers_stay_off_the_command_line(tmp_path: Path) -> None:
    options = FuzzOptions(
        service="s", spec="http://h/openapi.json", headers={"Authorization": "Bearer s3cr3t"}
    )
    config, env = write_config(options, tmp_path)
    argv = build_command(options, tmp_path, config)
    assert "s3cr3t" not in " ".join(argv)
    assert config is not None and "s3cr3t" not in config.read_text()
    assert "Bearer s3cr3t" in env.values()
    assert "--config-file" in argv and argv.index("--config-file") < argv.index("run")


def test_accepted_statuses_extend_the_positive_data_defaults(tmp_path: Path) -> None:
    options = FuzzOptions(service="s", spec="http://h/openapi.json", accepted_statuses=("422",))
    config, env = write_config(options, tmp_path)
    assert config is not None and env == {}
    parsed = tomllib.loads(config.read_text())
    statuses = parsed["checks"]["positive_data_acceptance"]["expected-statuses"]
    assert statuses == [*POSITIVE_DATA_DEFAULT, "422"]
    assert "400" not in statuses


def test_an_empty_config_file_shields_the_run_from_stray_ones(tmp_path: Path) -> None:
    config, env = write_config(FuzzOptions(service="s", spec="x"), tmp_path)
    assert env == {} and tomllib.loads(config.read_text()) == {}
    assert "--config-file" in build_command(FuzzOptions(service="s", spec="x"), tmp_path, config)


def test_html_report_escapes_everything(tmp_path: Path) -> None:
    finding = Finding(
        id="F-1",
        operation="GET /<b>x</b>",
        check="not_a_server_error",
        code="ST101",
        title="<img src=x onerror=alert(1)>",
        message="<script>alert(1)</script>",
        severity="critical",
        request={"method": "GET", "uri": "http://h/x"},
        response={"status": 500, "body": "</pre><script>alert(2)</script>"},
        curl="curl -X GET 'http://h/<x>'",
    )
    now = datetime.now(UTC)
    page = render_html(
        [
            FuzzResult(
                FuzzOptions(service="s<x>", spec="s"), now, now, "findings", findings=[finding]
            )
        ]
    )
    assert "<script>" not in page and "<img" not in page and "<b>x</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "covenant fuzz --replay F-1" in page


@pytest.mark.parametrize(
    ("text", "leaks"),
    [
        ("password=hunter22", True),
        ('{"password": "s3cr3t!x"}', True),
        ("token: eyJhbGciOiJIUzI1NiJ9.abc", True),
        ("postgresql://app:pw@db/app", True),
        ("-----BEGIN RSA PRIVATE KEY-----", True),
        ("request.password: matches none of the allowed shapes", False),
        ("invalid webhook: request.password: must be a string", False),
    ],
)
def test_secret_pattern_tells_credentials_from_prose(text: str, leaks: bool) -> None:
    assert bool(_SECRET.search(text)) is leaks


class _SlowThenFast:
    """A loopback server whose first ``slow`` answers take ``delay`` seconds."""

    def __init__(self, slow: int, delay: float) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self
        self.calls = 0

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                owner.calls += 1
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if owner.calls <= slow:
                    time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/x"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, method: str) -> Any:
        """What Schemathesis hands a check: its Response of one request sent now."""
        import requests
        from schemathesis.core.transport import Response

        prepared = requests.Request(method, self.url, data=b"{}").prepare()
        started = time.perf_counter()
        with requests.Session() as session:
            raw = session.send(prepared, timeout=10)
        return Response(
            status_code=raw.status_code,
            headers={k: [v] for k, v in raw.headers.items()},
            content=raw.content,
            request=prepared,
            elapsed=time.perf_counter() - started,
            verify=True,
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("method", "slow", "reported", "calls"),
    [
        ("PUT", 1, False, 2),  # slow once: timed again, a busy moment
        ("GET", 1, False, 2),
        ("PUT", 2, True, 2),  # slow again: a slow endpoint
        ("POST", 1, True, 1),  # not idempotent: never sent twice
    ],
)
def test_response_time_budget_times_idempotent_requests_again(
    monkeypatch: pytest.MonkeyPatch, method: str, slow: int, reported: bool, calls: int
) -> None:
    from verifiers.fuzz.checks import response_time_budget

    monkeypatch.setenv("COVENANT_FUZZ_RESPONSE_BUDGET_S", "0.3")
    server = _SlowThenFast(slow, delay=0.6)
    try:
        response = server.answer(method)
        assert response.elapsed > 0.3
        if reported:
            with pytest.raises(AssertionError, match=r"over the 0\.300s budget"):
                response_time_budget(None, response, None)
        else:
            assert response_time_budget(None, response, None) is None
        assert server.calls == calls
    finally:
        server.close()


@pytest.mark.parametrize("where", ["url", "file"])
def test_a_run_whose_spec_cannot_be_read_is_unreachable(tmp_path: Path, where: str) -> None:
    """The spec is asked for again only when a run did not go through (a good run is not
    delayed by a check before it); then a spec nothing serves makes it unreachable."""
    from covenant.stack._ports import free_port
    from verifiers.fuzz import run_fuzz

    spec = (
        f"http://127.0.0.1:{free_port()}/openapi.json"
        if where == "url"
        else str(tmp_path / "missing.json")
    )
    options = FuzzOptions(service="gone", spec=spec, max_examples=1)
    result = run_fuzz(options, report_dir=tmp_path / "reports", workdir=tmp_path / "work")
    assert result.outcome == "unreachable", result.errors
    assert result.errors == [
        f"{spec} is not reachable: [Errno 111] Connection refused"
        if where == "url"
        else f"no such file: {spec}"
    ]
