"""The event worker: event.scraped in, a row in PostgreSQL and event.processed out.

It is the pipeline stage Covenant's synthetic checks watch: each message is
counted in Prometheus metrics, logged as JSON with its trace and run ids, and
stored, so a check can confirm the metric, the log line and the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    TopicAlreadyExistsError,
)
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
from event_worker.recovery import KAFKA_STATES, Backoff, Dependency, beyond_end, health_body, stuck
from event_worker.store import EventStore

__all__ = [
    "AioKafkaClients",
    "KafkaClients",
    "Settings",
    "Worker",
    "WorkerMetrics",
    "trace_id_of",
]

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
        self.kafka_state = Gauge(
            "event_worker_kafka_state",
            "1 for the Kafka consumer's current state (connecting, joining, consuming, retrying)",
            ["state"],
            registry=registry,
        )
        self.kafka_reconnects = Counter(
            "event_worker_kafka_reconnects_total",
            "Kafka sessions that failed and were rebuilt (a new consumer and producer)",
            registry=registry,
        )
        self.database_up = Gauge(
            "event_worker_database_up",
            "1 while the last use of PostgreSQL (a write or the health ping) succeeded",
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


class KafkaConsumerLike(Protocol):
    """What the worker uses of ``AIOKafkaConsumer`` (a fake stands in for it in unit tests)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def getmany(self, *partitions: Any, timeout_ms: int = 0) -> dict[Any, list[Any]]: ...
    def assignment(self) -> set[Any]: ...
    def in_group(self) -> bool:
        """Whether the group coordinator knows this member in a settled generation."""
        ...

    async def topic_partitions(self) -> dict[str, set[int]]:
        """The broker's topics and their partitions, asked now (not from a cache)."""
        ...

    async def end_offsets(self, partitions: list[Any]) -> dict[Any, int]: ...
    async def position(self, partition: Any) -> int: ...
    async def seek_to_beginning(self, *partitions: Any) -> Any: ...
    async def commit(self) -> None: ...


