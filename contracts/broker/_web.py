"""What every broker endpoint shares: errors as problem documents, HAL links,
token checks, bounded JSON bodies, and the database dependency."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, cast
from urllib.parse import quote

import psycopg
from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from contracts.broker._db import BrokerDatabase
from contracts.broker._errors import BrokerError, bad_request
from covenant.kernel import auth
from covenant.kernel.auth import Access, TokenRules, decide, token_matches
from covenant.kernel.config import BrokerConfig
from covenant.kernel.problems import PROBLEM_JSON, problem_body

__all__ = [
    "HAL_JSON",
    "PROBLEM_JSON",
    "BrokerContext",
    "Reader",
    "Writer",
    "bearer_token",
    "hal",
    "link",
    "problem_response",
    "quote_name",
    "read_json",
    "token_matches",
    "whole_number",
]

HAL_JSON = "application/hal+json"


def problem_response(request: Request, error: BrokerError) -> JSONResponse:
    """``error`` as the problem document answering ``request``."""
    body = problem_body(
        error.status,
        error.detail,
        instance=request.url.path,
        title=error.title,
        type_=error.problem_type,
        errors=error.errors,
    )
    return JSONResponse(
        body, status_code=error.status, media_type=PROBLEM_JSON, headers=error.headers
    )


@dataclass
class BrokerContext:
    """Shared by every endpoint; built once by ``create_broker_router``."""

    config: BrokerConfig
    database: BrokerDatabase
    #: Called with (event_name, payload) after a write commits; webhooks listen here.
    listeners: list[Any] = field(default_factory=list)
    #: Checks a parsed body against the schema documented for the request's
    #: operation, raising BrokerError (400); ``install_broker`` sets the real one.
    check_body: Callable[[Request, Any], None] = field(default=lambda request, body: None)
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
    """The request's bearer token, read by ``covenant.kernel.auth`` (kept, with
    ``token_matches``, for the status API until it uses the kernel itself)."""
    return auth.bearer_token(request.headers.get("authorization"))


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
    # BrokerConfig holds its tokens as tuples; TokenRules only iterates over them.
    rules = cast("TokenRules", ctx.config)
    access = decide(rules, request.headers.get("authorization"), write=write)
    if access is Access.ALLOWED:
        return ctx
    if access is Access.READ_ONLY:
        raise BrokerError(403, "Forbidden", access.value)
    raise BrokerError(401, "Unauthorized", access.value, headers=_CHALLENGE)


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
    try:
        context(request).check_body(request, parsed)
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
