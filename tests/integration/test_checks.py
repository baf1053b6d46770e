"""Synthetic checks against the real stack: Kafka and SQL traffic in, signals out."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from covenant.stack._ports import free_port
from schedules import Check, CheckRun, RunStore, engines_for, load_checks, run_check
from tests.conftest import CovenantCli, wait_until
from tests.integration.conftest import RunningStack

ROOT = Path(__file__).resolve().parents[2]


def example(name: str, **changes: Any) -> Check:
    check = next(i.check for i in load_checks(ROOT / "schedules") if i.check.name == name)
    if "expect" in changes:
        changes["expect"] = tuple(e for e in check.expect if e.name in changes["expect"])
    return check.model_copy(update=changes)


def run(stack: RunningStack, check: Check) -> CheckRun:
    return asyncio.run(run_check(check, engines_for(stack.config)))


def worker_consuming(stack: RunningStack) -> bool:
    metrics = httpx.get(stack.url("event_worker") + "/metrics", timeout=5).text
    return "event_worker_consumer_up 1.0" in metrics


def worker_health(stack: RunningStack) -> dict[str, Any]:
    """The event-worker's /health: 200 in every state, the state in the body."""
    response = httpx.get(stack.url("event_worker") + "/health", timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def worker_degraded_on_kafka(stack: RunningStack) -> dict[str, Any] | None:
    body = worker_health(stack)
    if body["status"] == "degraded" and "kafka" in body["degraded"]:
        return body
    return None


def worker_ok(stack: RunningStack) -> dict[str, Any] | None:
    body = worker_health(stack)
    return body if body["status"] == "ok" else None


def restart_kafka(stack: RunningStack) -> None:
    """Stop Kafka (memory-backed: its topics and groups are lost) and start it again."""
    stack.manager.down(names=["kafka"])
    try:
        degraded = wait_until(
            lambda: worker_degraded_on_kafka(stack), timeout=30, what="/health to say degraded"
        )
        assert degraded["since"] is not None
        assert degraded["dependencies"]["kafka"]["state"] != "consuming"
    finally:
        stack.manager.up()


def the_pipeline_consumes_again(stack: RunningStack) -> None:
    """The worker recovers by itself: /health ok, consumer up, and a check run passes."""
    wait_until(lambda: worker_ok(stack), timeout=60, what="/health to say ok again")
    assert worker_consuming(stack)
    again = run(stack, example("pipeline-kafka", deadline=30.0, expect=["stored"]))
    assert again.result == "pass", again.to_dict()


@contextmanager
def busy_cpu(processes: int = 2, seconds: float = 180.0) -> Iterator[None]:
    """``processes`` spinning Pythons beside the stack, each ending by itself after ``seconds``."""
    spin = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(processes)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait(timeout=10)


def outcomes(result: CheckRun) -> dict[str, str]:
    return {e.name: e.outcome for e in result.expectations}


def test_the_sql_example_passes(stack: RunningStack) -> None:
    result = run(stack, example("database-sql"))
    assert result.result == "pass", result.to_dict()
    assert all(e.latency_s is not None and e.latency_s >= 0 for e in result.expectations)
    with psycopg.connect(stack.url("postgres")) as conn:
        row = conn.execute(
            "SELECT trace_id FROM covenant_synthetic WHERE run_id = %s", (result.run_id,)
        ).fetchone()
    assert row == (result.trace_id,)


def test_the_kafka_example_passes(stack: RunningStack) -> None:
    result = run(stack, example("pipeline-kafka"))
    assert result.result == "pass", result.to_dict()
    assert set(outcomes(result)) == {"stored", "counted", "logged", "pipeline-not-stalled"}
    with psycopg.connect(stack.url("postgres")) as conn:
        row = conn.execute(
            "SELECT trace_id FROM pipeline_events WHERE run_id = %s", (result.run_id,)
        ).fetchone()
    # The traceparent travelled with the message: the worker stored its trace id.
    assert row == (result.trace_id,)


def test_a_stopped_worker_fails_the_check_and_fires_the_stall_alert(stack: RunningStack) -> None:
    stack.manager.down(names=["event_worker"])
    try:
        stalled = run(stack, example("pipeline-kafka", deadline=6.0, expect=["stored", "counted"]))
        assert stalled.result == "fail", stalled.to_dict()
        assert outcomes(stalled) == {"stored": "not_seen", "counted": "not_seen"}
        assert all("not seen within 6 s" in e.detail for e in stalled.expectations)

        alert = Check.model_validate(
            {
                "name": "stall-drill",
                "deadline": "60s",
                "traffic": {"sql": {"statements": ["SELECT 1"]}},
                "expect": [
                    {
                        "name": f"in-{source}",
                        "alert": {"name": "EventPipelineStalled", "source": source},
                    }
                    for source in ("prometheus", "alertmanager")
                ],
            }
        )
        fired = run(stack, alert)
        assert fired.result == "pass", fired.to_dict()
    finally:
        stack.manager.up()
    recovered = run(stack, example("pipeline-kafka", deadline=30.0, expect=["stored"]))
    assert recovered.result == "pass", recovered.to_dict()


def test_a_stopped_kafka_is_an_error_not_a_failure(stack: RunningStack) -> None:
    stack.manager.down(names=["kafka"])
    try:
        down = run(stack, example("pipeline-kafka", expect=["stored"]))
        assert down.result == "error", down.to_dict()
        assert down.error is not None and "Kafka" in down.error
        assert outcomes(down) == {"stored": "error"}
        # The worker reports the outage as a state, not as a server error.
        degraded = wait_until(
            lambda: worker_degraded_on_kafka(stack), timeout=30, what="/health to say degraded"
        )
        assert degraded["checks"]["database"] == "ok"
        assert not worker_consuming(stack)
    finally:
        stack.manager.up()
    the_pipeline_consumes_again(stack)


def test_kafka_restarted_twice_in_a_row(stack: RunningStack) -> None:
    # The second restart comes while the worker is still recovering from the first.
    restart_kafka(stack)
    restart_kafka(stack)
    the_pipeline_consumes_again(stack)


def test_kafka_restarted_on_a_busy_machine(stack: RunningStack) -> None:
    with busy_cpu():
        restart_kafka(stack)
        the_pipeline_consumes_again(stack)


def test_an_unreachable_engine_is_an_error(stack: RunningStack) -> None:
    check = Check.model_validate(
        {
            "name": "nowhere",
            "deadline": "3s",
            "traffic": {"sql": {"statements": ["SELECT 1"]}},
            "expect": [{"name": "up", "prometheus": {"condition": "up"}}],
        }
    )
    engines = engines_for(stack.config)
    closed = f"http://127.0.0.1:{free_port()}"
    result = asyncio.run(
        run_check(check, engines.__class__(**{**engines.__dict__, "prometheus": closed}))
    )
    assert result.result == "error"
    assert "prometheus is unreachable" in (result.error or "")


def test_runs_survive_a_postgresql_outage(stack: RunningStack, tmp_path: Path) -> None:
    spool = tmp_path / "spool.ndjson"
    first = run(stack, example("database-sql"))
    second = run(stack, example("database-sql"))
    down = RunStore(f"postgresql://covenant@127.0.0.1:{free_port()}/covenant", spool)
    assert asyncio.run(down.save(first)) is False
    assert asyncio.run(down.save(second)) is False
    assert len(spool.read_text().splitlines()) == 2

    back = RunStore(stack.url("postgres"), spool)
    third = run(stack, example("database-sql"))
    assert asyncio.run(back.save(third)) is True
    assert not spool.exists()
    stored = asyncio.run(back.recent("database-sql", limit=20))
    ids = {row["run_id"] for row in stored}
    assert {first.run_id, second.run_id, third.run_id} <= ids
    assert asyncio.run(back.save(third)) is True  # idempotent
    row = next(r for r in stored if r["run_id"] == first.run_id)
    assert row["result"] == "pass" and {e["name"] for e in row["expectations"]} == {
        "row-written",
        "commits-counted",
    }


def test_check_run_prints_each_outcome_and_stores_the_run(cli: CovenantCli) -> None:
    done = cli("check", "run", "database-sql")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "seen" in done.stdout and "sql:row-written" in done.stdout
    assert "pass database-sql" in done.stdout and "(stored)" in done.stdout


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [(("run", "no-such-check"), 2, "no check named"), (("validate",), 0, "valid: ")],
)
def test_check_cli_codes(cli: CovenantCli, args: tuple[str, ...], code: int, text: str) -> None:
    done = cli("check", *args)
    assert done.returncode == code, done.stdout + done.stderr
    assert text in done.stdout + done.stderr


