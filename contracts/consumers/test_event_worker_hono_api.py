"""event-worker -> hono-api: the event.scraped Kafka message, read by the worker's parser."""

from __future__ import annotations

from pathlib import Path

from event_worker.messages import EVENT_SCRAPED_TOPIC, parse_event_scraped
from pact import Pact, match

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_event_scraped_message(pact_dir: Path) -> None:
    pact = Pact("event-worker", "hono-api").with_specification("V4")
    (
        pact.upon_receiving("an event.scraped message", "Async")
        .with_body(
            {
                "eventId": match.uuid("6f1c2a4e-8b7d-4c1e-9f2a-3b5d7e9a1c20"),
                "url": match.regex("https://lu.ma/pact-summit", regex=r"^https://.+"),
                "requestedAt": match.datetime(
                    "2026-12-01T18:00:00.000Z",
                    "yyyy-MM-dd'T'HH:mm:ss.SSSX",
                    disable_conversion=True,
                ),
                "source": "luma",
            },
            content_type="application/json",
        )
        .with_metadata(
            {
                "topic": EVENT_SCRAPED_TOPIC,
                "key": match.uuid("6f1c2a4e-8b7d-4c1e-9f2a-3b5d7e9a1c20"),
                "traceparent": match.regex(
                    TRACEPARENT, regex=r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
                ),
            }
        )
    )
    seen = []

    def handle(body: str | bytes | None, metadata: dict[str, object]) -> None:
        event = parse_event_scraped(body, metadata)
        assert metadata["topic"] == EVENT_SCRAPED_TOPIC
        assert str(event.event_id) == metadata["key"]
        seen.append(event)

    pact.verify(handle, "Async")
    assert seen and seen[0].source == "luma" and seen[0].traceparent == TRACEPARENT
    pact.write_file(pact_dir, overwrite=False)
