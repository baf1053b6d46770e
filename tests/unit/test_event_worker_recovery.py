"""The event-worker's reconnect state machine, against fake Kafka clients (no servers).

The fakes behave like aiokafka against a broker that goes away: calls hang or
refuse, and ``stop()`` can hang for ever (aiokafka's last auto-commit did, after a
broker restart, which kept the worker from ever reconnecting).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from event_worker import worker as worker_module
from event_worker.http import HEALTH_SCHEMA, OPENAPI, create_app
from event_worker.messages import EVENT_PROCESSED_TOPIC, EVENT_SCRAPED_TOPIC
from event_worker.recovery import Backoff, Dependency, beyond_end, health_body, stuck
from event_worker.worker import (
    KafkaConsumerLike,
    KafkaProducerLike,
    Settings,
    Worker,
    WorkerMetrics,
)
from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

TP = TopicPartition(EVENT_SCRAPED_TOPIC, 0)


def seeded(seed: int) -> random.Random:
    """Reproducible jitter (not for secrets)."""
    return random.Random(seed)  # noqa: S311


SETTINGS = Settings("127.0.0.1", 0, "postgresql://unused", "127.0.0.1:9", False, None)


# -- pure parts ---------------------------------------------------------------------------


def test_backoff_is_jittered_bounded_and_never_zero() -> None:
    backoff = Backoff(initial=0.25, cap=2.0, rng=seeded(7))
    delays = [backoff.next() for _ in range(50)]
    ceilings = [min(2.0, 0.25 * 2**i) for i in range(50)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays) <= 2.0 and min(delays) >= 0.125
    assert len({round(d, 6) for d in delays[5:]}) > 10, "no jitter at the cap"
    backoff.reset()
    assert backoff.next() <= 0.25


def test_a_dependency_is_degraded_since_it_stopped_being_healthy() -> None:
    now = [100.0]
    kafka = Dependency("kafka", "consuming", frozenset({"consuming"}), lambda: now[0])
    assert kafka.healthy and kafka.since == 100.0
    now[0] = 110.0
    assert kafka.set("retrying", "KafkaConnectionError: refused") is True
    now[0] = 111.0
    assert kafka.set("connecting") is False
    assert kafka.set("joining") is False
    assert kafka.set("retrying", "TimeoutError: timed out") is False
    assert (kafka.since, kafka.failures, kafka.error) == (110.0, 2, "TimeoutError: timed out")
    now[0] = 120.0
    assert kafka.set("consuming") is True
    assert (kafka.since, kafka.failures, kafka.error) == (120.0, 0, None)


def _openapi_to_jsonschema(schema: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as JSON Schema's type union, recursively."""
    if isinstance(schema, dict):
        out = {k: _openapi_to_jsonschema(v) for k, v in schema.items() if k != "nullable"}
        if schema.get("nullable"):
            out["type"] = [schema["type"], "null"]
        return out
    if isinstance(schema, list):
        return [_openapi_to_jsonschema(v) for v in schema]
    return schema


def test_health_body_names_the_degraded_dependency_and_since_when() -> None:
    now = [1_800_000_000.0]
    database = Dependency("database", "connected", frozenset({"connected"}), lambda: now[0])
    kafka = Dependency("kafka", "consuming", frozenset({"consuming"}), lambda: now[0])
    schema = _openapi_to_jsonschema(HEALTH_SCHEMA)

    ok = health_body("event-worker", [database, kafka])
    jsonschema.validate(ok, schema)
    assert (ok["status"], ok["degraded"], ok["since"]) == ("ok", [], None)
    assert ok["checks"] == {"database": "ok", "kafka": "ok"}

    now[0] += 5
    kafka.set("retrying", "KafkaConnectionError: Unable to bootstrap")
    now[0] += 5
    database.set("unreachable", "PoolTimeout: couldn't get a connection")
    body = health_body("event-worker", [database, kafka])
    jsonschema.validate(body, schema)
    assert body["status"] == "degraded"
    assert body["degraded"] == ["database", "kafka"]
    assert body["since"] == "2027-01-15T08:00:05.000Z"  # kafka's, the earlier
    assert body["dependencies"]["kafka"]["state"] == "retrying"
    assert body["checks"]["kafka"] == "error: retrying: KafkaConnectionError: Unable to bootstrap"


