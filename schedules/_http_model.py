"""What an HTTP step of a check file says: one request, its captures and assertions.

A step names its target as ``service`` (a name under ``checks.services`` or a
reference service of the local stack, such as ``hono-api``) plus ``path``, or
as an absolute ``url``; ``credentials`` names a block of ``checks.credentials``.
Strings are templates: the run's names (``{{ run_id }}`` ...) and the values
earlier steps captured (``capture: {eventId: $.eventId}`` -> ``{{ eventId }}``).
Whether a name is known is decided by the check (which knows every earlier
capture); this module checks the syntax and compiles every JSONPath and regular
expression, so a bad one is an error of the file, not of a run.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from schedules._base import Duration, KeyedValueError, Strict, parse_duration, template_names

__all__ = [
    "BodyCondition",
    "HttpStep",
    "Retry",
    "StepAssert",
    "compile_jsonpath",
    "templated_strings",
]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: A capture name is used as ``{{ name }}`` and as an SQL ``%(name)s`` parameter.
NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: Headers Covenant sets on every step itself.
RESERVED_HEADERS = frozenset({"traceparent", "covenant-run-id"})
#: Longest a single request of a step may take by default (the check's deadline bounds it too).
DEFAULT_TIMEOUT_S = 10.0


@functools.lru_cache(maxsize=1024)
def compile_jsonpath(text: str) -> Any:
    """A JSONPath (``$.items[0].id``, filters as in jsonpath-ng's extended syntax).
    Cached: parsing costs milliseconds, and every poll of a step evaluates its paths."""
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
    from jsonpath_ng.ext import parse

    try:
        return parse(text)
    except (JsonPathLexerError, JsonPathParserError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a JSONPath: {exc}") from None


class BodyCondition(Strict):
    """One assertion on a JSON body: the value at ``path`` ``equals`` a value (a
    string is a template), ``exists`` (true/false) or ``matches`` a regular expression
    (searched in the value as text)."""

    path: str = Field(min_length=1, description="A JSONPath, e.g. $.status")
    equals: Any = None
    exists: bool | None = None
    matches: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        compile_jsonpath(value)
        return value

    @field_validator("matches")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("equals")
    @classmethod
    def _equals(cls, value: Any) -> Any:
        for text in _strings(value):
            template_names(text)
        return value

    @model_validator(mode="after")
    def _one(self) -> BodyCondition:
        given = [k for k in ("equals", "exists", "matches") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("give exactly one of equals, exists or matches")
        return self


class StepAssert(Strict):
    """What the answer must be: ``status`` (one code or a list; default any 2xx),
    ``max_latency`` (a duration) and ``body`` conditions."""

    status: int | tuple[int, ...] | None = None
    max_latency: Duration | None = None
    body: tuple[BodyCondition, ...] = ()

    @field_validator("max_latency", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("status")
    @classmethod
    def _codes(cls, value: int | tuple[int, ...] | None) -> int | tuple[int, ...] | None:
        codes = (value,) if isinstance(value, int) else value or ()
        if isinstance(value, tuple) and not value:
            raise ValueError("give at least one status code")
        for code in codes:
            if not 100 <= code <= 599:
                raise ValueError(f"{code} is not an HTTP status code (100-599)")
        return value

    @property
    def codes(self) -> tuple[int, ...] | None:
        """The accepted codes, None for any 2xx."""
        if self.status is None:
            return None
        return (self.status,) if isinstance(self.status, int) else self.status


class Retry(Strict):
    """Poll: send the request again, every ``interval``, until ``until`` holds (by
    default: until the step's ``assert`` holds), at most ``attempts`` times and never
    past the check's deadline."""

    attempts: int = Field(ge=2, le=1000)
    interval: Duration = Field(default=1.0)
    until: StepAssert | None = None

    @field_validator("interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        seconds = parse_duration(value)
        if seconds < 0.05:
            raise ValueError("interval must be at least 50ms")
        return seconds


class HttpStep(Strict):
    name: str = Field(default="request", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    method: str = "GET"
    service: str | None = Field(default=None, description="checks.services or the stack's.")
    path: str | None = Field(default=None, description="With service: /api/... (a template).")
    url: str | None = Field(default=None, description="Or an absolute http(s) URL (a template).")
    headers: dict[str, str] = Field(default_factory=dict)
    credentials: str | None = Field(default=None, description="A name of checks.credentials.")
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    timeout: Duration = DEFAULT_TIMEOUT_S
    capture: dict[str, str] = Field(default_factory=dict, description="name -> JSONPath")
    expect_: StepAssert = Field(default_factory=StepAssert, alias="assert")
    retry: Retry | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        if isinstance(value, str) and value.upper() in METHODS:
            return value.upper()
        raise ValueError(f"must be one of {', '.join(METHODS)}")

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("must be more than 0")
        return seconds

    @field_validator("path", "url", "body")
    @classmethod
    def _templates(cls, value: str | None) -> str | None:
        if value is not None:
            template_names(value)
        return value

    @field_validator("path")
    @classmethod
    def _slash(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @field_validator("url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"{name} is set by Covenant on every step (the run's trace)")
            template_names(text)
        return value

    @field_validator("json_body")
    @classmethod
    def _json(cls, value: Any) -> Any:
        for text in _strings(value):
            template_names(text)
        return value

    @field_validator("capture")
    @classmethod
    def _capture(cls, value: dict[str, str]) -> dict[str, str]:
        from schedules._base import TEMPLATE_NAMES

        for name, path in value.items():
            if not re.match(NAME, name):
                raise ValueError(f"capture name {name!r} must be a name such as eventId")
            if name in TEMPLATE_NAMES:
                raise ValueError(f"capture name {name!r} is a name Covenant sets")
            try:
                compile_jsonpath(path)
            except ValueError as exc:
                raise ValueError(f"capture {name}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _target(self) -> HttpStep:
        if self.url is not None and (self.service is not None or self.path is not None):
            raise KeyedValueError("url", "give url, or service and path, not both")
        if self.url is None and (self.service is None or self.path is None):
            key = "path" if self.service is not None else "service"
            raise KeyedValueError(key, "give service and path, or an absolute url")
        if self.body is not None and "json" in self.model_fields_set:
            raise KeyedValueError("body", "give json or body, not both")
        if self.method in ("GET", "HEAD") and (self.body is not None or self.json_body is not None):
            raise KeyedValueError("method", f"a {self.method} request has no body")
        return self

    @property
    def kind(self) -> Literal["http"]:
        return "http"

    @property
    def has_json(self) -> bool:
        return "json_body" in self.model_fields_set

    @property
    def until(self) -> StepAssert:
        """When polling stops: ``retry.until`` or else the step's own ``assert``."""
        if self.retry is not None and self.retry.until is not None:
            return self.retry.until
        return self.expect_


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def templated_strings(step: HttpStep) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every template of a step with its key path (relative to the step)."""
    for key in ("path", "url", "body"):
        text = getattr(step, key)
        if text is not None:
            yield (key,), text
    for name, text in step.headers.items():
        yield ("headers", name), text
    for text in _strings(step.json_body):
        yield ("json",), text
    conditions = [("assert", step.expect_)]
    if step.retry is not None and step.retry.until is not None:
        conditions.append(("retry", step.retry.until))
    for head, asserts in conditions:
        prefix: tuple[str | int, ...] = (head,) if head == "assert" else ("retry", "until")
        for index, condition in enumerate(asserts.body):
            for text in _strings(condition.equals):
                yield (*prefix, "body", index, "equals"), text
