"""Verification results and pacts for verification.

* ``POST /pacts/provider/{provider}/for-verification`` — which pacts a provider
  version should verify (see :mod:`contracts.broker._selectors`); the ``GET``
  of the same path is the HAL resource the Pact verifier navigates to first and
  explains how to POST.
* ``POST .../pact-version/{sha}/verification-results`` — what the Rust verifier
  publishes after verifying: ``success``, ``providerApplicationVersion``,
  ``buildUrl``, ``testResults``, ``verifiedBy`` (and ``providerVersionBranch``
  / ``branch`` / ``providerVersionTags``). The provider version (and branch) is
  created when missing; the events ``provider_verification_succeeded`` or
  ``provider_verification_failed`` are emitted after the commit.

No web framework here: validation, SQL, the events and the HAL renderers (which
take the broker's base URL). The routes are :mod:`contracts.broker.resources.verification`.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from contracts.broker import _selectors
from contracts.broker._context import BrokerContext
from contracts.broker._errors import BrokerError, unprocessable
from contracts.broker._hal import link, quote_name
from contracts.broker._hal_urls import (
    iso,
    pact_version_path,
    pacticipant_path,
    verification_results_path,
    version_path,
)
from contracts.broker._queries import (
    Pacticipant,
    add_branch,
    add_tag,
    ensure_version,
    require_pacticipant,
)
from contracts.broker._queries import fetch_all as _rows

__all__ = [
    "MAX_TEXT",
    "latest_result_row",
    "parse_result",
    "record_result",
    "render_for_verification_doc",
    "render_pacts_for_verification",
    "render_results",
    "require_pact",
    "result_row",
    "result_rows",
    "verification_resource",
]

log = logging.getLogger(__name__)

MAX_TEXT = 1024


# --- pacts for verification -----------------------------------------------------------


def _for_verification_path(provider: str) -> str:
    return f"/pacts/provider/{quote_name(provider)}/for-verification"


def render_for_verification_doc(base: str, provider: str) -> dict[str, Any]:
    """The HAL resource the Pact verifier navigates to first: how to POST."""
    return {
        "_links": {
            "self": link(base, _for_verification_path(provider), title="Pacts to be verified"),
            "pb:provider": link(base, pacticipant_path(provider), title="Provider", name=provider),
        },
        "howToUse": (
            "POST a JSON object to this URL: consumerVersionSelectors (an array of"
            " {mainBranch|branch|matchingBranch|tag|latest|deployed|released|"
            "deployedOrReleased|environment|consumer|fallbackBranch|fallbackTag}),"
            " providerVersionBranch, providerVersionTags, includePendingStatus and"
            " includeWipPactsSince (YYYY-MM-DD). With no selectors, the latest pact from"
            " each consumer's main branch and every deployed or released pact are returned."
        ),
        "exampleBody": {
            "consumerVersionSelectors": [{"mainBranch": True}, {"deployedOrReleased": True}],
            "providerVersionBranch": "main",
            "includePendingStatus": True,
            "includeWipPactsSince": "2024-01-01",
        },
    }


def render_pacts_for_verification(
    base: str,
    provider: str,
    pacts: list[_selectors.PactForVerification],
    query: _selectors.ForVerificationRequest,
) -> dict[str, Any]:
    """The pacts ``provider`` should verify, with their verification properties."""
    entries = []
    for pact in pacts:
        url = link(base, pact_version_path(provider, pact.consumer, pact.sha))["href"]
        properties: dict[str, Any] = {}
        if query.include_pending:
            properties["pending"] = pact.pending
        if pact.wip:
            properties["wip"] = True
        properties["notices"] = _selectors.notices(pact, provider, url, query)
        entries.append(
            {
                "shortDescription": _selectors.short_descriptions(pact),
                "verificationProperties": properties,
                "_links": {
                    "self": {
                        "href": url,
                        "name": (
                            f"Pact between {pact.consumer}"
                            f" ({pact.latest_consumer_version}) and {provider}"
                        ),
                    }
                },
            }
        )
    return {
        "_embedded": {"pacts": entries},
        "_links": {
            "self": link(base, _for_verification_path(provider), title="Pacts to be verified")
        },
    }


# --- verification results ---------------------------------------------------------------

_RESULT_SQL = """
SELECT ver.id, ver.pact_version_sha AS sha, ver.success, ver.build_url, ver.test_results,
       ver.verified_by, ver.created_at, pv.number AS provider_version,
       (SELECT b.name FROM broker.branch_versions bv JOIN broker.branches b ON b.id = bv.branch_id
         WHERE bv.version_id = pv.id ORDER BY bv.created_at DESC LIMIT 1) AS provider_branch,
       prov.name AS provider, con.name AS consumer,
       (SELECT cv.number FROM broker.pact_publications pp
          JOIN broker.versions cv ON cv.id = pp.consumer_version_id
         WHERE pp.pact_version_sha = ver.pact_version_sha
         ORDER BY pp.consumer_version_id DESC LIMIT 1) AS consumer_version
  FROM broker.verifications ver
  JOIN broker.versions pv ON pv.id = ver.provider_version_id
  JOIN broker.pact_versions pact ON pact.sha = ver.pact_version_sha
  JOIN broker.pacticipants prov ON prov.id = pact.provider_id
  JOIN broker.pacticipants con ON con.id = pact.consumer_id