def test_positions_beyond_the_end_offset_are_the_ones_to_reset() -> None:
    assert beyond_end({"a": 5, "b": 3, "c": 0}, {"a": 0, "b": 3, "c": 2}) == ["a"]


def test_a_consumer_is_stuck_when_it_does_not_move_with_messages_waiting() -> None:
    seen, late = stuck({}, {"a": 1, "b": 4}, {"a": 3, "b": 4}, now=0.0, after_s=10)
    assert late == []
    seen, late = stuck(seen, {"a": 1, "b": 4}, {"a": 3, "b": 9}, now=9.0, after_s=10)
    assert late == []
    seen, late = stuck(seen, {"a": 1, "b": 6}, {"a": 3, "b": 9}, now=10.0, after_s=10)
    assert late == ["a"]  # b moved at 10 s, a waited 10 s at offset 1
    _, late = stuck(seen, {"a": 2, "b": 6}, {"a": 3, "b": 9}, now=25.0, after_s=10)
    assert late == ["b"]


# -- the worker against fake clients ---------------------------------------------------------


@dataclass
class Record:
    value: bytes
    offset: int
    topic: str = EVENT_SCRAPED_TOPIC
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class FakeBroker:
    """One memory-backed broker: it can go down, and comes back without its data."""

    up: bool = True
    topics: set[str] = field(default_factory=lambda: {EVENT_SCRAPED_TOPIC, EVENT_PROCESSED_TOPIC})
    messages: list[bytes] = field(default_factory=list)
    stop_hangs: bool = False
    stray_cancel_on_stop: bool = False
    join_hangs: bool = False
    consumers: list[FakeConsumer] = field(default_factory=list)
    ensured: int = 0
    #: event.scraped's partitions, and the one new messages land on.
    partitions: int = 1
    lands_on: int = 0
    #: Bumped on every restart: the group members of an earlier broker are unknown.
    epoch: int = 0

    def restart(self) -> None:
        self.topics, self.messages, self.up = set(), [], True
        self.partitions, self.lands_on = 1, 0
        self.epoch += 1

    def produce(self) -> uuid.UUID:
        event_id = uuid.uuid4()
        payload = {
            "eventId": str(event_id),
            "url": "https://lu.ma/x",
            "requestedAt": "2026-12-01T18:00:00+00:00",
            "source": "luma",
        }
        self.messages.append(json.dumps(payload).encode())
        return event_id


async def _forever() -> None:
    await asyncio.Event().wait()


class FakeConsumer:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.assigned: set[Any] = set()
        self.at = 0
        self.seeks = 0
        self.epoch = -1

    async def start(self) -> None:
        if not self.broker.up:
            raise KafkaConnectionError("Unable to bootstrap from 127.0.0.1:9")
        if self.broker.join_hangs:
            await _forever()
        # The only member of the group: it gets every partition of the topic.
        self.assigned = {
            TopicPartition(EVENT_SCRAPED_TOPIC, p) for p in range(self.broker.partitions)
        }
        self.epoch = self.broker.epoch

    @property
    def _tp(self) -> TopicPartition:
        return TopicPartition(EVENT_SCRAPED_TOPIC, self.broker.lands_on)

    async def stop(self) -> None:
        if self.broker.stop_hangs:
            await _forever()  # as aiokafka's last auto-commit without a coordinator
        if self.broker.stray_cancel_on_stop:
            raise asyncio.CancelledError  # as aiokafka's fetcher, closing with a fetch pending

    async def getmany(self, *partitions: Any, timeout_ms: int = 0) -> dict[Any, list[Any]]:
        await asyncio.sleep(0.005)
        if not self.broker.up or self._tp not in self.assigned:
            return {}
        if self.at >= len(self.broker.messages):
            return {}
        records = [
            Record(value, offset)
            for offset, value in enumerate(self.broker.messages[self.at :], self.at)
        ]
        self.at = len(self.broker.messages)
        return {self._tp: records}

    def assignment(self) -> set[Any]:
        # As aiokafka's: kept while the member rejoins after a broker restart.
        return set(self.assigned)

    def in_group(self) -> bool:
        return bool(self.assigned) and self.epoch == self.broker.epoch

    async def topics(self) -> set[str]:
        return set(await self.topic_partitions())

    async def topic_partitions(self) -> dict[str, set[int]]:
        if not self.broker.up:
            await _forever()  # a request to a dead broker: only our timeout ends it
        return {
            t: set(range(self.broker.partitions)) if t == EVENT_SCRAPED_TOPIC else {0}
            for t in self.broker.topics
        }

    async def end_offsets(self, partitions: list[Any]) -> dict[Any, int]:
        return {p: len(self.broker.messages) if p == self._tp else 0 for p in partitions}

    async def position(self, partition: Any) -> int:
        return self.at if partition == self._tp else 0

    async def seek_to_beginning(self, *partitions: Any) -> None:
        self.at = 0
        self.seeks += 1

    async def commit(self) -> None:
        if not self.broker.up:
            await _forever()


