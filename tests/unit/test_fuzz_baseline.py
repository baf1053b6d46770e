"""Stable finding ids and the baseline of known findings, without servers: the id
recipe, reading a baseline (every malformed one refused with its location), comparing
a session's findings with it, updating it, and the session's part."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from covenant.kernel.config import CovenantConfig
from covenant.kernel.errors import ConfigError, CovenantError, ErrorKind, exit_code_for
from verifiers.fuzz import Baseline, BaselineEntry, Finding, FuzzOptions, FuzzResult, finding_id
from verifiers.fuzz._events import read_events
from verifiers.fuzz._model import normalise_problem, problem_of
from verifiers.fuzz.session import FuzzSession

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

# -- the id --------------------------------------------------------------------------


def _event(
    *,
    case: str,
    uri: str,
    operation: str = "POST /things/{id}",
    check: str = "not_a_server_error",
    title: str = "Server error",
    message: str = "Received: 500",
    body: bytes = b"boom",
    request_body: bytes = b'{"a": 1}',
) -> str:
    return json.dumps(
        {
            "ScenarioFinished": {
                "recorder": {
                    "label": operation,
                    "cases": {case: {}},
                    "checks": {
                        case: [
                            {
                                "name": check,
                                "status": "failure",
                                "failure_info": {
                                    "failure": {
                                        "operation": operation,
                                        "title": title,
                                        "message": message,
                                    }
                                },
                            }
                        ]
                    },
                    "interactions": {
                        case: {
                            "request": {
                                "method": operation.split()[0],
                                "uri": uri,
                                "headers": {"X-Request-Id": [case]},
                                "body": {"$base64": base64.b64encode(request_body).decode()},
                            },
                            "response": {
                                "status_code": 500,
                                "headers": {},
                                "content": {"$base64": base64.b64encode(body).decode()},
                                "elapsed": 0.5,
                            },
                        }
                    },
                }
            }
        }
    )


def _read(tmp_path: Path, *events: str) -> list[Finding]:
    path = tmp_path / f"events-{len(list(tmp_path.iterdir()))}.ndjson"
    path.write_text("\n".join(events), encoding="utf-8")
    return read_events(path)[0]


def test_the_same_finding_from_two_runs_with_different_generated_values_has_one_id(
    tmp_path: Path,
) -> None:
    [first] = _read(
        tmp_path,
        _event(case="c1", uri="http://127.0.0.1:8001/things/7?q=a", request_body=b'{"a": 1}'),
    )
    [second] = _read(
        tmp_path,
        _event(
            case="z9",
            uri="http://127.0.0.1:9999/things/-123456?q=%00",
            request_body=b'{"b": "\\u0000"}',
            body=b"Traceback at 0x7f3a",
            message="Received: 503",
        ),
    )
    assert first.request != second.request and first.response != second.response
    assert first.id == second.id
    assert first.id == finding_id("POST /things/{id}", "not_a_server_error", "Server error")


def test_a_custom_check_is_named_by_its_message_with_the_particulars_normalised(
    tmp_path: Path,
) -> None:
    title = "Custom check failed: `response_time_budget`"
    slow = [
        _event(
            case=str(n),
            uri="http://h/things/1",
            check="response_time_budget",
            title=title,
            message=message,
        )
        for n, message in enumerate(
            (
                "over the 2.000s budget\nanswered in 2.513s",
                "over the 2.000s budget\nanswered in 3.100s, and 2.9s when sent again",
            )
        )
    ]
    [one] = _read(tmp_path, slow[0])
    [two] = _read(tmp_path, slow[1])
    assert one.id == two.id and one.problem == "over the <n>s budget"
    # One check, two problems on one operation: two findings, two ids.
    leak = _event(
        case="x",
        uri="http://h/things/1",
        check="no_stack_traces_or_secrets",
        title="Custom check failed: `no_stack_traces_or_secrets`",
        message="the error body contains a stack trace",
    )
    secret = leak.replace("contains a stack trace", "contains something that looks like a secret")
    found = _read(tmp_path, leak, secret.replace('"x"', '"y"'))
    assert len({f.id for f in found}) == 2


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (("GET /things/{id}", "not_a_server_error", "Server error"), "another method"),
        (("POST /things", "not_a_server_error", "Server error"), "another path template"),
        (("POST /things/{id}", "status_code_conformance", "Server error"), "another check"),
        (("POST /things/{id}", "not_a_server_error", "Response violates schema"), "problem"),
    ],
)
def test_a_different_operation_check_or_problem_is_a_different_id(
    other: tuple[str, str, str], why: str
) -> None:
    assert finding_id("POST /things/{id}", "not_a_server_error", "Server error") != finding_id(
        *other
    ), why


def test_what_does_not_identify_a_finding_does_not_change_its_id() -> None:
    base = finding_id("POST /things/{id}", "not_a_server_error", "Server error")
    assert finding_id("post  /things/{id} ", "not_a_server_error", "Server  error") == base
    assert base.startswith("F-") and len(base) == 12
    volatile = "id 3fa85f64-5717-4562-b3fc-2c963f66afa6 'x' at 0x7f3a, 9f86d081884c7d65 -1.5e3"
    assert normalise_problem(volatile + "\nsecond line") == "id <uuid> <value> at <hex>, <hex> <n>"
    assert problem_of("Server error", "Received: 500\nDocumented: 200") == "Server error"


def test_ids_do_not_depend_on_the_run(tmp_path: Path) -> None:
    """The same events read twice (two runs, two run ids) give the same ids."""
    event = _event(case="a", uri="http://h/things/1")
    assert [f.id for f in _read(tmp_path, event)] == [f.id for f in _read(tmp_path, event)]


# -- reading a baseline ----------------------------------------------------------------

GOOD = """\
version: 1
findings:
- id: F-0123456789
  service: api
  operation: GET /x
  check: not_a_server_error
  message: Server error
  note: known since 2026