"""


def _result_path(row: dict[str, Any]) -> str:
    return f"{verification_results_path(row['provider'], row['consumer'], row['sha'])}/{row['id']}"


def verification_resource(base: str, row: dict[str, Any]) -> dict[str, Any]:
    pact_name = f"Pact between {row['consumer']} ({row['consumer_version']}) and {row['provider']}"
    body: dict[str, Any] = {
        "providerName": row["provider"],
        "providerApplicationVersion": row["provider_version"],
        "success": row["success"],
        "verificationDate": iso(row["created_at"]),
        "createdAt": iso(row["created_at"]),
    }
    if row["provider_branch"] is not None:
        body["providerVersionBranch"] = row["provider_branch"]
    if row["build_url"] is not None:
        body["buildUrl"] = row["build_url"]
    if row["test_results"] is not None:
        body["testResults"] = row["test_results"]
    if row["verified_by"] is not None:
        body["verifiedBy"] = row["verified_by"]
    body["_links"] = {
        "self": link(
            base,
            _result_path(row),
            title="Verification result",
            name=f"Verification result {row['id']} for {pact_name}",
        ),
        "pb:pact-version": link(
            base,
            pact_version_path(row["provider"], row["consumer"], row["sha"]),
            title="Pact",
            name=pact_name,
        ),
        "pb:provider": link(
            base, pacticipant_path(row["provider"]), title="Provider", name=row["provider"]
        ),
        "pb:provider-version": link(
            base,
            version_path(row["provider"], row["provider_version"]),
            title="Provider version",
            name=row["provider_version"],
        ),
    }
    return body


async def require_pact(
    conn: psycopg.AsyncConnection, provider: str, consumer: str, sha: str
) -> tuple[Pacticipant, str]:
    """The provider and the pact version ``sha`` between it and ``consumer`` (404 if not)."""
    prov = await require_pacticipant(conn, provider)
    found = await _rows(
        conn,
        "SELECT pv.sha FROM broker.pact_versions pv"
        " JOIN broker.pacticipants c ON c.id = pv.consumer_id"
        " WHERE pv.sha = %s AND pv.provider_id = %s AND c.name = %s",
        (sha, prov.id, consumer),
    )
    if not found:
        raise BrokerError(
            404,
            "Not Found",
            f"no pact version '{sha}' between consumer '{consumer}' and provider '{provider}'",
        )
    return prov, sha


def _text(
    body: dict[str, Any], key: str, errors: dict[str, list[str]], *, required: bool = False
) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            errors.setdefault(key, []).append("is required")
        return None
    if not isinstance(value, str) or not value.strip():
        errors.setdefault(key, []).append("must be a non-empty string")
        return None
    if len(value) > MAX_TEXT:
        errors.setdefault(key, []).append(f"must be at most {MAX_TEXT} characters")
        return None
    return value


def parse_result(body: Any) -> dict[str, Any]:
    """The verification result a body describes (400/422 naming every problem)."""
    if not isinstance(body, dict):
        raise BrokerError(
            400, "Bad Request", "the body must be a JSON object", errors={"body": ["not an object"]}
        )
    errors: dict[str, list[str]] = {}
    success = body.get("success")
    if not isinstance(success, bool):
        errors.setdefault("success", []).append(
            "is required" if success is None else "must be true or false"
        )
    version = _text(body, "providerApplicationVersion", errors, required=True)
    build_url = _text(body, "buildUrl", errors)
    branch = _text(body, "providerVersionBranch", errors) or _text(body, "branch", errors)
    tags = body.get("providerVersionTags") or body.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        errors.setdefault("providerVersionTags", []).append("must be an array of non-empty strings")
        tags = []
    test_results = body.get("testResults")
    if test_results is not None and not isinstance(test_results, (list, dict)):
        errors.setdefault("testResults", []).append("must be an array or an object")
    verified_by = body.get("verifiedBy")
    if verified_by is not None and not isinstance(verified_by, dict):
        errors.setdefault("verifiedBy", []).append("must be an object")
    if errors:
        raise unprocessable(errors)
    return {
        "success": success,
        "version": version,
        "build_url": build_url,
        "branch": branch,
        "tags": tags,
        "test_results": test_results,
        "verified_by": verified_by,
    }


async def record_result(
    ctx: BrokerContext, base: str, provider: str, consumer: str, sha: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Store a verification result (``fields`` from :func:`parse_result`) in one
    transaction, then tell the listeners; the stored result as HAL."""
    async with ctx.database.transaction() as conn:
        prov, sha = await require_pact(conn, provider, consumer, sha)
        version = await ensure_version(conn, prov, fields["version"], fields["build_url"])
        if fields["branch"]:
            await add_branch(conn, version, fields["branch"])
        for tag in fields["tags"]:
            await add_tag(conn, version, tag)
        created = await _rows(
            conn,
            "INSERT INTO broker.verifications (pact_version_sha, provider_version_id, success,"
            " build_url, test_results, verified_by) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (
                sha,
                version.id,
                fields["success"],
                fields["build_url"],
                Jsonb(fields["test_results"]) if fields["test_results"] is not None else None,
                Jsonb(fields["verified_by"]) if fields["verified_by"] is not None else None,
            ),
        )
        row = (await _rows(conn, _RESULT_SQL + " WHERE ver.id = %s", (created[0]["id"],)))[0]
    # Committed: now the listeners (webhooks) may hear about it.
    resource = verification_resource(base, row)
    event = (
        "provider_verification_succeeded" if fields["success"] else "provider_verification_failed"
    )
    payload = {
        "consumerName": row["consumer"],
        "providerName": row["provider"],
        "consumerVersionNumber": row["consumer_version"],
        "providerVersionNumber": row["provider_version"],
        "providerVersionBranch": row["provider_branch"] or "",
        "pactVersionSha": row["sha"],
        "pactUrl": resource["_links"]["pb:pact-version"]["href"],
        "verificationResultUrl": resource["_links"]["self"]["href"],
        "success": bool(fields["success"]),
    }
    try:
        await ctx.emit(event, payload)
    except Exception:  # a listener's failure must not undo a stored result
        log.exception("a listener failed on %s", event)
    return resource