class FakeProducer:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.sent: list[bytes] = []

    async def start(self) -> None:
        if not self.broker.up:
            raise KafkaConnectionError("Unable to bootstrap from 127.0.0.1:9")

    async def stop(self) -> None:
        pass

    async def send_and_wait(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        if not self.broker.up:
            await _forever()
        self.sent.append(value)


@dataclass
class FakeClients:
    broker: FakeBroker

    async def ensure_topics(self) -> None:
        if not self.broker.up:
            raise KafkaConnectionError("Unable to bootstrap from 127.0.0.1:9")
        self.broker.ensured += 1
        self.broker.topics |= {EVENT_SCRAPED_TOPIC, EVENT_PROCESSED_TOPIC}

    def consumer(self) -> KafkaConsumerLike:
        consumer = FakeConsumer(self.broker)
        self.broker.consumers.append(consumer)
        return consumer

    def producer(self) -> KafkaProducerLike:
        return FakeProducer(self.broker)


class FakeStore:
    def __init__(self) -> None:
        self.stored: list[uuid.UUID] = []
        self.down = False

    async def ping(self) -> None:
        if self.down:
            raise OSError("connection refused")

    async def store(self, event: Any, trace_id: str | None) -> None:
        if self.down:
            raise OSError("connection refused")
        self.stored.append(event.event_id)


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "LIVENESS_CHECK_S": 0.05,
        "LIVENESS_TIMEOUT_S": 0.2,
        "CONNECT_TIMEOUT_S": 0.5,
        "JOIN_TIMEOUT_S": 0.5,
        "STUCK_AFTER_S": 0.5,
        "REJOIN_TIMEOUT_S": 0.5,
        "POLL_MS": 5,
        "POLL_TIMEOUT_S": 0.5,
        "COMMIT_TIMEOUT_S": 0.2,
        "SEND_TIMEOUT_S": 0.2,
        "CLOSE_TIMEOUT_S": 0.2,
    }.items():
        monkeypatch.setattr(worker_module, name, value)


@dataclass
class Running:
    broker: FakeBroker
    store: FakeStore
    worker: Worker
    registry: CollectorRegistry

    async def until(self, probe: Callable[[], object], what: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}: {self.worker.health()}"
        )

    async def consumes(self, what: str, timeout: float = 5.0) -> None:
        event_id = self.broker.produce()
        await self.until(lambda: event_id in self.store.stored, what, timeout)
        assert self.worker.kafka.state == "consuming"

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.registry.get_sample_value(name, labels or {})


