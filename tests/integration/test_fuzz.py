"""covenant fuzz against the real reference services, a deliberately faulty variant,
and bad input."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from covenant.stack._ports import free_port
from tests.conftest import CovenantCli
from tests.integration.conftest import RunningStack, variant
from verifiers.fuzz import FuzzOptions, FuzzResult, run_fuzz, save_result

REFERENCE = ["hono-api", "elixir-processor", "baml-extractor", "event-worker"]


#: A whole ``fuzz --all`` run takes minutes on a loaded machine.
FUZZ_TIMEOUT_S = 600


def test_fuzz_all_is_clean_for_the_reference_services_and_covenant(
    cli: CovenantCli, tmp_path: Path
) -> None:
    """The acceptance run: every reference service and Covenant's own API, all phases."""
    done = cli(
        *("fuzz", "--all", "-q", "-n", "5", "--report-dir", str(tmp_path)),
        timeout=FUZZ_TIMEOUT_S,
    )
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


def test_findings_are_stored_and_replayable(
    faulty_run: FuzzResult, stack: RunningStack, cli: CovenantCli
) -> None:
    with psycopg.connect(stack.url("postgres")) as conn:
        row = conn.execute(
            "SELECT outcome, (SELECT count(*) FROM fuzz.findings WHERE run_id = r.id)"
            " FROM fuzz.runs r WHERE id = %s",
            (faulty_run.run_id,),
        ).fetchone()
    assert row == ("findings", len(faulty_run.findings))
    finding = faulty_run.findings[0]
    done = cli("fuzz", "--replay", finding.id, timeout=FUZZ_TIMEOUT_S)
    # The variant has stopped, so the replay cannot connect: exit 3, named, no traceback.
    assert done.returncode == 3, done.stdout + done.stderr
    assert finding.id in done.stdout and "Traceback" not in done.stderr


def test_unreachable_service_exits_3(cli: CovenantCli, tmp_path: Path) -> None:
    config = tmp_path / "covenant.yaml"
    config.write_text(
        "fuzz:\n  services:\n    - name: gone\n"
        f"      spec: http://127.0.0.1:{free_port()}/openapi.json\n"
    )
    done = cli(
        *("fuzz", "gone", "-q", "--report-dir", str(tmp_path)),
        config=config,
        timeout=FUZZ_TIMEOUT_S,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "not reachable" in done.stderr and "Traceback" not in done.stderr


def test_unknown_service_exits_2(cli: CovenantCli) -> None:
    done = cli("fuzz", "no-such-service", timeout=FUZZ_TIMEOUT_S)
    assert done.returncode == 2
    assert "unknown service" in done.stderr
