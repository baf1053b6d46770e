"""hono-api -> elixir-processor, written by hono-api's own processor client (Node)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pact import Pact, match

from contracts.consumers._hooks import hono_processor_client

CONSUMER, PROVIDER = "hono-api", "elixir-processor"
EVENT_ID = "6f1c2a4e-8b7d-4c1e-9f2a-3b5d7e9a1c20"
JOB_ID = "0d6f3c1a-2b4e-4f6a-8c9d-1e2f3a4b5c6d"
UNKNOWN_JOB = "00000000-0000-4000-8000-000000000404"
STATUS = r"^(queued|running|succeeded|failed)$"
JOB_STATE: dict[str, object] = {"id": JOB_ID, "event_id": EVENT_ID, "status": "queued"}


def new_pact() -> Pact:
    return Pact(CONSUMER, PROVIDER).with_specification("V4")


def problem(status: int, title: str) -> dict[str, Any]:
    return {
        "type": match.str("about:blank"),
        "title": match.str(title),
        "status": status,
        "detail": match.str("explanation"),
    }


def test_process_a_page(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a request to process an event page")
        .given("the extractor is available")
        .with_request("POST", "/api/process")
        .with_body(
            {"event_id": match.uuid(EVENT_ID), "url": match.str("https://lu.ma/pact-summit")},
            content_type="application/json",
        )
        .will_respond_with(202)
        .with_body(
            {"job_id": match.uuid(JOB_ID), "status": "queued"},
            content_type="application/json",
        )
    )
    with pact.serve() as server:
        answer = hono_processor_client(
            str(server.url),
            "process",
            body=json.dumps({"event_id": EVENT_ID, "url": "https://lu.ma/pact-summit"}),
        )
    assert answer.status == 202
    assert answer.body["status"] == "queued"
    pact.write_file(pact_dir, overwrite=False)


def test_job_status(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a request for a job's status")
        .given(
            "a job with id {id} exists", {"id": JOB_ID, "event_id": EVENT_ID, "status": "queued"}
        )
        .with_request("GET", f"/api/jobs/{JOB_ID}")
        .will_respond_with(200)
        .with_body(
            {
                "job_id": match.uuid(JOB_ID),
                "event_id": match.uuid(EVENT_ID),
                "status": match.regex("queued", regex=STATUS),
            },
            content_type="application/json",
        )
    )
    with pact.serve() as server:
        answer = hono_processor_client(str(server.url), "job", id=JOB_ID)
    assert answer.status == 200
    assert answer.body["job_id"] == JOB_ID
    pact.write_file(pact_dir, overwrite=False)


def test_unknown_job_is_404(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a request for a job that does not exist")
        .given("no job with id {id} exists", {"id": UNKNOWN_JOB})
        .with_request("GET", f"/api/jobs/{UNKNOWN_JOB}")
        .will_respond_with(404)
        .with_body(problem(404, "Not Found"), content_type="application/problem+json")
    )
    with pact.serve() as server:
        answer = hono_processor_client(str(server.url), "job", id=UNKNOWN_JOB)
    assert answer.status == 404
    pact.write_file(pact_dir, overwrite=False)


def test_processor_health(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a health check")
        .given("the extractor is available")
        .with_request("GET", "/health")
        .will_respond_with(200)
        .with_body({"status": "ok"}, content_type="application/json")
    )
    with pact.serve() as server:
        answer = hono_processor_client(str(server.url), "health")
    assert answer.status == 200 and answer.body["status"] == "ok"
    pact.write_file(pact_dir, overwrite=False)
