"""Status badges over HTTP (``image/svg+xml``): a pact's verification, a matrix cell
between tags, and can-i-deploy. What they say is :mod:`contracts.broker._badges`'s,
how they are drawn :mod:`contracts.broker._badge_svg`'s.

As in the Pact Broker, a badge answers 200 even when what it is about does not
exist (``pact not found``, ``pacticipant not found``, ...): it is meant for a
README. Reads need a token like every other read when anonymous reads are off; an
unreachable database is still a 503 problem document. These routes come before the
pact routes, so ``.../latest/badge`` is a badge and not the latest pact tagged
``badge`` (as in the Pact Broker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from contracts.broker import _badges
from contracts.broker._badge_svg import Badge
from contracts.broker._errors import BrokerError
from contracts.broker._matrix import (
    branch_deploy_query,
    tag_deploy_query,
    tag_environment_deploy_query,
)
from contracts.broker._matrix_query import MatrixLookupError, MatrixQuery, run_matrix
from contracts.broker._pacts import find_pacts
from contracts.broker._queries import find_pacticipant
from contracts.broker.resources._http import Reader, broker_router

router = broker_router()

#: Badges answer SVG, not HAL: their own tag, documented by ``_openapi``.
TAGS = ["broker badges"]

__all__ = ["TAGS", "router"]

SVG = "image/svg+xml"


def _svg(badge: Badge) -> Response:
    return Response(badge.svg(), media_type=SVG, headers={"Cache-Control": "no-cache"})


@dataclass(frozen=True)
class Options:
    #: The left text (a pact badge: ``consumer`` or ``provider`` keeps that name only).
    label: str | None
    #: Names as their initials.
    initials: bool


def _options(request: Request) -> Options:
    """``label`` and ``initials``, read before the database is asked anything."""
    value = request.query_params.get("initials")
    if value not in (None, "true", "false"):
        raise BrokerError(
            400,
            "Bad Request",
            "query parameter initials must be true or false",
            errors={"query.initials": ["must be true or false"]},
        )
    return Options(request.query_params.get("label") or None, value == "true")


#: Declared before the connection, so a bad option is a 400 whatever the database does.
BadgeOptions = Annotated[Options, Depends(_options)]


# --- pact and matrix badges ----------------------------------------------------------


async def _pact_badge(
    options: Options,
    conn: Reader,
    provider: str,
    consumer: str,
    *,
    consumer_tag: str | None = None,
    provider_tag: str | None = None,
) -> Response:
    rows = await find_pacts(
        conn, provider=provider, consumer=consumer, tag=consumer_tag, latest=True
    )
    pact = rows[0] if rows else None
    verification = (
        await _badges.latest_verification(
            conn, provider, consumer, consumer_tag=consumer_tag, provider_tag=provider_tag
        )
        if pact is not None
        else None
    )
    badge = _badges.pact_badge(
        consumer,
        provider,
        pact,
        verification,
        label=options.label,
        initials=options.initials,
        consumer_tag=consumer_tag if provider_tag is not None else None,
        provider_tag=provider_tag,
    )
    return _svg(badge)


@router.get(
    "/pacts/provider/{provider}/consumer/{consumer}/latest/badge",
    summary="Badge: is the latest pact between the pair verified?",
)
async def latest_pact_badge(
    options: BadgeOptions, conn: Reader, provider: str, consumer: str
) -> Response:
    return await _pact_badge(options, conn, provider, consumer)


@router.get(
    "/pacts/provider/{provider}/consumer/{consumer}/latest/{tag}/badge",
    summary="Badge: is the latest pact from consumer versions with the tag verified?",
)
async def latest_tagged_pact_badge(
    options: BadgeOptions, conn: Reader, provider: str, consumer: str, tag: str
) -> Response:
    return await _pact_badge(options, conn, provider, consumer, consumer_tag=tag)


@router.get(
    "/matrix/provider/{provider}/latest/{provider_tag}/consumer/{consumer}/latest/{tag}/badge",
    summary="Badge: did the provider's tagged versions verify the consumer's tagged pact?",
)
async def matrix_badge(
    options: BadgeOptions,
    conn: Reader,
    provider: str,
    provider_tag: str,
    consumer: str,
    tag: str,
) -> Response:
    return await _pact_badge(
        options, conn, provider, consumer, consumer_tag=tag, provider_tag=provider_tag
    )


# --- can-i-deploy badges ---------------------------------------------------------------


async def _deployable(conn: Reader, query: MatrixQuery) -> bool | None:
    """Whether the query's answer is deployable; None when it names an unknown thing."""
    try:
        result = await run_matrix(conn, query)
    except MatrixLookupError:
        return None
    return result.summary.deployable is True


async def _can_i_deploy(
    options: Options,
    conn: Reader,
    name: str,
    number: str | None,
    missing_version: tuple[str, str],
    query: MatrixQuery,
    source: str,
    target: str,
    target_kind: str,
) -> Response:
    if await find_pacticipant(conn, name) is None:
        return _svg(_badges.error_badge("pacticipant", "not found"))
    if number is None:
        return _svg(_badges.error_badge(*missing_version))
    if target_kind == "environment" and not await _badges.environment_exists(conn, target):
        return _svg(_badges.error_badge("environment", "not found"))
    deployable = await _deployable(conn, query)
    if deployable is None:
        return _svg(_badges.error_badge(target_kind, "not found"))
    comment = f"{name} version {number}"
    return _svg(_badges.can_i_deploy_badge(options.label, source, target, deployable, comment))


@router.get(
    "/pacticipants/{name}/latest-version/{tag}/can-i-deploy/to/{to}/badge",
    summary="Badge: can the latest version with the tag be deployed where the 'to' tag is?",
)
async def can_i_deploy_tag_badge(
    options: BadgeOptions, conn: Reader, name: str, tag: str, to: str
) -> Response:
    number = await _badges.latest_version(conn, name, tag=tag)
    query = tag_deploy_query(name, tag, to)
    return await _can_i_deploy(
        options, conn, name, number, ("version", "not found"), query, tag, to, "tag"
    )


@router.get(
    "/pacticipants/{name}/latest-version/{tag}/can-i-deploy/to-environment/{environment}/badge",
    summary="Badge: can the latest version with the tag be deployed to the environment?",
)
async def can_i_deploy_tag_to_environment_badge(
    options: BadgeOptions, conn: Reader, name: str, tag: str, environment: str
) -> Response:
    number = await _badges.latest_version(conn, name, tag=tag)
    query = tag_environment_deploy_query(name, tag, environment)
    return await _can_i_deploy(
        options,
        conn,
        name,
        number,
        ("version", "not found"),
        query,
        tag,
        environment,
        "environment",
    )


@router.get(
    "/pacticipants/{name}/branches/{branch}/latest-version/can-i-deploy/to-environment"
    "/{environment}/badge",
    summary="Badge: can the latest version of the branch be deployed to the environment?",
)
async def can_i_deploy_branch_badge(
    options: BadgeOptions, conn: Reader, name: str, branch: str, environment: str
) -> Response:
    number = await _badges.latest_version(conn, name, branch=branch)
    missing = ("version", "not found")
    if number is None and not await _badges.branch_exists(conn, name, branch):
        missing = ("branch", "not found")
    query = branch_deploy_query(name, branch, environment)
    return await _can_i_deploy(
        options, conn, name, number, missing, query, branch, environment, "environment"
    )
