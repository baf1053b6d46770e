"""The event worker: event.scraped in, a row in PostgreSQL and event.processed out.

It is the pipeline stage Covenant's synthetic checks watch: each message is
counted in Prometheus metrics, logged as JSON with its trace and run ids, and
stored, so a check can confirm the metric, the log line and the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from event_worker.logs import log
from event_worker.messages import (
    EVENT_PROCESSED_TOPIC,
    EVENT_SCRAPED_TOPIC,
    InvalidMessage,
    ScrapedEvent,
    build_event_processed,
    parse_event_scraped,
)
from event_worker.store import EventStore

__all__ = ["Settings", "Worker", "WorkerMetrics", "trace_id_of"]

FAULTS = ("renamed-field",)


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    database_url: str
    kafka_brokers: str
    provider_states: bool
    fault: str | None
    group_id: str = "event-worker"

    @classmethod
    def from_env(cls) -> Settings:
        missing = [v for v in ("DATABASE_URL", "KAFKA_BROKERS") if not os.environ.get(v)]
        if missing:
            raise SystemExit(f"event-worker: set {', '.join(missing)}")
        fault = os.environ.get("COVENANT_FAULT") or None
        if fault is not None and fault not in FAULTS:
            raise SystemExit(f"event-worker: unknown COVENANT_FAULT {fault!r} (known: {FAULTS})")
        return cls(
            host=os.environ.get("HOST", "127.0.0.1"),
            port=int(os.environ.get("PORT", "8084")),
            database_url=os.environ["DATABASE_URL"],
            kafka_brokers=os.environ["KAFKA_BROKERS"],
            provider_states=os.environ.get("PACT_PROVIDER_STATES") == "true",
            fault=fault,
        )


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "event_worker_messages_total",
            "Messages handled, by topic and outcome (stored, invalid, error)",
            ["topic", "outcome"],
            registry=registry,
        )
        self.db_write_errors = Counter(
            "event_worker_db_write_errors_total",
            "Failed attempts to write an event to PostgreSQL",
            registry=registry,
        )
        self.processing = Histogram(
            "event_worker_processing_seconds",
            "From receiving a message to storing it and sending event.processed",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.last_stored = Gauge(
            "event_worker_last_stored_timestamp_seconds",
            "Unix time of the last event stored",
            registry=registry,
        )
        self.consumer_up = Gauge(
            "event_worker_consumer_up",
            "1 while the Kafka consumer is connected and assigned",
            registry=registry,
        )
        for outcome in ("stored", "invalid", "error"):
            self.messages.labels(EVENT_SCRAPED_TOPIC, outcome)


def trace_id_of(traceparent: str | None) -> str:
    """The trace id of a W3C traceparent, or a new one."""
    if traceparent:
        parts = traceparent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            return parts[1]
    return secrets.token_hex(16)


class Worker:
    def __init__(self, settings: Settings, store: EventStore, metrics: WorkerMetrics) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self._producer: AIOKafkaProducer | None = None
        self.kafka_connected = False

    async def _ensure_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_brokers)
        await admin.start()
        try:
            for topic in (EVENT_SCRAPED_TOPIC, EVENT_PROCESSED_TOPIC):
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics([NewTopic(topic, 1, 1)])
        finally:
            await admin.close()

    async def _store_with_retry(self, event: ScrapedEvent, trace_id: str) -> None:
        delay = 0.2
        for attempt in range(1, 4):
            try:
                await self.store.store(event, trace_id)
                return
            except Exception as exc:
                self.metrics.db_write_errors.inc()
                log(
                    "error",
                    "database write failed",
                    event_id=str(event.event_id),
                    trace_id=trace_id,
                    run_id=event.run_id,
                    attempt=attempt,
                    error=str(exc),
                )
                if attempt == 3:
                    raise
                await asyncio.sleep(delay)
                delay *= 4

    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        started = time.perf_counter()
        headers = {k: v.decode("utf-8", "replace") for k, v in record.headers or ()}
        trace_id = trace_id_of(headers.get("traceparent"))
        try:
            event = parse_event_scraped(record.value, headers)
        except InvalidMessage as exc:
            self.metrics.messages.labels(record.topic, "invalid").inc()
            log(
                "warn",
                "invalid message skipped",
                topic=record.topic,
                offset=record.offset,
                trace_id=trace_id,
                error=str(exc),
            )
            return
        try:
            await self._store_with_retry(event, trace_id)
        except Exception:
            self.metrics.messages.labels(record.topic, "error").inc()
            return
        processed = build_event_processed(
            event, datetime.now(UTC), renamed_field=self.settings.fault == "renamed-field"
        )
        if self._producer is not None:
            try:
                await self._producer.send_and_wait(
                    processed.topic,
                    value=_json_bytes(processed.value),
                    key=processed.key.encode(),
                    headers=processed.encoded_headers(),
                )
            except KafkaError as exc:
                log(
                    "warn",
                    "event.processed not sent",
                    event_id=str(event.event_id),
                    trace_id=trace_id,
                    run_id=event.run_id,
                    error=str(exc),
                )
        self.metrics.messages.labels(record.topic, "stored").inc()
        self.metrics.last_stored.set(time.time())
        self.metrics.processing.observe(time.perf_counter() - started)
        log(
            "info",
            "event stored",
            event_id=str(event.event_id),
            url=event.url,
            trace_id=trace_id,
            run_id=event.run_id,
        )

    async def run(self, stopping: asyncio.Event) -> None:
        """Consume until ``stopping`` is set; reconnect with a bounded backoff."""
        backoff = 0.5
        while not stopping.is_set():
            consumer = AIOKafkaConsumer(
                EVENT_SCRAPED_TOPIC,
                bootstrap_servers=self.settings.kafka_brokers,
                group_id=self.settings.group_id,
                auto_offset_reset="earliest",
                enable_auto_commit=True,
            )
            producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_brokers)
            try:
                # Bounded: a broker that dies while we connect must not hang this loop.
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    await self._ensure_topics()
                    await consumer.start()
                    await producer.start()
                self._producer = producer
                self.kafka_connected = True
                self.metrics.consumer_up.set(1)
                log("info", "consuming", topic=EVENT_SCRAPED_TOPIC, group=self.settings.group_id)
                backoff = 0.5
                await _until_stopped(stopping, functools.partial(self._consume, consumer))
            except (KafkaError, OSError, TimeoutError) as exc:
                log("warn", "kafka unavailable; retrying", error=str(exc), retry_in_s=backoff)
            finally:
                self.kafka_connected = False
                self._producer = None
                self.metrics.consumer_up.set(0)
                with contextlib.suppress(Exception):
                    await consumer.stop()
                with contextlib.suppress(Exception):
                    await producer.stop()
            if not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        """Handle records; every few seconds make sure the broker still has our data.

        A broker that restarted without its data (a memory-backed one, or a
        restored cluster) starts the topic again at offset 0 while this consumer
        waits at its old position: it would silently skip every new message. So
        a position beyond the end offset, or a topic gone missing, raises and
        ``run`` reconnects with a fresh consumer."""
        checked = time.monotonic()
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    await self.handle(record)
            if time.monotonic() - checked >= LIVENESS_CHECK_S:
                checked = time.monotonic()
                await self._check_broker_kept_our_data(consumer)

    async def _check_broker_kept_our_data(self, consumer: AIOKafkaConsumer) -> None:
        assigned = list(consumer.assignment())
        if not assigned:
            return
        async with asyncio.timeout(LIVENESS_CHECK_S * 2):
            ends = await consumer.end_offsets(assigned)
            for partition in assigned:
                position = await consumer.position(partition)
                if position > ends[partition]:
                    raise KafkaError(
                        f"{partition.topic}[{partition.partition}] ends at {ends[partition]}"
                        f" but this consumer is at {position}: the broker lost its data"
                    )


#: Seconds between checks that the broker still holds the consumed topic.
LIVENESS_CHECK_S = 2.0
#: Longest time to connect (topics, consumer, producer) before trying again.
CONNECT_TIMEOUT_S = 20.0
#: Longest wait between reconnection attempts: a pipeline should resume within
#: seconds of its broker coming back.
MAX_BACKOFF_S = 2.0


async def _until_stopped(stopping: asyncio.Event, work: Callable[[], Awaitable[None]]) -> None:
    task = asyncio.ensure_future(work())
    stop = asyncio.ensure_future(stopping.wait())
    done, _ = await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stop):
        if pending not in done:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    if task in done:
        task.result()  # re-raise a consumer failure so run() reconnects


def _json_bytes(value: dict[str, object]) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":")).encode()
