"""covenant fuzz against the real reference services, a deliberately faulty variant,
and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from covenant.stack._ports import free_port
from tests.integration.conftest import RunningStack, variant
from verifiers.fuzz import FuzzOptions, FuzzResult, run_fuzz, save_result

REFERENCE = ["hono-api", "elixir-processor", "baml-extractor", "event-worker"]


def _cli(
    stack: RunningStack, *args: str, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COVENANT_")},
        "COVENANT_STACK__STATE_DIR": str(stack.state_dir),
    }
    prefix = ["-c", str(config)] if config else []
    return subprocess.run(
        [sys.executable, "-m", "covenant", *prefix, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


def test_fuzz_all_is_clean_for_the_reference_services_and_covenant(
    stack: RunningStack, tmp_path: Path
) -> None:
    """The acceptance run: every reference service and Covenant's own API, all phases."""
    done = _cli(stack, "fuzz", "--all", "-q", "-n", "5", "--report-dir", str(tmp_path))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    [report_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (report_dir / "report.html").exists(), "no HTML report written"
    for service in [*REFERENCE, "covenant"]:
        junit = report_dir / service / "junit.xml"
        assert junit.exists(), f"no JUnit report for {service}"
        assert "<failure" not in junit.read_text(), service
        assert (report_dir / service / "events.ndjson").stat().st_size > 0, service


# Each class of finding the faulty variant (COVENANT_FAULT=fuzz-targets) must produce.
EXPECTED = {
    ("GET /health", "not_a_server_error"),
    ("GET /health", "no_stack_traces_or_secrets"),
    ("GET /metrics", "status_code_conformance"),
    ("POST /call/ExtractEvent", "response_schema_conformance"),
    ("POST /call/ExtractEvent", "problem_document_shape"),
    ("POST /call/ExtractEvent", "no_stack_traces_or_secrets"),
    ("POST /call/ScoreEventQuality", "response_time_budget"),
}


@pytest.fixture(scope="module")
def faulty_run(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> FuzzResult:
    with variant(stack, "baml_extractor", "fuzz-targets", "/openapi.json") as base:
        options = FuzzOptions(
            service="baml-extractor-faulty",
            spec=f"{base}/openapi.json",
            max_examples=5,
            phases=("examples", "coverage", "fuzzing"),
        )
        result = run_fuzz(options, report_dir=tmp_path_factory.mktemp("faulty"))
        save_result(stack.url("postgres"), result)
        return result


def test_faulty_variant_each_class_of_finding_is_reported_once(faulty_run: FuzzResult) -> None:
    assert faulty_run.outcome == "findings"
    found = Counter((f.operation, f.check) for f in faulty_run.findings)
    missing = EXPECTED - set(found)
    assert not missing, f"not reported: {missing}; reported: {sorted(found)}"
    duplicated = {key for key, n in found.items() if n > 1}
    assert not duplicated, f"reported more than once: {duplicated}"


def test_finding_curl_line_reproduces_it(faulty_run: FuzzResult, stack: RunningStack) -> None:
    finding = next(
        f
        for f in faulty_run.findings
        if (f.operation, f.check) == ("GET /health", "not_a_server_error")
    )
    assert finding.curl.startswith("curl -X GET ")
    with variant(stack, "baml_extractor", "fuzz-targets", "/openapi.json") as base:
        # The variant runs on a new port: point the recorded line at it.
        recorded = str(finding.request["uri"]).split("/health")[0]
        line = finding.curl.replace(recorded, base) + " -s -o /dev/null -w %{http_code}"
        done = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=30)  # noqa: S602
    assert done.stdout.strip() == "500", done.stdout + done.stderr


def test_findings_are_stored_and_replayable(faulty_run: FuzzResult, stack: RunningStack) -> None:
    with psycopg.connect(stack.url("postgres")) as conn:
        row = conn.execute(
            "SELECT outcome, (SELECT count(*) FROM fuzz.findings WHERE run_id = r.id)"
            " FROM fuzz.runs r WHERE id = %s",
            (faulty_run.run_id,),
        ).fetchone()
    assert row == ("findings", len(faulty_run.findings))
    finding = faulty_run.findings[0]
    done = _cli(stack, "fuzz", "--replay", finding.id)
    # The variant has stopped, so the replay cannot connect: exit 3, named, no traceback.
    assert done.returncode == 3, done.stdout + done.stderr
    assert finding.id in done.stdout and "Traceback" not in done.stderr


def test_unreachable_service_exits_3(stack: RunningStack, tmp_path: Path) -> None:
    config = tmp_path / "covenant.yaml"
    config.write_text(
        "fuzz:\n  services:\n    - name: gone\n"
        f"      spec: http://127.0.0.1:{free_port()}/openapi.json\n"
    )
    done = _cli(stack, "fuzz", "gone", "-q", "--report-dir", str(tmp_path), config=config)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "not reachable" in done.stderr and "Traceback" not in done.stderr


def test_unknown_service_exits_2(stack: RunningStack) -> None:
    done = _cli(stack, "fuzz", "no-such-service")
    assert done.returncode == 2
    assert "unknown service" in done.stderr
