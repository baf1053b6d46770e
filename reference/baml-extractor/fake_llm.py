"""A deterministic, OpenAI-compatible fake LLM for the baml-extractor reference service.

The real LLM behind BAML is a paid external API, which neither Covenant's tests nor its
demo may call; this double stands in for it. It serves the one route BAML's
``openai-generic`` provider uses, following the OpenAI API reference:

* "Chat > Create chat completion": ``POST /v1/chat/completions`` with a JSON body holding
  ``model`` and ``messages`` (each ``{"role", "content"}``),
  https://platform.openai.com/docs/api-reference/chat/create
* "Chat > The chat completion object": the answer ``{"id", "object": "chat.completion",
  "created", "model", "choices": [{"index", "message": {"role", "content"},
  "finish_reason"}], "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}``,
  https://platform.openai.com/docs/api-reference/chat/object
* errors as ``{"error": {"message", "type", "param", "code"}}`` ("Error codes" guide).

Its answer is derived from the prompt alone, so the same prompt always gets the same
content. The system message names the task (``TASK: extract-event`` or
``TASK: score-event-quality``, written by ``baml_src/event.baml``):

* extract-event parses the HTML between ``<page>`` and ``</page>`` in the user message:
  the first ``<h1>`` is the title (else ``<title>``, else ``Untitled event``), the first
  ``<time datetime=...>`` the start, the first element of class ``city`` the city, every
  element of class ``speaker`` a speaker (its text the name, ``data-title`` and
  ``data-company`` the rest), and the elements of class ``company`` plus the speakers'
  companies (in order, without repeats) the companies.
* score-event-quality reads the event JSON between ``<event>`` and ``</event>`` and
  scores it by how many of title, start, city, speakers and companies it has (n / 5),
  with one reason per field.

In ``unparseable`` mode it answers plain prose instead, which BAML cannot parse into the
declared type.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

Mode = Literal["normal", "unparseable"]
MODES: tuple[Mode, ...] = ("normal", "unparseable")

MODEL_NAME = "covenant-fake-llm"
UNTITLED = "Untitled event"
UNPARSEABLE_ANSWER = (
    "I'm sorry, but I could not make sense of this page. It reads like an event page, "
    "yet I cannot say what the event is called, when it starts or who is speaking."
)
VOID_TAGS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)


def _collapse(text: str) -> str:
    return " ".join(text.split())


@dataclass
class _Capture:
    tag: str
    kind: str
    attrs: dict[str, str]
    parts: list[str] = field(default_factory=list)


class EventPageParser(HTMLParser):
    """Collects the few elements the fake LLM understands; tolerant of broken markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.h1: str | None = None
        self.page_title: str | None = None
        self.starts_at: str | None = None
        self.city: str | None = None
        self.speakers: list[dict[str, str | None]] = []
        self.companies: list[str] = []
        self._open: list[_Capture | None] = []
        self._tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "time" and self.starts_at is None and values.get("datetime", "").strip():
            self.starts_at = values["datetime"].strip()
        if tag in VOID_TAGS:
            return
        classes = values.get("class", "").split()
        kind = ""
        if tag == "h1":
            kind = "h1"
        elif tag == "title":
            kind = "title"
        elif "speaker" in classes:
            kind = "speaker"
        elif "city" in classes:
            kind = "city"
        elif "company" in classes:
            kind = "company"
        self._tags.append(tag)
        self._open.append(_Capture(tag, kind, values) if kind else None)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "time" and self.starts_at is None and values.get("datetime", "").strip():
            self.starts_at = values["datetime"].strip()

    def handle_endtag(self, tag: str) -> None:
        if tag not in self._tags:
            return
        while self._tags:
            open_tag = self._tags.pop()
            capture = self._open.pop()
            if capture is not None:
                self._finish(capture)
            if open_tag == tag:
                return

    def handle_data(self, data: str) -> None:
        for capture in self._open:
            if capture is not None:
                capture.parts.append(data)

    def close(self) -> None:
        super().close()
        while self._open:
            self._tags.pop()
            capture = self._open.pop()
            if capture is not None:
                self._finish(capture)

    def _finish(self, capture: _Capture) -> None:
        text = _collapse("".join(capture.parts))
        if capture.kind == "h1" and self.h1 is None and text:
            self.h1 = text
        elif capture.kind == "title" and self.page_title is None and text:
            self.page_title = text
        elif capture.kind == "city" and self.city is None and text:
            self.city = text
        elif capture.kind == "speaker":
            name = _collapse(capture.attrs.get("data-name", "")) or text
            if name:
                self.speakers.append(
                    {
                        "name": name,
                        "title": _collapse(capture.attrs.get("data-title", "")) or None,
                        "company": _collapse(capture.attrs.get("data-company", "")) or None,
                    }
                )
        elif capture.kind == "company" and text and text not in self.companies:
            self.companies.append(text)