def run_worker(scenario: Callable[[Running], Any], broker: FakeBroker | None = None) -> Running:
    async def main() -> Running:
        broker_ = broker or FakeBroker()
        store = FakeStore()
        registry = CollectorRegistry()
        worker = Worker(
            SETTINGS,
            store,  # type: ignore[arg-type]
            WorkerMetrics(registry),
            clients=FakeClients(broker_),
            rng=seeded(1),
        )
        worker.backoff = Backoff(0.01, 0.05, seeded(1))
        running = Running(broker_, store, worker, registry)
        stopping = asyncio.Event()
        task = asyncio.create_task(worker.run(stopping))
        try:
            await scenario(running)
        finally:
            stopping.set()
            # Stopping is bounded too, even with clients that never close.
            await asyncio.wait_for(task, 3)
        return running

    return asyncio.run(main())


def test_it_reconnects_after_a_broker_restart_that_lost_the_topics_twice() -> None:
    async def scenario(r: Running) -> None:
        await r.consumes("the first message")
        for restart in range(2):
            r.broker.up = False
            await r.until(lambda: not r.worker.kafka.healthy, f"degraded after stop {restart}")
            assert r.worker.health()["degraded"] == ["kafka"]
            assert r.metric("event_worker_consumer_up") == 0
            r.broker.restart()
            await r.consumes(f"a message after restart {restart}")
            assert r.broker.topics == {EVENT_SCRAPED_TOPIC, EVENT_PROCESSED_TOPIC}

    r = run_worker(scenario)
    assert r.broker.ensured >= 3
    assert len(r.broker.consumers) >= 3, "the consumer was not rebuilt"
    assert r.metric("event_worker_consumer_up") == 1
    assert r.metric("event_worker_kafka_state", {"state": "consuming"}) == 1
    assert (r.metric("event_worker_kafka_reconnects_total") or 0) >= 2


def test_a_close_that_never_returns_does_not_stop_the_reconnect() -> None:
    # The cause of issue #12: aiokafka's stop() retried its last offset commit for as
    # long as the group coordinator was unknown, and the worker waited on it for ever.
    async def scenario(r: Running) -> None:
        await r.consumes("the first message")
        r.broker.stop_hangs = True
        r.broker.up = False
        await r.until(lambda: r.worker.kafka.state == "retrying", "retrying")
        r.broker.restart()
        await r.consumes("a message after the restart")

    run_worker(scenario)


def test_a_stray_cancelled_error_from_a_client_does_not_end_the_worker() -> None:
    async def scenario(r: Running) -> None:
        await r.consumes("the first message")
        r.broker.stray_cancel_on_stop = True
        r.broker.up = False
        await r.until(lambda: len(r.broker.consumers) >= 3, "two more sessions")
        r.broker.restart()
        await r.consumes("a message after the restart")

    run_worker(scenario)


def test_a_position_beyond_the_end_offset_is_read_again_from_the_beginning() -> None:
    async def scenario(r: Running) -> None:
        for _ in range(3):
            await r.consumes("a message")
        r.broker.messages = []  # restarted between two checks, topics re-created by others
        await r.until(lambda: r.broker.consumers[-1].seeks == 1, "a seek to the beginning")
        await r.consumes("a message at offset 0 of the new topic")

    r = run_worker(scenario)
    assert len(r.broker.consumers) == 1, "a reset needs no new consumer"


def test_a_lost_topic_makes_a_new_session_that_creates_it() -> None:
    async def scenario(r: Running) -> None:
        await r.consumes("the first message")
        r.broker.topics = {EVENT_SCRAPED_TOPIC}
        await r.until(lambda: EVENT_PROCESSED_TOPIC in r.broker.topics, "the topic re-created")
        await r.consumes("a message after the topic came back")

    r = run_worker(scenario)
    assert len(r.broker.consumers) == 2


def auto_created_by_others(broker: FakeBroker) -> None:
    """What Tansu does when, after a restart, a producer writes to a topic it lacks:
    the topic comes back with four partitions and the message lands on the third;
    another service re-creates event.processed."""
    broker.topics = {EVENT_SCRAPED_TOPIC, EVENT_PROCESSED_TOPIC}
    broker.partitions, broker.lands_on = 4, 2