class KafkaProducerLike(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send_and_wait(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> Any: ...


class KafkaClients(Protocol):
    """Makes the Kafka clients of one session; each session gets new ones."""

    async def ensure_topics(self) -> None: ...
    def consumer(self) -> KafkaConsumerLike: ...
    def producer(self) -> KafkaProducerLike: ...


class AioKafkaClients:
    def __init__(self, brokers: str, group_id: str) -> None:
        self.brokers = brokers
        self.group_id = group_id

    async def ensure_topics(self) -> None:
        """Create the worker's topics when the broker does not have them (again).

        The worker consumes ``event.scraped`` and produces ``event.processed``; a
        memory-backed broker loses both when it restarts, and a consumer
        subscribed to a missing topic is never assigned a partition."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.brokers)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            for topic in (EVENT_SCRAPED_TOPIC, EVENT_PROCESSED_TOPIC):
                if topic not in existing:
                    with contextlib.suppress(TopicAlreadyExistsError):
                        await admin.create_topics([NewTopic(topic, 1, 1)])
                    log("info", "topic created", topic=topic)
        finally:
            with contextlib.suppress(Exception):
                await admin.close()

    def consumer(self) -> KafkaConsumerLike:
        consumer: KafkaConsumerLike = _GroupConsumer(
            EVENT_SCRAPED_TOPIC,
            bootstrap_servers=self.brokers,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            # Commits are explicit and bounded (Worker._commit). With auto-commit,
            # aiokafka's stop() makes a last commit that retries for as long as the
            # group coordinator is unknown: after a broker restart it never returned,
            # and the worker never reconnected.
            enable_auto_commit=False,
        )
        return consumer

    def producer(self) -> KafkaProducerLike:
        producer: KafkaProducerLike = AIOKafkaProducer(bootstrap_servers=self.brokers)
        return producer


class _GroupConsumer(AIOKafkaConsumer):
    """``AIOKafkaConsumer`` that also tells whether its group membership is real.

    After a broker restart aiokafka keeps the partitions it was assigned while it
    rejoins the group in the background: ``assignment()`` alone says nothing about
    whether the (new) broker's coordinator knows this member."""

    def in_group(self) -> bool:
        coordinator = getattr(self, "_coordinator", None)
        subscription = self._subscription.subscription
        if coordinator is None or subscription is None or not coordinator.member_id:
            return False
        if coordinator.generation < 0:
            return False
        return not bool(coordinator.need_rejoin(subscription))

    async def topic_partitions(self) -> dict[str, set[int]]:
        cluster = await self._client.fetch_all_metadata()
        return {t: set(cluster.partitions_for_topic(t) or ()) for t in cluster.topics()}


@dataclass
class _SessionView:
    """What one session's liveness checks remember."""

    #: Partition -> (position, when first seen there), for ``stuck``.
    progress: dict[Any, tuple[int, float]]
    #: ``event.scraped``'s partitions on the broker when the session first checked.
    partitions: set[int] | None = None
    #: A check passed with partitions assigned: the consumer reads the current broker.
    verified: bool = False


class Worker:
    """Consumes ``event.scraped`` in sessions: connect, join the group, consume.

    A session ends on any failure (broker gone, topics lost, no assignment within
    ``JOIN_TIMEOUT_S``, a consumer that stopped moving, a commit that cannot be
    made); its clients are closed, each close bounded by ``CLOSE_TIMEOUT_S``, and
    after a bounded, jittered backoff a new session starts with new clients.
    ``kafka`` and ``database`` hold the state ``/health`` reports."""

    def __init__(
        self,
        settings: Settings,
        store: EventStore,
        metrics: WorkerMetrics,
        *,
        clients: KafkaClients | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.clients: KafkaClients = clients or AioKafkaClients(
            settings.kafka_brokers, settings.group_id
        )
        self._producer: KafkaProducerLike | None = None
        self.kafka = Dependency("kafka", "connecting", frozenset({"consuming"}), clock)
        self.database = Dependency("database", "connected", frozenset({"connected"}), clock)
        self.backoff = Backoff(INITIAL_BACKOFF_S, MAX_BACKOFF_S)
        if rng is not None:
            self.backoff.rng = rng
        self._set_kafka("connecting")
        metrics.database_up.set(1)

    @property
    def kafka_connected(self) -> bool:
        """True while partitions are assigned and messages are read."""
        return self.kafka.healthy

    def health(self) -> dict[str, Any]:
        return health_body("event-worker", [self.database, self.kafka])

    def _set_kafka(self, state: str, error: str | None = None) -> None:
        self.kafka.set(state, error)
        self.metrics.consumer_up.set(1 if self.kafka.healthy else 0)
        for name in KAFKA_STATES:
            self.metrics.kafka_state.labels(name).set(1 if name == state else 0)

    def _database(self, error: str | None) -> None:
        if self.database.set("connected" if error is None else "unreachable", error):
            if error is None:
                log("info", "database reachable again")
            else:
                log("warn", "database unreachable", error=error)
        self.metrics.database_up.set(1 if self.database.healthy else 0)

    async def ping_database(self) -> None:
        """Ask PostgreSQL, bounded; the answer updates ``database``."""
        try:
            async with asyncio.timeout(DATABASE_PING_TIMEOUT_S):
                await self.store.ping()
        except Exception as exc:
            self._database(_describe(exc))
        else:
            self._database(None)

    async def _store_with_retry(self, event: ScrapedEvent, trace_id: str) -> None:
        delay = 0.2
        for attempt in range(1, 4):
            try:
                await self.store.store(event, trace_id)
                self._database(None)
                return
            except Exception as exc:
                self.metrics.db_write_errors.inc()
                self._database(_describe(exc))
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
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await self._producer.send_and_wait(
                        processed.topic,
                        value=_json_bytes(processed.value),
                        key=processed.key.encode(),
                        headers=processed.encoded_headers(),
                    )
            except (KafkaError, TimeoutError) as exc:
                log(
                    "warn",
                    "event.processed not sent",
                    event_id=str(event.event_id),
                    trace_id=trace_id,
                    run_id=event.run_id,
                    error=_describe(exc),
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
        """Consume until ``stopping`` is set; after a failed session, start a new one."""
        while not stopping.is_set():
            try:
                await _until_stopped(stopping, self._session)
            except asyncio.CancelledError:
                if _cancelled():
                    raise
                error = "the Kafka session was cancelled from inside the client"
                self._set_kafka("retrying", error)
            except Exception as exc:
                error = _describe(exc)
            else:
                break  # stopping was set
            if stopping.is_set():
                break
            delay = self.backoff.next()
            self.metrics.kafka_reconnects.inc()
            log(
                "warn",
                "kafka unavailable; retrying",
                error=error,
                failures=self.kafka.failures,
                retry_in_s=round(delay, 3),
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)

    async def _session(self) -> None:
        """One connection to Kafka with new clients; returns only by raising."""
        self._set_kafka("connecting")
        consumer = self.clients.consumer()
        producer = self.clients.producer()
        try:
            # Every step is bounded: a broker that dies (or is too slow) while we
            # connect must not hang the worker.
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await self.clients.ensure_topics()
                await producer.start()
            self._producer = producer
            self._set_kafka("joining")
            log("info", "connected; joining the consumer group", group=self.settings.group_id)
            # aiokafka's start() returns once the group assigned this member its partitions.
            async with asyncio.timeout(JOIN_TIMEOUT_S):
                await consumer.start()
            await self._consume(consumer)
        except Exception as exc:
            self._set_kafka("retrying", _describe(exc))
            raise
        finally:
            self._producer = None
            try:
                await _close_bounded(consumer.stop, "consumer")
            finally:
                await _close_bounded(producer.stop, "producer")

    async def _consume(self, consumer: KafkaConsumerLike) -> None:
        """Handle records; every few seconds make sure the broker still has our data.

        Raises (so that ``run`` starts a new session) when no partition is assigned
        within ``JOIN_TIMEOUT_S``, when the group coordinator has not known this
        member for ``REJOIN_TIMEOUT_S``, when the broker lost a topic or re-created
        it with other partitions, or when the consumer stopped moving; a position
        beyond the end offset is reset. ``consuming`` is reported only once a
        liveness check against the current broker passed, with partitions assigned
        and the member known to the group."""
        unassigned_since: float | None = time.monotonic()
        outside_since: float | None = None
        checked = float("-inf")  # the first check comes right after the join
        view = _SessionView(progress={})
        while True:
            async with asyncio.timeout(POLL_TIMEOUT_S):
                batches = await consumer.getmany(timeout_ms=POLL_MS)
            handled = 0
            for records in batches.values():
                for record in records:
                    await self.handle(record)
                    handled += 1
            if handled:
                await self._commit(consumer)
            if time.monotonic() - checked >= LIVENESS_CHECK_S:
                await self._check_broker(consumer, view)
                checked = time.monotonic()
            now = time.monotonic()
            assigned = bool(consumer.assignment())
            member = consumer.in_group()
            if assigned:
                unassigned_since = None
            elif unassigned_since is None:
                unassigned_since = now
            if member:
                outside_since = None
            elif outside_since is None:
                outside_since = now
            if assigned and member and view.verified:
                if not self.kafka.healthy:
                    self._set_kafka("consuming")
                    self.backoff.reset()
                    log(
                        "info", "consuming", topic=EVENT_SCRAPED_TOPIC, group=self.settings.group_id
                    )
                continue
            if self.kafka.healthy:
                self._set_kafka("joining")
                if not assigned:
                    log("warn", "partitions revoked; rejoining the consumer group")
                else:
                    log(
                        "warn",
                        "the group coordinator no longer knows this member (the broker"
                        " restarted?); rejoining the consumer group",
                    )
            if unassigned_since is not None and now - unassigned_since >= JOIN_TIMEOUT_S:
                raise KafkaError(
                    f"no partition assigned within {JOIN_TIMEOUT_S:g} s: the group"
                    " coordinator is gone or the group does not settle"
                )
            if assigned and outside_since is not None and now - outside_since >= REJOIN_TIMEOUT_S:
                raise KafkaError(
                    f"the group coordinator has not known this member for {REJOIN_TIMEOUT_S:g} s"
                    " while partitions stay assigned: the broker restarted and the rejoin"
                    " does not complete"
                )

    async def _commit(self, consumer: KafkaConsumerLike) -> None:
        try:
            async with asyncio.timeout(COMMIT_TIMEOUT_S):
                await consumer.commit()
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced under us: whoever gets the partition reads the
            # uncommitted messages again (storing is idempotent).
            log("warn", "offsets not committed", error=_describe(exc))

    async def _check_broker(self, consumer: KafkaConsumerLike, view: _SessionView) -> None:
        async with asyncio.timeout(LIVENESS_TIMEOUT_S):
            topics = await consumer.topic_partitions()
            missing = sorted(
                t for t in (EVENT_SCRAPED_TOPIC, EVENT_PROCESSED_TOPIC) if not topics.get(t)
            )
            if missing:
                raise KafkaError(f"the broker lost topic {', '.join(missing)}")
            partitions = topics[EVENT_SCRAPED_TOPIC]
            if view.partitions is None:
                view.partitions = partitions
            elif partitions != view.partitions:
                # A broker that restarted without its data and got the topic back from
                # someone else (a producer's auto-creation) with other partitions: the
                # assignment made for the old topic misses the new partitions.
                raise KafkaError(
                    f"{EVENT_SCRAPED_TOPIC} now has partitions {sorted(partitions)} (was"
                    f" {sorted(view.partitions)}): the broker re-created the topic"
                )
            assigned = list(consumer.assignment())
            if not assigned:
                view.progress = {}
                return
            gone = [tp for tp in assigned if _partition_id(tp) not in partitions]
            if gone:
                raise KafkaError(
                    f"the broker has no partition {', '.join(_partition(tp) for tp in gone)}"
                )
            ends = await consumer.end_offsets(assigned)
            positions = {tp: await consumer.position(tp) for tp in assigned}
        lost = beyond_end(positions, ends)
        if lost:
            log(
                "warn",
                "position beyond the end offset: the broker lost its data; reading again"
                " from the beginning",
                partitions=[_partition(tp) for tp in lost],
                positions=[positions[tp] for tp in lost],
                ends=[ends[tp] for tp in lost],
            )
            async with asyncio.timeout(LIVENESS_TIMEOUT_S):
                await consumer.seek_to_beginning(*lost)
            view.progress = {}
            return
        view.progress, late = stuck(view.progress, positions, ends, time.monotonic(), STUCK_AFTER_S)
        if late:
            raise KafkaError(
                f"{', '.join(_partition(tp) for tp in late)} has messages waiting but the"
                f" consumer has not moved for {STUCK_AFTER_S:g} s"
            )
        view.verified = True


#: Seconds between checks that the broker still holds the consumed topic.
LIVENESS_CHECK_S = 2.0
#: Longest time for that check (metadata, end offsets, positions).
LIVENESS_TIMEOUT_S = 5.0
#: Longest time to connect (topics, producer) before trying again.
CONNECT_TIMEOUT_S = 15.0
#: Longest time without an assigned partition before a new consumer is made: longer
#: than the group's session timeout (10 s), during which a rejoin may wait for a
#: member that vanished to be evicted.
JOIN_TIMEOUT_S = 30.0
#: Longest time partitions may stay assigned to a member the group coordinator does
#: not know (aiokafka rejoining in the background after a broker restart) before a
#: new consumer is made: the session timeout (10 s) plus a margin.
REJOIN_TIMEOUT_S = 12.0
#: A consumer with messages waiting that has not moved for this long is replaced.
STUCK_AFTER_S = 20.0
#: Longest time for one poll, one commit, one event.processed send, one close.
POLL_MS = 500
POLL_TIMEOUT_S = 10.0
COMMIT_TIMEOUT_S = 5.0
SEND_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 5.0
DATABASE_PING_TIMEOUT_S = 3.0
#: First and longest wait between reconnection attempts (jittered): a pipeline
#: should resume within seconds of its broker coming back.
INITIAL_BACKOFF_S = 0.25
MAX_BACKOFF_S = 2.0


async def _close_bounded(stop: Callable[[], Awaitable[None]], what: str) -> None:
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await stop()
    except TimeoutError:
        log("warn", f"kafka {what} did not close within {CLOSE_TIMEOUT_S:g} s; abandoned")
    except asyncio.CancelledError:
        if _cancelled():
            raise
        # Not ours: aiokafka's fetcher cancels its pending fetch requests on close and
        # lets their CancelledError out, which would otherwise end the worker.
        log("warn", f"kafka {what} closed with its pending requests cancelled")
    except Exception as exc:
        log("warn", f"kafka {what} did not close cleanly", error=_describe(exc))


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


def _cancelled() -> bool:
    """Whether the running task itself is being cancelled (not a client's stray CancelledError)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, TimeoutError) and not text:
        return "timed out"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _partition(tp: Any) -> str:
    return f"{getattr(tp, 'topic', tp)}[{getattr(tp, 'partition', '?')}]"


def _partition_id(tp: Any) -> int | None:
    partition = getattr(tp, "partition", None)
    return partition if isinstance(partition, int) else None


def _json_bytes(value: dict[str, object]) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":")).encode()
