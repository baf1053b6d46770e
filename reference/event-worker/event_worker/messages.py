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

__all__ = ["EVENT_SCRAPED_TOPIC", "InvalidMessage", "ScrapedEvent", "parse_event_scraped"]

EVENT_SCRAPED_TOPIC = "event.scraped"


class InvalidMessage(ValueError):
    """The message cannot be processed; the worker logs and skips it (no retry)."""


@dataclass(frozen=True)
class ScrapedEvent:
    event_id: uuid.UUID
    url: str
    requested_at: datetime
    source: str
    traceparent: str | None


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
    return ScrapedEvent(
        event_id=event_id,
        url=url,
        requested_at=requested_at,
        source=source,
        traceparent=str(traceparent) if traceparent else None,
    )
