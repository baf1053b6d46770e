"""A check run exported as one OTLP trace, received by a tiny OTLP/HTTP server on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from observability.tracing import configure_tracing, export_check_run, shutdown_tracing
from schedules import CheckRun, ExpectationResult

STARTED = datetime(2030, 1, 2, 3, 4, 5, 250_000, tzinfo=UTC)
SENT = STARTED + timedelta(seconds=0.4)
FINISHED = STARTED + timedelta(seconds=30.5)


def _ns(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


class Receiver:
    """Collects the bodies POSTed to /v1/traces; answers like an OTLP collector."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.paths.append(self.path)
                    if self.path == "/v1/traces":
                        receiver.bodies.append(body)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def spans(self) -> list[tuple[str, Span]]:
        """(service.name, span) for every span received."""
        found: list[tuple[str, Span]] = []
        with self.lock:
            bodies = list(self.bodies)
        for body in bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                service = {
                    a.key: a.value.string_value for a in resource_spans.resource.attributes
                }.get("service.name", "")
                for scope_spans in resource_spans.scope_spans:
                    found.extend((service, span) for span in scope_spans.spans)
        return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(timeout=5)


def _run(
    trace_id: str = "0af7651916cd43dd8448eb211c80319c", check: str = "pipeline-kafka"
) -> CheckRun:
    return CheckRun(
        check=check,
        run_id="5f0c2a9e7d1b4c3a8e6f9d2b1a0c3e4f",
        trace_id=trace_id,
        started_at=STARTED,
        finished_at=FINISHED,
        result="fail",
        location="eu-west",
        instance="covenant-a",
        sent_at=SENT,
        expectations=[
            ExpectationResult("row", "sql", "seen", latency_s=0.07, detail="1 row", polls=2),
            ExpectationResult(
                "stored", "prometheus", "not_seen", detail="not seen within 30 s", polls=12
            ),
        ],
    )


def _attributes(span: Span) -> dict[str, object]:
    def value(v: AnyValue) -> object:
        return getattr(v, v.WhichOneof("value") or "string_value")

    return {a.key: value(a.value) for a in span.attributes}


def test_one_trace_per_run_with_the_runs_trace_id(receiver: Receiver) -> None:
    provider = configure_tracing(receiver.url, "covenant-test", timeout_s=5)
    assert provider is not None
    run = _run()
    export_check_run(provider, run, "kafka")
    shutdown_tracing(provider)

    received = receiver.spans()
    assert {service for service, _ in received} == {"covenant-test"}
    spans = {span.name: span for _, span in received}
    assert set(spans) == {
        "check pipeline-kafka",
        "send kafka",
        "expect sql:row",
        "expect prometheus:stored",
    }
    assert {span.trace_id.hex() for span in spans.values()} == {run.trace_id}

    root = spans["check pipeline-kafka"]
    assert root.parent_span_id == b""
    for name in ("send kafka", "expect sql:row", "expect prometheus:stored"):
        assert spans[name].parent_span_id == root.span_id, name
    assert len({span.span_id for span in spans.values()}) == 4

    assert (root.start_time_unix_nano, root.end_time_unix_nano) == (_ns(STARTED), _ns(FINISHED))
    assert _attributes(root) == {
        "covenant.check": "pipeline-kafka",
        "covenant.run_id": run.run_id,
        "covenant.result": "fail",
        "covenant.location": "eu-west",
        "covenant.instance": "covenant-a",
        "covenant.traffic": "kafka",
    }
    assert root.status.code == Status.STATUS_CODE_ERROR

    send = spans["send kafka"]
    assert send.kind == Span.SPAN_KIND_PRODUCER
    assert (send.start_time_unix_nano, send.end_time_unix_nano) == (_ns(STARTED), _ns(SENT))
    assert send.status.code == Status.STATUS_CODE_UNSET

    row = spans["expect sql:row"]
    assert (row.start_time_unix_nano, row.end_time_unix_nano) == (
        _ns(SENT),
        _ns(SENT) + 70_000_000,
    )
    assert row.status.code == Status.STATUS_CODE_UNSET
    assert _attributes(row)["covenant.expectation.outcome"] == "seen"
    assert _attributes(row)["covenant.expectation.latency_s"] == 0.07
    assert _attributes(row)["covenant.expectation.detail"] == "1 row"

    stored = spans["expect prometheus:stored"]
    assert (stored.start_time_unix_nano, stored.end_time_unix_nano) == (
        _ns(SENT),
        _ns(FINISHED),
    )
    assert stored.status.code == Status.STATUS_CODE_ERROR
    assert "not seen within 30 s" in stored.status.message
    assert _attributes(stored)["covenant.expectation.outcome"] == "not_seen"
    assert "covenant.expectation.latency_s" not in _attributes(stored)


