"""One run of a check: new run id, traffic out (HTTP steps in order), every
expectation polled at once.

Each expectation ends ``seen`` (with the seconds from send to first seen),
``not_seen`` (nothing within the deadline; the detail says whether the signal
turned up late or is missing) or ``error`` (Covenant could not ask). The
check ends ``pass`` (all seen), ``error`` (traffic could not be sent, or some
expectation could not be asked) or ``fail`` (something was not seen).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from covenant.kernel.tls import default_ssl_context
from schedules._http_traffic import JourneyResult, run_steps
from schedules._model import Check, Expectation
from schedules._probes import Engines, Probe, ProbeError, make_probe
from schedules._results import ExpectationResult, Outcome
from schedules._traffic import TrafficError, send_kafka, send_sql

__all__ = ["CheckRun", "ExpectationResult", "new_run_values", "run_check"]

Result = Literal["pass", "fail", "error"]

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
FIRST_DELAY_S = 0.1
MAX_DELAY_S = 2.0
BACKOFF = 1.5


@dataclass
class CheckRun:
    check: str
    run_id: str
    trace_id: str
    started_at: datetime
    finished_at: datetime | None = None
    result: Result = "error"
    error: str | None = None
    location: str | None = None
    scheduled_for: datetime | None = None
    #: When the traffic went out: latencies are measured from here.
    sent_at: datetime | None = None
    #: Which ``covenant serve`` ran it (None: ``covenant check run``).
    instance: str | None = None
    expectations: list[ExpectationResult] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        end = self.finished_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("started_at", "finished_at", "scheduled_for", "sent_at"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        data["duration_s"] = round(self.duration_s, 3)
        return data


def new_run_values(run_id: str | None = None, trace_id: str | None = None) -> dict[str, str]:
    """The template values of one run: ids, a W3C traceparent, a fresh event id, now.

    ``trace_id``: join a caller's trace (32 lowercase hex digits, not all zero, as W3C
    Trace Context requires) instead of starting a new one."""
    if trace_id is None:
        trace_id = secrets.token_hex(16)
    elif not _TRACE_ID.fullmatch(trace_id) or trace_id == "0" * 32:
        raise ValueError("a trace id is 32 lowercase hex digits, not all zero")
    return {
        "run_id": run_id or uuid.uuid4().hex,
        "trace_id": trace_id,
        "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
        "event_id": str(uuid.uuid4()),
        "now": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


async def _watch(
    probe: Probe,
    client: httpx.AsyncClient,
    sent_at: float,
    deadline_at: float,
    expectation: Expectation,
) -> ExpectationResult:
    result = ExpectationResult(expectation.name, expectation.kind, "not_seen")
    delay = FIRST_DELAY_S
    while True:
        result.polls += 1
        try:
            seen = await asyncio.wait_for(
                probe.poll(client), timeout=max(0.5, deadline_at - time.monotonic() + 0.5)
            )
        except ProbeError as exc:
            result.outcome, result.detail = "error", str(exc)
            return result
        except TimeoutError:
            seen = False
        if seen:
            result.outcome = "seen"
            result.latency_s = round(time.monotonic() - sent_at, 3)
            result.detail = probe.detail
            return result
        remaining = deadline_at - time.monotonic()
        if remaining <= 0:
            break
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * BACKOFF, MAX_DELAY_S)
    try:
        late = await probe.confirm_late(client)
    except ProbeError:
        late = False
    result.detail = (
        f"arrived late (after the {deadline_at - sent_at:.0f} s deadline)"
        if late
        else f"not seen within {deadline_at - sent_at:.0f} s"
    ) + (f"; last: {probe.detail}" if probe.detail else "")
    return result


async def run_check(
    check: Check,
    engines: Engines,
    *,
    run_id: str | None = None,
    trace_id: str | None = None,
    location: str | None = None,
    scheduled_for: datetime | None = None,
    instance: str | None = None,
    on_result: Callable[[ExpectationResult], None] | None = None,
    client: httpx.AsyncClient | None = None,
) -> CheckRun:
    """Run ``check`` once; never raises for what the engines do.

    ``client``: an HTTP client to share between runs (the scheduler's); building
    one per run (its TLS context) was most of a run's CPU. ``trace_id``: run inside
    a caller's trace (see :func:`new_run_values`)."""
    values = new_run_values(run_id, trace_id)
    run = CheckRun(
        check=check.name,
        run_id=values["run_id"],
        trace_id=values["trace_id"],
        started_at=datetime.now(UTC),
        location=location,
        scheduled_for=scheduled_for,
        instance=instance,
    )
    probes = [(e, make_probe(e, engines, values)) for e in check.expect]
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(
                httpx.AsyncClient(verify=default_ssl_context())
            )
        try:
            await asyncio.gather(*(p.prepare(client) for _, p in probes))
        except ProbeError as exc:
            return _ended(run, "error", f"before sending: {exc}", check, "could not prepare")
        sent_at = time.monotonic()
        run.sent_at = datetime.now(UTC)
        deadline_at = sent_at + check.deadline
        steps: list[ExpectationResult] = []
        if check.traffic.http_steps:
            journey = await run_steps(
                check.traffic.http_steps, engines, values, client, deadline_at, on_result
            )
            steps = journey.steps
            if journey.stopped_at is not None:
                return _stopped(run, journey, check, on_result)
            for _, probe in probes:
                probe.values.update(journey.captured)
        else:
            try:
                await _send(check, engines, values)
            except TrafficError as exc:
                return _ended(run, "error", str(exc), check, "traffic not sent")

        async def watch(expectation: Expectation, probe: Probe) -> ExpectationResult:
            found = await _watch(probe, client, sent_at, deadline_at, expectation)
            if on_result is not None:
                on_result(found)
            return found

        try:
            found = list(await asyncio.gather(*(watch(e, p) for e, p in probes)))
            run.expectations = steps + found
        finally:
            for _, probe in probes:
                with contextlib.suppress(Exception):
                    await probe.close()
    outcomes = {r.outcome for r in run.expectations}
    if "error" in outcomes:
        run.result = "error"
        run.error = "; ".join(
            f"{r.name}: {r.detail}" for r in run.expectations if r.outcome == "error"
        )
    elif "not_seen" in outcomes:
        run.result = "fail"
    else:
        run.result = "pass"
    run.finished_at = datetime.now(UTC)
    return run


async def _send(check: Check, engines: Engines, values: dict[str, str]) -> None:
    """Kafka or SQL traffic (``traffic: none`` sends nothing)."""
    kafka, sql = check.traffic.kafka, check.traffic.sql
    if kafka is not None:
        if not engines.kafka:
            raise TrafficError("Kafka is not configured (engines.kafka or the local stack)")
        await send_kafka(kafka, values, engines.kafka)
    elif sql is not None:
        url = engines.databases.get(sql.connection)
        if not url:
            raise TrafficError(f"no database connection named '{sql.connection}'")
        await send_sql(sql, values, url)


def _stopped(
    run: CheckRun,
    journey: JourneyResult,
    check: Check,
    on_result: Callable[[ExpectationResult], None] | None,
) -> CheckRun:
    """A step did not pass: the expectations are not polled (what they watch was
    never caused); an error step makes the run an error, a failed one a failure."""
    stopped = journey.stopped_at
    assert stopped is not None
    outcome: Outcome = "error" if stopped.outcome == "error" else "not_seen"
    why = f"not polled: step '{stopped.name}' did not pass"
    unpolled = [ExpectationResult(e.name, e.kind, outcome, detail=why) for e in check.expect]
    for result in unpolled:
        if on_result is not None:
            on_result(result)
    run.expectations = [*journey.steps, *unpolled]
    if outcome == "error":
        run.result, run.error = "error", f"{stopped.name}: {stopped.detail}"
    else:
        run.result = "fail"
    run.finished_at = datetime.now(UTC)
    return run


def _ended(run: CheckRun, result: Result, error: str, check: Check, why: str) -> CheckRun:
    run.result, run.error = result, error
    run.expectations = [
        ExpectationResult(e.name, e.kind, "error", detail=why) for e in check.expect
    ]
    run.finished_at = datetime.now(UTC)
    return run