def extract_event(html: str) -> dict[str, Any]:
    """The event a careful LLM would read from ``html`` (see the module docstring)."""
    parser = EventPageParser()
    parser.feed(html)
    parser.close()
    companies = list(parser.companies)
    for speaker in parser.speakers:
        company = speaker["company"]
        if company and company not in companies:
            companies.append(company)
    return {
        "title": parser.h1 or parser.page_title or UNTITLED,
        "starts_at": parser.starts_at,
        "city": parser.city,
        "speakers": parser.speakers,
        "companies": companies,
    }


def score_event(event: dict[str, Any]) -> dict[str, Any]:
    """Score an extracted event by how many of its five parts are present."""
    title = event.get("title")
    speakers = event.get("speakers")
    companies = event.get("companies")
    n_speakers = len(speakers) if isinstance(speakers, list) else 0
    n_companies = len(companies) if isinstance(companies, list) else 0
    checks = [
        (
            isinstance(title, str) and bool(title.strip()) and title != UNTITLED,
            "has a title",
            "has no title",
        ),
        (bool(event.get("starts_at")), "has a start time", "has no start time"),
        (bool(event.get("city")), "has a city", "has no city"),
        (n_speakers > 0, f"lists {n_speakers} speaker(s)", "lists no speakers"),
        (n_companies > 0, f"lists {n_companies} company(ies)", "lists no companies"),
    ]
    present = sum(1 for ok, _, _ in checks if ok)
    return {
        "score": round(present / len(checks), 2),
        "reasons": [yes if ok else no for ok, yes, no in checks],
    }


def _between(text: str, start: str, end: str) -> str | None:
    first = text.find(start)
    last = text.rfind(end)
    if first < 0 or last < first + len(start):
        return None
    return text[first + len(start) : last].strip("\n")


def _content_text(content: Any) -> str:
    """A message's text: a plain string, or the text parts of a content array."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


class FakeLLM:
    """The fake's state (its mode) and its answer function."""

    def __init__(self, mode: Mode = "normal") -> None:
        self.mode: Mode = mode
        self.calls = 0

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode

    def answer(self, messages: list[dict[str, Any]]) -> str:
        """The assistant message content for ``messages`` in the current mode."""
        self.calls += 1
        if self.mode == "unparseable":
            return UNPARSEABLE_ANSWER
        system = "\n".join(
            _content_text(m.get("content")) for m in messages if m.get("role") == "system"
        )
        user = "\n".join(
            _content_text(m.get("content")) for m in messages if m.get("role") != "system"
        )
        if "TASK: score-event-quality" in system:
            raw = _between(user, "<event>", "</event>")
            try:
                event = json.loads(raw) if raw is not None else {}
            except ValueError:
                event = {}
            result = score_event(event if isinstance(event, dict) else {})
        else:
            html = _between(user, "<page>", "</page>")
            result = extract_event(html if html is not None else user)
        return json.dumps(result, indent=2, ensure_ascii=False)


def _openai_error(status: int, message: str, param: str | None = None) -> JSONResponse:
    body = {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    }
    return JSONResponse(body, status_code=status)


def _tokens(text: str) -> int:
    return len(text.split())


def create_app(fake: FakeLLM) -> Starlette:
    """The fake's HTTP app: ``POST /v1/chat/completions`` and ``GET /v1/models``."""

    async def chat_completions(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _openai_error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return _openai_error(400, "The request body must be a JSON object.")
        messages = body.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
        ):
            return _openai_error(
                400, "'messages' must be a non-empty array of messages.", "messages"
            )
        model = body.get("model") if isinstance(body.get("model"), str) else MODEL_NAME
        content = fake.answer(messages)
        prompt_text = "\n".join(_content_text(m.get("content")) for m in messages)
        digest = hashlib.sha256(prompt_text.encode("utf-8", "replace")).hexdigest()
        prompt_tokens = _tokens(prompt_text)
        completion_tokens = _tokens(content)
        return JSONResponse(
            {
                "id": f"chatcmpl-{digest[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    async def models(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "covenant"}
                ],
            }
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )
