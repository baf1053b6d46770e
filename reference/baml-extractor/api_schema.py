"""The baml-extractor API: argument/result models and the OpenAPI document.

The models mirror ``baml_src/event.baml`` field for field (reference/API.md names them);
the gateway validates arguments with them before calling BAML, and checks BAML's
answers with them before passing them on. The OpenAPI document is written by hand
because ``baml-cli serve``'s own one declares no error responses and types the optional
fields as non-nullable strings although BAML answers ``null`` for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_BASE = "https://covenant.example/problems/"
MAX_BODY_BYTES = 2 * 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Speaker(_Strict):
    name: str
    title: str | None = None
    company: str | None = None


class Event(_Strict):
    title: str
    starts_at: str | None = None
    city: str | None = None
    speakers: list[Speaker]
    companies: list[str]


class Quality(_Strict):
    score: float = Field(ge=0.0, le=1.0)
    reasons: list[str]


class ExtractEventArgs(_Strict):
    html: str


class ScoreEventQualityArgs(_Strict):
    event: Event


class ResultModel(BaseModel):
    """What BAML answers is re-checked leniently (ints are fine floats)."""

    model_config = ConfigDict(extra="forbid")


class SpeakerResult(ResultModel):
    name: str
    title: str | None = None
    company: str | None = None


class EventResult(ResultModel):
    title: str
    starts_at: str | None = None
    city: str | None = None
    speakers: list[SpeakerResult]
    companies: list[str]


class QualityResult(ResultModel):
    score: float = Field(ge=0.0, le=1.0)
    reasons: list[str]


@dataclass(frozen=True)
class FunctionSpec:
    """One BAML function the gateway serves as ``POST /call/<name>``."""

    name: str
    args_model: type[BaseModel]
    result_model: type[BaseModel]
    result_type: str
    summary: str


EXTRACT_EVENT = FunctionSpec(
    "ExtractEvent",
    ExtractEventArgs,
    EventResult,
    "Event",
    "Extract one event (title, start, city, speakers, companies) from an event page's HTML.",
)
SCORE_EVENT_QUALITY = FunctionSpec(
    "ScoreEventQuality",
    ScoreEventQualityArgs,
    QualityResult,
    "Quality",
    "Score how complete an extracted event is (0..1), with the reasons.",
)
FUNCTIONS = (EXTRACT_EVENT, SCORE_EVENT_QUALITY)

EXAMPLE_HTML = (
    '<h1>Berlin AI Summit 2026</h1><time datetime="2026-06-18T09:00:00+02:00">18 June</time>'
    '<span class="city">Berlin</span>'
    '<li class="speaker" data-title="CTO" data-company="Nordwind AI">Grace Hopper</li>'
    '<span class="company">Spree Ventures</span>'
)
EXAMPLE_EVENT: dict[str, Any] = {
    "title": "Berlin AI Summit 2026",
    "starts_at": "2026-06-18T09:00:00+02:00",
    "city": "Berlin",
    "speakers": [{"name": "Grace Hopper", "title": "CTO", "company": "Nordwind AI"}],
    "companies": ["Spree Ventures", "Nordwind AI"],
}
EXAMPLE_QUALITY: dict[str, Any] = {
    "score": 1.0,
    "reasons": [
        "has a title",
        "has a start time",
        "has a city",
        "lists 1 speaker(s)",
        "lists 2 company(ies)",
    ],
}
EXAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "ExtractEvent": ({"html": EXAMPLE_HTML}, EXAMPLE_EVENT),
    "ScoreEventQuality": ({"event": EXAMPLE_EVENT}, EXAMPLE_QUALITY),
}


def _nullable(schema_type: str) -> dict[str, Any]:
    return {"type": [schema_type, "null"]}


_SCHEMAS: dict[str, Any] = {
    "SpeakerInput": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "title": _nullable("string"),
            "company": _nullable("string"),
        },
        "required": ["name"],
        "additionalProperties": False,
    },
    "EventInput": {
        "type": "object",
        "description": "An event as ExtractEvent answers it; starts_at and city may be left out.",
        "properties": {
            "title": {"type": "string"},
            "starts_at": _nullable("string"),
            "city": _nullable("string"),
            "speakers": {"type": "array", "items": {"$ref": "#/components/schemas/SpeakerInput"}},
            "companies": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["title", "speakers", "companies"],
        "additionalProperties": False,
    },
    "Speaker": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "title": _nullable("string"),
            "company": _nullable("string"),
        },
        "required": ["name", "title", "company"],
        "additionalProperties": False,
    },
    "Event": {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "starts_at": {**_nullable("string"), "description": "start time as the page has it"},
            "city": _nullable("string"),
            "speakers": {"type": "array", "items": {"$ref": "#/components/schemas/Speaker"}},
            "companies": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["title", "starts_at", "city", "speakers", "companies"],
        "additionalProperties": False,
    },
    "Quality": {
        "type": "object",
        "properties": {
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "reasons": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["score", "reasons"],
        "additionalProperties": False,
    },
    "ExtractEventRequest": {
        "type": "object",
        "properties": {"html": {"type": "string"}},
        "required": ["html"],
        "additionalProperties": False,
    },
    "ScoreEventQualityRequest": {
        "type": "object",
        "properties": {"event": {"$ref": "#/components/schemas/EventInput"}},
        "required": ["event"],
        "additionalProperties": False,
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem document.",
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
        "required": ["type", "title", "status", "detail"],
    },
    "Health": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok", "error"]},
            "service": {"type": "string", "const": "baml-extractor"},
            "checks": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["status", "service", "checks"],
        "additionalProperties": False,
    },
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def _call_path(spec: FunctionSpec) -> dict[str, Any]:
    request_example, answer_example = EXAMPLES[spec.name]
    return {
        "post": {
            "operationId": spec.name,
            "summary": spec.summary,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{spec.name}Request"},
                        "example": request_example,
                    }
                },
            },
            "responses": {
                "200": {
                    "description": f"The LLM's answer, parsed by BAML into {spec.result_type}.",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{spec.result_type}"},
                            "example": answer_example,
                        }
                    },
                },
                "400": _problem(
                    "malformed-json: the body is not JSON; invalid-arguments: it is not an "
                    "object of exactly the function's arguments with their types."
                ),
                "413": _problem("request-too-large: the body is larger than 2 MiB."),
                "422": _problem(
                    "llm-output-unparseable: the LLM's answer could not be parsed into "
                    f"{spec.result_type}."
                ),
                "500": _problem("internal-error: an unexpected error in the gateway."),
                "502": _problem(
                    "llm-unavailable: the LLM could not be reached or failed; extractor-error: "
                    "BAML failed otherwise or answered something unexpected."
                ),
                "503": _problem("extractor-unavailable: the baml-cli server is not running."),
                "504": _problem("extractor-timeout: BAML did not answer in time."),
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document served at ``GET /openapi.json``."""
    paths: dict[str, Any] = {f"/call/{spec.name}": _call_path(spec) for spec in FUNCTIONS}
    paths["/health"] = {
        "get": {
            "operationId": "health",
            "summary": "Whether the baml-cli server and the fake LLM answer.",
            "responses": {
                "200": {
                    "description": "Everything answers.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                    },
                },
                "503": {
                    "description": "A dependency is down; checks says which.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                    },
                },
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics.",
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1 document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "baml-extractor",
            "version": "1.0.0",
            "description": (
                "BAML functions ExtractEvent and ScoreEventQuality (served by baml-cli serve) "
                "behind a gateway that validates arguments and answers RFC 9457 problem "
                f"documents for every error; problem types are {PROBLEM_BASE}<name>."
            ),
        },
        "paths": paths,
        "components": {"schemas": _SCHEMAS},
    }
