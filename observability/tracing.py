"""Each synthetic check run as one OpenTelemetry trace, exported over OTLP/HTTP.

The run's traffic carries a W3C ``traceparent`` whose trace id is
``CheckRun.trace_id``. The trace exported here uses that same trace id, so a
tracing backend shows Covenant's view of the run (send, then each expected
signal and how long it took) in the same trace as the spans the services under
test recorded while handling the traffic.

The spans are built after the run, from its recorded times: every span gets an
explicit start and end, and nothing here depends on the clock at export time.
Tracing is optional and never fails a run: with no endpoint nothing is set up,
and an export that goes wrong is logged, not raised.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

if TYPE_CHECKING:
    # Type only: the scheduler is told of runs through ``schedules.RunListener``
    # (:class:`RunTracing`); importing the checks at runtime is not needed here.
    from schedules import CheckRun, ExpectationResult

__all__ = ["RunTracing", "configure_tracing", "export_check_run", "shutdown_tracing"]

_log = logging.getLogger(__name__)

#: The instrumentation scope of the exported spans.
TRACER_NAME = "covenant.schedules"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SEND_KINDS = {"kafka": SpanKind.PRODUCER, "sql": SpanKind.CLIENT, "http": SpanKind.CLIENT}

#: The trace id the next root span must take, while one run is being exported.
_run_trace_id: ContextVar[int | None] = ContextVar("covenant_run_trace_id", default=None)


class _RunTraceIds(RandomIdGenerator):
    """Random ids, except that a run's root span takes the run's own trace id.

    The SDK draws a root span's trace id from the provider's id generator and
    offers no other way to choose it; a context variable (safe across threads
    and tasks) tells this generator which id the run being exported needs.
    """

    def generate_trace_id(self) -> int:
        forced = _run_trace_id.get()
        return forced if forced is not None else super().generate_trace_id()


def configure_tracing(
    endpoint: str | None, service_name: str, *, timeout_s: float = 10.0
) -> TracerProvider | None:
    """A tracer provider exporting to the OTLP/HTTP traces URL ``endpoint``.

    ``None`` when ``endpoint`` is ``None`` (or empty): tracing is off and
    ``export_check_run`` does nothing. Spans are batched and sent by a
    background thread; ``timeout_s`` bounds each export, retries included.
    The provider is not made the global one: callers pass it around.
    """
    if not endpoint:
        return None
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: service_name}),
        id_generator=_RunTraceIds(),
    )
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=timeout_s))
    )
    return provider


def shutdown_tracing(provider: TracerProvider | None, *, timeout_s: float = 10.0) -> None:
    """Send what is still batched, then stop the exporter; never raises."""
    if provider is None:
        return
    try:
        if not provider.force_flush(timeout_millis=int(timeout_s * 1000)):
            _log.warning("traces: not every span was exported within %.0f s", timeout_s)
        provider.shutdown()
    except Exception:
        _log.warning("traces: shutting the exporter down failed", exc_info=True)


def export_check_run(provider: TracerProvider | None, run: CheckRun, traffic_kind: str) -> None:
    """Record ``run`` as one trace with trace id ``run.trace_id``; never raises.

    Spans: ``check <name>`` (the root, start to finish), ``send <traffic_kind>``
    (start until the traffic went out) and one ``expect <kind>:<name>`` per
    expectation (from the send until first seen, or until the run ended when the
    signal was not seen, with status ERROR).
    """
    if provider is None:
        return
    try:
        _export(provider, run, traffic_kind)
    except Exception:
        _log.warning(
            "traces: could not export run %s of check %s", run.run_id, run.check, exc_info=True
        )


class RunTracing:
    """A ``schedules.RunListener``: each finished run exported as one trace with
    :func:`export_check_run` (nothing when ``provider`` is ``None``)."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider

    def run_finished(self, run: CheckRun, traffic_kind: str) -> None:
        export_check_run(self.provider, run, traffic_kind)


