"""What every broker HTTP resource shares: problem responses, token checks,
bounded JSON bodies, database dependencies, HAL responses and routing.

Two things FastAPI does not give us:

* **Names containing ``/``.** Branches such as ``feature/login`` travel in a path
  segment as ``feature%2Flogin``. The server decodes the path before routing, so
  ``{branch}`` would never match. :class:`EncodedSlashRoute` matches on the raw
  path instead, one decoded segment at a time, and hands the handler the real name.
* **Commit before answering.** A write must be committed before the client hears
  "done" (otherwise a client that reads straight after a publish may not see it)
  and webhook events may only be emitted after the commit. :data:`WriteAccess`
  checks the read-write token and gives the handler the :class:`BrokerContext`;
  the handler opens ``ctx.database.transaction()`` itself, commits by leaving
  the block, then emits and answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, cast
from urllib.parse import unquote

import psycopg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from contracts.broker import _hal
from contracts.broker._context import BrokerContext
from contracts.broker._errors import BrokerError, bad_request
from contracts.broker._hal import HAL_JSON
from contracts.broker._inputs import parse_json_body, query_errors
from covenant.kernel.auth import Access, TokenRules, decide
from covenant.kernel.problems import PROBLEM_JSON, problem_body

__all__ = [
    "HAL_JSON",
    "PROBLEM_JSON",
    "EncodedSlashRoute",
    "ReadAccess",
    "Reader",
    "WriteAccess",
    "Writer",
    "base_url",
    "broker_router",
    "context",
    "hal",
    "link",
    "problem_response",
    "read_body",
    "read_json",
]


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


def context(request: Request) -> BrokerContext:
    found: BrokerContext = request.app.state.broker
    return found


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="covenant-broker"'}


async def require(request: Request, *, write: bool) -> BrokerContext:
    """The broker context once the request's values are usable and its token may
    read (or write); a problem (400, 401, 403) otherwise."""
    errors = query_errors(request.path_params.items(), request.query_params.multi_items())
    if errors:
        raise bad_request(errors)
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
    ctx = await require(request, write=False)
    await ctx.ensure_ready()
    async with ctx.database.reading() as conn:
        yield conn


async def _writer(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    ctx = await require(request, write=True)
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


async def _write_access(request: Request) -> BrokerContext:
    ctx = await require(request, write=True)
    await ctx.ensure_ready()
    return ctx


async def _read_access(request: Request) -> BrokerContext:
    ctx = await require(request, write=False)
    await ctx.ensure_ready()
    return ctx


#: The broker context, after checking the token may write; open your own transaction.
WriteAccess = Annotated[BrokerContext, Depends(_write_access)]
#: The broker context, after checking the caller may read.
ReadAccess = Annotated[BrokerContext, Depends(_read_access)]


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
    parsed = parse_json_body(bytes(body))
    try:
        context(request).check_body(request, parsed)
    except RecursionError:
        raise BrokerError(400, "Bad Request", "the body is nested too deeply") from None
    return parsed


async def read_body(request: Request) -> Any:
    """:func:`read_json`, also turning absurdly deep nesting into a 400 (not a 500)."""
    try:
        return await read_json(request)
    except RecursionError:
        raise BrokerError(
            400,
            "Bad Request",
            "the body is not usable JSON: it is nested too deeply",
            errors={"body": ["nested too deeply"]},
        ) from None


def base_url(request: Request) -> str:
    """The broker's address in links: the configured public one, else the request's."""
    configured = context(request).config.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


def link(request: Request, path: str, **extra: Any) -> dict[str, Any]:
    """A HAL link to ``path`` (already URL-encoded) on the broker ``request`` reached."""
    return _hal.link(base_url(request), path, **extra)


def hal(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=HAL_JSON, headers=headers)


# A private-use character stands in for an encoded "/" while the route is matched.
_SLASH = "\ue000"


class EncodedSlashRoute(APIRoute):
    """An APIRoute whose path parameters may contain ``%2F`` (an encoded ``/``)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        raw = scope.get("raw_path")
        if scope.get("type") != "http" or not raw or b"%2f" not in raw.lower():
            return super().matches(scope)
        segments = raw.decode("latin-1").split("/")
        path = "/".join(unquote(segment).replace("/", _SLASH) for segment in segments)
        match, child = super().matches({**scope, "path": path})
        if match is not Match.NONE:
            child["path_params"] = {
                key: value.replace(_SLASH, "/") if isinstance(value, str) else value
                for key, value in child.get("path_params", {}).items()
            }
        return match, child


def broker_router() -> APIRouter:
    return APIRouter(route_class=EncodedSlashRoute)
