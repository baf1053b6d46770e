"""``GET /``: the index, where Pact tooling starts navigating (the relations are
:mod:`contracts.broker._index`'s)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from contracts.broker._index import render_index
from contracts.broker.resources._http import ReadAccess, base_url, broker_router, hal

router = broker_router()

__all__ = ["router"]


@router.get("/")
async def index(request: Request, _ctx: ReadAccess) -> JSONResponse:
    return hal(render_index(base_url(request)))