def test_a_restart_during_the_join_with_the_topic_auto_created_by_others() -> None:
    # The second of two quick restarts came while the consumer joined: its join
    # completed against the old broker, so it holds event.scraped[0] of a topic the
    # new broker does not have, and aiokafka keeps that assignment while it tries to
    # rejoin. Then a producer auto-creates the topic with other partitions and the
    # message lands where nobody reads: topics exist, partition 0 has nothing waiting.
    async def scenario(r: Running) -> None:
        await r.consumes("the first message")
        r.broker.restart()  # the broker forgot the member, its topics and offsets
        auto_created_by_others(r.broker)
        await r.consumes("a message on a partition the old assignment does not cover")

    r = run_worker(scenario)
    assert len(r.broker.consumers) >= 2, "the stale consumer was kept"
    assert r.broker.consumers[-1].assigned == {
        TopicPartition(EVENT_SCRAPED_TOPIC, p) for p in range(4)
    }


def test_a_member_the_coordinator_forgot_is_not_reported_consuming() -> None:
    async def scenario(r: Running) -> None:
        await r.consumes("the first message")
        first = r.broker.consumers[-1]
        r.broker.epoch += 1  # the broker restarted; its topics came back the same
        await r.until(lambda: r.worker.kafka.state == "joining", "joining while rejoining")
        assert first.assigned, "the assignment is kept during the rejoin"
        await r.until(lambda: len(r.broker.consumers) >= 2, "a new consumer")
        await r.consumes("a message read by the new member")

    run_worker(scenario)


def test_a_topic_re_created_with_other_partitions_makes_a_new_session() -> None:
    async def scenario(r: Running) -> None:
        await r.consumes("the first message")
        r.broker.partitions, r.broker.messages, r.broker.lands_on = 4, [], 2
        await r.consumes("a message on a new partition")

    r = run_worker(scenario)
    assert len(r.broker.consumers) == 2


def test_a_join_that_never_completes_is_retried_with_a_new_consumer() -> None:
    async def scenario(r: Running) -> None:
        r.broker.join_hangs = True
        await r.until(lambda: r.worker.kafka.state == "joining", "joining")
        assert r.worker.health()["dependencies"]["kafka"]["state"] == "joining"
        await r.until(lambda: len(r.broker.consumers) >= 2, "a second consumer")
        assert r.worker.kafka.failures >= 1
        r.broker.join_hangs = False
        await r.consumes("a message once the group settles")

    run_worker(scenario)


def test_a_broker_down_at_start_is_retried_until_it_comes_up() -> None:
    async def scenario(r: Running) -> None:
        await r.until(lambda: r.worker.kafka.failures >= 3, "three failed attempts")
        assert r.worker.health()["status"] == "degraded"
        r.broker.up = True
        await r.consumes("a message once the broker is up")

    run_worker(scenario, FakeBroker(up=False))


def test_health_is_200_degraded_while_a_dependency_is_down() -> None:
    store = FakeStore()
    registry = CollectorRegistry()
    worker = Worker(
        SETTINGS,
        store,  # type: ignore[arg-type]
        WorkerMetrics(registry),
        clients=FakeClients(FakeBroker()),
    )
    app = create_app(SETTINGS, store, worker, registry)  # type: ignore[arg-type]
    schema = _openapi_to_jsonschema(HEALTH_SCHEMA)
    assert set(OPENAPI["paths"]["/health"]["get"]["responses"]) == {"200"}
    with TestClient(app) as client:
        starting = client.get("/health")
        assert starting.status_code == 200
        jsonschema.validate(starting.json(), schema)
        assert starting.json()["degraded"] == ["kafka"]  # not consuming yet

        store.down = True
        down = client.get("/health")
        assert down.status_code == 200
        assert down.json()["status"] == "degraded"
        assert down.json()["degraded"] == ["database", "kafka"]
        assert down.json()["dependencies"]["database"]["error"] == "OSError: connection refused"
        assert registry.get_sample_value("event_worker_database_up") == 0

        store.down = False
        worker._set_kafka("consuming")
        ok = client.get("/health")
        assert (ok.status_code, ok.json()["status"], ok.json()["since"]) == (200, "ok", None)
        assert registry.get_sample_value("event_worker_database_up") == 1
