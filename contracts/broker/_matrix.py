"""``GET /matrix`` and can-i-deploy, shaped like the reference broker's matrix.

The body is ``summary`` {deployable, reason, success, failed, unknown},
``notices`` [{type, text}] and ``matrix`` rows {consumer, provider, pact,
verificationResult} — what ``pact broker can-i-deploy`` reads. The query and the
decision live in :mod:`contracts.broker._matrix_query`.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request, Response

from contracts.broker._errors import BrokerError
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
    run_matrix,
)
from contracts.broker.resources._http import Reader, broker_router, hal, link

__all__ = ["matrix_body", "parse_matrix_query", "router"]

router = broker_router()

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


def _version(request: Request, name: str, number: str, branch: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"number": number}
    if branch is not None:
        body["branch"] = branch
    body["_links"] = {"self": link(request, version_path(name, number))}
    return body


def _row(request: Request, row: Row) -> dict[str, Any]:
    d = row.data
    consumer, provider = d["consumer"], d["provider"]
    verification = None
    if d["success"] is not None:
        verification = {
            "success": bool(d["success"]),
            "verifiedAt": d["verified_at"],
            "_links": {
                "self": link(
                    request,
                    f"{verification_results_path(provider, consumer, d['sha'])}"
                    f"/{d['verification_id']}",
                )
            },
        }
    body: dict[str, Any] = {
        "consumer": {
            "name": consumer,
            "version": _version(request, consumer, d["cv_number"], d["cv_branch"]),
            "_links": {"self": link(request, pacticipant_path(consumer))},
        },
        "provider": {
            "name": provider,
            "version": (
                _version(request, provider, d["pv_number"], d["pv_branch"])
                if d["pv_number"] is not None
                else None
            ),
            "_links": {"self": link(request, pacticipant_path(provider))},
        },
        "pact": {
            "createdAt": d["pact_created_at"],
            "_links": {"self": link(request, pact_path(provider, consumer, d["cv_number"]))},
        },
        "verificationResult": verification,
    }
    if row.ignored:
        body["ignored"] = True
    return body


def matrix_body(request: Request, result: MatrixResult) -> dict[str, Any]:
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
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
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
        "matrix": [_row(request, row) for row in result.rows],
        "_links": {"self": link(request, path, title="Matrix")},
    }


@router.get("/matrix")
async def matrix(request: Request, conn: Reader) -> Response:
    query = parse_matrix_query(list(request.query_params.multi_items()))
    return hal(matrix_body(request, await run_matrix(conn, query)))


@router.get("/can-i-deploy")
async def can_i_deploy(request: Request, conn: Reader) -> Response:
    params = request.query_params
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
    query = MatrixQuery(
        selectors=[selector],
        latestby="cvpv" if environment else "cvp",
        tag=None if environment else to_tag,
        environment=environment,
        limit=MAX_LIMIT,
    )
    try:
        result = await run_matrix(conn, query)
    except BrokerError as exc:
        if exc.errors and "q" in exc.errors:  # the one selector is the pacticipant parameter
            exc.errors["pacticipant"] = exc.errors.pop("q")
        raise
    return hal(matrix_body(request, result))


@router.get(
    "/pacticipants/{name}/branches/{branch}/latest-version/can-i-deploy/to-environment/{environment}"
)
async def can_i_deploy_branch(
    name: str, branch: str, environment: str, request: Request, conn: Reader
) -> Response:
    query = MatrixQuery(
        selectors=[Selector(pacticipant=name, latest=True, branch=branch)],
        latestby="cvpv",
        environment=environment,
        limit=MAX_LIMIT,
    )
    return hal(matrix_body(request, await run_matrix(conn, query)))


@router.get("/pacticipants/{name}/latest-version/{tag}/can-i-deploy/to/{to}")
async def can_i_deploy_tag(
    name: str, tag: str, to: str, request: Request, conn: Reader
) -> Response:
    query = MatrixQuery(
        selectors=[Selector(pacticipant=name, latest=True, tag=tag)],
        latestby="cvp",
        tag=to,
        limit=MAX_LIMIT,
    )
    return hal(matrix_body(request, await run_matrix(conn, query)))
