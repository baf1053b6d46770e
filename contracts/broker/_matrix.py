"""``GET /matrix`` and can-i-deploy, shaped like the reference broker's matrix.

The body is ``summary`` {deployable, reason, success, failed, unknown},
``notices`` [{type, text}] and ``matrix`` rows {consumer, provider, pact,
verificationResult} — what ``pact broker can-i-deploy`` reads. The query and the
decision live in :mod:`contracts.broker._matrix_query`; the routes in
:mod:`contracts.broker.resources.matrix`. Here: reading the query parameters
into a :class:`MatrixQuery` and rendering the result from the broker's base URL.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from contracts.broker._errors import BrokerError
from contracts.broker._hal import link
from contracts.broker._hal_urls import (
    pact_path,
    pacticipant_path,
    verification_results_path,
    version_path,
)
from contracts.broker._inputs import whole_number
from contracts.broker._matrix_query import (
    Ignore,
    MatrixQuery,
    MatrixResult,
    Row,
    Selector,
)
from contracts.broker._provider_contracts import contract_path

__all__ = [
    "MAX_LIMIT",
    "branch_deploy_query",
    "can_i_deploy_query",
    "matrix_body",
    "parse_matrix_query",
    "tag_deploy_query",
    "tag_environment_deploy_query",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_KEY = re.compile(r"^(q|ignore)\[(\d*)\]\[(\w+)\]$")
_SELECTOR_FIELDS = {
    "pacticipant",
    "version",
    "latest",
    "tag",
    "branch",
    "mainBranch",
    "environment",
}


def _bool(value: str, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", ""):
        return lowered != ""
    if lowered in ("false", "0", "no"):
        return False
    raise BrokerError(
        400,
        "Bad Request",
        f"{where} must be true or false",
        errors={where: ["must be true or false"]},
    )


def _text(value: str | None) -> str | None:
    return value if value else None


def parse_matrix_query(items: list[tuple[str, str]]) -> MatrixQuery:
    """``q[][pacticipant]=A&q[][version]=1&q[][pacticipant]=B...`` in the order given.

    Keys group as Rack (and so the Pact Broker) groups ``q[][...]``: a key the
    current selector already has starts the next one, so ``q[][version]=1&
    q[][pacticipant]=A`` is one selector. Indexed keys (``q[0][...]``) group by
    their index instead."""
    groups: dict[str, dict[str, list[dict[str, str]]]] = {"q": {}, "ignore": {}}
    current: dict[str, dict[str, str] | None] = {"q": None, "ignore": None}
    ordered: dict[str, list[dict[str, str]]] = {"q": [], "ignore": []}
    top: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for key, value in items:
        match = _KEY.match(key)
        if not match:
            top[key] = value
            continue
        kind, index, name = match.groups()
        if name not in _SELECTOR_FIELDS:
            errors.setdefault(key, []).append(f"unknown selector field '{name}'")
            continue
        if index:
            entry = groups[kind].setdefault(index, [{}])[0]
            if not entry:
                ordered[kind].append(entry)
        else:
            entry_or_none = current[kind]
            if entry_or_none is None or name in entry_or_none:
                entry_or_none = {}
                ordered[kind].append(entry_or_none)
                current[kind] = entry_or_none
            entry = entry_or_none
        entry[name] = value
    selectors: list[Selector] = []
    for i, raw in enumerate(ordered["q"]):
        where = f"q[{i}]"
        if not raw.get("pacticipant"):
            errors.setdefault(f"{where}.pacticipant", []).append("is required")
            continue
        selectors.append(
            Selector(
                pacticipant=raw["pacticipant"],
                version=_text(raw.get("version")),
                latest=_bool(raw.get("latest", ""), f"{where}.latest"),
                tag=_text(raw.get("tag")),
                branch=_text(raw.get("branch")),
                main_branch=_bool(raw.get("mainBranch", ""), f"{where}.mainBranch"),
                environment=_text(raw.get("environment")),
            )
        )
    ignores = [
        Ignore(raw["pacticipant"], _text(raw.get("version")))
        for raw in ordered["ignore"]
        if raw.get("pacticipant")
    ]
    if not selectors and not errors:
        errors["q"] = ["Please provide 1 or more version selectors."]
    latestby = top.get("latestby")
    if latestby is not None and latestby not in ("cvp", "cvpv"):
        errors.setdefault("latestby", []).append("must be cvp or cvpv")
    limit: int | None = DEFAULT_LIMIT
    if "limit" in top:
        limit = whole_number(top["limit"], 1, MAX_LIMIT)
        if limit is None:
            errors.setdefault("limit", []).append(f"must be a whole number from 1 to {MAX_LIMIT}")
    if errors:
        detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items())
        raise BrokerError(400, "Bad Request", detail, errors=errors)
    return MatrixQuery(
        selectors=selectors,
        latestby=latestby,
        latest=_bool(top.get("latest", ""), "latest"),
        tag=_text(top.get("tag")),
        environment=_text(top.get("environment")),
        main_branch=_bool(top.get("mainBranch", ""), "mainBranch"),
        limit=limit,
        ignore=ignores,
    )


def _version(
    base: str, name: str, number: str, branch: str | None, *, contract: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {"number": number}
    if branch is not None:
        body["branch"] = branch
    body["_links"] = {"self": link(base, version_path(name, number))}
    if contract:
        # The provider contract (OpenAPI document) this provider version published.
        body["_links"]["pf:provider-contract"] = link(
            base, contract_path(name, number), title="Provider contract"
        )
    return body


def _row(base: str, row: Row, contracts: Collection[int]) -> dict[str, Any]:
    d = row.data
    consumer, provider = d["consumer"], d["provider"]
    verification = None
    if d["success"] is not None:
        verification = {
            "success": bool(d["success"]),
            "verifiedAt": d["verified_at"],
            "_links": {
                "self": link(
                    base,
                    f"{verification_results_path(provider, consumer, d['sha'])}"
                    f"/{d['verification_id']}",
                )
            },
        }
    body: dict[str, Any] = {
        "consumer": {
            "name": consumer,
            "version": _version(base, consumer, d["cv_number"], d["cv_branch"]),
            "_links": {"self": link(base, pacticipant_path(consumer))},
        },
        "provider": {
            "name": provider,
            "version": (
                _version(
                    base,
                    provider,
                    d["pv_number"],
                    d["pv_branch"],
                    contract=d["pv_id"] in contracts,
                )
                if d["pv_number"] is not None
                else None
            ),
            "_links": {"self": link(base, pacticipant_path(provider))},
        },
        "pact": {
            "createdAt": d["pact_created_at"],
            "_links": {"self": link(base, pact_path(provider, consumer, d["cv_number"]))},
        },
        "verificationResult": verification,
    }
    if row.ignored:
        body["ignored"] = True
    return body


def matrix_body(
    base: str, self_path: str, result: MatrixResult, contracts: Collection[int] = ()
) -> dict[str, Any]:
    """The matrix document; ``self_path`` is the path and query string asked for.
    ``contracts``: the provider versions (ids) that published a provider contract,
    whose rows link it as ``pf:provider-contract``."""
    summary = result.summary
    counts: dict[str, Any] = {
        "deployable": summary.deployable,
        "reason": "\n".join(text for _, text in summary.reasons),
        "success": summary.success,
        "failed": summary.failed,
        "unknown": summary.unknown,
    }
    if summary.ignored:
        counts["ignored"] = summary.ignored
    notices = [{"type": kind, "text": text} for kind, text in summary.reasons]
    if result.truncated:
        notices.append(
            {
                "type": "warning",
                "text": f"Only the first {result.query.limit} rows are shown (limit)",
            }
        )
    return {
        "summary": counts,
        "notices": notices,
        "matrix": [_row(base, row, contracts) for row in result.rows],
        "_links": {"self": link(base, self_path, title="Matrix")},
    }


def can_i_deploy_query(params: Mapping[str, str]) -> MatrixQuery:
    """``GET /can-i-deploy``'s parameters (``pacticipant``, ``version`` or ``branch``
    or ``mainBranch``, and ``environment`` or a ``to`` tag) as a matrix query."""
    pacticipant = params.get("pacticipant")
    environment = _text(params.get("environment"))
    to_tag = _text(params.get("to")) or _text(params.get("tag"))
    errors: dict[str, list[str]] = {}
    if not pacticipant:
        errors["pacticipant"] = ["is required"]
    if not environment and not to_tag:
        errors["environment"] = ["environment (or a 'to' tag) is required"]
    if errors:
        detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items())
        raise BrokerError(400, "Bad Request", detail, errors=errors)
    assert pacticipant is not None
    version = _text(params.get("version"))
    branch = _text(params.get("branch"))
    main_branch = _bool(params.get("mainBranch", ""), "mainBranch")
    selector = Selector(
        pacticipant=pacticipant,
        version=version,
        latest=version is None,
        branch=branch if version is None else None,
        main_branch=version is None and branch is None and main_branch,
    )
    return MatrixQuery(
        selectors=[selector],
        latestby="cvpv" if environment else "cvp",
        tag=None if environment else to_tag,
        environment=environment,
        limit=MAX_LIMIT,
    )


def branch_deploy_query(name: str, branch: str, environment: str) -> MatrixQuery:
    """Can the latest version of ``branch`` be deployed to ``environment``?"""
    return MatrixQuery(
        selectors=[Selector(pacticipant=name, latest=True, branch=branch)],
        latestby="cvpv",
        environment=environment,
        limit=MAX_LIMIT,
    )


def tag_deploy_query(name: str, tag: str, to: str) -> MatrixQuery:
    """Can the latest version tagged ``tag`` be deployed where the ``to`` tag is?"""
    return MatrixQuery(
        selectors=[Selector(pacticipant=name, latest=True, tag=tag)],
        latestby="cvp",
        tag=to,
        limit=MAX_LIMIT,
    )


def tag_environment_deploy_query(name: str, tag: str, environment: str) -> MatrixQuery:
    """Can the latest version tagged ``tag`` be deployed to ``environment``?"""
    return MatrixQuery(
        selectors=[Selector(pacticipant=name, latest=True, tag=tag)],
        latestby="cvpv",
        environment=environment,
        limit=MAX_LIMIT,
    )