def test_grafana_and_alert_expectations_through_the_grafana_double(stack: RunningStack) -> None:
    """Grafana's API double reads the real Prometheus and Loki of the stack."""
    run(stack, example("pipeline-kafka", expect=["logged"]))  # a log line for the logs panel
    check = Check.model_validate(
        {
            "name": "grafana",
            "deadline": "20s",
            "traffic": {"sql": {"statements": ["SELECT 1"]}},
            "expect": [
                {"name": "prometheus-ds", "grafana": {"datasource": "prometheus"}},
                {"name": "loki-ds", "grafana": {"datasource": "loki"}},
                {"name": "dashboard", "grafana": {"dashboard": "event-pipeline"}},
                {
                    "name": "grafana-rule",
                    "alert": {
                        "name": "EventPipelineStalled",
                        "state": "not_firing",
                        "source": "grafana",
                    },
                },
                {
                    "name": "drill",
                    "alert": {"name": "CovenantDrillAlwaysFiring", "source": "alertmanager"},
                },
            ],
        }
    )
    result = run(stack, check)
    assert result.result == "pass", result.to_dict()

    missing = Check.model_validate(
        {
            "name": "no-such-dashboard",
            "deadline": "2s",
            "traffic": {"sql": {"statements": ["SELECT 1"]}},
            "expect": [
                {"name": "dashboard", "grafana": {"dashboard": "no-such-dashboard"}},
                {"name": "rule", "alert": {"name": "NoSuchAlert", "state": "not_firing"}},
            ],
        }
    )
    failed = run(stack, missing)
    assert outcomes(failed) == {"dashboard": "not_seen", "rule": "error"}
    assert "no alerting rule named 'NoSuchAlert'" in (failed.error or "")
