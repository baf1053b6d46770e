"""The shipped alert drill against the real stack: a poison message makes
DatabaseWriteErrors fire in Prometheus, Alertmanager and Grafana, then it resolves."""

from __future__ import annotations

from tests.integration.conftest import RunningStack
from tests.integration.test_checks import example, run

SOURCES = ("prometheus", "alertmanager", "grafana")


def test_the_drill_fires_in_every_source_and_then_resolves(stack: RunningStack) -> None:
    fired = run(stack, example("drill-database-write-errors"))
    assert fired.result == "pass", fired.to_dict()
    seen = {e.name: e for e in fired.expectations}
    assert seen["write-errors-counted"].outcome == "seen"
    assert seen["write-failure-logged"].outcome == "seen"
    for source in SOURCES:
        detection = seen[f"firing-in-{source}"]
        assert detection.outcome == "seen", detection
        assert detection.latency_s is not None and detection.latency_s > 0
        assert f"DatabaseWriteErrors firing ({source})" in detection.detail

    # A good event right after: the pipeline stores again, so the poison message's
    # failed writes do not also read as a stalled pipeline (EventPipelineStalled).
    healthy = run(stack, example("pipeline-kafka", expect=["stored"]))
    assert healthy.result == "pass", healthy.to_dict()

    resolved = run(stack, example("drill-database-write-errors-resolved"))
    assert resolved.result == "pass", resolved.to_dict()
    for result in resolved.expectations:
        assert result.outcome == "seen", result
        # increase(...[1m]) keeps the alert active for up to a minute after the errors.
        assert result.latency_s is not None and result.latency_s > 1, result
        assert "DatabaseWriteErrors not firing" in result.detail
