"""web-client -> hono-api: the calls the web front end makes, driven through its client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pact import Pact, match

from contracts.consumers.web_client import ApiProblem, EventsClient

CONSUMER, PROVIDER = "web-client", "hono-api"
EVENT_ID = "6f1c2a4e-8b7d-4c1e-9f2a-3b5d7e9a1c20"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000404"
RFC3339 = "yyyy-MM-dd'T'HH:mm:ss.SSSX"

EVENT_STATE: dict[str, object] = {"id": EVENT_ID, "title": "Pact Summit", "city": "Berlin"}
#: A second event in the same city, so "similar" has something to return.
SIMILAR_STATE: dict[str, object] = {
    "id": "7a2d3b5f-9c8e-4d2f-8a3b-4c6e8f0b2d31",
    "title": "Contract Testing Night",
    "city": "Berlin",
}


def summary() -> dict[str, Any]:
    """An event in a list. Only what every event has: ``startsAt`` and ``city`` may
    be null (API.md), and a list may hold any event, so the client reads them
    optionally and the contract does not pin them here (Pact has no "string or
    null" matcher). The detail interaction pins them for a seeded event."""
    return {"id": match.uuid(EVENT_ID), "title": match.str("Pact Summit")}


def detail_fields() -> dict[str, Any]:
    return {
        **summary(),
        "startsAt": match.datetime("2026-12-01T18:00:00.000Z", RFC3339, disable_conversion=True),
        "city": match.str("Berlin"),
    }


def problem(status: int) -> dict[str, Any]:
    return {
        "type": match.str("about:blank"),
        "title": match.str("Not Found" if status == 404 else "Bad Request"),
        "status": status,
        "detail": match.str("explanation"),
    }


def new_pact() -> Pact:
    return Pact(CONSUMER, PROVIDER).with_specification("V4")


def test_list_events(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a request for the first page of events")
        .given("events exist")
        .with_request("GET", "/api/events")
        .with_query_parameter("page", "1")
        .with_query_parameter("pageSize", "20")
        .will_respond_with(200)
        .with_body(
            {
                "items": match.each_like(summary()),
                "page": match.int(1),
                "pageSize": match.int(20),
                "total": match.int(3),
            },
            content_type="application/json",
        )
    )
    with pact.serve() as server:
        page = EventsClient(str(server.url)).list_events(page=1, page_size=20)
    assert page.page == 1 and page.page_size == 20
    assert page.items[0].title == "Pact Summit"
    pact.write_file(pact_dir, overwrite=False)


def test_get_event_with_speakers_and_companies(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a request for an event by id")
        .given("an event with id {id} exists", EVENT_STATE)
        .with_request("GET", f"/api/events/{EVENT_ID}")
        .will_respond_with(200)
        .with_body(
            {
                **detail_fields(),
                "sourceUrl": match.regex("https://lu.ma/pact-summit", regex=r"^https?://.+"),
                "qualityScore": match.number(0.8),
                "speakers": match.each_like(
                    {"name": match.str("Ada Lovelace"), "company": match.str("Analytical")}
                ),
                "companies": match.each_like({"name": match.str("Analytical")}),
            },
            content_type="application/json",
        )
    )
    with pact.serve() as server:
        event = EventsClient(str(server.url)).get_event(EVENT_ID)
    assert event.summary.id == EVENT_ID
    assert event.speakers[0].name == "Ada Lovelace"
    assert event.companies == ("Analytical",)
    pact.write_file(pact_dir, overwrite=False)


def test_unknown_event_is_404(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a request for an event that does not exist")
        .given("no event with id {id} exists", {"id": UNKNOWN_ID})
        .with_request("GET", f"/api/events/{UNKNOWN_ID}")
        .will_respond_with(404)
        .with_body(problem(404), content_type="application/problem+json")
    )
    with pact.serve() as server, pytest.raises(ApiProblem) as raised:
        EventsClient(str(server.url)).get_event(UNKNOWN_ID)
    assert raised.value.status == 404
    pact.write_file(pact_dir, overwrite=False)


def test_search_events(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a search for events in Berlin")
        .given("an event with id {id} exists", EVENT_STATE)
        .with_request("GET", "/api/events/search")
        .with_query_parameter("q", "Berlin")
        .will_respond_with(200)
        .with_body(
            {"items": match.each_like(summary()), "query": "Berlin"},
            content_type="application/json",
        )
    )
    with pact.serve() as server:
        found = EventsClient(str(server.url)).search("Berlin")
    assert found[0].title == "Pact Summit"
    pact.write_file(pact_dir, overwrite=False)


def test_search_without_query_is_400(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a search without a query")
        .with_request("GET", "/api/events/search")
        .will_respond_with(400)
        .with_body(problem(400), content_type="application/problem+json")
    )
    with pact.serve() as server, pytest.raises(ApiProblem) as raised:
        EventsClient(str(server.url)).search(None)
    assert raised.value.status == 400
    pact.write_file(pact_dir, overwrite=False)


def test_similar_events(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a request for events similar to an event")
        .given("an event with id {id} exists", EVENT_STATE)
        .given("an event with id {id} exists", SIMILAR_STATE)
        .with_request("GET", f"/api/events/{EVENT_ID}/similar")
        .will_respond_with(200)
        .with_body({"items": match.each_like(summary())}, content_type="application/json")
    )
    with pact.serve() as server:
        similar = EventsClient(str(server.url)).similar(EVENT_ID)
    assert similar[0].id == EVENT_ID
    pact.write_file(pact_dir, overwrite=False)


def test_scrape_a_luma_page(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a request to scrape a Luma event page")
        .given("the processor is available")
        .with_request("POST", "/api/scrape/luma")
        .with_body({"url": "https://lu.ma/pact-summit"}, content_type="application/json")
        .will_respond_with(202)
        .with_body(
            {
                "eventId": match.uuid(EVENT_ID),
                "jobId": match.uuid("0d6f3c1a-2b4e-4f6a-8c9d-1e2f3a4b5c6d"),
                "status": match.regex("queued", regex=r"^(queued|running|succeeded|failed)$"),
            },
            content_type="application/json",
        )
    )
    with pact.serve() as server:
        accepted = EventsClient(str(server.url)).scrape_luma("https://lu.ma/pact-summit")
    assert accepted.status == "queued"
    pact.write_file(pact_dir, overwrite=False)


def test_scrape_with_a_bad_url_is_400(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a request to scrape something that is not a Luma URL")
        .with_request("POST", "/api/scrape/luma")
        .with_body({"url": "ftp://example.invalid/x"}, content_type="application/json")
        .will_respond_with(400)
        .with_body(problem(400), content_type="application/problem+json")
    )
    with pact.serve() as server, pytest.raises(ApiProblem) as raised:
        EventsClient(str(server.url)).scrape_luma("ftp://example.invalid/x")
    assert raised.value.status == 400
    pact.write_file(pact_dir, overwrite=False)


def test_scrape_when_the_processor_is_down_is_503(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a request to scrape while the processor is down")
        .given("the processor is down")
        .with_request("POST", "/api/scrape/luma")
        .with_body({"url": "https://lu.ma/pact-summit"}, content_type="application/json")
        .will_respond_with(503)
        .with_body(
            {
                "type": match.str("about:blank"),
                "title": match.str("Service Unavailable"),
                "status": 503,
                "detail": match.str("the processor is unreachable"),
            },
            content_type="application/problem+json",
        )
    )
    with pact.serve() as server, pytest.raises(ApiProblem) as raised:
        EventsClient(str(server.url)).scrape_luma("https://lu.ma/pact-summit")
    assert raised.value.status == 503
    pact.write_file(pact_dir, overwrite=False)