- id: F-abcdefabcd
  service: api
  operation: POST /y
  check: status_code_conformance
  message: Undocumented status code
"""


def test_a_baseline_reads_with_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "baseline.yaml"
    path.write_text(GOOD)
    baseline = Baseline.read(path)
    assert [e.id for e in baseline.entries] == ["F-0123456789", "F-abcdefabcd"]
    assert baseline.entries[0].note == "known since 2026"
    empty = tmp_path / "empty.yaml"
    empty.write_text("version: 1\nfindings: []\n")
    assert Baseline.read(empty).entries == ()


ENTRY = "- id: F-0123456789\n  service: api\n  operation: GET /x\n  check: c\n  message: m\n"


@pytest.mark.parametrize(
    ("name", "text", "location", "words"),
    [
        ("b.yaml", "version: 1\nfindings:\n- id: [unclosed\n", "b.yaml:4:1", "invalid YAML"),
        ("b.yaml", "", "b.yaml", "the baseline is empty"),
        ("b.yaml", "- just\n- a list\n", "b.yaml:1", "expected a mapping"),
        ("b.yaml", "version: 1\nfindings: []\nextra: 1\n", "b.yaml:3", "unknown key"),
        ("b.yaml", "version: 2\nfindings: []\n", "b.yaml:1", "unsupported version 2"),
        ("b.yaml", "version: 1\n", "b.yaml:1", "'findings' is missing"),
        ("b.yaml", "version: 1\nfindings: {}\n", "b.yaml:2", "must be a list"),
        ("b.yaml", "version: 1\nfindings:\n- F-0123456789\n", "b.yaml:3", "expected a mapping"),
        (
            "b.yaml",
            "version: 1\nfindings:\n" + ENTRY.replace("  message: m\n", ""),
            "b.yaml:3",
            "findings[0].message: is missing",
        ),
        (
            "b.yaml",
            "version: 1\nfindings:\n" + ENTRY.replace("F-0123456789", "F-XYZ"),
            "b.yaml:3",
            "findings[0].id: 'F-XYZ' is not a finding id",
        ),
        (
            "b.yaml",
            "version: 1\nfindings:\n" + ENTRY.replace("check: c", "check: 12"),
            "b.yaml:6",
            "findings[0].check: must be a string",
        ),
        (
            "b.yaml",
            "version: 1\nfindings:\n" + ENTRY + "  severity: high\n",
            "b.yaml:8",
            "findings[0].severity: unknown key",
        ),
        (
            "b.yaml",
            "version: 1\nfindings:\n" + ENTRY + ENTRY,
            "b.yaml:8",
            "F-0123456789 of api is listed twice (first at line 3)",
        ),
        (
            "b.yaml",
            "version: 1\nfindings:\n" + ENTRY.replace("  check: c\n", "  check: c\n  check: d\n"),
            "b.yaml:7",
            "duplicate key 'check'",
        ),
        ("b.json", '{"version": 1,\n "findings": [}\n', "b.json:2:15", "invalid JSON"),
        (
            "b.json",
            '{"version": 1,\n "findings": [\n  {"id": "F-0123456789", "service": "api"}\n ]}\n',
            "b.json:3",
            "findings[0].operation: is missing",
        ),
    ],
)
def test_a_malformed_baseline_is_refused_with_its_location(
    tmp_path: Path, name: str, text: str, location: str, words: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        Baseline.read(path)
    message = caught.value.message
    assert message.startswith(str(tmp_path / location) + ":"), message
    assert words in message, message
    assert exit_code_for(caught.value) == 2


def test_a_baseline_that_is_not_text_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_bytes(b"version: 1\nfindings: []\n# \xff\n")
    with pytest.raises(ConfigError, match=r"b\.yaml:3: the baseline is not UTF-8"):
        Baseline.read(path)


def test_a_missing_baseline_is_a_usage_error_unless_it_is_to_be_written(tmp_path: Path) -> None:
    with pytest.raises(CovenantError, match="no baseline file") as caught:
        Baseline.read(tmp_path / "none.yaml")
    assert caught.value.kind is ErrorKind.USAGE
    assert not Baseline.read(tmp_path / "none.yaml", missing_ok=True).exists


# -- comparing and updating --------------------------------------------------------------


def _finding(
    operation: str, check: str = "not_a_server_error", title: str = "Server error"
) -> Finding:
    return Finding(
        id=finding_id(operation, check, title),
        operation=operation,
        check=check,
        code=None,
        title=title,
        message="",
        severity=None,
        request={},
        response=None,
        curl="curl",
        problem=title,
    )


def _result(service: str, *findings: Finding, outcome: str | None = None) -> FuzzResult:
    outcome = outcome or ("findings" if findings else "clean")
    return FuzzResult(FuzzOptions(service, "s"), NOW, NOW, outcome, findings=list(findings))


def _baseline(path: Path, *entries: BaselineEntry) -> Baseline:
    return Baseline(path, tuple(entries))


def test_findings_are_new_known_or_their_entries_gone(tmp_path: Path) -> None:
    known, new, fixed = _finding("GET /a"), _finding("GET /b"), _finding("GET /c")
    other = BaselineEntry.of("other", _finding("GET /z"))
    baseline = _baseline(
        tmp_path / "b.yaml",
        BaselineEntry.of("api", known),
        BaselineEntry.of("api", fixed),
        other,
    )
    report = baseline.compare([_result("api", known, new)])
    assert [s.finding.id for s in report.new] == [new.id]
    assert [s.finding.id for s in report.known] == [known.id]
    # Only entries of a service fuzzed to the end can be gone.
    assert [e.id for e in report.gone] == [fixed.id]
    unreachable = baseline.compare([_result("api", outcome="unreachable")])
    assert unreachable.gone == () and unreachable.new == ()
    # The same id of another service is another finding.
    assert [s.finding.id for s in baseline.compare([_result("third", known)]).new] == [known.id]


def test_an_update_replaces_the_fuzzed_services_entries_keeps_notes_and_sorts(
    tmp_path: Path,
) -> None:
    a, b, c = _finding("GET /a"), _finding("POST /b", "status_code_conformance"), _finding("GET /c")
    noted = replace(BaselineEntry.of("api", b), note="accepted: see ticket 12")
    baseline = _baseline(
        tmp_path / "b.yaml",
        noted,
        BaselineEntry.of("api", c),  # fixed since: dropped
        BaselineEntry.of("other", c),  # not fuzzed this time: kept
    )
    updated = baseline.updated([_result("api", b, a)])
    assert [(e.service, e.operation) for e in updated.entries] == [
        ("api", "GET /a"),
        ("api", "POST /b"),
        ("other", "GET /c"),
    ]
    assert updated.entries[1].note == "accepted: see ticket 12"


@pytest.mark.parametrize("name", ["baseline.yaml", "baseline.json"])
def test_a_written_baseline_reads_back_the_same_and_rewrites_identically(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    findings = [_finding("GET /b"), _finding("GET /a", "status_code_conformance", "Undocumented")]
    Baseline.read(path, missing_ok=True).updated([_result("api", *findings)]).write()
    first = path.read_text()
    read = Baseline.read(path)
    assert [e.operation for e in read.entries] == ["GET /a", "GET /b"]
    read.updated([_result("api", *reversed(findings))]).write()
    assert path.read_text() == first, "the same findings must write the same file"
    if name.endswith(".json"):
        assert json.loads(first)["version"] == 1
    else:
        assert first.startswith("# Known findings")


# -- the session's part ------------------------------------------------------------------


def _config(tmp_path: Path) -> CovenantConfig:
    return CovenantConfig.model_validate(
        {
            "stack": {"state_dir": str(tmp_path / "state")},
            "fuzz": {
                "include_reference": False,
                "include_covenant": False,
                "services": [{"name": "alpha", "spec": "http://alpha.invalid/openapi.json"}],
            },
        }
    )


def _runner(*findings: Finding) -> Callable[..., FuzzResult]:
    def run(options: FuzzOptions, **_: Any) -> FuzzResult:
        return _result(options.service, *findings)

    return run


def _session(tmp_path: Path, runner: Callable[..., FuzzResult], **kwargs: Any) -> FuzzSession:
    return FuzzSession(
        _config(tmp_path),
        report_dir=tmp_path / "reports",
        runner=runner,
        store=lambda url, result: None,
        now=lambda: NOW,
        **kwargs,
    )


def test_a_malformed_baseline_stops_the_session_before_anything_is_fuzzed(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("version: 1\nfindings: 3\n")
    ran: list[str] = []

    def runner(options: FuzzOptions, **_: Any) -> FuzzResult:
        ran.append(options.service)
        return _result(options.service)

    with pytest.raises(ConfigError, match=r"b\.yaml:2: findings: must be a list"):
        _session(tmp_path, runner, baseline=path).run(["alpha"])
    assert ran == []


def test_update_baseline_needs_a_baseline_file(tmp_path: Path) -> None:
    with pytest.raises(CovenantError, match="--update-baseline needs --baseline") as caught:
        _session(tmp_path, _runner(), update_baseline=True).run(["alpha"])
    assert caught.value.kind is ErrorKind.USAGE


def test_the_session_fails_only_on_new_findings_and_update_writes_them(tmp_path: Path) -> None:
    path = tmp_path / "known.yaml"
    a, b = _finding("GET /a"), _finding("GET /b")
    written = _session(tmp_path, _runner(a), baseline=path, update_baseline=True).run(["alpha"])
    assert written.baseline is not None and written.baseline.written
    assert not written.failed, "written findings are known ones"
    assert [e.id for e in Baseline.read(path).entries] == [a.id]

    same = _session(tmp_path, _runner(a), baseline=path).run(["alpha"])
    assert same.has_findings and not same.failed
    assert same.baseline is not None and [s.finding.id for s in same.baseline.known] == [a.id]

    more = _session(tmp_path, _runner(a, b), baseline=path).run(["alpha"])
    assert more.failed
    assert more.baseline is not None and [s.finding.id for s in more.baseline.new] == [b.id]
    page = (more.report_dir / "report.html").read_text()
    assert f'{a.id}: Server error <span class="known">known</span>' in page
    assert f'{b.id}: Server error <span class="new">new, not in the baseline</span>' in page

    fixed = _session(tmp_path, _runner(), baseline=path).run(["alpha"])
    assert not fixed.failed
    assert fixed.baseline is not None and [e.id for e in fixed.baseline.gone] == [a.id]
    # Without a baseline every finding fails the session, as before.
    assert _session(tmp_path, _runner(a)).run(["alpha"]).failed


def test_an_update_of_a_session_that_fuzzed_nothing_to_the_end_leaves_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "known.yaml"
    path.write_text(GOOD)

    def unreachable(options: FuzzOptions, **_: Any) -> FuzzResult:
        return _result(options.service, outcome="unreachable")

    result = _session(tmp_path, unreachable, baseline=path, update_baseline=True).run(["alpha"])
    assert result.baseline is not None and not result.baseline.written
    assert path.read_text() == GOOD


# -- what the command prints ---------------------------------------------------------------


def test_the_command_names_new_known_and_gone_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from covenant.cli._fuzz_cmd import _render_baseline
    from verifiers.fuzz import BaselineReport, Sighting

    new, known = _finding("GET /new"), _finding("GET /known")
    gone = BaselineEntry.of("api", _finding("GET /gone"))
    report = BaselineReport(
        tmp_path / "b.yaml", (Sighting("api", new),), (Sighting("api", known),), (gone,)
    )
    _render_baseline(report)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"baseline {tmp_path / 'b.yaml'}: 1 new, 1 known, 1 not seen any more",
        f"  new     {new.id} api GET /new not_a_server_error: Server error",
        f"  known   {known.id} api GET /known not_a_server_error: Server error",
        f"  gone    {gone.id} api GET /gone not_a_server_error: Server error",
    ]
    _render_baseline(replace(report, written=True, entries=2))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"baseline {tmp_path / 'b.yaml'} written: 2 findings (1 added, 1 removed)"
    assert [line.split()[0] for line in lines[1:]] == ["added", "kept", "removed"]
