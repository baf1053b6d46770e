"""Environments, deployments and releases over HTTP. What a request must hold, the
reads and writes and the HAL are :mod:`contracts.broker._environments`'s; these
routes read the request, call them and answer."""

from __future__ import annotations

from fastapi import Request, Response

from contracts.broker import _environments
from contracts.broker.resources._http import (
    Reader,
    Writer,
    base_url,
    broker_router,
    hal,
    read_json,
)

__all__ = ["router"]

router = broker_router()


def _self_path(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


@router.get("/environments")
async def list_environments(request: Request, conn: Reader) -> Response:
    name = request.query_params.get("name")
    rows = await _environments.list_environments(conn, name)
    return hal(_environments.environments_body(base_url(request), rows))


@router.post("/environments")
async def create_environment(request: Request, conn: Writer) -> Response:
    row = await _environments.create_environment(conn, await read_json(request))
    body = _environments.environment_resource(base_url(request), row)
    return hal(body, 201, headers={"Location": body["_links"]["self"]["href"]})


@router.get("/environments/{env_id}")
async def get_environment(env_id: str, request: Request, conn: Reader) -> Response:
    row = await _environments.find_environment(conn, env_id)
    return hal(_environments.environment_resource(base_url(request), row))


@router.put("/environments/{env_id}")
async def update_environment(env_id: str, request: Request, conn: Writer) -> Response:
    row = await _environments.update_environment(conn, env_id, await read_json(request))
    return hal(_environments.environment_resource(base_url(request), row))


@router.delete("/environments/{env_id}")
async def delete_environment(env_id: str, conn: Writer) -> Response:
    await _environments.delete_environment(conn, env_id)
    return Response(status_code=204)


@router.post("/pacticipants/{name}/versions/{number}/deployed-versions/environment/{env_id}")
async def record_deployment(
    name: str, number: str, env_id: str, request: Request, conn: Writer
) -> Response:
    body = _environments.object_body(await read_json(request) if await _has_body(request) else None)
    row, created = await _environments.record_deployment(conn, name, number, env_id, body)
    resource = _environments.deployed_resource(base_url(request), row)
    status = 201 if created else 200
    return hal(resource, status, headers={"Location": resource["_links"]["self"]["href"]})


async def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return request.headers.get("transfer-encoding", "").lower() == "chunked"


@router.get("/pacticipants/{name}/versions/{number}/deployed-versions/environment/{env_id}")
async def deployments_of_version(
    name: str, number: str, env_id: str, request: Request, conn: Reader
) -> Response:
    rows = await _environments.deployments_of_version(conn, name, number, env_id)
    base = base_url(request)
    entries = [_environments.deployed_resource(base, r) for r in rows]
    return hal(
        _environments.collection(
            base, _self_path(request), "deployedVersions", entries, "Deployed versions"
        )
    )


@router.get("/environments/{env_id}/deployed-versions/currently-deployed")
async def currently_deployed(env_id: str, request: Request, conn: Reader) -> Response:
    env, rows = await _environments.currently_deployed(
        conn,
        env_id,
        pacticipant=request.query_params.get("pacticipant"),
        instance=request.query_params.get("applicationInstance"),
    )
    base = base_url(request)
    entries = [_environments.deployed_resource(base, r) for r in rows]
    title = f"Currently deployed versions for {env['display_name'] or env['name']}"
    return hal(
        _environments.collection(base, _self_path(request), "deployedVersions", entries, title)
    )


@router.get("/deployed-versions/{deployed_id}")
async def get_deployed_version(deployed_id: str, request: Request, conn: Reader) -> Response:
    row = await _environments.find_deployed(conn, deployed_id)
    return hal(_environments.deployed_resource(base_url(request), row))


@router.patch("/deployed-versions/{deployed_id}")
async def patch_deployed_version(deployed_id: str, request: Request, conn: Writer) -> Response:
    row = await _environments.patch_deployed_version(conn, deployed_id, await read_json(request))
    return hal(_environments.deployed_resource(base_url(request), row))


@router.post("/pacticipants/{name}/versions/{number}/released-versions/environment/{env_id}")
async def record_release(
    name: str, number: str, env_id: str, request: Request, conn: Writer
) -> Response:
    if await _has_body(request):
        _environments.object_body(await read_json(request))
    row, created = await _environments.record_release(conn, name, number, env_id)
    resource = _environments.released_resource(base_url(request), row)
    status = 201 if created else 200
    return hal(resource, status, headers={"Location": resource["_links"]["self"]["href"]})


@router.get("/pacticipants/{name}/versions/{number}/released-versions/environment/{env_id}")
async def releases_of_version(
    name: str, number: str, env_id: str, request: Request, conn: Reader
) -> Response:
    rows = await _environments.releases_of_version(conn, name, number, env_id)
    base = base_url(request)
    entries = [_environments.released_resource(base, r) for r in rows]
    return hal(
        _environments.collection(
            base, _self_path(request), "releasedVersions", entries, "Released versions"
        )
    )


@router.get("/environments/{env_id}/released-versions/currently-supported")
async def currently_supported(env_id: str, request: Request, conn: Reader) -> Response:
    env, rows = await _environments.currently_supported(
        conn, env_id, pacticipant=request.query_params.get("pacticipant")
    )
    base = base_url(request)
    entries = [_environments.released_resource(base, r) for r in rows]
    title = f"Currently supported released versions for {env['display_name'] or env['name']}"
    return hal(
        _environments.collection(base, _self_path(request), "releasedVersions", entries, title)
    )


@router.get("/released-versions/{released_id}")
async def get_released_version(released_id: str, request: Request, conn: Reader) -> Response:
    row = await _environments.find_released(conn, released_id)
    return hal(_environments.released_resource(base_url(request), row))


@router.patch("/released-versions/{released_id}")
async def patch_released_version(released_id: str, request: Request, conn: Writer) -> Response:
    row = await _environments.patch_released_version(conn, released_id, await read_json(request))
    return hal(_environments.released_resource(base_url(request), row))