def _ns(moment: datetime) -> int:
    """Nanoseconds since the epoch, exact to the microsecond (no float rounding)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1_000


def _trace_id(run: CheckRun) -> int:
    text = run.trace_id
    if len(text) != 32 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(f"trace id {text!r} is not 32 hex digits")
    value = int(text, 16)
    if value == 0:
        raise ValueError("trace id is all zeros")
    return value


def _root_context(provider: TracerProvider, trace_id: int) -> Context:
    """The context to start the root span in: empty, so no active span adopts it.

    A provider not made by ``configure_tracing`` draws random trace ids; the run's
    trace id is then carried by a remote parent (which is never exported).
    """
    if isinstance(provider.id_generator, _RunTraceIds):
        return Context()
    parent = SpanContext(
        trace_id=trace_id,
        span_id=RandomIdGenerator().generate_span_id(),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(parent), Context())


def _traffic_failed(run: CheckRun) -> bool:
    """Sent, yet no expectation was ever polled: the send itself failed."""
    return (
        run.sent_at is not None
        and run.result == "error"
        and all(e.polls == 0 for e in run.expectations)
    )


def _expectation_attributes(run: CheckRun, found: ExpectationResult) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "covenant.check": run.check,
        "covenant.run_id": run.run_id,
        "covenant.signal": f"{found.kind}:{found.name}",
        "covenant.expectation.outcome": found.outcome,
        "covenant.expectation.detail": found.detail,
        "covenant.expectation.polls": found.polls,
    }
    if found.latency_s is not None:
        attributes["covenant.expectation.latency_s"] = found.latency_s
    return attributes


def _export(provider: TracerProvider, run: CheckRun, traffic_kind: str) -> None:
    trace_id = _trace_id(run)
    tracer = provider.get_tracer(TRACER_NAME)
    start = _ns(run.started_at)
    end = max(start, _ns(run.finished_at or datetime.now(UTC)))
    sent = min(max(start, _ns(run.sent_at)), end) if run.sent_at is not None else None

    attributes: dict[str, AttributeValue] = {
        "covenant.check": run.check,
        "covenant.run_id": run.run_id,
        "covenant.result": run.result,
        "covenant.traffic": traffic_kind,
    }
    if run.location is not None:
        attributes["covenant.location"] = run.location
    if run.instance is not None:
        attributes["covenant.instance"] = run.instance
    if run.scheduled_for is not None:
        attributes["covenant.scheduled_for"] = run.scheduled_for.isoformat()
    if run.error:
        attributes["covenant.error"] = run.error

    token = _run_trace_id.set(trace_id)
    try:
        root = tracer.start_span(
            f"check {run.check}",
            context=_root_context(provider, trace_id),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=start,
        )
    finally:
        _run_trace_id.reset(token)
    in_root = trace.set_span_in_context(root, Context())

    if sent is not None:
        send = tracer.start_span(
            f"send {traffic_kind}",
            context=in_root,
            kind=_SEND_KINDS.get(traffic_kind, SpanKind.INTERNAL),
            attributes={
                "covenant.check": run.check,
                "covenant.run_id": run.run_id,
                "covenant.traffic": traffic_kind,
            },
            start_time=start,
        )
        if _traffic_failed(run):
            send.set_status(Status(StatusCode.ERROR, run.error or "traffic not sent"))
        send.end(end_time=sent)

    expect_start = sent if sent is not None else start
    for found in run.expectations:
        if found.outcome == "seen" and found.latency_s is not None:
            found_end = expect_start + round(max(found.latency_s, 0.0) * 1e9)
        else:
            found_end = end
        span = tracer.start_span(
            f"expect {found.kind}:{found.name}",
            context=in_root,
            kind=SpanKind.INTERNAL,
            attributes=_expectation_attributes(run, found),
            start_time=expect_start,
        )
        if found.outcome != "seen":
            span.set_status(Status(StatusCode.ERROR, f"{found.outcome}: {found.detail}"))
        span.end(end_time=max(expect_start, min(found_end, end)))

    if run.result != "pass":
        not_seen = sum(1 for e in run.expectations if e.outcome != "seen")
        root.set_status(
            Status(StatusCode.ERROR, run.error or f"{run.result}: {not_seen} signal(s) not seen")
        )
    root.end(end_time=end)
