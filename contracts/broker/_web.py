"""What every broker endpoint shares: errors as problem documents, HAL links,
token checks, bounded JSON bodies, and the database dependency."""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

import psycopg
from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from contracts.broker._db import BrokerDatabase
from covenant.kernel.config import BrokerConfig

__all__ = [
    "HAL_JSON",
    "PROBLEM_JSON",
    "BrokerContext",
    "BrokerError",
    "Reader",
    "Writer",
    "bad_request",
    "bearer_token",
    "hal",
    "link",
    "quote_name",
    "read_json",
    "token_matches",
    "unprocessable",
    "whole_number",
]

HAL_JSON = "application/hal+json"
PROBLEM_JSON = "application/problem+json"


class BrokerError(Exception):
    """Becomes an RFC 9457 problem document; ``errors`` names what and where."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers

    def response(self, request: Request) -> JSONResponse:
        body: dict[str, Any] = {
            "type": f"https://covenant.dev/problems/{self.title.lower().replace(' ', '-')}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": request.url.path,
        }
        if self.errors:
            body["errors"] = self.errors
        return JSONResponse(
            body, status_code=self.status, media_type=PROBLEM_JSON, headers=self.headers
        )


def _detail(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{where}: {', '.join(problems)}" for where, problems in errors.items())


def bad_request(errors: dict[str, list[str]]) -> BrokerError:
    """400: the request breaks what the OpenAPI document says (a malformed name in the
    path, a query value out of range, a body that does not match its schema)."""
    return BrokerError(400, "Bad Request", _detail(errors), errors=errors)


def unprocessable(errors: dict[str, list[str]], prefix: str = "") -> BrokerError:
    """422: the request matches its documented schema but cannot be carried out (names
    that contradict the path, unknown pacticipants or environments, a base64 content
    that is not a pact). Kept apart from 400 so that a schema-valid request is never
    answered as malformed, which is what Schemathesis's positive-data check holds
    the broker to."""
    return BrokerError(422, "Unprocessable Content", prefix + _detail(errors), errors=errors)


@dataclass
class BrokerContext:
    """Shared by every endpoint; built once by ``create_broker_router``."""

    config: BrokerConfig
    database: BrokerDatabase
    #: Called with (event_name, payload) after a write commits; webhooks listen here.
    listeners: list[Any] = field(default_factory=list)
    _ready: bool = False
    _ready_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def ensure_ready(self) -> None:
        """Open the pool and migrate on first use, so the service starts even when
        PostgreSQL is down and the broker recovers when it comes back."""
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            try:
                await self.database.open()
            except Exception as exc:
                raise BrokerError(
                    503, "Service Unavailable", f"the broker database is unavailable: {exc}"
                ) from None
            self._ready = True

    async def emit(self, event: str, payload: dict[str, Any]) -> None:
        for listener in self.listeners:
            await listener(event, payload)


def context(request: Request) -> BrokerContext:
    found: BrokerContext = request.app.state.broker
    return found


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def token_matches(token: str, candidates: Iterable[Any]) -> bool:
    """Whether ``token`` is one of the secret ``candidates``."""
    # Compare against every candidate without stopping early: constant time per token.
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(token.encode(), candidate.get_secret_value().encode())
    return found


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="covenant-broker"'}


#: Longest query parameter value (every one names something: a pacticipant, a
#: version, a tag, an environment; names are at most 256 characters).
MAX_QUERY_VALUE = 256
#: Query keys that may repeat: the matrix's selectors (``q[][pacticipant]=A&...``).
_REPEATABLE = ("q[", "ignore[")


def _reject_nul(request: Request) -> None:
    """No path or query value may hold a NUL: PostgreSQL cannot compare or store one.
    No query value may be longer than MAX_QUERY_VALUE, and no query key but the
    matrix's selectors may be given twice (which one would count?)."""
    errors: dict[str, list[str]] = {}
    values = [*request.path_params.items(), *request.query_params.multi_items()]
    for name in sorted({str(name) for name, value in values if "\x00" in str(value)}):
        errors[name] = ["must not contain a NUL character"]
    seen: set[str] = set()
    for name, value in request.query_params.multi_items():
        if len(value) > MAX_QUERY_VALUE:
            errors.setdefault(name, []).append(f"must be at most {MAX_QUERY_VALUE} characters long")
        if name in seen and not name.startswith(_REPEATABLE):
            errors.setdefault(name, []).append("must be given at most once")
        seen.add(name)
    if errors:
        raise bad_request({name: list(dict.fromkeys(found)) for name, found in errors.items()})


