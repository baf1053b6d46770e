"""HTTP steps of a check: the file's rules (with file, line and key) and the runner,
against a small in-process service (every request goes through httpx's ASGI transport)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from covenant.kernel.endpoints import Credentials
from schedules import Check, Engines, load_file, new_run_values, run_check
from schedules._http_traffic import MAX_ANSWER_BYTES, run_steps

TOKEN = "s3cret-token-value"


class Service:
    """A tiny API: POST /items creates an item whose state turns ``ready`` on the
    third read; every request is recorded with its headers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.reads: dict[str, int] = {}

        async def create(request: Request) -> Response:
            body = await request.body()
            self._record(request, body)
            name = json.loads(body)["name"]
            return JSONResponse({"id": f"item-{name}", "count": 3}, status_code=201)

        async def read(request: Request) -> Response:
            self._record(request, b"")
            item = request.path_params["item"]
            self.reads[item] = self.reads.get(item, 0) + 1
            state = "ready" if self.reads[item] >= 3 else "pending"
            return JSONResponse({"id": item, "state": state, "tags": ["a", "b"]})

        async def secret(request: Request) -> Response:
            self._record(request, b"")
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"message": "Unauthorized"}, status_code=401)
            return JSONResponse({"ok": True})

        async def slow(request: Request) -> Response:
            await asyncio.sleep(0.3)
            return JSONResponse({"ok": True})

        async def huge(request: Request) -> Response:
            return Response(b"x" * (MAX_ANSWER_BYTES + 10), media_type="text/plain")

        async def text(request: Request) -> Response:
            return Response("plain words", media_type="text/plain")

        self.app = Starlette(
            routes=[
                Route("/items", create, methods=["POST"]),
                Route("/items/{item}", read),
                Route("/secret", secret),
                Route("/slow", slow),
                Route("/huge", huge),
                Route("/text", text),
            ]
        )

    def _record(self, request: Request, body: bytes) -> None:
        self.requests.append((request.method, request.url.path, dict(request.headers), body))


@pytest.fixture
def service() -> Service:
    return Service()


def engines(**credentials: Credentials) -> Engines:
    return Engines(services={"svc": "http://svc.test"}, credentials=credentials)


def check_of(text: str) -> Check:
    return Check.model_validate(yaml.safe_load(text))


def steps_of(check: Check) -> Any:
    return check.traffic.http_steps


async def drive(service: Service, check: Check, **credentials: Credentials) -> Any:
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport) as client:
        return await run_steps(
            steps_of(check), engines(**credentials), new_run_values(), client, time.monotonic() + 10
        )


JOURNEY = """
name: journey
deadline: 10s
traffic:
  steps:
    - name: create
      method: POST
      service: svc
      path: /items
      json: {name: "{{ run_id }}"}
      capture: {itemId: $.id, count: $.count}
      assert: {status: 201}
    - name: ready
      service: svc
      path: /items/{{ itemId }}
      retry: {attempts: 10, interval: 50ms}
      assert:
        body:
          - {path: $.state, equals: ready}
          - {path: $.id, equals: "{{ itemId }}"}
          - {path: "$.tags[1]", matches: "^b$"}
          - {path: $.missing, exists: false}
expect:
  - name: logged
    loki: {selector: '{app="svc"}', contains: "{{ itemId }}"}
"""


def test_captures_feed_later_steps_and_polling_waits_for_the_assertion(service: Service) -> None:
    journey = asyncio.run(drive(service, check_of(JOURNEY)))
    assert [(s.name, s.outcome) for s in journey.steps] == [("create", "seen"), ("ready", "seen")]
    item = journey.captured["itemId"]
    assert item.startswith("item-") and journey.captured["count"] == "3"
    ready = journey.steps[1]
    assert ready.polls == 3 and "after 3 attempts" in ready.detail
    assert ready.latency_s is not None and ready.latency_s >= 0.1  # two 50 ms pauses
    paths = [path for _, path, _, _ in service.requests]
    assert paths == ["/items", f"/items/{item}", f"/items/{item}", f"/items/{item}"]
    method, _, headers, body = service.requests[0]
    assert method == "POST" and headers["content-type"] == "application/json"
    assert json.loads(body)["name"] == item.removeprefix("item-")
    # Every request carries the run's trace and run id.
    assert all(h["traceparent"].startswith("00-") for _, _, h, _ in service.requests)
    assert all(h["covenant-run-id"] for _, _, h, _ in service.requests)


def test_a_failed_assertion_stops_the_journey_and_says_what_was_wrong(service: Service) -> None:
    check = check_of(JOURNEY.replace("equals: ready", "equals: done").replace("10,", "3,"))
    journey = asyncio.run(drive(service, check))
    assert [(s.name, s.outcome) for s in journey.steps] == [
        ("create", "seen"),
        ("ready", "not_seen"),
    ]
    assert journey.stopped_at is journey.steps[1]
    assert '$.state is "ready", expected "done"' in journey.steps[1].detail
    assert journey.steps[1].latency_s is None


def test_later_steps_are_not_sent_after_a_failure(service: Service) -> None:
    check = check_of(JOURNEY.replace("assert: {status: 201}", "assert: {status: 200}"))
    journey = asyncio.run(drive(service, check))
    assert [(s.name, s.outcome) for s in journey.steps] == [
        ("create", "not_seen"),
        ("ready", "not_seen"),
    ]
    assert "HTTP 201, expected 200" in journey.steps[0].detail
    assert journey.steps[1].detail == "not sent: step 'create' did not pass"
    assert len(service.requests) == 1


ONE = """
name: one
traffic:
  http: {service: svc, path: PATH, credentials: CREDS}
expect:
  - {name: a, alert: {name: X}}
"""


def one(path: str, credentials: str = "null", **assertion: Any) -> Check:
    data = yaml.safe_load(ONE.replace("PATH", path).replace("CREDS", credentials))
    if assertion:
        data["traffic"]["http"]["assert"] = assertion
    return Check.model_validate(data)


def test_credentials_are_sent_by_name_and_a_refusal_names_the_kind_not_the_value(
    service: Service,
) -> None:
    good = asyncio.run(drive(service, one("/secret", "api"), api=Credentials(token=TOKEN)))
    assert good.steps[0].outcome == "seen"
    refused = asyncio.run(drive(service, one("/secret", "api"), api=Credentials(token="wrong")))
    step = refused.steps[0]
    assert step.outcome == "error"
    assert step.detail == "svc refused the request (HTTP 401) with bearer token"
    assert "wrong" not in step.detail
    unknown = asyncio.run(drive(service, one("/secret", "nope")))
    assert unknown.steps[0].outcome == "error"
    assert "no credentials named 'nope'" in unknown.steps[0].detail


def test_latency_ceiling_oversized_and_non_json_answers_fail_with_a_reason(
    service: Service,
) -> None:
    slow = asyncio.run(drive(service, one("/slow", max_latency="100ms"))).steps[0]
    assert slow.outcome == "not_seen" and "more than 0.1 s" in slow.detail
    huge = asyncio.run(drive(service, one("/huge"))).steps[0]
    assert huge.outcome == "not_seen" and "larger than 10 MiB" in huge.detail
    text = asyncio.run(drive(service, one("/text", body=[{"path": "$.a", "exists": True}])))
    assert text.steps[0].outcome == "not_seen" and "not JSON" in text.steps[0].detail


def test_unknown_service_and_unreachable_service_are_errors() -> None:
    check = one("/x")
    unknown = Check.model_validate(
        {
            **check.model_dump(by_alias=True, exclude_unset=True),
            "traffic": {"http": {"service": "other", "path": "/x"}},
        }
    )

    async def go(target: Check, services: dict[str, str]) -> Any:
        async with httpx.AsyncClient() as client:
            return await run_steps(
                target.traffic.http_steps,
                Engines(services=services),
                new_run_values(),
                client,
                time.monotonic() + 5,
            )

    missing = asyncio.run(go(unknown, {"svc": "http://127.0.0.1:9"})).steps[0]
    assert missing.outcome == "error" and "no service named 'other'" in missing.detail
    # Port 9 (discard) on loopback: nothing listens there.
    down = asyncio.run(go(check, {"svc": "http://127.0.0.1:9"})).steps[0]
    assert down.outcome == "error" and down.detail.startswith("svc is unreachable")


