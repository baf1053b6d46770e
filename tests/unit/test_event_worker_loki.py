"""The event-worker's Loki pusher against a tiny in-test Loki (stdlib http.server, loopback)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from event_worker import logs, loki
from prometheus_client import CollectorRegistry

from tests.conftest import wait_until

RUN_ID = "run-7f3a9c"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@dataclass
class Received:
    path: str
    content_type: str
    body: dict[str, Any]


@dataclass
class FakeLoki:
    """Records every push; answers each with the next of ``statuses`` (then 204)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def values(self) -> list[list[str]]:
        with self.lock:
            return [
                value
                for request in self.requests
                for stream in request.body["streams"]
                for value in stream["values"]
            ]


@pytest.fixture
def fake_loki() -> Iterator[FakeLoki]:
    state = FakeLoki(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with state.lock:
                status = state.statuses.pop(0) if state.statuses else 204
                if status == 204:
                    state.requests.append(
                        Received(self.path, self.headers.get("Content-Type", ""), json.loads(raw))
                    )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def _detach_sink() -> Iterator[None]:
    yield
    logs.set_sink(None)


def _pusher(url: str, registry: CollectorRegistry, **options: Any) -> loki.LokiPusher:
    defaults: dict[str, Any] = {"flush_interval": 0.05, "backoff": 0.01, "timeout": 2.0}
    return loki.LokiPusher(url, loki.LokiMetrics(registry), **(defaults | options))


def _metric(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(name) or 0.0


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_lines_are_pushed_with_the_run_id_in_the_line_not_in_labels(fake_loki: FakeLoki) -> None:
    registry = CollectorRegistry()
    pusher = _pusher(fake_loki.url, registry).start()
    logs.set_sink(pusher)
    before_ns = time.time_ns()
    logs.log("info", "event stored", run_id=RUN_ID, trace_id=TRACE_ID, event_id="e-1")
    logs.log("error", "database write failed", run_id=RUN_ID, trace_id=TRACE_ID, attempt=1)
    loki.stop(pusher)

    assert fake_loki.requests, "nothing was pushed"
    streams: dict[str, list[list[str]]] = {}
    for request in fake_loki.requests:
        assert request.path == "/loki/api/v1/push"
        assert request.content_type == "application/json"
        assert set(request.body) == {"streams"}
        for stream in request.body["streams"]:
            assert set(stream) == {"stream", "values"}
            labels = stream["stream"]
            assert set(labels) == {"service", "level"}, labels
            assert labels["service"] == "event-worker"
            assert RUN_ID not in json.dumps(labels) and TRACE_ID not in json.dumps(labels)
            streams.setdefault(labels["level"], []).extend(stream["values"])
    assert set(streams) == {"info", "error"}, streams
    for level, values in streams.items():
        assert len(values) == 1, values
        ts, line = values[0]
        assert isinstance(ts, str) and ts.isdigit(), ts
        assert before_ns <= int(ts) <= time.time_ns()
        record = json.loads(line)
        assert record["run_id"] == RUN_ID
        assert record["trace_id"] == TRACE_ID
        assert record["level"] == level
        assert record["service"] == "event-worker"
    assert _metric(registry, "event_worker_loki_push_errors_total") == 0
    assert _metric(registry, "event_worker_loki_dropped_lines_total") == 0


def test_a_batch_is_sent_after_the_flush_interval_without_closing(fake_loki: FakeLoki) -> None:
    pusher = _pusher(fake_loki.url, CollectorRegistry(), flush_interval=0.1).start()
    try:
        pusher.submit('{"msg": "one"}', "info")
        wait_until(lambda: fake_loki.values(), timeout=5, interval=0.02, what="a timed flush")
    finally:
        pusher.close()
    assert [line for _, line in fake_loki.values()] == ['{"msg": "one"}']


def test_batches_hold_at_most_batch_size_lines_and_close_flushes_the_rest(
    fake_loki: FakeLoki,
) -> None:
    pusher = _pusher(fake_loki.url, CollectorRegistry(), batch_size=3, flush_interval=30).start()
    for n in range(7):
        pusher.submit(json.dumps({"n": n}), "info")
    wait_until(lambda: len(fake_loki.requests) >= 2, timeout=5, interval=0.02, what="full batches")
    pusher.close(timeout=5)
    sizes = [len(r.body["streams"][0]["values"]) for r in fake_loki.requests]
    assert sizes == [3, 3, 1], sizes
    assert [json.loads(line)["n"] for _, line in fake_loki.values()] == list(range(7))


def test_a_failed_push_is_retried(fake_loki: FakeLoki) -> None:
    registry = CollectorRegistry()
    fake_loki.statuses = [503, 500]
    pusher = _pusher(fake_loki.url, registry).start()
    pusher.submit('{"msg": "retried"}', "info")
    wait_until(lambda: fake_loki.values(), timeout=5, interval=0.02, what="the retried push")
    pusher.close()
    assert [line for _, line in fake_loki.values()] == ['{"msg": "retried"}']
    assert _metric(registry, "event_worker_loki_push_errors_total") == 2
    assert _metric(registry, "event_worker_loki_dropped_lines_total") == 0


def test_a_rejected_batch_is_dropped_without_retrying(fake_loki: FakeLoki) -> None:
    registry = CollectorRegistry()
    fake_loki.statuses = [400]
    pusher = _pusher(fake_loki.url, registry).start()
    pusher.submit('{"msg": "refused"}', "info")
    pusher.close()
    assert fake_loki.requests == []
    assert fake_loki.statuses == [], "the 400 was not even asked for"
    assert _metric(registry, "event_worker_loki_push_errors_total") == 1
    assert _metric(registry, "event_worker_loki_dropped_lines_total") == 1


def test_an_unreachable_loki_never_raises_and_is_counted() -> None:
    registry = CollectorRegistry()
    pusher = _pusher(f"http://127.0.0.1:{_closed_port()}", registry, max_attempts=3).start()
    logs.set_sink(pusher)
    for n in range(5):
        logs.log("info", "event stored", run_id=RUN_ID, n=n)  # must not raise
    wait_until(
        lambda: _metric(registry, "event_worker_loki_dropped_lines_total") >= 5,
        timeout=10,
        interval=0.02,
        what="the batch to be given up",
    )
    started = time.monotonic()
    loki.stop(pusher, timeout=2)
    assert time.monotonic() - started < 4, "close() is bounded by its timeout"
    assert not pusher._thread.is_alive()
    assert _metric(registry, "event_worker_loki_push_errors_total") >= 3
    logs.log("info", "after stop")  # the sink is detached: plain stdout again


def test_close_gives_up_on_an_unreachable_loki_within_its_timeout() -> None:
    registry = CollectorRegistry()
    pusher = _pusher(
        f"http://127.0.0.1:{_closed_port()}",
        registry,
        flush_interval=30,
        max_attempts=1_000,
        backoff=0.05,
        max_backoff=0.05,
    ).start()
    for n in range(3):
        pusher.submit(json.dumps({"n": n}), "info")
    started = time.monotonic()
    pusher.close(timeout=0.5)
    assert time.monotonic() - started < 3
    assert not pusher._thread.is_alive()
    assert _metric(registry, "event_worker_loki_dropped_lines_total") == 3


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    registry = CollectorRegistry()
    pusher = _pusher("http://127.0.0.1:9", registry, max_queue=2)  # never started
    started = time.monotonic()
    for n in range(5):
        pusher.submit(json.dumps({"n": n}), "info")
    assert time.monotonic() - started < 1
    assert _metric(registry, "event_worker_loki_dropped_lines_total") == 3


def test_start_from_env(monkeypatch: pytest.MonkeyPatch, fake_loki: FakeLoki) -> None:
    monkeypatch.delenv("LOKI_URL", raising=False)
    assert loki.start_from_env(CollectorRegistry()) is None
    monkeypatch.setenv("LOKI_URL", "loki:3100")
    assert loki.start_from_env(CollectorRegistry()) is None, "a URL without a scheme is ignored"
    monkeypatch.setenv("LOKI_URL", fake_loki.url + "/")
    registry = CollectorRegistry()
    pusher = loki.start_from_env(registry)
    assert pusher is not None
    assert pusher.push_url == fake_loki.url + "/loki/api/v1/push"
    logs.log("info", "started", port=8084, run_id=RUN_ID)
    loki.stop(pusher)
    assert [json.loads(line)["msg"] for _, line in fake_loki.values()] == ["started"]
    assert registry.get_sample_value("event_worker_loki_push_errors_total") == 0
