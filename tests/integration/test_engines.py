"""Each engine of the local stack, proven by really using it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.conftest import wait_until
from tests.integration.conftest import RunningStack


def test_postgres_sql_round_trip(stack: RunningStack) -> None:
    marker = uuid.uuid4().hex
    with psycopg.connect(stack.url("postgres"), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS it_round_trip (id text PRIMARY KEY, at timestamptz)"
        )
        conn.execute("INSERT INTO it_round_trip VALUES (%s, now())", (marker,))
        row = conn.execute("SELECT id FROM it_round_trip WHERE id = %s", (marker,)).fetchone()
        database = conn.execute("SELECT current_database()").fetchone()
    assert row == (marker,)
    assert database == ("covenant",)


async def _kafka_round_trip(bootstrap: str, topic: str, payload: bytes) -> list[bytes]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload, key=b"k", headers=[("run", b"it")])
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"it-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        received: list[bytes] = []
        async with asyncio.timeout(30):
            while payload not in received:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    received.extend(r.value for r in records if r.value is not None)
        await consumer.commit()
        return received
    finally:
        await consumer.stop()


def test_kafka_produce_and_consumer_group_read(stack: RunningStack) -> None:
    payload = uuid.uuid4().bytes
    received = asyncio.run(
        _kafka_round_trip(stack.url("kafka"), f"it-{uuid.uuid4().hex[:8]}", payload)
    )
    assert payload in received


def test_prometheus_scrapes_the_exporter_and_answers_promql(stack: RunningStack) -> None:
    prometheus = stack.url("prometheus")

    def pg_up() -> list[dict[str, object]] | None:
        response = httpx.get(
            f"{prometheus}/api/v1/query",
            params={"query": "pg_up"},
            headers=stack.headers("prometheus"),
            timeout=5,
        )
        response.raise_for_status()
        result: list[dict[str, object]] = response.json()["data"]["result"]
        return result or None

    result = wait_until(pg_up, timeout=30, what="pg_up in Prometheus")
    assert result[0]["value"][1] == "1"  # type: ignore[index]
    labels = result[0]["metric"]
    assert labels["job"] == "postgres"  # type: ignore[index]

    targets = httpx.get(
        f"{prometheus}/api/v1/targets", headers=stack.headers("prometheus"), timeout=5
    ).json()["data"]["activeTargets"]
    exporter = [t for t in targets if t["labels"]["job"] == "postgres"]
    assert exporter and exporter[0]["health"] in ("up", "unknown")


def test_alertmanager_accepts_an_alert_and_lists_it(stack: RunningStack) -> None:
    alertmanager = stack.url("alertmanager")
    name = f"CovenantIT{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": name, "severity": "none"},
        "annotations": {"summary": "integration test alert"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
    }
    headers = stack.headers("alertmanager")
    posted = httpx.post(f"{alertmanager}/api/v2/alerts", json=[alert], headers=headers, timeout=5)
    assert posted.status_code == 200, posted.text

    def listed() -> list[dict[str, object]] | None:
        alerts = httpx.get(
            f"{alertmanager}/api/v2/alerts",
            params={"filter": f'alertname="{name}"'},
            headers=headers,
            timeout=5,
        ).json()
        return alerts or None

    found = wait_until(listed, timeout=15, what=f"{name} in Alertmanager")
    assert found[0]["labels"]["alertname"] == name  # type: ignore[index]
    assert found[0]["status"]["state"] == "active"  # type: ignore[index]


def test_prometheus_rule_alert_reaches_alertmanager(stack: RunningStack) -> None:
    """The drill rule (always firing) travels Prometheus -> Alertmanager."""
    alertmanager = stack.url("alertmanager")

    def drill() -> list[dict[str, object]] | None:
        alerts = httpx.get(
            f"{alertmanager}/api/v2/alerts",
            params={"filter": 'alertname="CovenantDrillAlwaysFiring"'},
            headers=stack.headers("alertmanager"),
            timeout=5,
        ).json()
        return alerts or None

    found = wait_until(drill, timeout=45, what="the drill alert in Alertmanager")
    assert found[0]["labels"]["drill"] == "true"  # type: ignore[index]
