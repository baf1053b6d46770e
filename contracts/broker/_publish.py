"""Publishing and reading pacts.

Publishing, two ways (both need a read-write token, both land whole or not at all):

* ``POST /contracts/publish`` — the consumer version, its branch and tags, and
  any number of base64-encoded pacts in one request (what ``pact broker publish``
  sends). Each contract may say ``onConflict``: ``"overwrite"`` or ``"merge"``.
* ``PUT /pacts/provider/{provider}/consumer/{consumer}/version/{version}`` — the
  pact JSON as the body; ``?allowOverwrite=true`` replaces a different pact
  already published for that consumer version. ``PATCH`` on the same path merges.

Republishing identical content is a no-op (200, same sha). Different content
for the same consumer version and provider is ``409 Conflict`` unless overwrite
or merge was asked for: a consumer version's pact should not change under a
provider that may already have verified it. After a publication that created
or changed a pact, ``contract_published`` (and, when no successful
verification of that content exists, ``contract_requiring_verification_published``)
is emitted to the webhook listeners — after the commit.

No web framework here: the validation, the transactions and the HAL renderers
(which take the broker's base URL). The routes are
:mod:`contracts.broker.resources.publish`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from contracts.broker._context import BrokerContext
from contracts.broker._errors import BrokerError, bad_request, unprocessable
from contracts.broker._hal import link, quote_name
from contracts.broker._hal_urls import (
    branch_path,
    branch_version_path,
    iso,
    pact_path,
    pact_version_path,
    pacticipant_path,
    pacts_between,
    tag_path,
    version_path,
)
from contracts.broker._pacts import (
    Errors,
    OnConflict,
    PublishResult,
    check_name,
    decode_content,
    find_pacts,
    has_successful_verification,
    pact_title,
    store_pact,
    validate_pact,
)
from contracts.broker._queries import (
    add_branch,
    add_tag,
    ensure_pacticipant,
    ensure_version,
    find_pacticipant,
    find_version,
)

__all__ = [
    "Contract",
    "Publication",
    "Published",
    "check_pact_names",
    "find_provider_pacts",
    "flag",
    "latest_branch_pact",
    "latest_pact",
    "latest_tagged_pact",
    "pact_by_sha",
    "pact_for_version",
    "parse_publication",
    "parse_single_pact",
    "render_latest_pacts",
    "render_provider_pacts",
    "render_publication",
    "store_publication",
    "store_single_pact",
]


@dataclass
class Contract:
    index: int
    provider: str
    content: dict[str, Any]
    on_conflict: OnConflict


@dataclass
class Publication:
    consumer: str
    number: str
    branch: str | None
    tags: list[str]
    build_url: str | None
    contracts: list[Contract]


_ON_CONFLICT: dict[str, OnConflict] = {"overwrite": "overwrite", "merge": "merge"}


def parse_publication(body: Any) -> Publication:
    """The publication a ``POST /contracts/publish`` body describes, or a 400/422."""
    errors: Errors = {}
    if not isinstance(body, dict):
        raise bad_request({"body": ["must be a JSON object"]})
    consumer = check_name(body.get("pacticipantName"), "pacticipantName", errors)
    number_key = (
        "versionNumber"
        if "pacticipantVersionNumber" not in body and ("versionNumber" in body)
        else "pacticipantVersionNumber"
    )
    number = check_name(body.get(number_key), number_key, errors)
    branch = check_name(body.get("branch"), "branch", errors, required=False)
    raw_tags = body.get("tags")
    tags: list[str] = []
    if raw_tags is not None:
        if not isinstance(raw_tags, list):
            errors.setdefault("tags", []).append("must be a list of strings")
        else:
            for index, tag in enumerate(raw_tags):
                checked = check_name(tag, f"tags[{index}]", errors)
                if checked is not None and checked not in tags:
                    tags.append(checked)
    build_url = body.get("buildUrl")
    if build_url is not None and not isinstance(build_url, str):
        errors.setdefault("buildUrl", []).append("must be a string")
        build_url = None
    raw_contracts = body.get("contracts")
    contracts: list[Contract] = []
    if not isinstance(raw_contracts, list) or not raw_contracts:
        errors.setdefault("contracts", []).append("must be a non-empty list")
        raw_contracts = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_contracts):
        where = f"contracts[{index}]"
        if not isinstance(raw, dict):
            errors.setdefault(where, []).append("must be an object")
            continue
        contract_consumer = check_name(
            raw.get("consumerName", consumer), f"{where}.consumerName", errors
        )
        if contract_consumer and consumer and contract_consumer != consumer:
            errors.setdefault(f"{where}.consumerName", []).append(
                f"is '{contract_consumer}' but pacticipantName is '{consumer}'"
            )
        provider = check_name(raw.get("providerName"), f"{where}.providerName", errors)
        if provider is not None:
            if provider in seen:
                errors.setdefault(f"{where}.providerName", []).append(
                    f"contracts[{seen[provider]}] already publishes a pact with '{provider}'"
                )
            seen.setdefault(provider, index)
        specification = raw.get("specification", "pact")
        if not isinstance(specification, str) or specification.lower() != "pact":
            errors.setdefault(f"{where}.specification", []).append("must be 'pact'")
        content_type = raw.get("contentType", "application/json")
        if not isinstance(content_type, str) or not content_type.lower().startswith(
            "application/json"
        ):
            errors.setdefault(f"{where}.contentType", []).append("must be 'application/json'")
        on_conflict: OnConflict = "error"
        raw_conflict = raw.get("onConflict")
        if raw_conflict is not None:
            if isinstance(raw_conflict, str) and raw_conflict.lower() in _ON_CONFLICT:
                on_conflict = _ON_CONFLICT[raw_conflict.lower()]
            else:
                errors.setdefault(f"{where}.onConflict", []).append(
                    "must be 'overwrite' or 'merge' (or left out to refuse changes)"
                )
        ok, content = decode_content(raw.get("content"), f"{where}.content", errors)
        if ok:
            validate_pact(
                content,
                f"{where}.content",
                errors,
                consumer=contract_consumer,
                provider=provider,
            )
        if ok and provider is not None and isinstance(content, dict):
            contracts.append(Contract(index, provider, content, on_conflict))
    if errors:
        raise unprocessable(errors)
    assert consumer is not None and number is not None
    return Publication(consumer, number, branch, tags, build_url, contracts)


_NOTICE_TEXT = {
    "created": "Pact successfully published for {c} version {v} and provider {p}.",
    "unchanged": "Pact for {c} version {v} and provider {p} is unchanged (identical content).",
    "overwritten": "Pact for {c} version {v} and provider {p} was overwritten with new content.",
    "merged": "Pact for {c} version {v} and provider {p} was merged with the new interactions.",
}
_NOTICE_TYPE = {
    "created": "success",
    "unchanged": "success",
    "overwritten": "warning",
    "merged": "success",
}


@dataclass
class Published:
    """What storing a publication did, for the events and the answer."""

    #: One per contract, in the order they were stored (by provider name).
    results: list[PublishResult]
    #: The shas no successful verification exists for.
    needs_verification: set[str]
    #: Whether the consumer version was new.
    new_version: bool


async def store_publication(ctx: BrokerContext, publication: Publication) -> Published:
    """Store a consumer version's pacts, branch and tags in one transaction (committed
    on return; the events are the caller's, after the commit)."""
    consumer_name, number = publication.consumer, publication.number
    results: list[PublishResult] = []
    needs_verification: set[str] = set()
    async with ctx.database.transaction() as conn:
        # Lock pacticipant rows in one global order (by name) so concurrent
        # publishers that share pacticipants cannot deadlock.
        names = sorted({consumer_name, *(c.provider for c in publication.contracts)})
        pacticipants = {name: await ensure_pacticipant(conn, name) for name in names}
        consumer = pacticipants[consumer_name]
        new_version = await find_version(conn, consumer, number) is None
        version = await ensure_version(conn, consumer, number, publication.build_url)
        if publication.branch:
            await add_branch(conn, version, publication.branch)
        for tag in sorted(publication.tags):
            await add_tag(conn, version, tag)
        for contract in sorted(publication.contracts, key=lambda c: c.provider):
            sha, outcome = await store_pact(
                conn,
                consumer=consumer,
                provider=pacticipants[contract.provider],
                version=version,
                content=contract.content,
                on_conflict=contract.on_conflict,
                where=f"contracts[{contract.index}].content",
            )
            results.append(
                PublishResult(
                    consumer_name,
                    contract.provider,
                    number,
                    sha,
                    outcome,
                    publication.branch,
                    list(publication.tags),
                )
            )
            if outcome != "unchanged" and not await has_successful_verification(conn, sha):
                needs_verification.add(sha)
    return Published(results, needs_verification, new_version)


