"""The reference services keep the conventions of reference/API.md, and the pipeline
works end to end across the real Hono, Elixir and BAML services."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer

from tests.conftest import REPO_ROOT, wait_until
from tests.integration.conftest import RunningStack

SERVICES = ["hono_api", "elixir_processor", "baml_extractor", "event_worker"]
SAMPLE = REPO_ROOT / "reference" / "baml-extractor" / "samples" / "berlin-ai-summit.html"


def _traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def _log_lines(stack: RunningStack, service: str) -> list[dict[str, object]]:
    path = stack.state_dir / "logs" / f"{service}.log"
    lines = []
    for raw in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


@pytest.mark.parametrize("service", SERVICES)
def test_health_metrics_and_openapi(stack: RunningStack, service: str) -> None:
    base = stack.url(service)
    health = httpx.get(f"{base}/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    metrics = httpx.get(f"{base}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text
    spec = httpx.get(f"{base}/openapi.json", timeout=5).json()
    assert str(spec["openapi"]).startswith("3.")
    assert spec["paths"]
    assert not any(path.startswith("/_pact") for path in spec["paths"])


@pytest.mark.parametrize("service", SERVICES)
def test_json_logs_carry_the_incoming_trace_id(stack: RunningStack, service: str) -> None:
    trace_id, traceparent = _traceparent()
    response = httpx.get(
        f"{stack.url(service)}/no-such-route", headers={"traceparent": traceparent}, timeout=5
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")

    def logged() -> bool:
        return any(line.get("trace_id") == trace_id for line in _log_lines(stack, service))

    wait_until(logged, timeout=10, what=f"a {service} log line with trace id {trace_id}")


def test_page_is_processed_end_to_end(stack: RunningStack) -> None:
    """elixir-processor calls the real BAML service and stores the event hono-api serves."""
    event_id = str(uuid.uuid4())
    trace_id, traceparent = _traceparent()
    accepted = httpx.post(
        f"{stack.url('elixir_processor')}/api/process",
        json={"event_id": event_id, "html": SAMPLE.read_text(encoding="utf-8")},
        headers={"traceparent": traceparent},
        timeout=10,
    )
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]

    def finished() -> dict[str, object] | None:
        job = httpx.get(f"{stack.url('elixir_processor')}/api/jobs/{job_id}", timeout=5).json()
        return job if job["status"] in ("succeeded", "failed") else None

    job = wait_until(finished, timeout=60, what=f"job {job_id} to finish")
    assert job["status"] == "succeeded", job

    event = httpx.get(f"{stack.url('hono_api')}/api/events/{event_id}", timeout=5).json()
    assert event["title"] == "Berlin AI Summit 2026"
    assert event["city"] == "Berlin"
    assert {s["name"] for s in event["speakers"]} >= {"Ada Lovelace", "Grace Hopper"}
    assert 0 <= event["qualityScore"] <= 1
    # The trace crossed both services.
    assert any(line.get("trace_id") == trace_id for line in _log_lines(stack, "baml_extractor"))


async def _scraped_messages(bootstrap: str, event_id: str) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(
        "event.scraped",
        bootstrap_servers=bootstrap,
        group_id=f"it-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        if record.key and record.key.decode() == event_id:
                            headers = {k: v.decode() for k, v in record.headers}
                            return [{"value": json.loads(record.value or b"{}"), **headers}]
    finally:
        await consumer.stop()


def test_scrape_forwards_to_the_processor_and_publishes_event_scraped(
    stack: RunningStack,
) -> None:
    answer = httpx.post(
        f"{stack.url('hono_api')}/api/scrape/luma",
        json={"url": "https://lu.ma/covenant-it"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    job = httpx.get(f"{stack.url('elixir_processor')}/api/jobs/{body['jobId']}", timeout=5)
    assert job.status_code == 200 and job.json()["event_id"] == body["eventId"]

    messages = asyncio.run(_scraped_messages(stack.url("kafka"), body["eventId"]))
    assert messages[0]["value"]["url"] == "https://lu.ma/covenant-it"  # type: ignore[index]
    assert str(messages[0]["traceparent"]).startswith("00-")


def _metric(base: str, name: str, labels: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"{name}{{") and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_worker_stores_scraped_events_and_hono_api_reads_event_processed(
    stack: RunningStack,
) -> None:
    """hono-api -> event.scraped -> event-worker -> row + event.processed -> hono-api."""
    worker, hono = stack.url("event_worker"), stack.url("hono_api")
    processed_before = _metric(hono, "hono_events_processed_total", 'status="stored"')
    stored_before = _metric(worker, "event_worker_messages_total", 'outcome="stored"')
    event_ids: list[str] = []

    def round_trip() -> bool:
        # hono-api's consumer group may still be joining (it starts at the latest
        # offset), so keep scraping until one event.processed comes back.
        answer = httpx.post(
            f"{hono}/api/scrape/luma", json={"url": "https://lu.ma/covenant-pipeline"}, timeout=10
        )
        assert answer.status_code == 202, answer.text
        event_ids.append(answer.json()["eventId"])
        return _metric(hono, "hono_events_processed_total", 'status="stored"') > processed_before

    wait_until(round_trip, timeout=90, interval=3, what="event.processed to reach hono-api")
    assert _metric(worker, "event_worker_messages_total", 'outcome="stored"') > stored_before
    with psycopg.connect(stack.url("postgres")) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM pipeline_events WHERE event_id = ANY(%s::uuid[])", (event_ids,)
        ).fetchone()
    assert rows is not None and rows[0] >= 1
