"""elixir-processor -> baml-extractor, written by the processor's own BAML client (Elixir)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pact import Pact, match

from contracts.consumers._hooks import elixir_extractor_client

CONSUMER, PROVIDER = "elixir-processor", "baml-extractor"
HTML = (
    "<html><head><title>Pact Summit</title></head><body><h1>Pact Summit</h1>"
    '<time datetime="2026-12-01T18:00:00Z">1 Dec</time><p class="city">Berlin</p>'
    '<div class="speaker" data-title="CTO" data-company="Analytical">Ada Lovelace</div>'
    '<span class="company">Analytical</span></body></html>'
)


def new_pact() -> Pact:
    return Pact(CONSUMER, PROVIDER).with_specification("V4")


def extracted_event() -> dict[str, Any]:
    return {
        "title": match.str("Pact Summit"),
        "starts_at": match.str("2026-12-01T18:00:00Z"),
        "city": match.str("Berlin"),
        "speakers": match.each_like(
            {
                "name": match.str("Ada Lovelace"),
                "title": match.str("CTO"),
                "company": match.str("Analytical"),
            }
        ),
        "companies": match.each_like(match.str("Analytical")),
    }


def test_extract_event(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a request to extract an event from a page")
        .given("the LLM answers normally")
        .with_request("POST", "/call/ExtractEvent")
        .with_body({"html": match.str(HTML)}, content_type="application/json")
        .will_respond_with(200)
        .with_body(extracted_event(), content_type="application/json")
    )
    with pact.serve() as server:
        answer = elixir_extractor_client(str(server.url), "ExtractEvent", {"html": HTML})
    assert answer.status == 200
    assert answer.body["title"] == "Pact Summit"
    pact.write_file(pact_dir, overwrite=False)


def test_score_event_quality(pact_dir: Path) -> None:
    event = {
        "title": "Pact Summit",
        "starts_at": "2026-12-01T18:00:00Z",
        "city": "Berlin",
        "speakers": [{"name": "Ada Lovelace", "title": "CTO", "company": "Analytical"}],
        "companies": ["Analytical"],
    }
    pact = new_pact()
    (
        pact.upon_receiving("a request to score an extracted event")
        .given("the LLM answers normally")
        .with_request("POST", "/call/ScoreEventQuality")
        .with_body({"event": match.like(event)}, content_type="application/json")
        .will_respond_with(200)
        .with_body(
            {"score": match.number(0.9), "reasons": match.each_like(match.str("has a title"))},
            content_type="application/json",
        )
    )
    with pact.serve() as server:
        answer = elixir_extractor_client(str(server.url), "ScoreEventQuality", {"event": event})
    assert answer.status == 200
    assert 0 <= answer.body["score"] <= 1
    pact.write_file(pact_dir, overwrite=False)


def test_unparseable_llm_answer_is_a_422_problem(pact_dir: Path) -> None:
    pact = new_pact()
    (
        pact.upon_receiving("a request to extract an event when the LLM answers nonsense")
        .given("the LLM answers with unparseable text")
        .with_request("POST", "/call/ExtractEvent")
        .with_body({"html": match.str(HTML)}, content_type="application/json")
        .will_respond_with(422)
        .with_body(
            {
                "type": match.regex(
                    "https://covenant.example/problems/llm-output-unparseable",
                    regex=r".*/llm-output-unparseable$",
                ),
                "title": match.str("LLM output could not be parsed"),
                "status": 422,
                "detail": match.str("explanation"),
            },
            content_type="application/problem+json",
        )
    )
    with pact.serve() as server:
        answer = elixir_extractor_client(str(server.url), "ExtractEvent", {"html": HTML})
    assert answer.status == 422
    pact.write_file(pact_dir, overwrite=False)
