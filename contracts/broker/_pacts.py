"""Pacts: validating content, storing publications safely, reading them back.

A *pact version* is content, identified by the SHA-256 of its canonical JSON
(keys sorted, no insignificant whitespace, UTF-8). A *publication* says "this
consumer version has this pact version with this provider"; there is at most
one per consumer version and provider.

Republishing identical content is a no-op. Different content for a consumer
version that already has a pact with that provider is refused with 409 unless
the caller asks to ``overwrite`` (replace it) or ``merge`` (add the new
interactions; an interaction with the same description and provider states but
different content is still a conflict). Concurrent publishers are serialised on
the publication row (``INSERT ... ON CONFLICT DO NOTHING`` then
``SELECT ... FOR UPDATE``), so exactly one pact ends up stored and the others
are told why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from contracts.broker._context import BrokerContext
from contracts.broker._errors import BrokerError
from contracts.broker._hal import link
from contracts.broker._hal_urls import (
    iso,
    pact_path,
    pact_version_path,
    pacticipant_path,
    pacts_between,
    verification_results_path,
    version_path,
)
from contracts.broker._queries import Pacticipant, Version
from contracts.broker._queries import fetch_one as _one
from contracts.pactfile import (
    DEFAULT_LIMITS,
    JsonTextError,
    ReadLimits,
    check_pact,
    depth_of,
    parse_strict,
)

__all__ = [
    "OnConflict",
    "PublishResult",
    "canonical_json",
    "content_key",
    "decode_content",
    "emit_published",
    "find_pacts",
    "pact_resource",
    "pact_sha",
    "store_pact",
    "validate_pact",
]

log = logging.getLogger(__name__)

OnConflict = Literal["error", "overwrite", "merge"]
Errors = dict[str, list[str]]
MAX_NAME_LENGTH = 256


def canonical_json(content: Any) -> bytes:
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def pact_sha(content: Any) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


def decode_content(
    value: Any, where: str, errors: Errors, *, limits: ReadLimits = DEFAULT_LIMITS
) -> tuple[bool, Any]:
    """Base64 -> UTF-8 -> strict JSON (:func:`contracts.pactfile.parse_strict`);
    returns (ok, value) and reports a problem under ``where``."""
    if not isinstance(value, str) or not value:
        errors.setdefault(where, []).append("is required: the pact as base64-encoded JSON")
        return False, None
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        errors.setdefault(where, []).append("is not valid base64")
        return False, None
    if len(raw) > limits.max_file_bytes:
        errors.setdefault(where, []).append(
            f"decodes to {len(raw)} bytes; a pact may have at most {limits.max_file_bytes}"
        )
        return False, None
    try:
        # As for every JSON body (RFC 8259 lets a parser ignore a byte order mark);
        # files with one are refused by the CLI, which hands them to the verifier.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        errors.setdefault(where, []).append("decodes to bytes that are not UTF-8")
        return False, None
    try:
        return True, parse_strict(text, max_depth=limits.max_depth)
    except JsonTextError as exc:
        at = f" at line {exc.position.line} column {exc.position.column}" if exc.position else ""
        errors.setdefault(content_key(where, exc.pointer), []).append(
            f"is not a pact: {exc.message}{at}"
        )
    return False, None


def content_key(where: str, pointer: str) -> str:
    """Where a problem inside a pact is: the body field that holds the pact, then
    the JSON pointer inside it, e.g. ``contracts[0].content#/interactions/0/request/method``."""
    return f"{where or 'body'}#{pointer}" if pointer else (where or "body")