async def _require(request: Request, *, write: bool) -> BrokerContext:
    _reject_nul(request)
    ctx = context(request)
    config = ctx.config
    token = bearer_token(request)
    if token is None:
        if not write and config.allow_anonymous_read:
            return ctx
        raise BrokerError(401, "Unauthorized", "a bearer token is required", headers=_CHALLENGE)
    if token_matches(token, config.read_write_tokens):
        return ctx
    if token_matches(token, config.read_only_tokens):
        if write:
            raise BrokerError(403, "Forbidden", "this token may only read")
        return ctx
    raise BrokerError(401, "Unauthorized", "the bearer token is not valid", headers=_CHALLENGE)


async def _reader(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    ctx = await _require(request, write=False)
    await ctx.ensure_ready()
    async with ctx.database.reading() as conn:
        yield conn


async def _writer(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    ctx = await _require(request, write=True)
    await ctx.ensure_ready()
    async with ctx.database.transaction() as conn:
        yield conn


# scope="function": the transaction commits (and the connection returns to the
# pool) when the endpoint returns, before the response is sent, so a client that
# reads right after a write sees it.
#: A connection for reading; authorisation for reading checked.
Reader = Annotated[psycopg.AsyncConnection, Depends(_reader, scope="function")]
#: A connection inside one transaction; authorisation for writing checked.
Writer = Annotated[psycopg.AsyncConnection, Depends(_writer, scope="function")]


async def read_json(request: Request) -> Any:
    """The request body as JSON, within the configured size limit, checked against the
    schema the broker documents for the operation (400 naming where it breaks)."""
    limit = context(request).config.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BrokerError(413, "Payload Too Large", f"the body exceeds {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise BrokerError(413, "Payload Too Large", f"the body exceeds {limit} bytes")
    if not body:
        raise BrokerError(400, "Bad Request", "the request body is empty")
    try:
        # JSON is UTF-8 (RFC 8259, which lets a parser ignore a byte order mark);
        # json.loads would also guess UTF-16 and UTF-32.
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BrokerError(
            400,
            "Bad Request",
            f"the body is not UTF-8 (byte {exc.start + 1})",
            errors={"body": [f"byte {exc.start + 1}: not UTF-8"]},
        ) from None
    try:
        parsed = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except _NotJson as exc:
        raise BrokerError(
            400, "Bad Request", f"the body is not valid JSON: {exc}", errors={"body": [str(exc)]}
        ) from None
    except json.JSONDecodeError as exc:
        raise BrokerError(
            400,
            "Bad Request",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            errors={"body": [f"line {exc.lineno}, column {exc.colno}: {exc.msg}"]},
        ) from None
    except RecursionError:
        raise BrokerError(400, "Bad Request", "the body is nested too deeply") from None
    # Imported here: the schemas are described next to the endpoints, which import this module.
    from contracts.broker._body_schema import check_body

    try:
        check_body(request, parsed)
    except RecursionError:
        raise BrokerError(400, "Bad Request", "the body is nested too deeply") from None
    return parsed


class _NotJson(ValueError):
    """Python's json reads more than JSON: NaN, Infinity, a key given twice."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _NotJson(f"the key '{key}' is given twice in one object")
        found[key] = value
    return found


_DIGITS = re.compile(r"^[0-9]{1,9}$")


def whole_number(raw: str, low: int, high: int) -> int | None:
    """``raw`` as an int from ``low`` to ``high``, or None: ASCII digits only (``str.isdigit``
    also passes '²', which ``int`` refuses) and never thousands of them."""
    if not _DIGITS.match(raw):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def base_url(request: Request) -> str:
    configured = context(request).config.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


def quote_name(name: str) -> str:
    return quote(name, safe="")


def link(request: Request, path: str, **extra: Any) -> dict[str, Any]:
    """A HAL link to ``path`` (already URL-encoded) on this broker."""
    return {"href": base_url(request) + path, **{k: v for k, v in extra.items() if v is not None}}


def hal(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=HAL_JSON, headers=headers)