def render_publication(base: str, publication: Publication, published: Published) -> dict[str, Any]:
    """The answer to ``POST /contracts/publish``: notices, logs and links."""
    consumer_name, number = publication.consumer, publication.number
    results = sorted(
        published.results,
        key=lambda r: next(c.index for c in publication.contracts if c.provider == r.provider),
    )
    verb = "Created" if published.new_version else "Updated"
    summary = f"{verb} {consumer_name} version {number}"
    if publication.branch:
        summary += f" with branch {publication.branch}"
    if publication.tags:
        summary += (
            (" and" if publication.branch else " with") + " tags " + ", ".join(publication.tags)
        )
    notices = [{"type": "success", "text": summary}]
    for result in results:
        url = link(base, pact_path(result.provider, consumer_name, number))["href"]
        text = _NOTICE_TEXT[result.outcome].format(c=consumer_name, v=number, p=result.provider)
        notices.append({"type": _NOTICE_TYPE[result.outcome], "text": f"{text} {url}"})
    vpath = version_path(consumer_name, number)
    body: dict[str, Any] = {
        "notices": notices,
        "logs": [
            {
                "level": "warn" if n["type"] == "warning" else "info",
                "message": n["text"],
                "deprecationWarning": "Replaced by notices",
            }
            for n in notices
        ],
        "_embedded": {
            "pacticipant": {
                "name": consumer_name,
                "_links": {"self": link(base, pacticipant_path(consumer_name))},
            },
            "version": {
                "number": number,
                "buildUrl": publication.build_url,
                "_links": {"self": link(base, vpath, title="Version", name=number)},
            },
        },
        "_links": {
            "pb:pacticipant": link(
                base, pacticipant_path(consumer_name), title="Pacticipant", name=consumer_name
            ),
            "pb:pacticipant-version": link(base, vpath, title="Pacticipant version", name=number),
            "pb:pacticipant-version-tags": [
                link(base, tag_path(consumer_name, number, tag), title="Tag", name=tag)
                for tag in publication.tags
            ],
            "pb:contracts": [
                link(
                    base,
                    pact_path(r.provider, consumer_name, number),
                    title="Pact",
                    name=f"Pact between {consumer_name} ({number}) and {r.provider}",
                )
                for r in results
            ],
        },
    }
    if publication.branch:
        body["_links"]["pb:branch"] = link(
            base,
            branch_path(consumer_name, publication.branch),
            title="Branch",
            name=publication.branch,
        )
        body["_links"]["pb:branch-version"] = link(
            base,
            branch_version_path(consumer_name, publication.branch, number),
            title="Branch version",
            name=publication.branch,
        )
    return body


