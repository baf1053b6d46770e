"""Pacts for verification: consumer version selectors, pending and WIP pacts.

``POST /pacts/provider/{provider}/for-verification`` answers "which pacts should
this provider version verify?". Each consumer version selector picks consumer
versions (the latest from a branch, everything deployed to an environment, ...);
the pacts of those versions are deduplicated by content (one entry per pact
version SHA) and each entry explains, in ``notices``, why it was included and —
with ``includePendingStatus`` — whether a failure will fail the build.

Everything is computed by ONE SQL statement: the selectors travel as a JSON
array and are resolved per consumer in a ``LATERAL`` subquery whose branches are
switched on and off by one-time filters, so each kind of selector runs on its
own index (branch heads, tags, current deployments) and stops at the first hit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import psycopg

from contracts.broker._errors import BrokerError
from contracts.broker._matrix_query import fetch_without_jit

__all__ = [
    "DEFAULT_SELECTORS",
    "ForVerificationRequest",
    "Hit",
    "PactForVerification",
    "pacts_for_verification",
    "parse_request",
]

READ_MORE_PENDING = "Read more at https://docs.pact.io/go/pending"
READ_MORE_WIP = "Read more at https://docs.pact.io/go/wip"

#: What the reference broker verifies when the provider sends no selectors.
DEFAULT_SELECTORS: list[dict[str, Any]] = [{"mainBranch": True}, {"deployedOrReleased": True}]

_TRUE_ONLY = ("mainBranch", "matchingBranch", "deployed", "released", "deployedOrReleased")
_TEXT = ("branch", "fallbackBranch", "environment", "consumer", "tag", "fallbackTag")
_KNOWN = (*_TRUE_ONLY, *_TEXT, "latest")


@dataclass(frozen=True)
class Selector:
    idx: int
    kind: str  # branch | branch_all | tag | tag_all | latest | environment
    consumer: str | None = None
    branch: str | None = None  # explicit branch name (branch, matchingBranch)
    main: bool = False  # the consumer's own main branch
    fallback: str | None = None  # fallbackBranch / fallbackTag
    tag: str | None = None
    environment: str | None = None
    deployed: bool = False
    released: bool = False
    source: dict[str, Any] = field(default_factory=dict)

    def as_param(self) -> dict[str, Any]:
        return {
            "idx": self.idx,
            "kind": self.kind,
            "consumer": self.consumer,
            "branch": self.branch,
            "main": self.main,
            "fallback": self.fallback,
            "tag": self.tag,
            "environment": self.environment,
            "deployed": self.deployed,
            "released": self.released,
        }


@dataclass
class ForVerificationRequest:
    selectors: list[Selector]
    provider_branch: str | None
    provider_tags: list[str]
    include_pending: bool
    wip_since: datetime | None


def _selector(raw: Any, idx: int, provider_branch: str | None) -> tuple[Selector | None, list[str]]:
    where = f"consumerVersionSelectors[{idx}]"
    if not isinstance(raw, dict):
        return None, [f"{where} must be an object"]
    problems = [
        f"{where}.{key} is not a known selector property" for key in raw if key not in _KNOWN
    ]
    for key in _TRUE_ONLY:
        if key in raw and raw[key] is not True:
            problems.append(f"{where}.{key} can only be set to true")
    for key in _TEXT:
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            problems.append(f"{where}.{key} must be a non-empty string")
    if "latest" in raw and not isinstance(raw["latest"], bool):
        problems.append(f"{where}.latest must be true or false")
    if problems:
        return None, problems
    has = {key for key, value in raw.items() if value is not None}
    branchy = has & {"branch", "mainBranch", "matchingBranch"}
    if len(branchy) > 1:
        problems.append(f"{where} can only use one of branch, mainBranch and matchingBranch")
    if branchy and "tag" in has:
        problems.append(f"{where} cannot use a branch and a tag together")
    if "fallbackBranch" in has and "branch" not in has:
        problems.append(f"{where}.fallbackBranch can only be used with branch")
    if "fallbackTag" in has and not ("tag" in has and raw.get("latest") is True):
        problems.append(f"{where}.fallbackTag can only be used with tag and latest: true")
    if "matchingBranch" in has and not provider_branch:
        problems.append(f"{where}.matchingBranch needs providerVersionBranch to be set")
    env_keys = has & {"deployed", "released", "deployedOrReleased"}
    if len(env_keys) > 1:
        problems.append(f"{where} can only use one of deployed, released and deployedOrReleased")
    if env_keys and (branchy or "tag" in has or raw.get("latest") is True):
        problems.append(f"{where} cannot combine deployed/released with branch, tag or latest")
    if not (branchy or env_keys or has & {"tag", "environment"} or raw.get("latest") is True):
        problems.append(
            f"{where} must select something: mainBranch, branch, matchingBranch, tag, latest,"
            " deployed, released, deployedOrReleased or environment"
        )
    if problems:
        return None, problems

    consumer = raw.get("consumer")
    latest = raw.get("latest")
    if branchy:
        branch = provider_branch if "matchingBranch" in has else raw.get("branch")
        kind = "branch_all" if latest is False else "branch"
        return Selector(
            idx,
            kind,
            consumer=consumer,
            branch=branch,
            main="mainBranch" in has,
            fallback=raw.get("fallbackBranch"),
            source=raw,
        ), []
    if "tag" in has:
        kind = "tag" if latest is True else "tag_all"
        return Selector(
            idx,
            kind,
            consumer=consumer,
            tag=raw["tag"],
            fallback=raw.get("fallbackTag"),
            source=raw,
        ), []
    if env_keys or "environment" in has:
        deployed = "deployed" in has or "deployedOrReleased" in has or not env_keys
        released = "released" in has or "deployedOrReleased" in has or not env_keys
        return Selector(
            idx,
            "environment",
            consumer=consumer,
            environment=raw.get("environment"),
            deployed=deployed,
            released=released,
            source=raw,
        ), []
    return Selector(idx, "latest", consumer=consumer, source=raw), []


def _wip_since(value: Any) -> tuple[datetime | None, list[str]]:
    if value is None:
        return None, []
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return datetime.combine(date.fromisoformat(text), time(), UTC), []
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed, []
        except ValueError:
            pass
    return None, ["includeWipPactsSince must be a date (YYYY-MM-DD) or an ISO 8601 date-time"]


def parse_request(body: Any) -> ForVerificationRequest:
    """Validate the POST body; every problem is reported at once with its place."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BrokerError(
            400, "Bad Request", "the body must be a JSON object", errors={"body": ["not an object"]}
        )
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    branch = body.get("providerVersionBranch")
    if branch is not None and (not isinstance(branch, str) or not branch.strip()):
        add("providerVersionBranch", "must be a non-empty string")
        branch = None
    tags = body.get("providerVersionTags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        add("providerVersionTags", "must be an array of non-empty strings")
        tags = []
    pending = body.get("includePendingStatus", False)
    if pending is None:
        pending = False
    if not isinstance(pending, bool):
        add("includePendingStatus", "must be true or false")
    since, problems = _wip_since(body.get("includeWipPactsSince"))
    for problem in problems:
        add("includeWipPactsSince", problem)
    raw_selectors = body.get("consumerVersionSelectors")
    if raw_selectors is None or raw_selectors == []:
        raw_selectors = DEFAULT_SELECTORS
    if not isinstance(raw_selectors, list):
        add("consumerVersionSelectors", "must be an array of selector objects")
        raw_selectors = []
    selectors: list[Selector] = []
    for idx, raw in enumerate(raw_selectors):
        selector, problems = _selector(raw, idx, branch)
        for problem in problems:
            add(f"consumerVersionSelectors[{idx}]", problem)
        if selector is not None:
            selectors.append(selector)
    if errors:
        detail = "; ".join(m for messages in errors.values() for m in messages)
        raise BrokerError(422, "Unprocessable Content", detail, errors=errors)
    return ForVerificationRequest(selectors, branch, list(tags), bool(pending), since)


# --- the query -------------------------------------------------------------------

_PUB = (
    "pp.id AS pub_id, pp.consumer_version_id AS cvid, pp.pact_version_sha AS sha,"
    " pp.created_at AS published_at"
)

_SQL = f"""
WITH prov AS (SELECT id FROM broker.pacticipants WHERE name = %(provider)s),
req AS (
  SELECT * FROM jsonb_to_recordset(%(selectors)s::jsonb) AS r(
    idx int, kind text, consumer text, branch text, main boolean, fallback text, tag text,
    environment text, deployed boolean, released boolean)
),
cons AS (
  SELECT c.id, c.name, c.main_branch
    FROM (SELECT DISTINCT pv.consumer_id FROM broker.pact_versions pv, prov
           WHERE pv.provider_id = prov.id) x
    JOIN broker.pacticipants c ON c.id = x.consumer_id
),
sc AS (
  SELECT r.*, c.id AS cid, c.name AS cname,
         CASE WHEN r.main THEN c.main_branch ELSE r.branch END AS want_branch
    FROM req r JOIN cons c ON r.consumer IS NULL OR r.consumer = c.name
),
hits AS (
  SELECT sc.idx, sc.cid, sc.cname, h.*
    FROM sc CROSS JOIN prov
    JOIN LATERAL (
      SELECT * FROM (
        (SELECT {_PUB}, false AS via_fallback, NULL::text AS env_name, NULL::text AS env_kind,
                b.name AS hit_branch
           FROM broker.branches b
           JOIN broker.branch_versions bv ON bv.branch_id = b.id
           JOIN broker.pact_publications pp
             ON pp.consumer_version_id = bv.version_id AND pp.provider_id = prov.id
          WHERE sc.kind = 'branch' AND b.pacticipant_id = sc.cid AND b.name = sc.want_branch
          ORDER BY bv.version_id DESC LIMIT 1)
        UNION ALL
        (SELECT {_PUB}, true, NULL, NULL, b.name
           FROM broker.branches b
           JOIN broker.branch_versions bv ON bv.branch_id = b.id
           JOIN broker.pact_publications pp
             ON pp.consumer_version_id = bv.version_id AND pp.provider_id = prov.id
          WHERE sc.kind = 'branch' AND sc.fallback IS NOT NULL
            AND b.pacticipant_id = sc.cid AND b.name = sc.fallback
          ORDER BY bv.version_id DESC LIMIT 1)
      ) head_of_branch ORDER BY via_fallback LIMIT 1
    ) h ON true
  UNION ALL
  SELECT sc.idx, sc.cid, sc.cname, h.*
    FROM sc CROSS JOIN prov
    JOIN LATERAL (
      SELECT * FROM (
        (SELECT {_PUB}, false AS via_fallback, NULL::text AS env_name, NULL::text AS env_kind,
                NULL::text AS hit_branch
           FROM broker.versions v
           JOIN broker.tags t ON t.version_id = v.id AND t.name = sc.tag
           JOIN broker.pact_publications pp
             ON pp.consumer_version_id = v.id AND pp.provider_id = prov.id
          WHERE sc.kind = 'tag' AND v.pacticipant_id = sc.cid
          ORDER BY v.id DESC LIMIT 1)
        UNION ALL
        (SELECT {_PUB}, true, NULL, NULL, NULL
           FROM broker.versions v
           JOIN broker.tags t ON t.version_id = v.id AND t.name = sc.fallback
           JOIN broker.pact_publications pp
             ON pp.consumer_version_id = v.id AND pp.provider_id = prov.id
          WHERE sc.kind = 'tag' AND sc.fallback IS NOT NULL AND v.pacticipant_id = sc.cid
          ORDER BY v.id DESC LIMIT 1)
      ) head_of_tag ORDER BY via_fallback LIMIT 1
    ) h ON true
  UNION ALL
  SELECT sc.idx, sc.cid, sc.cname, h.*
    FROM sc CROSS JOIN prov
    JOIN LATERAL (
      (SELECT {_PUB}, false AS via_fallback, NULL::text AS env_name, NULL::text AS env_kind,
              NULL::text AS hit_branch
         FROM broker.versions v
         JOIN broker.pact_publications pp
           ON pp.consumer_version_id = v.id AND pp.provider_id = prov.id
        WHERE sc.kind = 'latest' AND v.pacticipant_id = sc.cid
        ORDER BY v.id DESC LIMIT 1)
      UNION ALL
      SELECT {_PUB}, false, NULL, NULL, b.name
        FROM broker.branches b
        JOIN broker.branch_versions bv ON bv.branch_id = b.id
        JOIN broker.pact_publications pp
          ON pp.consumer_version_id = bv.version_id AND pp.provider_id = prov.id
       WHERE sc.kind = 'branch_all' AND b.pacticipant_id = sc.cid AND b.name = sc.want_branch
      UNION ALL
      SELECT {_PUB}, false, NULL, NULL, NULL
        FROM broker.tags t
        JOIN broker.versions v ON v.id = t.version_id
        JOIN broker.pact_publications pp
          ON pp.consumer_version_id = v.id AND pp.provider_id = prov.id
       WHERE sc.kind = 'tag_all' AND t.name = sc.tag AND v.pacticipant_id = sc.cid
      UNION ALL
      SELECT {_PUB}, false, e.name, 'deployed', NULL
        FROM broker.deployed_versions d
        JOIN broker.environments e ON e.id = d.environment_id
        JOIN broker.versions v ON v.id = d.version_id
        JOIN broker.pact_publications pp
          ON pp.consumer_version_id = d.version_id AND pp.provider_id = prov.id
       WHERE sc.kind = 'environment' AND sc.deployed AND d.undeployed_at IS NULL
         AND v.pacticipant_id = sc.cid AND (sc.environment IS NULL OR e.name = sc.environment)
      UNION ALL
      SELECT {_PUB}, false, e.name, 'released', NULL
        FROM broker.released_versions r
        JOIN broker.environments e ON e.id = r.environment_id
        JOIN broker.versions v ON v.id = r.version_id
        JOIN broker.pact_publications pp
          ON pp.consumer_version_id = r.version_id AND pp.provider_id = prov.id
       WHERE sc.kind = 'environment' AND sc.released AND r.support_ended_at IS NULL
         AND v.pacticipant_id = sc.cid AND (sc.environment IS NULL OR e.name = sc.environment)
    ) h ON true
),
wip AS (
  SELECT NULL::int AS idx, c.id AS cid, c.name AS cname, w.*
    FROM cons c CROSS JOIN prov
    JOIN broker.branches b ON b.pacticipant_id = c.id
    JOIN LATERAL (
      SELECT {_PUB}, false AS via_fallback, NULL::text AS env_name, NULL::text AS env_kind,
             b.name AS hit_branch
        FROM broker.branch_versions bv
        JOIN broker.pact_publications pp
          ON pp.consumer_version_id = bv.version_id AND pp.provider_id = prov.id
       WHERE bv.branch_id = b.id
       ORDER BY bv.version_id DESC LIMIT 1
    ) w ON true
   WHERE %(wip_since)s::timestamptz IS NOT NULL AND w.published_at >= %(wip_since)s::timestamptz
     AND w.sha NOT IN (SELECT sha FROM hits)
),
found AS (
  SELECT 'selected' AS source, * FROM hits
  UNION ALL
  SELECT 'wip', * FROM wip
),
shas AS (SELECT DISTINCT sha FROM found)
SELECT f.*, v.number AS cv_number,
       s.verified_ever, s.verified_on_branch, s.unverified_tags
  FROM found f
  JOIN broker.versions v ON v.id = f.cvid
  JOIN (
    SELECT shas.sha,
           EXISTS (SELECT 1 FROM broker.verifications ver
                    WHERE ver.pact_version_sha = shas.sha AND ver.success) AS verified_ever,
           (%(provider_branch)s::text IS NOT NULL AND EXISTS (
              SELECT 1 FROM broker.verifications ver
                JOIN broker.branch_versions bv ON bv.version_id = ver.provider_version_id
                JOIN broker.branches b ON b.id = bv.branch_id
               WHERE ver.pact_version_sha = shas.sha AND ver.success
                 AND b.pacticipant_id = (SELECT id FROM prov)
                 AND b.name = %(provider_branch)s)) AS verified_on_branch,
           ARRAY(SELECT t.name FROM unnest(%(provider_tags)s::text[]) AS t(name)
                  WHERE NOT EXISTS (
                    SELECT 1 FROM broker.verifications ver
                      JOIN broker.tags tg ON tg.version_id = ver.provider_version_id
                     WHERE ver.pact_version_sha = shas.sha AND ver.success
                       AND tg.name = t.name)) AS unverified_tags
      FROM shas
  ) s ON s.sha = f.sha
 ORDER BY lower(f.cname), f.cvid DESC, f.idx NULLS LAST
"""  # noqa: S608 - composed from constants only


@dataclass
class Hit:
    selector: Selector | None  # None: work in progress
    consumer_version: str
    consumer_version_id: int
    fallback: bool
    environment: str | None
    env_kind: str | None
    branch: str | None


@dataclass
class PactForVerification:
    consumer: str
    sha: str
    hits: list[Hit]
    wip: bool
    pending: bool
    pending_tags: list[str]
    verified_tags: list[str]

    @property
    def latest_consumer_version(self) -> str:
        return max(self.hits, key=lambda h: h.consumer_version_id).consumer_version


async def pacts_for_verification(
    conn: psycopg.AsyncConnection, provider: str, request: ForVerificationRequest
) -> list[PactForVerification]:
    """One round trip: selected and WIP pacts, grouped by content, with pending state."""
    params = {
        "provider": provider,
        "selectors": json.dumps([s.as_param() for s in request.selectors]),
        "wip_since": request.wip_since,
        "provider_branch": request.provider_branch,
        "provider_tags": request.provider_tags,
    }
    rows = await fetch_without_jit(conn, _SQL, params)
    by_idx = {s.idx: s for s in request.selectors}
    grouped: dict[str, PactForVerification] = {}
    for row in rows:
        wip = row["source"] == "wip"
        unverified = list(row["unverified_tags"] or [])
        if request.provider_branch:
            pending = not row["verified_on_branch"]
        elif request.provider_tags:
            pending = bool(unverified)
        else:
            pending = not row["verified_ever"]
        entry = grouped.get(row["sha"])
        if entry is None:
            entry = grouped[row["sha"]] = PactForVerification(
                consumer=row["cname"],
                sha=row["sha"],
                hits=[],
                wip=wip,
                pending=pending,
                pending_tags=unverified,
                verified_tags=[t for t in request.provider_tags if t not in unverified],
            )
        if wip and not entry.wip:
            continue  # selected pacts are never WIP
        hit = Hit(
            selector=None if wip else by_idx[row["idx"]],
            consumer_version=row["cv_number"],
            consumer_version_id=row["cvid"],
            fallback=bool(row["via_fallback"]),
            environment=row["env_name"],
            env_kind=row["env_kind"],
            branch=row["hit_branch"],
        )
        if not any(_same(hit, h) for h in entry.hits):
            entry.hits.append(hit)
    # WIP pacts are the ones still pending for this provider branch/tags.
    return [p for p in grouped.values() if not p.wip or p.pending]


def _same(a: Hit, b: Hit) -> bool:
    return (
        a.selector is b.selector
        and a.consumer_version_id == b.consumer_version_id
        and a.environment == b.environment
        and a.env_kind == b.env_kind
        and a.branch == b.branch
    )


# --- the words ------------------------------------------------------------------


def _quoted_join(words: list[str], joiner: str = " and ") -> str:
    return _join([f"'{w}'" for w in words], joiner)


def _join(words: list[str], joiner: str = " and ") -> str:
    if len(words) <= 2:
        return joiner.join(words)
    return ", ".join(words[:-2]) + ", " + joiner.join(words[-2:])


def short_description(hit: Hit) -> str:
    s = hit.selector
    if s is None:
        return f"latest from branch {hit.branch}" if hit.branch else "latest"
    if s.kind == "latest":
        return "latest"
    if s.kind == "tag":
        return f"latest with tag {s.fallback if hit.fallback else s.tag}"
    if s.kind == "branch":
        return f"latest from branch {hit.branch}"
    if s.kind == "branch_all":
        return f"one of branch {hit.branch}"
    if s.kind == "tag_all":
        return f"one of {s.consumer} {s.tag}" if s.consumer else f"one of {s.tag}"
    if hit.env_kind == "released":
        return f"released in {hit.environment}"
    return f"deployed to {hit.environment}"


def _long_description(hit: Hit, provider: str) -> str:
    s = hit.selector
    assert s is not None
    label = f"version of {s.consumer}" if s.consumer else "version"
    if s.kind == "latest":
        text = f"latest version of {s.consumer or 'a consumer'} that has a pact with {provider}"
    elif s.kind == "tag" and hit.fallback:
        text = (
            f"latest {label} tagged '{s.fallback}' (fallback tag used as no pact was found"
            f" with tag '{s.tag}')"
        )
    elif s.kind == "tag":
        text = f"latest {label} tagged '{s.tag}'"
    elif s.kind == "branch" and hit.fallback:
        text = (
            f"latest {label} from branch '{s.fallback}' (fallback branch used as no pact was"
            f" found from branch '{s.branch}')"
        )
    elif s.kind == "branch":
        text = f"latest {label} from branch '{hit.branch}'"
    elif s.kind == "branch_all":
        who = f"{s.consumer} " if s.consumer else "consumer "
        text = f"all {who}versions from branch '{hit.branch}'"
    elif s.kind == "tag_all":
        text = (
            f"all {s.consumer} versions tagged '{s.tag}'"
            if s.consumer
            else f"all consumer versions tagged '{s.tag}'"
        )
    else:  # pragma: no cover - environments are described in groups
        text = f"{s.consumer or 'a consumer'} version in environment {hit.environment}"
    return f"{text} ({hit.consumer_version})"


def _selector_descriptions(hits: list[Hit], provider: str) -> list[str]:
    out: list[str] = []
    ordered = sorted(hits, key=lambda h: h.selector.idx if h.selector else 0)
    envs: dict[tuple[str, str | None], list[Hit]] = {}
    for hit in ordered:
        if hit.selector is not None and hit.selector.kind == "environment":
            envs.setdefault((hit.env_kind or "deployed", hit.selector.consumer), []).append(hit)
        else:
            out.append(_long_description(hit, provider))
    for (kind, consumer), group in envs.items():
        who = f"version(s) of {consumer}" if consumer else "consumer version(s)"
        where = _join([f"{h.environment} ({h.consumer_version})" for h in group])
        verb = "currently deployed to" if kind == "deployed" else "released and supported in"
        out.append(f"{who} {verb} {where}")
    return out


def _pending_who(
    pact: PactForVerification, provider: str, branch: str | None, a_or_any: str
) -> str:
    if branch:
        return f"{a_or_any} version of {provider} from branch '{branch}'"
    tags = pact.pending_tags
    if not tags:
        return provider
    if len(tags) == 1:
        return f"{a_or_any} version of {provider} with tag '{tags[0]}'"
    return f"{a_or_any} versions of {provider} with tag {_quoted_join(tags)}"


def _verified_by(pact: PactForVerification, provider: str, branch: str | None) -> str:
    if branch:
        return f"a version of {provider} from branch '{branch}'"
    tags = pact.verified_tags
    if not tags:
        return provider
    if len(tags) == 1:
        return f"a version of {provider} with tag '{tags[0]}'"
    return f"a version of {provider} with tag {_quoted_join(tags)}"


def notices(
    pact: PactForVerification,
    provider: str,
    url: str,
    request: ForVerificationRequest,
) -> list[dict[str, str]]:
    """``verificationProperties.notices`` in the reference broker's words."""
    out: list[dict[str, str]] = []
    if pact.wip:
        hit = pact.hits[0]
        out.append(
            {
                "when": "before_verification",
                "text": (
                    f"The pact at {url} is being verified because it is a 'work in progress'"
                    f" pact (ie. it is the pact for the latest version of {pact.consumer} from"
                    f" branch '{hit.branch}' and is still in pending state). {READ_MORE_WIP}"
                ),
            }
        )
    else:
        descriptions = _selector_descriptions(pact.hits, provider)
        many = len(descriptions) > 1
        out.append(
            {
                "when": "before_verification",
                "text": (
                    f"The pact at {url} is being verified because the pact content belongs to"
                    f" {'the consumer versions' if many else 'the consumer version'} matching"
                    f" the following {'criteria' if many else 'criterion'}:\n"
                    + "\n".join(f"    * {d}" for d in descriptions)
                ),
            }
        )
    if not request.include_pending:
        return out
    branch = request.provider_branch
    if pact.pending:
        out.append(
            {
                "when": "before_verification",
                "text": (
                    f"This pact is in pending state for this version of {provider} because a"
                    " successful verification result for"
                    f" {_pending_who(pact, provider, branch, 'a')} has not yet been published."
                    " If this verification fails, it will not cause the overall build to fail."
                    f" {READ_MORE_PENDING}"
                ),
            }
        )
        who = _pending_who(pact, provider, branch, "any")
        these = {0: "", 1: "with this tag "}.get(len(pact.pending_tags), "with these tags ")
        if branch:
            these = ""
        still = (
            f"This pact is still in pending state for {who} as a successful verification"
            f" result {these}has not yet been published"
        )
        out += [
            {
                "when": "after_verification:success_true_published_false",
                "text": (
                    f"This pact is still in pending state for {who} as the successful"
                    f" verification results {these}have not yet been published."
                ),
            },
            {"when": "after_verification:success_false_published_false", "text": still},
            {
                "when": "after_verification:success_true_published_true",
                "text": (
                    f"This pact is no longer in pending state for {who}, as a successful"
                    f" verification result {these}has been published. If a verification for a"
                    f" version of {provider} {these}fails in the future, it will fail the build."
                    f" {READ_MORE_PENDING}"
                ),
            },
            {"when": "after_verification:success_false_published_true", "text": still},
        ]
    else:
        out.append(
            {
                "when": "before_verification",
                "text": (
                    "This pact has previously been successfully verified by"
                    f" {_verified_by(pact, provider, branch)}. If this verification fails, it"
                    f" will fail the build. {READ_MORE_PENDING}"
                ),
            }
        )
    return out


def short_descriptions(pact: PactForVerification) -> str:
    seen: list[str] = []
    for hit in sorted(pact.hits, key=lambda h: h.selector.idx if h.selector else 0):
        text = short_description(hit)
        if text not in seen:
            seen.append(text)
    return ", ".join(seen)