def check_name(value: Any, where: str, errors: Errors, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        errors.setdefault(where, []).append("must be a non-empty string")
        return None
    if len(value) > MAX_NAME_LENGTH:
        errors.setdefault(where, []).append(f"must be at most {MAX_NAME_LENGTH} characters")
        return None
    if any(ord(ch) < 32 for ch in value):
        errors.setdefault(where, []).append("must not contain control characters")
        return None
    return value


def _has_nul(content: Any) -> bool:
    """PostgreSQL's jsonb cannot hold U+0000; walk iteratively (no recursion limit)."""
    stack = [content]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            for key, value in item.items():
                if "\x00" in key:
                    return True
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return False


def validate_pact(
    content: Any,
    where: str,
    errors: Errors,
    *,
    consumer: str | None,
    provider: str | None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> None:
    """Is ``content`` a pact between ``consumer`` and ``provider``? The one pact
    reader's checks (:func:`contracts.pactfile.check_pact`: the schema of its
    specification version and the rules a schema cannot say), then the broker's
    own: the names the request gives, and what PostgreSQL can store. Problems go
    to ``errors`` keyed by :func:`content_key`."""
    if depth_of(content) > limits.max_depth:
        errors.setdefault(where or "body", []).append(
            f"is nested more than {limits.max_depth} levels deep"
        )
        return
    for problem in check_pact(content, limits=limits):
        errors.setdefault(content_key(where, problem.pointer or ""), []).append(problem.message)
    if not isinstance(content, dict):
        return
    for role, expected in (("consumer", consumer), ("provider", provider)):
        party = content.get(role)
        name = party.get("name") if isinstance(party, dict) else None
        if isinstance(name, str) and expected is not None and name != expected:
            errors.setdefault(content_key(where, f"/{role}/name"), []).append(
                f"is '{name}' but the pact is being published as {role} '{expected}'"
            )
    if _has_nul(content):
        errors.setdefault(where or "body", []).append(
            "contains the character U+0000, which cannot be stored"
        )
    try:
        canonical_json(content)
    except ValueError:
        errors.setdefault(where or "body", []).append("contains NaN or Infinity")


# --- merging ---------------------------------------------------------------


def _interaction_key(item: dict[str, Any]) -> str:
    states = item.get("providerStates", item.get("providerState"))
    return json.dumps(
        [item.get("type"), item.get("description"), states], sort_keys=True, default=str
    )


def merge_pacts(old: dict[str, Any], new: dict[str, Any], where: str) -> dict[str, Any]:
    merged = dict(old)
    merged.update({k: v for k, v in new.items() if k not in ("interactions", "messages")})
    for key in ("interactions", "messages"):
        if key not in old and key not in new:
            continue
        combined = list(old.get(key) or [])
        index = {_interaction_key(item): item for item in combined}
        for item in new.get(key) or []:
            existing = index.get(_interaction_key(item))
            if existing is None:
                combined.append(item)
                index[_interaction_key(item)] = item
            elif canonical_json(existing) != canonical_json(item):
                raise BrokerError(
                    409,
                    "Conflict",
                    "cannot merge: an interaction with the description "
                    f"'{item.get('description')}' and the same provider states "
                    "already exists with different content",
                    errors={where: ["conflicting interaction: " + str(item.get("description"))]},
                )
        merged[key] = combined
    return merged


# --- storing ---------------------------------------------------------------


@dataclass
class PublishResult:
    consumer: str
    provider: str
    version: str
    sha: str
    #: created | unchanged | overwritten | merged
    outcome: str
    branch: str | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.outcome != "unchanged"


async def _store_content(
    conn: psycopg.AsyncConnection,
    sha: str,
    consumer: Pacticipant,
    provider: Pacticipant,
    content: Any,
) -> None:
    await conn.execute(
        "INSERT INTO broker.pact_versions (sha, consumer_id, provider_id, content)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (sha) DO NOTHING",
        (sha, consumer.id, provider.id, Jsonb(content)),
    )


async def _lock_publication(
    conn: psycopg.AsyncConnection, version: Version, provider: Pacticipant
) -> dict[str, Any] | None:
    return await _one(
        conn,
        "SELECT id, pact_version_sha FROM broker.pact_publications"
        " WHERE consumer_version_id = %s AND provider_id = %s FOR UPDATE",
        (version.id, provider.id),
    )


async def store_pact(
    conn: psycopg.AsyncConnection,
    *,
    consumer: Pacticipant,
    provider: Pacticipant,
    version: Version,
    content: dict[str, Any],
    on_conflict: OnConflict,
    where: str,
) -> tuple[str, str]:
    """Store ``content`` as the pact of ``version`` with ``provider``; returns (sha, outcome)."""
    sha = pact_sha(content)
    existing = await _lock_publication(conn, version, provider)
    if existing is None:
        await _store_content(conn, sha, consumer, provider, content)
        created = await _one(
            conn,
            "INSERT INTO broker.pact_publications"
            " (consumer_version_id, provider_id, pact_version_sha) VALUES (%s, %s, %s)"
            " ON CONFLICT (consumer_version_id, provider_id) DO NOTHING RETURNING id",
            (version.id, provider.id, sha),
        )
        if created is not None:
            return sha, "created"
        # A concurrent publisher committed first; decide against what it stored.
        existing = await _lock_publication(conn, version, provider)
        assert existing is not None
    current = str(existing["pact_version_sha"])
    if current == sha:
        return sha, "unchanged"
    if on_conflict == "overwrite":
        new_sha, outcome = sha, "overwritten"
        await _store_content(conn, sha, consumer, provider, content)
    elif on_conflict == "merge":
        old = await _one(
            conn, "SELECT content FROM broker.pact_versions WHERE sha = %s", (current,)
        )
        assert old is not None
        merged = merge_pacts(old["content"], content, where)
        new_sha, outcome = pact_sha(merged), "merged"
        if new_sha == current:
            return current, "unchanged"
        await _store_content(conn, new_sha, consumer, provider, merged)
    else:
        raise BrokerError(
            409,
            "Conflict",
            f"version '{version.number}' of '{consumer.name}' already has a different pact "
            f"with '{provider.name}' (sha {current[:12]}..., this one {sha[:12]}...); "
            "publish under a new consumer version, or ask to overwrite "
            '(onConflict: "overwrite" in /contracts/publish, ?allowOverwrite=true on PUT) '
            'or to merge (onConflict: "merge", or PATCH)',
            errors={where: ["differs from the pact already published for this version"]},
        )
    await conn.execute(
        "UPDATE broker.pact_publications SET pact_version_sha = %s, created_at = now()"
        " WHERE id = %s",
        (new_sha, existing["id"]),
    )
    return new_sha, outcome


# --- reading ---------------------------------------------------------------

_SELECT = (
    "SELECT pp.id, pp.created_at, pp.pact_version_sha AS sha, pv.content,"
    " c.name AS consumer, p.name AS provider, v.id AS version_id, v.number AS version"
    " FROM broker.pact_publications pp"
    " JOIN broker.pact_versions pv ON pv.sha = pp.pact_version_sha"
    " JOIN broker.versions v ON v.id = pp.consumer_version_id"
    " JOIN broker.pacticipants c ON c.id = v.pacticipant_id"
    " JOIN broker.pacticipants p ON p.id = pp.provider_id"
)
_HAS_TAG = "EXISTS (SELECT 1 FROM broker.tags t WHERE t.version_id = v.id AND t.name = %s)"
_ON_BRANCH = (
    "EXISTS (SELECT 1 FROM broker.branch_versions bv"
    " JOIN broker.branches b ON b.id = bv.branch_id"
    " WHERE bv.version_id = v.id AND b.name = %s)"
)
#: The consumer version is on its pacticipant's main branch (``mainBranch``).
_ON_MAIN_BRANCH = (
    "EXISTS (SELECT 1 FROM broker.branch_versions bv"
    " JOIN broker.branches b ON b.id = bv.branch_id"
    " WHERE bv.version_id = v.id AND b.name = c.main_branch)"
)


async def find_pacts(
    conn: psycopg.AsyncConnection,
    *,
    provider: str | None = None,
    consumer: str | None = None,
    version: str | None = None,
    sha: str | None = None,
    tag: str | None = None,
    branch: str | None = None,
    main_branch: bool = False,
    latest: bool = False,
    latest_per_integration: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Publications matching the filters, newest consumer version first.

    ``main_branch`` keeps consumer versions on their consumer's main branch. ``latest``
    keeps the newest one; ``latest_per_integration`` keeps the newest per
    consumer/provider pair (ordered by consumer then provider name)."""
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    for column, value in (
        ("p.name", provider),
        ("c.name", consumer),
        ("v.number", version),
        ("pp.pact_version_sha", sha),
    ):
        if value is not None:
            clauses.append(sql.SQL(f"{column} = %s"))
            params.append(value)
    if tag is not None:
        clauses.append(sql.SQL(_HAS_TAG))
        params.append(tag)
    if branch is not None:
        clauses.append(sql.SQL(_ON_BRANCH))
        params.append(branch)
    if main_branch:
        clauses.append(sql.SQL(_ON_MAIN_BRANCH))
    query: sql.Composable = (
        sql.SQL(_SELECT)
        + sql.SQL(" WHERE ")
        + (sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("true"))
    )
    if latest_per_integration:
        query = sql.SQL(
            "SELECT * FROM (SELECT DISTINCT ON (x.consumer, x.provider) x.* FROM ({}) x"
            " ORDER BY x.consumer, x.provider, x.version_id DESC) y"
            " ORDER BY lower(y.consumer), lower(y.provider)"
        ).format(query)
    else:
        query += sql.SQL(" ORDER BY v.id DESC, lower(p.name)")
        if latest:
            query += sql.SQL(" LIMIT 1")
        elif limit is not None:
            query += sql.SQL(" LIMIT {}").format(sql.Literal(int(limit)))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, tuple(params))
        return await cur.fetchall()


def pact_title(row: dict[str, Any]) -> str:
    return f"Pact between {row['consumer']} ({row['version']}) and {row['provider']}"


def pact_links(base: str, row: dict[str, Any], self_path: str | None = None) -> dict[str, Any]:
    consumer, provider, number, sha = row["consumer"], row["provider"], row["version"], row["sha"]
    by_version = pact_path(provider, consumer, number)
    results = verification_results_path(provider, consumer, sha)
    latest = f"{pacts_between(provider, consumer)}/latest"
    return {
        "self": link(base, self_path or by_version, title="Pact", name=pact_title(row)),
        "pb:consumer": link(base, pacticipant_path(consumer), title="Consumer", name=consumer),
        "pb:consumer-version": link(
            base, version_path(consumer, number), title="Consumer version", name=number
        ),
        "pb:provider": link(base, pacticipant_path(provider), title="Provider", name=provider),
        "pb:pact-version": link(
            base,
            pact_version_path(provider, consumer, sha),
            title="Pact content version",
            name=sha,
        ),
        "pb:pact-by-consumer-version": link(base, by_version, title="Pact", name=number),
        "pb:latest-pact-version": link(base, latest, title="Latest version of this pact"),
        "pb:latest-tagged-pact-version": link(
            base,
            latest + "/{tag}",
            title="Latest tagged version of this pact",
            templated=True,
        ),
        "pb:publish-verification-results": link(
            base, results, title="Publish verification results"
        ),
        "pb:latest-verification-results": link(
            base, results + "/latest", title="Latest verification results for this pact"
        ),
        "pb:tag-version": link(
            base,
            version_path(consumer, number) + "/tags/{tag}",
            title="PUT to this resource to tag this consumer version",
            templated=True,
        ),
    }


def pact_resource(base: str, row: dict[str, Any], self_path: str | None = None) -> dict[str, Any]:
    """The stored pact JSON plus ``createdAt`` and ``_links``."""
    content = row["content"]
    body: dict[str, Any] = dict(content) if isinstance(content, dict) else {"content": content}
    body["createdAt"] = iso(row["created_at"])
    body["_links"] = pact_links(base, row, self_path)
    return body


# --- events ----------------------------------------------------------------


async def has_successful_verification(conn: psycopg.AsyncConnection, sha: str) -> bool:
    row = await _one(
        conn,
        "SELECT 1 AS ok FROM broker.verifications WHERE pact_version_sha = %s AND success LIMIT 1",
        (sha,),
    )
    return row is not None


async def emit_published(
    ctx: BrokerContext,
    base: str,
    results: list[PublishResult],
    needs_verification: set[str],
) -> None:
    """Tell listeners (webhooks) about publications that changed; call after commit.
    ``base`` is the broker's base URL (the pact URLs in the payloads start with it).

    Payload keys follow the Pact Broker's webhook template variables."""
    for result in results:
        if not result.changed:
            continue
        payload = {
            "consumerName": result.consumer,
            "providerName": result.provider,
            "consumerVersionNumber": result.version,
            "consumerVersionBranch": result.branch or "",
            "consumerVersionTags": ", ".join(result.tags),
            "pactVersionSha": result.sha,
            "pactUrl": base + pact_version_path(result.provider, result.consumer, result.sha),
        }
        events = ["contract_published"]
        if result.sha in needs_verification:
            events.append("contract_requiring_verification_published")
        for event in events:
            try:
                await ctx.emit(event, dict(payload))
            except Exception:  # a listener's failure must not undo a committed publish
                log.exception("a listener failed on %s for %s", event, result.consumer)
