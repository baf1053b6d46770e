"""The web front end's client for hono-api: the code the web-client pact is written by.

Every field it reads is a field the pact pins; a field the client does not
read is not in the contract (consumer-driven: the provider may add fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

__all__ = [
    "ApiProblem",
    "EventDetail",
    "EventPage",
    "EventSummary",
    "EventsClient",
    "ScrapeAccepted",
]


class ApiProblem(Exception):
    """An RFC 9457 problem document answered by the API."""

    def __init__(self, status: int, title: str, detail: str | None) -> None:
        super().__init__(f"{status} {title}: {detail or ''}")
        self.status = status
        self.title = title
        self.detail = detail


@dataclass(frozen=True)
class EventSummary:
    id: str
    title: str
    starts_at: datetime | None
    city: str | None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> EventSummary:
        starts = raw.get("startsAt")
        return cls(
            id=str(raw["id"]),
            title=str(raw["title"]),
            starts_at=datetime.fromisoformat(starts) if starts else None,
            city=raw.get("city"),
        )


@dataclass(frozen=True)
class Speaker:
    name: str
    title: str | None
    company: str | None


@dataclass(frozen=True)
class EventDetail:
    summary: EventSummary
    source_url: str | None
    quality_score: float | None
    speakers: tuple[Speaker, ...]
    companies: tuple[str, ...]


@dataclass(frozen=True)
class EventPage:
    items: tuple[EventSummary, ...]
    page: int
    page_size: int
    total: int


@dataclass(frozen=True)
class ScrapeAccepted:
    event_id: str
    job_id: str
    status: str


class EventsClient:
    def __init__(self, base_url: str, client: httpx.Client | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._http = client or httpx.Client(timeout=10)

    def _json(self, response: httpx.Response, *expected: int) -> dict[str, Any]:
        if response.status_code not in expected:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise ApiProblem(
                response.status_code,
                str(problem.get("title", response.reason_phrase)),
                problem.get("detail"),
            )
        body: dict[str, Any] = response.json()
        return body

    def list_events(self, page: int = 1, page_size: int = 20) -> EventPage:
        body = self._json(
            self._http.get(
                f"{self._base}/api/events", params={"page": page, "pageSize": page_size}
            ),
            200,
        )
        return EventPage(
            items=tuple(EventSummary.parse(i) for i in body["items"]),
            page=int(body["page"]),
            page_size=int(body["pageSize"]),
            total=int(body["total"]),
        )

    def get_event(self, event_id: str) -> EventDetail:
        body = self._json(self._http.get(f"{self._base}/api/events/{event_id}"), 200)
        return EventDetail(
            summary=EventSummary.parse(body),
            source_url=body.get("sourceUrl"),
            quality_score=body.get("qualityScore"),
            speakers=tuple(
                Speaker(s["name"], s.get("title"), s.get("company")) for s in body["speakers"]
            ),
            companies=tuple(c["name"] for c in body["companies"]),
        )

    def search(self, query: str | None) -> list[EventSummary]:
        params = {"q": query} if query is not None else {}
        body = self._json(self._http.get(f"{self._base}/api/events/search", params=params), 200)
        return [EventSummary.parse(i) for i in body["items"]]

    def similar(self, event_id: str) -> list[EventSummary]:
        body = self._json(self._http.get(f"{self._base}/api/events/{event_id}/similar"), 200)
        return [EventSummary.parse(i) for i in body["items"]]

    def scrape_luma(self, url: str | None) -> ScrapeAccepted:
        payload = {"url": url} if url is not None else {}
        body = self._json(self._http.post(f"{self._base}/api/scrape/luma", json=payload), 202)
        return ScrapeAccepted(str(body["eventId"]), str(body["jobId"]), str(body["status"]))
