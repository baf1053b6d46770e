"""Send a check's HTTP steps in order: render, send with credentials and the run's
trace headers, poll when the step says so, assert, capture for the later steps.

Each step ends as an :class:`ExpectationResult` of kind ``http`` (so it is stored,
exported and shown like a signal): ``seen`` when its assertion held (latency: from
the step's first request to the answer that held), ``not_seen`` when it did not
(status, latency or body, with what was wrong), ``error`` when Covenant could not
ask (unknown service, unreachable, refused credentials). A step that does not pass
stops the journey: the steps after it are not sent.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from covenant.kernel.endpoints import Credentials
from schedules._base import render
from schedules._http_model import BodyCondition, HttpStep, StepAssert, compile_jsonpath
from schedules._probes import Engines
from schedules._results import ExpectationResult

__all__ = ["JourneyResult", "run_steps"]

#: Largest answer a step reads (a hostile or broken service must not exhaust memory).
MAX_ANSWER_BYTES = 10 * 1024 * 1024
RUN_ID_HEADER = "covenant-run-id"


@dataclass
class JourneyResult:
    steps: list[ExpectationResult] = field(default_factory=list)
    #: every value the steps captured (``{{ name }}`` for later steps and expectations)
    captured: dict[str, str] = field(default_factory=dict)
    #: the first step that did not pass, or None
    stopped_at: ExpectationResult | None = None


@dataclass
class _Answer:
    status: int
    elapsed_s: float
    body: bytes
    too_large: bool = False
    _json: Any = None
    _parsed: bool = False

    def json(self) -> Any:
        """The body as JSON; raise ValueError when it is not."""
        if not self._parsed:
            self._json = json.loads(self.body)
            self._parsed = True
        return self._json


class _StepError(Exception):
    """Covenant could not ask: the step ends ``error``."""


def _render_json(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return render(value, dict(values))
    if isinstance(value, dict):
        return {render(str(k), dict(values)): _render_json(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render_json(item, values) for item in value]
    return value


def _target(step: HttpStep, engines: Engines, values: Mapping[str, str]) -> tuple[str, str]:
    """The URL to call and the name to blame in messages (service or host)."""
    if step.url is not None:
        url = render(step.url, dict(values))
        return url, httpx.URL(url).host or url
    assert step.service is not None and step.path is not None
    base = engines.services.get(step.service)
    if not base:
        known = ", ".join(sorted(engines.services)) or "none"
        raise _StepError(
            f"no service named '{step.service}' (checks.services or the local stack; known: "
            f"{known})"
        )
    return base.rstrip("/") + render(step.path, dict(values)), step.service


def _credentials(step: HttpStep, engines: Engines) -> Credentials:
    if step.credentials is None:
        return Credentials()
    found = engines.credentials.get(step.credentials)
    if found is None:
        known = ", ".join(sorted(engines.credentials)) or "none"
        raise _StepError(
            f"no credentials named '{step.credentials}' in checks.credentials (known: {known})"
        )
    return found


async def _send_once(
    client: httpx.AsyncClient,
    step: HttpStep,
    url: str,
    headers: dict[str, str],
    values: Mapping[str, str],
    timeout_s: float,
    who: str,
    credentials: Credentials,
) -> _Answer:
    content: bytes | None = None
    if step.has_json:
        content = json.dumps(_render_json(step.json_body, values)).encode()
        headers = {"content-type": "application/json", **headers}
    elif step.body is not None:
        content = render(step.body, dict(values)).encode()
    started = time.monotonic()
    try:
        async with client.stream(
            step.method, url, content=content, headers=headers, timeout=timeout_s
        ) as response:
            chunks: list[bytes] = []
            size = 0
            too_large = False
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    too_large = True
                    break
                chunks.append(chunk)
            elapsed = time.monotonic() - started
    except httpx.TimeoutException:
        raise _StepError(f"{who} did not answer within {timeout_s:.3g} s") from None
    except httpx.HTTPError as exc:
        raise _StepError(f"{who} is unreachable: {type(exc).__name__}") from None
    if response.status_code in (401, 403):
        raise _StepError(
            f"{who} refused the request (HTTP {response.status_code}) with {credentials.describe()}"
        )
    return _Answer(response.status_code, elapsed, b"".join(chunks), too_large)


def _condition_problem(
    condition: BodyCondition, answer: _Answer, values: Mapping[str, str]
) -> str | None:
    try:
        document = answer.json()
    except ValueError:
        return "the answer is not JSON"
    found = [match.value for match in compile_jsonpath(condition.path).find(document)]
    if condition.exists is not None:
        if bool(found) != condition.exists:
            return f"{condition.path} {'is missing' if condition.exists else 'exists'}"
        return None
    if not found:
        return f"{condition.path} matched nothing"
    if condition.matches is not None:
        pattern = re.compile(condition.matches)
        texts = [v if isinstance(v, str) else json.dumps(v) for v in found]
        if not any(pattern.search(text) for text in texts):
            return f"{condition.path} is {_short(found[0])}, not matching /{condition.matches}/"
        return None
    expected = _render_json(condition.equals, values)
    if expected not in found:
        return f"{condition.path} is {_short(found[0])}, expected {_short(expected)}"
    return None


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _problems(rule: StepAssert, answer: _Answer, values: Mapping[str, str]) -> list[str]:
    """What about ``answer`` breaks ``rule`` (empty: it holds)."""
    if answer.too_large:
        return [f"the answer is larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB"]
    problems = []
    codes = rule.codes
    if codes is None and not 200 <= answer.status < 300:
        problems.append(f"HTTP {answer.status}, expected 2xx")
    elif codes is not None and answer.status not in codes:
        wanted = " or ".join(str(c) for c in codes)
        problems.append(f"HTTP {answer.status}, expected {wanted}")
    if rule.max_latency is not None and answer.elapsed_s > rule.max_latency:
        problems.append(f"took {answer.elapsed_s:.3f} s, more than {rule.max_latency:g} s")
    for condition in rule.body:
        problem = _condition_problem(condition, answer, values)
        if problem:
            problems.append(problem)
    return problems


def _captures(step: HttpStep, answer: _Answer) -> tuple[dict[str, str], list[str]]:
    captured: dict[str, str] = {}
    problems: list[str] = []
    if not step.capture:
        return captured, problems
    try:
        document = answer.json()
    except ValueError:
        return captured, ["cannot capture: the answer is not JSON"]
    for name, path in step.capture.items():
        found = compile_jsonpath(path).find(document)
        if not found:
            problems.append(f"capture {name}: {path} matched nothing")
            continue
        value = found[0].value
        captured[name] = value if isinstance(value, str) else json.dumps(value)
    return captured, problems


async def _run_step(
    client: httpx.AsyncClient,
    step: HttpStep,
    engines: Engines,
    values: dict[str, str],
    deadline_at: float,
) -> tuple[ExpectationResult, dict[str, str]]:
    result = ExpectationResult(step.name, "http", "not_seen")
    started = time.monotonic()
    try:
        url, who = _target(step, engines, values)
        credentials = _credentials(step, engines)
        headers = {render(k, values): render(v, values) for k, v in step.headers.items()}
        headers.update(credentials.http_headers())
        headers.update({"traceparent": values["traceparent"], RUN_ID_HEADER: values["run_id"]})
        attempts = step.retry.attempts if step.retry is not None else 1
        while True:
            remaining = deadline_at - time.monotonic()
            if remaining <= 0:
                result.detail = "the check's deadline passed before the step was answered"
                return result, {}
            result.polls += 1
            answer = await _send_once(
                client, step, url, headers, values, min(step.timeout, remaining), who, credentials
            )
            waiting = _problems(step.until, answer, values)
            if not waiting or result.polls >= attempts:
                break
            assert step.retry is not None
            pause = min(step.retry.interval, deadline_at - time.monotonic())
            if pause <= 0:
                break
            await asyncio.sleep(pause)
    except _StepError as exc:
        result.outcome, result.detail = "error", str(exc)
        return result, {}
    problems = _problems(step.expect_, answer, values)
    captured, capture_problems = _captures(step, answer) if not problems else ({}, [])
    problems += capture_problems
    tries = f" after {result.polls} attempts" if result.polls > 1 else ""
    summary = f"{step.method} {who}: HTTP {answer.status} in {answer.elapsed_s:.3f} s{tries}"
    if problems:
        result.detail = f"{summary}; " + "; ".join(problems)
        return result, {}
    result.outcome = "seen"
    result.latency_s = round(time.monotonic() - started, 3)
    result.detail = summary + (f"; captured {', '.join(captured)}" if captured else "")
    return result, captured


async def run_steps(
    steps: tuple[HttpStep, ...],
    engines: Engines,
    values: Mapping[str, str],
    client: httpx.AsyncClient,
    deadline_at: float,
    on_result: Callable[[ExpectationResult], None] | None = None,
) -> JourneyResult:
    """Send ``steps`` in order until one does not pass; never raises for what a
    service does."""
    journey = JourneyResult()
    current = dict(values)
    for index, step in enumerate(steps):
        result, captured = await _run_step(client, step, engines, current, deadline_at)
        journey.steps.append(result)
        if on_result is not None:
            on_result(result)
        if result.outcome != "seen":
            journey.stopped_at = result
            for skipped in steps[index + 1 :]:
                left = ExpectationResult(
                    skipped.name,
                    "http",
                    "not_seen",
                    detail=f"not sent: step '{step.name}' did not pass",
                )
                journey.steps.append(left)
                if on_result is not None:
                    on_result(left)
            break
        current.update(captured)
        journey.captured.update(captured)
    return journey