def test_runs_keep_their_own_trace_ids_even_inside_an_active_span(receiver: Receiver) -> None:
    provider = configure_tracing(receiver.url, "covenant", timeout_s=5)
    first, second = _run("1" * 32, "a"), _run("2" * 32, "b")
    ambient = TracerProvider().get_tracer("test")
    with ambient.start_as_current_span("scheduler tick"):
        export_check_run(provider, first, "sql")
        export_check_run(provider, second, "sql")
    shutdown_tracing(provider)

    by_trace: dict[str, set[str]] = {}
    for _, span in receiver.spans():
        by_trace.setdefault(span.trace_id.hex(), set()).add(span.name)
    assert by_trace == {
        "1" * 32: {"check a", "send sql", "expect sql:row", "expect prometheus:stored"},
        "2" * 32: {"check b", "send sql", "expect sql:row", "expect prometheus:stored"},
    }
    roots = [span for _, span in receiver.spans() if span.name.startswith("check ")]
    assert all(span.parent_span_id == b"" for span in roots)


def test_a_run_whose_traffic_was_never_sent(receiver: Receiver) -> None:
    run = _run()
    run.result, run.error, run.sent_at = "error", "before sending: no such topic", None
    run.expectations = [ExpectationResult("row", "sql", "error", detail="could not prepare")]
    provider = configure_tracing(receiver.url, "covenant", timeout_s=5)
    export_check_run(provider, run, "kafka")
    shutdown_tracing(provider)

    spans = {span.name: span for _, span in receiver.spans()}
    assert set(spans) == {"check pipeline-kafka", "expect sql:row"}
    assert spans["check pipeline-kafka"].status.message == "before sending: no such topic"
    assert spans["expect sql:row"].status.code == Status.STATUS_CODE_ERROR
    assert spans["expect sql:row"].start_time_unix_nano == _ns(STARTED)


def test_any_sdk_provider_gets_the_runs_trace_id() -> None:
    """A provider not made by configure_tracing: the trace id still is the run's."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    run = _run()
    export_check_run(provider, run, "kafka")
    spans = exporter.get_finished_spans()
    assert len(spans) == 4
    assert {trace.format_trace_id(s.context.trace_id) for s in spans} == {run.trace_id}


def test_no_endpoint_exports_nothing_and_never_raises(receiver: Receiver) -> None:
    assert configure_tracing(None, "covenant") is None
    assert configure_tracing("", "covenant") is None
    export_check_run(None, _run(), "kafka")
    shutdown_tracing(None)
    assert receiver.paths == []


def test_bad_runs_and_unreachable_collectors_never_raise(receiver: Receiver) -> None:
    provider = configure_tracing(receiver.url, "covenant", timeout_s=5)
    export_check_run(provider, _run(trace_id="not-a-trace-id"), "kafka")
    export_check_run(provider, _run(trace_id="0" * 32), "kafka")
    shutdown_tracing(provider)
    assert receiver.spans() == []

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = configure_tracing(
        f"http://127.0.0.1:{closed_port}/v1/traces", "covenant", timeout_s=1
    )
    began = time.monotonic()
    export_check_run(unreachable, _run(), "kafka")
    shutdown_tracing(unreachable, timeout_s=5)
    assert time.monotonic() - began < 10
