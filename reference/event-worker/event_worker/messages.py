"""Parsing of the Kafka messages the event worker consumes.

This is the consumer code the ``event-worker -> hono-api`` message pact is
written by: what it reads is what the contract pins.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "EVENT_PROCESSED_TOPIC",
    "EVENT_SCRAPED_TOPIC",
    "RUN_ID_HEADER",
    "InvalidMessage",
    "OutgoingMessage",
    "ScrapedEvent",
    "build_event_processed",
    "parse_event_scraped",
]

EVENT_SCRAPED_TOPIC = "event.scraped"
EVENT_PROCESSED_TOPIC = "event.processed"
#: Synthetic checks tag their traffic with this header (and ``runId`` in the value).
RUN_ID_HEADER = "covenant-run-id"


class InvalidMessage(ValueError):
    """The message cannot be processed; the worker logs and skips it (no retry)."""


@dataclass(frozen=True)
class ScrapedEvent:
    event_id: uuid.UUID
    url: str
    requested_at: datetime
    source: str
    traceparent: str | None
    run_id: str | None = None


def parse_event_scraped(value: bytes | str | None, metadata: Mapping[str, object]) -> ScrapedEvent:
    """Validate an ``event.scraped`` message; raise :class:`InvalidMessage` when it is unusable."""
    if value is None:
        raise InvalidMessage("empty message")
    try:
        payload = json.loads(value)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidMessage(f"not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidMessage("payload is not a JSON object")
    try:
        event_id = uuid.UUID(str(payload["eventId"]))
        url = str(payload["url"])
        requested_at = datetime.fromisoformat(str(payload["requestedAt"]))
        source = str(payload["source"])
    except KeyError as exc:
        raise InvalidMessage(f"missing field {exc}") from None
    except ValueError as exc:
        raise InvalidMessage(str(exc)) from None
    if not url.startswith(("http://", "https://")):
        raise InvalidMessage(f"url is not http(s): {url!r}")
    if requested_at.tzinfo is None:
        raise InvalidMessage("requestedAt has no time zone")
    traceparent = metadata.get("traceparent")
    run_id = metadata.get(RUN_ID_HEADER) or payload.get("runId")
    return ScrapedEvent(
        event_id=event_id,
        url=url,
        requested_at=requested_at,
        source=source,
        traceparent=str(traceparent) if traceparent else None,
        run_id=str(run_id) if run_id else None,
    )


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    key: str
    value: dict[str, object]
    headers: dict[str, str]

    def encoded_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v.encode()) for k, v in self.headers.items()]


def build_event_processed(
    event: ScrapedEvent, processed_at: datetime, *, renamed_field: bool = False
) -> OutgoingMessage:
    """The ``event.processed`` message sent once an event is stored.

    ``renamed_field`` is the deliberately broken variant Covenant's tests use.
    """
    value: dict[str, object] = {
        "eventId": str(event.event_id),
        "status": "stored",
        "processedAt": processed_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "runId": event.run_id,
    }
    if renamed_field:
        value["event_id"] = value.pop("eventId")
    headers = {"content-type": "application/json"}
    if event.traceparent:
        headers["traceparent"] = event.traceparent
    if event.run_id:
        headers[RUN_ID_HEADER] = event.run_id
    return OutgoingMessage(EVENT_PROCESSED_TOPIC, str(event.event_id), value, headers)
