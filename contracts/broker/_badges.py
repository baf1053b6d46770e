"""Status badges as the Pact Broker serves them, with its words and colours.

* **Pact badge** — ``/pacts/provider/{p}/consumer/{c}/latest[/{tag}]/badge``: the
  latest pact between the pair (from consumer versions with ``tag``) and the latest
  verification of a pact between them. ``verified`` (brightgreen) when that
  verification passed for exactly this pact, ``changed`` (orange) when it passed for
  an earlier pact, ``failed`` (red), ``unknown`` (lightgrey) when never verified;
  ``pact not found`` / ``unknown`` without a pact. The label is
  ``{consumer}/{provider} pact`` in lower case; ``?label=consumer`` or
  ``?label=provider`` keeps one name, ``?initials=true`` shortens names to their
  initials (``order-service`` -> ``os``, ``OrderService`` -> ``os``).
* **Matrix badge** — ``/matrix/provider/{p}/latest/{ptag}/consumer/{c}/latest/{ctag}/badge``:
  the same for the latest pact from consumer versions tagged ``ctag`` and the latest
  verification by a provider version tagged ``ptag``; the names carry their tags
  (``web (prod)/api (prod) pact``).
* **can-i-deploy badges** — ``can-i-deploy`` (or ``?label=``) and ``{tag} to {to}``
  (or ``{branch} to {environment}``), brightgreen when deployable, red otherwise;
  ``pacticipant``/``version``/``branch``/``environment`` ``not found`` in lightgrey
  when something is missing.

The Pact Broker's PseudoBranchStatus and Badges::Service are the reference; the SVG
is :mod:`contracts.broker._badge_svg`'s. The routes are
:mod:`contracts.broker.resources.badges`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import psycopg

from contracts.broker._badge_svg import Badge
from contracts.broker._queries import fetch_one

__all__ = [
    "Status",
    "branch_exists",
    "can_i_deploy_badge",
    "environment_exists",
    "error_badge",
    "latest_verification",
    "latest_version",
    "pact_badge",
    "pact_badge_title",
    "prepare_name",
    "status_of",
]

Status = Literal["success", "failed", "stale", "never"]

_TEXT: dict[Status, str] = {
    "success": "verified",
    "failed": "failed",
    "stale": "changed",
    "never": "unknown",
}
_COLOR: dict[Status, str] = {
    "success": "brightgreen",
    "failed": "red",
    "stale": "orange",
    "never": "lightgrey",
}


def status_of(pact_sha: str | None, verification: dict[str, Any] | None) -> Status:
    """The Pact Broker's pseudo-branch status of the latest pact given the latest
    verification: never verified, verified, verified before it changed, or failed."""
    if pact_sha is None or verification is None:
        return "never"
    if verification["success"]:
        return "stale" if verification["sha"] != pact_sha else "success"
    return "failed"


_SPACE_DASH_UNDERSCORE = re.compile(r"[\s_\-]")


def _split_camel_case(name: str) -> list[str]:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name)
    return [part for part in name.replace("-", "_").split("_") if part]


def prepare_name(name: str, initials: bool, tag: str | None = None) -> str:
    """A name as a badge shows it: lower case, or its initials, then ``(tag)``."""
    suffix = f" ({tag})" if tag else ""
    if initials:
        parts = [p for p in _SPACE_DASH_UNDERSCORE.split(name) if p]
        if len(parts) == 1:
            parts = _split_camel_case(name)
        if len(parts) > 1:
            return "".join(p[0] for p in parts).lower() + suffix
    return name.lower() + suffix


def pact_badge_title(
    consumer: str,
    provider: str,
    label: str | None,
    initials: bool,
    consumer_tag: str | None = None,
    provider_tag: str | None = None,
) -> str:
    c = prepare_name(consumer, initials, consumer_tag)
    p = prepare_name(provider, initials, provider_tag)
    chosen = (label or "").lower()
    title = c if chosen == "consumer" else p if chosen == "provider" else f"{c}/{p}"
    return f"{title} pact".lower()


def pact_badge(
    consumer: str,
    provider: str,
    pact: dict[str, Any] | None,
    verification: dict[str, Any] | None,
    *,
    label: str | None,
    initials: bool,
    consumer_tag: str | None = None,
    provider_tag: str | None = None,
) -> Badge:
    """The verification badge of the latest pact ``pact`` (None: there is none)."""
    comment = (
        f"{consumer} version {pact['version'] if pact else '?'}"
        f" {provider} version {verification['provider_version'] if verification else '?'}"
        f" number {verification['id'] if verification else '?'}"
    )
    if pact is None:
        return Badge("pact not found", "unknown", "lightgrey", comment)
    status = status_of(pact["sha"], verification)
    title = pact_badge_title(consumer, provider, label, initials, consumer_tag, provider_tag)
    return Badge(title, _TEXT[status], _COLOR[status], comment)


def can_i_deploy_badge(
    label: str | None, source: str, target: str, deployable: bool, comment: str | None = None
) -> Badge:
    """``can-i-deploy`` | ``{source} to {target}``, brightgreen or red."""
    return Badge(
        label or "can-i-deploy",
        f"{source} to {target}",
        "brightgreen" if deployable else "red",
        comment,
    )


def error_badge(left: str, right: str) -> Badge:
    return Badge(left, right, "lightgrey")


# --- what the badges are about -----------------------------------------------------


async def latest_verification(
    conn: psycopg.AsyncConnection,
    provider: str,
    consumer: str,
    *,
    consumer_tag: str | None = None,
    provider_tag: str | None = None,
) -> dict[str, Any] | None:
    """The newest verification of any pact between the pair (published by a consumer
    version tagged ``consumer_tag``, verified by a provider version tagged
    ``provider_tag``): ``id``, ``success``, ``sha`` and ``provider_version``."""
    return await fetch_one(
        conn,
        "SELECT ver.id, ver.success, ver.pact_version_sha AS sha, pv.number AS provider_version"
        " FROM broker.pact_versions pvs"
        " JOIN broker.pacticipants c ON c.id = pvs.consumer_id AND c.name = %(consumer)s"
        " JOIN broker.pacticipants p ON p.id = pvs.provider_id AND p.name = %(provider)s"
        " JOIN LATERAL (SELECT v.* FROM broker.verifications v"
        "   WHERE v.pact_version_sha = pvs.sha AND (%(ptag)s::text IS NULL OR EXISTS ("
        "     SELECT 1 FROM broker.tags t WHERE t.version_id = v.provider_version_id"
        "       AND t.name = %(ptag)s))"
        "   ORDER BY v.id DESC LIMIT 1) ver ON true"
        " JOIN broker.versions pv ON pv.id = ver.provider_version_id"
        " WHERE %(ctag)s::text IS NULL OR EXISTS (SELECT 1 FROM broker.pact_publications pp"
        "   JOIN broker.tags t ON t.version_id = pp.consumer_version_id"
        "   WHERE pp.pact_version_sha = pvs.sha AND pp.provider_id = p.id AND t.name = %(ctag)s)"
        " ORDER BY ver.id DESC LIMIT 1",
        {"consumer": consumer, "provider": provider, "ctag": consumer_tag, "ptag": provider_tag},
    )


async def latest_version(
    conn: psycopg.AsyncConnection,
    pacticipant: str,
    *,
    tag: str | None = None,
    branch: str | None = None,
) -> str | None:
    """The number of the pacticipant's latest version with ``tag`` or on ``branch``."""
    if branch is not None:
        row = await fetch_one(
            conn,
            "SELECT v.number FROM broker.pacticipants p"
            " JOIN broker.branches b ON b.pacticipant_id = p.id AND b.name = %s"
            " JOIN broker.branch_versions bv ON bv.branch_id = b.id"
            " JOIN broker.versions v ON v.id = bv.version_id"
            " WHERE p.name = %s ORDER BY bv.version_id DESC LIMIT 1",
            (branch, pacticipant),
        )
    else:
        row = await fetch_one(
            conn,
            "SELECT v.number FROM broker.pacticipants p"
            " JOIN broker.versions v ON v.pacticipant_id = p.id"
            " JOIN broker.tags t ON t.version_id = v.id AND t.name = %s"
            " WHERE p.name = %s ORDER BY v.id DESC LIMIT 1",
            (tag, pacticipant),
        )
    return None if row is None else str(row["number"])


async def branch_exists(conn: psycopg.AsyncConnection, pacticipant: str, branch: str) -> bool:
    row = await fetch_one(
        conn,
        "SELECT 1 AS found FROM broker.branches b"
        " JOIN broker.pacticipants p ON p.id = b.pacticipant_id"
        " WHERE p.name = %s AND b.name = %s",
        (pacticipant, branch),
    )
    return row is not None


async def environment_exists(conn: psycopg.AsyncConnection, name: str) -> bool:
    row = await fetch_one(
        conn, "SELECT 1 AS found FROM broker.environments WHERE name = %s", (name,)
    )
    return row is not None
