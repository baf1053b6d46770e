"""hono-api -> event-worker: the event.processed Kafka message, read by hono-api's handler."""

from __future__ import annotations

from pathlib import Path

from pact import Pact, match

from contracts.consumers._hooks import hono_message_handler

TOPIC = "event.processed"
EVENT_ID = "6f1c2a4e-8b7d-4c1e-9f2a-3b5d7e9a1c20"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_event_processed_message(pact_dir: Path) -> None:
    pact = Pact("hono-api", "event-worker").with_specification("V4")
    (
        pact.upon_receiving("an event.processed message", "Async")
        .with_body(
            {
                "eventId": match.uuid(EVENT_ID),
                "status": "stored",
                "processedAt": match.datetime(
                    "2026-12-01T18:00:05.000Z",
                    "yyyy-MM-dd'T'HH:mm:ss.SSSX",
                    disable_conversion=True,
                ),
            },
            content_type="application/json",
        )
        .with_metadata(
            {
                "topic": TOPIC,
                "key": match.uuid(EVENT_ID),
                "traceparent": match.regex(
                    TRACEPARENT, regex=r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
                ),
            }
        )
    )
    handled: list[dict[str, object]] = []

    def handle(body: str | bytes | None, metadata: dict[str, object]) -> None:
        hono_message_handler(TOPIC, body, metadata)
        handled.append(metadata)

    pact.verify(handle, "Async")
    assert handled and handled[0]["topic"] == TOPIC
    pact.write_file(pact_dir, overwrite=False)