def test_a_journey_that_stops_leaves_the_expectations_unpolled(service: Service) -> None:
    check = check_of(JOURNEY.replace("assert: {status: 201}", "assert: {status: 200}"))

    async def go() -> Any:
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport) as client:
            return await run_check(check, engines(), client=client)

    run = asyncio.run(go())
    assert run.result == "fail"
    assert [(e.kind, e.name, e.outcome) for e in run.expectations] == [
        ("http", "create", "not_seen"),
        ("http", "ready", "not_seen"),
        ("loki", "logged", "not_seen"),
    ]
    assert run.expectations[2].detail == "not polled: step 'create' did not pass"


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (
            {"path": "/items/{{ nope }}"},
            "traffic.steps[1].path",
            "unknown template name(s) nope",
        ),
        ({"method": "GET", "json": {"a": 1}}, "traffic.steps[1].method", "has no body"),
        ({"url": "http://x.test/a"}, "traffic.steps[1].url", "not both"),
        ({"headers": {"traceparent": "x"}}, "traffic.steps[1].headers", "set by Covenant"),
        ({"capture": {"x": "$[?"}}, "traffic.steps[1].capture", "not a JSONPath"),
        ({"name": "create"}, "traffic.steps[1].name", "used twice"),
        ({"retry": {"attempts": 1}}, "traffic.steps[1].retry.attempts", "2"),
    ],
)
def test_step_mistakes_are_named_with_file_line_and_key(
    tmp_path: Path, change: dict[str, Any], where: str, message: str
) -> None:
    data = yaml.safe_load(JOURNEY)
    data["traffic"]["steps"][1].update(change)
    path = tmp_path / "check.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    _, problems = load_file(path)
    assert len(problems) == 1, problems
    prefix = f"{path}:"
    assert problems[0].startswith(prefix), problems
    line, key_path, _ = problems[0].removeprefix(prefix).split(": ", 2)
    assert key_path == where and message in problems[0], problems
    # The line named is the one of the key blamed.
    text = path.read_text(encoding="utf-8").splitlines()[int(line) - 1]
    assert where.rsplit(".", 1)[-1] + ":" in text, (line, text)


def test_expectations_may_use_captures_but_not_unknown_names(tmp_path: Path) -> None:
    data = yaml.safe_load(JOURNEY)
    data["expect"].append({"name": "row", "sql": {"query": "SELECT %(itemId)s, %(other)s"}})
    path = tmp_path / "check.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    _, problems = load_file(path)
    assert len(problems) == 1 and "expect[1].sql.query" in problems[0], problems
    assert "unknown parameter name(s) other" in problems[0]


def test_traffic_none_watches_only_and_one_kind_of_traffic_is_required() -> None:
    watch = check_of("name: w\ntraffic: none\nexpect: [{name: a, alert: {name: X}}]")
    assert watch.traffic.step.kind == "none" and watch.traffic.http_steps == ()
    with pytest.raises(ValueError, match="exactly one of kafka, sql, http, steps or none"):
        check_of(
            "name: w\ntraffic: {none: true, http: {url: 'http://x.test/'}}\n"
            "expect: [{name: a, alert: {name: X}}]"
        )


def test_a_run_may_join_a_callers_trace() -> None:
    values = new_run_values("r1", "4bf92f3577b34da6a3ce929d0e0e4736")
    assert values["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert values["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    for bad in ("0" * 32, "ABC", "4BF92F3577B34DA6A3CE929D0E0E4736"):
        with pytest.raises(ValueError, match="32 lowercase hex"):
            new_run_values("r1", bad)
