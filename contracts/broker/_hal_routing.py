"""Routing and write access shared by the core broker endpoints.

Two things the shared helpers do not give us:

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

from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from contracts.broker._errors import BrokerError
from contracts.broker._web import BrokerContext, _require, read_json

__all__ = ["EncodedSlashRoute", "ReadAccess", "WriteAccess", "broker_router", "read_body"]

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


async def _write_access(request: Request) -> BrokerContext:
    ctx = await _require(request, write=True)
    await ctx.ensure_ready()
    return ctx


async def _read_access(request: Request) -> BrokerContext:
    ctx = await _require(request, write=False)
    await ctx.ensure_ready()
    return ctx


#: The broker context, after checking the token may write; open your own transaction.
WriteAccess = Annotated[BrokerContext, Depends(_write_access)]
#: The broker context, after checking the caller may read.
ReadAccess = Annotated[BrokerContext, Depends(_read_access)]


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