def flag(value: str | None, name: str) -> bool:
    """The boolean query parameter ``name`` given as ``value`` (absent: false)."""
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise BrokerError(
        400,
        "Bad Request",
        f"query parameter {name} must be true or false",
        errors={f"query.{name}": ["must be true or false"]},
    )


def check_pact_names(provider: str, consumer: str, version: str) -> None:
    """The names a pact's path gives are names (400 otherwise)."""
    errors: Errors = {}
    check_name(provider, "path.provider", errors)
    check_name(consumer, "path.consumer", errors)
    check_name(version, "path.version", errors)
    if errors:
        raise bad_request(errors)


def parse_single_pact(content: Any, provider: str, consumer: str) -> Any:
    """``content`` when it is a pact between ``consumer`` and ``provider`` (422 otherwise)."""
    errors: Errors = {}
    validate_pact(content, "", errors, consumer=consumer, provider=provider)
    if errors:
        raise unprocessable(errors)
    return content


async def store_single_pact(
    ctx: BrokerContext,
    provider: str,
    consumer: str,
    version: str,
    content: Any,
    on_conflict: OnConflict,
) -> tuple[PublishResult, set[str], dict[str, Any]]:
    """Store one pact in one transaction: what happened, the shas needing verification
    and the stored pact's row (to render)."""
    async with ctx.database.transaction() as conn:
        names = sorted({consumer, provider})
        pacticipants = {name: await ensure_pacticipant(conn, name) for name in names}
        consumer_row = pacticipants[consumer]
        version_row = await ensure_version(conn, consumer_row, version)
        sha, outcome = await store_pact(
            conn,
            consumer=consumer_row,
            provider=pacticipants[provider],
            version=version_row,
            content=content,
            on_conflict=on_conflict,
            where="body",
        )
        needs: set[str] = set()
        if outcome != "unchanged" and not await has_successful_verification(conn, sha):
            needs.add(sha)
        rows = await find_pacts(
            conn, provider=provider, consumer=consumer, version=version, latest=True
        )
    return PublishResult(consumer, provider, version, sha, outcome), needs, rows[0]


# --- reading ---------------------------------------------------------------


def _not_found(detail: str) -> BrokerError:
    return BrokerError(404, "Not Found", detail)


