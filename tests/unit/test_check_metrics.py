"""The synthetic-check metrics, read back as Prometheus exposition text."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from observability.metrics import CovenantMetrics
from schedules import CheckRun, ExpectationResult

OBSERVABILITY = Path(__file__).parents[2] / "observability"
STARTED = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def _exposition(metrics: CovenantMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def _run(check: str, result: str, run_id: str, duration_s: float) -> CheckRun:
    seen = ExpectationResult("row", "sql", "seen", latency_s=0.07, detail="1 row", polls=2)
    if result == "pass":
        other = ExpectationResult("stored", "prometheus", "seen", latency_s=3.2, polls=5)
    else:
        other = ExpectationResult("stored", "prometheus", "not_seen", detail="not seen", polls=9)
    return CheckRun(
        check=check,
        run_id=run_id,
        trace_id="0af7651916cd43dd8448eb211c80319c",
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=duration_s),
        result=result,  # type: ignore[arg-type]
        sent_at=STARTED + timedelta(seconds=0.02),
        expectations=[seen, other],
    )


@pytest.fixture
def metrics() -> CovenantMetrics:
    return CovenantMetrics(version="test")


def test_a_pass_and_a_fail_run(metrics: CovenantMetrics) -> None:
    metrics.record_check_run(_run("pipeline-kafka", "pass", "run-pass-1", 3.5))
    metrics.record_check_run(_run("pipeline-kafka", "fail", "run-fail-2", 30.4))
    text = _exposition(metrics)

    assert 'covenant_check_runs_total{check="pipeline-kafka",result="pass"} 1.0' in text
    assert 'covenant_check_runs_total{check="pipeline-kafka",result="fail"} 1.0' in text
    # Created at 0, so that increase() sees the first run of a kind.
    assert 'covenant_check_runs_total{check="pipeline-kafka",result="error"} 0.0' in text

    assert 'covenant_check_duration_seconds_count{check="pipeline-kafka"} 2.0' in text
    assert 'covenant_check_duration_seconds_sum{check="pipeline-kafka"} 33.9' in text
    assert 'covenant_check_duration_seconds_bucket{check="pipeline-kafka",le="5.0"} 1.0' in text
    assert 'covenant_check_duration_seconds_bucket{check="pipeline-kafka",le="45.0"} 2.0' in text
    assert 'covenant_check_duration_seconds_bucket{check="pipeline-kafka",le="120.0"} 2.0' in text

    # Seen signals only: the row twice, the metric once (not seen on the failed run).
    latency = "covenant_signal_latency_seconds"
    row = 'check="pipeline-kafka",signal="sql:row"'
    stored = 'check="pipeline-kafka",signal="prometheus:stored"'
    assert f"{latency}_count{{{row}}} 2.0" in text
    assert f'{latency}_bucket{{check="pipeline-kafka",le="0.05",signal="sql:row"}} 0.0' in text
    assert f'{latency}_bucket{{check="pipeline-kafka",le="0.1",signal="sql:row"}} 2.0' in text
    assert f"{latency}_count{{{stored}}} 1.0" in text
    assert f"{latency}_sum{{{stored}}} 3.2" in text
    assert (
        f'{latency}_bucket{{check="pipeline-kafka",le="2.0",signal="prometheus:stored"}} 0.0'
        in text
    )
    assert (
        f'{latency}_bucket{{check="pipeline-kafka",le="5.0",signal="prometheus:stored"}} 1.0'
        in text
    )

    finished = floatToGoString((STARTED + timedelta(seconds=3.5)).timestamp())
    assert (
        f'covenant_check_last_success_timestamp_seconds{{check="pipeline-kafka"}} {finished}'
        in text
    )
    assert "run-pass-1" not in text and "run-fail-2" not in text
    assert "run_id" not in text


def test_a_failing_check_has_no_last_success(metrics: CovenantMetrics) -> None:
    metrics.record_check_run(_run("database-sql", "fail", "r1", 30.0))
    metrics.record_check_run(_run("database-sql", "error", "r2", 0.3))
    text = _exposition(metrics)
    assert 'covenant_check_runs_total{check="database-sql",result="fail"} 1.0' in text
    assert 'covenant_check_runs_total{check="database-sql",result="error"} 1.0' in text
    assert 'covenant_check_runs_total{check="database-sql",result="pass"} 0.0' in text
    assert 'covenant_check_last_success_timestamp_seconds{check="database-sql"}' not in text


def test_declare_checks_creates_zero_counters(metrics: CovenantMetrics) -> None:
    metrics.declare_checks(["a", "b", "a"])
    text = _exposition(metrics)
    for check in ("a", "b"):
        for result in ("pass", "fail", "error"):
            assert f'covenant_check_runs_total{{check="{check}",result="{result}"}} 0.0' in text


def test_scheduler_gauges_appear_on_first_use(metrics: CovenantMetrics) -> None:
    text = _exposition(metrics)
    assert "covenant_scheduler_running" not in text
    assert "covenant_scheduler_last_tick_timestamp_seconds" not in text

    before = time.time()
    metrics.scheduler_running(True)
    metrics.scheduler_tick()
    text = _exposition(metrics)
    assert "covenant_scheduler_running 1.0" in text
    ticked = [
        float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("covenant_scheduler_last_tick_timestamp_seconds ")
    ]
    assert len(ticked) == 1 and before <= ticked[0] <= time.time()

    metrics.scheduler_running(False)
    assert "covenant_scheduler_running 0.0" in _exposition(metrics)


def test_spooled_results(metrics: CovenantMetrics) -> None:
    assert "covenant_check_results_spooled 0.0" in _exposition(metrics)
    metrics.set_spooled(3)
    assert "covenant_check_results_spooled 3.0" in _exposition(metrics)
    metrics.set_spooled(0)
    assert "covenant_check_results_spooled 0.0" in _exposition(metrics)


def test_existing_metrics_are_still_there(metrics: CovenantMetrics) -> None:
    text = _exposition(metrics)
    assert 'covenant_build_info{version="test"} 1.0' in text
    for name in ("covenant_engine_up", "covenant_http_requests_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in text


def test_rules_and_dashboard_query_only_metrics_that_exist(metrics: CovenantMetrics) -> None:
    """A renamed metric must not leave an alert or a panel silently empty."""
    metrics.record_check_run(_run("pipeline-kafka", "pass", "r1", 3.5))
    metrics.scheduler_running(True)
    metrics.scheduler_tick()
    exposed = {
        sample.name
        for family in text_string_to_metric_families(_exposition(metrics))
        for sample in family.samples
    }
    rules = yaml.safe_load((OBSERVABILITY / "prometheus" / "rules" / "covenant.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((OBSERVABILITY / "grafana" / "dashboards" / "covenant.json").read_text())
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queried = {name for expr in exprs for name in re.findall(r"\bcovenant_[a-z_]+", expr)}
    assert {
        "covenant_check_runs_total",
        "covenant_check_last_success_timestamp_seconds",
        "covenant_signal_latency_seconds_bucket",
        "covenant_check_duration_seconds_bucket",
        "covenant_scheduler_running",
        "covenant_scheduler_last_tick_timestamp_seconds",
        "covenant_check_results_spooled",
    } <= queried
    assert queried <= exposed, f"queried but not exposed: {sorted(queried - exposed)}"


def test_http_steps_are_exported_like_signals(metrics: CovenantMetrics) -> None:
    run = _run("journey-http", "pass", "run-journey-1", 1.2)
    run.expectations.insert(
        0, ExpectationResult("read-back", "http", "seen", latency_s=0.013, detail="HTTP 200")
    )
    metrics.record_check_run(run)
    text = _exposition(metrics)
    assert (
        'covenant_signal_latency_seconds_count{check="journey-http",signal="http:read-back"} 1.0'
        in text
    )
    assert (
        'covenant_signal_latency_seconds_bucket{check="journey-http",le="0.025",'
        'signal="http:read-back"} 1.0' in text
    )