async def result_rows(conn: psycopg.AsyncConnection, sha: str) -> list[dict[str, Any]]:
    """Every verification result of pact version ``sha``, newest first."""
    return await _rows(
        conn, _RESULT_SQL + " WHERE ver.pact_version_sha = %s ORDER BY ver.id DESC", (sha,)
    )


def render_results(
    base: str, provider: str, consumer: str, sha: str, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "_embedded": {"verificationResults": [verification_resource(base, r) for r in rows]},
        "_links": {
            "self": link(
                base,
                verification_results_path(provider, consumer, sha),
                title="Verification results",
            ),
            "pb:pact-version": link(base, pact_version_path(provider, consumer, sha), title="Pact"),
        },
    }


async def latest_result_row(
    conn: psycopg.AsyncConnection, provider: str, consumer: str, sha: str
) -> dict[str, Any]:
    """The newest verification result of the pact version (404 if there is none)."""
    await require_pact(conn, provider, consumer, sha)
    rows = await _rows(
        conn, _RESULT_SQL + " WHERE ver.pact_version_sha = %s ORDER BY ver.id DESC LIMIT 1", (sha,)
    )
    if not rows:
        raise BrokerError(404, "Not Found", f"pact version '{sha}' has no verification results")
    return rows[0]


async def result_row(
    conn: psycopg.AsyncConnection, provider: str, consumer: str, sha: str, result_id: str
) -> dict[str, Any]:
    """Verification result ``result_id`` of the pact version (404 if there is none)."""
    await require_pact(conn, provider, consumer, sha)
    rows = (
        await _rows(
            conn,
            _RESULT_SQL + " WHERE ver.pact_version_sha = %s AND ver.id = %s",
            (sha, int(result_id)),
        )
        if result_id.isdigit() and len(result_id) < 19
        else []
    )
    if not rows:
        raise BrokerError(
            404, "Not Found", f"no verification result '{result_id}' for pact version '{sha}'"
        )
    return rows[0]