async def pact_for_version(
    conn: psycopg.AsyncConnection, provider: str, consumer: str, version: str
) -> dict[str, Any]:
    rows = await find_pacts(
        conn, provider=provider, consumer=consumer, version=version, latest=True
    )
    if not rows:
        raise _not_found(
            f"no pact between consumer '{consumer}' version '{version}' and provider '{provider}'"
        )
    return rows[0]


async def pact_by_sha(
    conn: psycopg.AsyncConnection, provider: str, consumer: str, sha: str
) -> dict[str, Any]:
    rows = await find_pacts(conn, provider=provider, consumer=consumer, sha=sha, latest=True)
    if not rows:
        raise _not_found(
            f"no pact version '{sha}' between consumer '{consumer}' and provider '{provider}'"
        )
    return rows[0]


async def latest_pact(
    conn: psycopg.AsyncConnection, provider: str, consumer: str
) -> dict[str, Any]:
    rows = await find_pacts(conn, provider=provider, consumer=consumer, latest=True)
    if not rows:
        raise _not_found(f"no pact between consumer '{consumer}' and provider '{provider}'")
    return rows[0]


async def latest_tagged_pact(
    conn: psycopg.AsyncConnection, provider: str, consumer: str, tag: str
) -> dict[str, Any]:
    rows = await find_pacts(conn, provider=provider, consumer=consumer, tag=tag, latest=True)
    if not rows:
        raise _not_found(
            f"no pact between consumer '{consumer}' and provider '{provider}'"
            f" for a consumer version tagged '{tag}'"
        )
    return rows[0]


async def latest_branch_pact(
    conn: psycopg.AsyncConnection, provider: str, consumer: str, branch: str
) -> dict[str, Any]:
    rows = await find_pacts(conn, provider=provider, consumer=consumer, branch=branch, latest=True)
    if not rows:
        raise _not_found(
            f"no pact between consumer '{consumer}' and provider '{provider}'"
            f" for a consumer version on branch '{branch}'"
        )
    return rows[0]


def render_latest_pacts(base: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The latest pact of every consumer/provider pair (``list-latest-pact-versions``)."""
    pacts = []
    for row in rows:
        consumer, provider, number = row["consumer"], row["provider"], row["version"]
        pacts.append(
            {
                "createdAt": iso(row["created_at"]),
                "_embedded": {
                    "consumer": {
                        "name": consumer,
                        "_links": {"self": link(base, pacticipant_path(consumer))},
                        "_embedded": {
                            "version": {
                                "number": number,
                                "_links": {"self": link(base, version_path(consumer, number))},
                            }
                        },
                    },
                    "provider": {
                        "name": provider,
                        "_links": {"self": link(base, pacticipant_path(provider))},
                    },
                },
                "_links": {
                    "self": [
                        link(
                            base,
                            f"{pacts_between(provider, consumer)}/latest",
                            title="Latest pact",
                            name=pact_title(row),
                        ),
                        link(
                            base,
                            pact_path(provider, consumer, number),
                            title="Pact",
                            name=pact_title(row),
                        ),
                    ],
                    "pb:pact-version": link(
                        base,
                        pact_version_path(provider, consumer, row["sha"]),
                        name=row["sha"],
                    ),
                },
            }
        )
    return {
        "_links": {"self": link(base, "/pacts/latest", title="Latest pact versions")},
        "pacts": pacts,
    }


async def find_provider_pacts(
    conn: psycopg.AsyncConnection, provider: str, *, tag: str | None, latest: bool
) -> list[dict[str, Any]]:
    """The provider's pacts (with consumer versions tagged ``tag``; only each pair's
    latest when ``latest``); 404 when there is no such provider."""
    if await find_pacticipant(conn, provider) is None:
        raise _not_found(f"no pacticipant named '{provider}'")
    if latest:
        return await find_pacts(conn, provider=provider, tag=tag, latest_per_integration=True)
    return await find_pacts(conn, provider=provider, tag=tag)


def render_provider_pacts(
    base: str,
    provider: str,
    rows: list[dict[str, Any]],
    *,
    tag: str | None,
    latest: bool,
    title: str,
) -> dict[str, Any]:
    self_path = f"/pacts/provider/{quote_name(provider)}"
    if latest:
        self_path += "/latest" + (f"/{quote_name(tag)}" if tag is not None else "")
    pacts = [
        link(
            base,
            pact_path(provider, row["consumer"], row["version"]),
            title=pact_title(row),
            name=row["consumer"],
        )
        for row in rows
    ]
    provider_link = link(base, pacticipant_path(provider), title="Provider", name=provider)
    return {
        "_links": {
            "self": link(base, self_path, title=title),
            "pb:provider": provider_link,
            "provider": provider_link,
            "pb:pacts": pacts,
            "pacts": pacts,
        }
    }
