"""Provider contracts, as PactFlow's bi-directional contract testing has them: the
OpenAPI document a provider version publishes, with the results of its own
verification against that document (``selfVerificationResults``).

* ``POST /provider-contracts/provider/{provider}/publish`` (the index relation
  ``pf:publish-provider-contract``; what ``pact pactflow publish-provider-contract``
  sends): ``pacticipantVersionNumber``, ``branch``, ``tags``, ``buildUrl`` and
  ``contract`` {``content`` (base64), ``contentType``, ``specification`` ``"oas"``,
  ``selfVerificationResults`` {``success``, ``content`` (base64), ``contentType``,
  ``format``, ``verifier``, ``verifierVersion``}}. The provider, its version, the
  branch and the tags are created as needed; one transaction.
* ``GET /contracts/bi-directional/provider/{provider}/version/{version}/provider-contract``
  and ``.../provider-contract-verification-results``: read them back (PactFlow's
  paths).

One contract per provider version: publishing again for the same version replaces
it (identical content and results are ``unchanged``). What JSON Schema can say about
the body is checked against the OpenAPI document (400); the content itself must be
an OpenAPI 3.x document in the media type it claims, JSON or YAML (422 naming
``contract.content`` and, inside it, a JSON pointer). No web framework here; the
routes are :mod:`contracts.broker.resources.provider_contracts`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
import yaml

from contracts.broker._context import BrokerContext
from contracts.broker._errors import BrokerError, bad_request, unprocessable
from contracts.broker._hal import link, quote_name
from contracts.broker._hal_urls import (
    branch_path,
    branch_version_path,
    iso,
    pacticipant_path,
    tag_path,
    version_path,
)
from contracts.broker._pacts import check_name, content_key
from contracts.broker._queries import (
    add_branch,
    add_tag,
    ensure_pacticipant,
    ensure_version,
    fetch_all,
    fetch_one,
    find_version,
)
from contracts.pactfile import JsonTextError, parse_strict
from covenant.kernel.auth import token_matches

__all__ = [
    "CLI_FLAG_MIXUP",
    "JSON_MEDIA_TYPES",
    "MAX_DEPTH",
    "MAX_NODES",
    "YAML_MEDIA_TYPES",
    "ContractPublication",
    "Secret",
    "SelfVerification",
    "contract_path",
    "find_contract",
    "parse_publication",
    "provider_contract_verification_results_path",
    "publish_path",
    "read_document",
    "render_contract",
    "render_publication",
    "render_verification_results",
    "store_publication",
    "versions_with_contracts",
]

Errors = dict[str, list[str]]


class Secret(Protocol):
    """A configured token (``pydantic.SecretStr``)."""

    def get_secret_value(self) -> str: ...


#: Media types a contract may be published as (parameters such as charset allowed).
JSON_MEDIA_TYPES = ("application/json", "application/vnd.oai.openapi+json")
YAML_MEDIA_TYPES = (
    "application/yaml",
    "application/yml",
    "application/x-yaml",
    "application/vnd.oai.openapi",
    "application/vnd.oai.openapi+yaml",
    "text/yaml",
    "text/x-yaml",
)
#: How deeply the document may nest, and how many nodes its YAML aliases may expand to.
MAX_DEPTH = 128
MAX_NODES = 2_000_000


def publish_path(provider: str) -> str:
    return f"/provider-contracts/provider/{quote_name(provider)}/publish"


def contract_path(provider: str, number: str) -> str:
    return (
        f"/contracts/bi-directional/provider/{quote_name(provider)}"
        f"/version/{quote_name(number)}/provider-contract"
    )


def provider_contract_verification_results_path(provider: str, number: str) -> str:
    return contract_path(provider, number) + "-verification-results"


# --- reading the request ---------------------------------------------------------------


@dataclass(frozen=True)
class SelfVerification:
    success: bool
    content: str | None
    content_type: str | None
    format: str | None
    verifier: str | None
    verifier_version: str | None


@dataclass(frozen=True)
class ContractPublication:
    provider: str
    number: str
    branch: str | None
    tags: list[str]
    build_url: str | None
    specification: str
    content_type: str
    content: str
    verification: SelfVerification | None

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.content.encode("utf-8")).hexdigest()


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _decode_text(value: Any, where: str, errors: Errors) -> str | None:
    """Base64 -> UTF-8 text (a byte order mark is dropped), or a problem under ``where``."""
    if not isinstance(value, str) or not value:
        errors.setdefault(where, []).append("is required: base64-encoded text")
        return None
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        errors.setdefault(where, []).append("is not valid base64")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.setdefault(where, []).append(
            f"decodes to bytes that are not UTF-8 (byte {exc.start + 1})"
        )
        return None
    if "\x00" in text:
        errors.setdefault(where, []).append("contains the character U+0000, which cannot be stored")
        return None
    return text


class _TooBig(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _measure(node: yaml.Node, depth: int, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for once its aliases are expanded; raises
    :class:`_TooBig` beyond MAX_DEPTH levels (a recursive alias never ends) or
    MAX_NODES nodes (an alias bomb)."""
    if depth > MAX_DEPTH:
        raise _TooBig(f"is nested more than {MAX_DEPTH} levels deep")
    known = sizes.get(id(node))
    if known is not None:
        return known
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    size = 1
    for child in children:
        size += _measure(child, depth + 1, sizes)
        if size > MAX_NODES:
            raise _TooBig(f"expands to more than {MAX_NODES} values (YAML aliases)")
    sizes[id(node)] = size
    return size


def _parse_yaml(text: str) -> Any:
    """The YAML document in ``text`` (the safe subset: no Python objects), bounded in
    depth and in what its aliases expand to; ValueError saying where it is not YAML."""
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node, 1, {})
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise ValueError(f"is not YAML: {problem}{at}") from None
    except _TooBig as exc:
        raise ValueError(exc.message) from None
    except RecursionError:
        raise ValueError(f"is nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


def read_document(text: str, content_type: str, where: str, errors: Errors) -> Any:
    """``text`` read as the media type says (strict JSON, or YAML), or a problem under
    ``where``: the document itself, or ``where#/pointer`` inside it."""
    if _media_type(content_type) in JSON_MEDIA_TYPES:
        try:
            return parse_strict(text, max_depth=MAX_DEPTH)
        except JsonTextError as exc:
            position = exc.position
            at = f" at line {position.line} column {position.column}" if position else ""
            errors.setdefault(content_key(where, exc.pointer), []).append(
                f"is not JSON ({content_type}): {exc.message}{at}"
            )
            return None
    try:
        return _parse_yaml(text)
    except ValueError as exc:
        errors.setdefault(where, []).append(f"{exc} ({content_type})")
        return None


def _check_openapi(document: Any, where: str, errors: Errors) -> None:
    """An OpenAPI 3.x document at its top level (what the comparison gate can read)."""
    if not isinstance(document, dict):
        errors.setdefault(where, []).append(
            "is not an OpenAPI document: its top level must be an object"
        )
        return
    if "swagger" in document and "openapi" not in document:
        errors.setdefault(content_key(where, "/swagger"), []).append(
            "is Swagger 2.0; publish the document as OpenAPI 3.x (Covenant compares"
            " pacts with OpenAPI 3.x documents)"
        )
        return
    version = document.get("openapi")
    if isinstance(version, bool) or not isinstance(version, (str, int, float)):
        errors.setdefault(content_key(where, "/openapi"), []).append(
            "is required: the OpenAPI version, 3.x (e.g. 3.0.3 or 3.1.0)"
        )
    elif not str(version).startswith("3."):
        errors.setdefault(content_key(where, "/openapi"), []).append(
            "must be an OpenAPI version 3.x (e.g. 3.0.3 or 3.1.0)"
        )
    if "paths" in document and not isinstance(document["paths"], dict):
        errors.setdefault(content_key(where, "/paths"), []).append("must be an object")


def _optional_text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) else None


def _self_verification(raw: Any, errors: Errors) -> SelfVerification | None:
    where = "contract.selfVerificationResults"
    if raw is None:
        return None
    if not isinstance(raw, dict):  # the schema check comes first; kept for direct callers
        errors.setdefault(where, []).append("must be an object")
        return None
    success = raw.get("success")
    if not isinstance(success, bool):
        errors.setdefault(f"{where}.success", []).append("is required: true or false")
        return None
    content = None
    if raw.get("content") is not None:
        content = _decode_text(raw.get("content"), f"{where}.content", errors)
    return SelfVerification(
        success=success,
        content=content,
        content_type=_optional_text(raw, "contentType"),
        format=_optional_text(raw, "format"),
        verifier=_optional_text(raw, "verifier"),
        verifier_version=_optional_text(raw, "verifierVersion"),
    )


#: Why a token is refused as a name: the CLI's ``-t`` is ``--tag``, not the token.
CLI_FLAG_MIXUP = (
    "is one of this broker's tokens and is not stored: in `pact pactflow"
    " publish-provider-contract` -t is --tag; give the token with -k (--broker-token)"
    " or PACT_BROKER_TOKEN"
)


def _token_as_name(value: Any, where: str, secrets: Sequence[Secret], errors: Errors) -> None:
    if isinstance(value, str) and secrets and token_matches(value, secrets):
        errors.setdefault(where, []).append(CLI_FLAG_MIXUP)


def parse_publication(
    provider: str, body: Any, *, secrets: Sequence[Secret] = ()
) -> ContractPublication:
    """The publication a ``POST .../publish`` body describes (already checked against its
    documented schema): 400 for a provider name that is not a name, or a version, branch
    or tag that is one of the broker's ``secrets`` (its tokens: never stored, never
    echoed), 422 for content that is not what it claims to be."""
    path_errors: Errors = {}
    check_name(provider, "path.provider", path_errors)
    if path_errors:
        raise bad_request(path_errors)
    if not isinstance(body, dict):
        raise bad_request({"body": ["must be a JSON object"]})
    errors: Errors = {}
    number = check_name(body.get("pacticipantVersionNumber"), "pacticipantVersionNumber", errors)
    _token_as_name(number, "pacticipantVersionNumber", secrets, errors)
    branch = check_name(body.get("branch"), "branch", errors, required=False)
    _token_as_name(branch, "branch", secrets, errors)
    tags: list[str] = []
    for index, tag in enumerate(body.get("tags") or []):
        checked = check_name(tag, f"tags[{index}]", errors)
        _token_as_name(checked, f"tags[{index}]", secrets, errors)
        if checked is not None and checked not in tags:
            tags.append(checked)
    build_url = body.get("buildUrl") if isinstance(body.get("buildUrl"), str) else None
    contract = body.get("contract")
    if not isinstance(contract, dict):
        errors.setdefault("contract", []).append("is required: an object")
        raise bad_request(errors)
    if errors:
        raise bad_request(errors)
    specification = str(contract.get("specification") or "oas").lower()
    content_type = str(contract.get("contentType") or "application/yaml")
    text = _decode_text(contract.get("content"), "contract.content", errors)
    if text is not None:
        document = read_document(text, content_type, "contract.content", errors)
        if not errors:
            _check_openapi(document, "contract.content", errors)
    verification = _self_verification(contract.get("selfVerificationResults"), errors)
    if errors:
        raise unprocessable(errors)
    assert number is not None and text is not None
    return ContractPublication(
        provider=provider,
        number=number,
        branch=branch,
        tags=tags,
        build_url=build_url,
        specification=specification,
        content_type=content_type,
        content=text,
        verification=verification,
    )


# --- storing ---------------------------------------------------------------------------

_COLUMNS = (
    "specification, content_type, content, content_sha, verification_success,"
    " verification_content, verification_content_type, verification_format, verifier,"
    " verifier_version"
)


def _values(publication: ContractPublication) -> tuple[Any, ...]:
    v = publication.verification
    return (
        publication.specification,
        publication.content_type,
        publication.content,
        publication.sha,
        v.success if v else None,
        v.content if v else None,
        v.content_type if v else None,
        v.format if v else None,
        v.verifier if v else None,
        v.verifier_version if v else None,
    )


@dataclass(frozen=True)
class Stored:
    #: created | unchanged | replaced
    outcome: str
    #: Whether the provider version was new.
    new_version: bool


async def store_publication(ctx: BrokerContext, publication: ContractPublication) -> Stored:
    """Store the provider version (branch, tags, build URL) and its contract in one
    transaction, committed on return."""
    async with ctx.database.transaction() as conn:
        provider = await ensure_pacticipant(conn, publication.provider)
        new_version = await find_version(conn, provider, publication.number) is None
        version = await ensure_version(conn, provider, publication.number, publication.build_url)
        if publication.branch:
            await add_branch(conn, version, publication.branch)
        for tag in sorted(publication.tags):
            await add_tag(conn, version, tag)
        existing = await fetch_one(
            conn,
            f"SELECT {_COLUMNS} FROM broker.provider_contracts"  # noqa: S608 - constant columns
            " WHERE provider_version_id = %s FOR UPDATE",
            (version.id,),
        )
        values = _values(publication)
        if existing is not None and tuple(existing.values()) == values:
            return Stored("unchanged", new_version)
        await conn.execute(
            f"INSERT INTO broker.provider_contracts (provider_version_id, {_COLUMNS})"  # noqa: S608
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (provider_version_id) DO UPDATE SET"
            " specification = EXCLUDED.specification, content_type = EXCLUDED.content_type,"
            " content = EXCLUDED.content, content_sha = EXCLUDED.content_sha,"
            " verification_success = EXCLUDED.verification_success,"
            " verification_content = EXCLUDED.verification_content,"
            " verification_content_type = EXCLUDED.verification_content_type,"
            " verification_format = EXCLUDED.verification_format,"
            " verifier = EXCLUDED.verifier, verifier_version = EXCLUDED.verifier_version,"
            " updated_at = now()",
            (version.id, *values),
        )
    return Stored("created" if existing is None else "replaced", new_version)


# --- reading ---------------------------------------------------------------------------


async def find_contract(
    conn: psycopg.AsyncConnection, provider: str, number: str
) -> dict[str, Any]:
    """The contract of ``provider`` version ``number`` with its version's facts; 404 when
    there is no such provider, version or contract."""
    row = await fetch_one(
        conn,
        "SELECT pc.*, p.name AS provider, v.number, v.build_url,"
        " (SELECT b.name FROM broker.branch_versions bv"
        "   JOIN broker.branches b ON b.id = bv.branch_id"
        "  WHERE bv.version_id = v.id ORDER BY bv.created_at DESC LIMIT 1) AS branch"
        " FROM broker.pacticipants p"
        " JOIN broker.versions v ON v.pacticipant_id = p.id"
        " JOIN broker.provider_contracts pc ON pc.provider_version_id = v.id"
        " WHERE p.name = %s AND v.number = %s",
        (provider, number),
    )
    if row is None:
        raise BrokerError(
            404,
            "Not Found",
            f"no provider contract was published for version '{number}' of '{provider}'",
        )
    return row


async def versions_with_contracts(conn: psycopg.AsyncConnection, version_ids: set[int]) -> set[int]:
    """Which of these versions have a provider contract."""
    if not version_ids:
        return set()
    rows = await fetch_all(
        conn,
        "SELECT provider_version_id FROM broker.provider_contracts"
        " WHERE provider_version_id = ANY(%s)",
        (sorted(version_ids),),
    )
    return {int(row["provider_version_id"]) for row in rows}


# --- rendering -------------------------------------------------------------------------


def _status(success: bool | None) -> str:
    return "unknown" if success is None else ("success" if success else "failed")


_OUTCOME_TEXT = {
    "created": ("success", "Provider contract published for {p} version {v}."),
    "unchanged": ("success", "Provider contract for {p} version {v} is unchanged."),
    "replaced": (
        "warning",
        "Provider contract for {p} version {v} was replaced with the one just published.",
    ),
}


def render_publication(
    base: str, publication: ContractPublication, stored: Stored
) -> dict[str, Any]:
    """The answer to a publication, shaped like PactFlow's (what ``pact pactflow
    publish-provider-contract`` reads: ``notices``, ``_embedded.version.number`` and
    ``_links['pb:pacticipant-version-tags']``)."""
    name, number = publication.provider, publication.number
    summary = f"{'Created' if stored.new_version else 'Updated'} {name} version {number}"
    if publication.branch:
        summary += f" with branch {publication.branch}"
    if publication.tags:
        summary += (
            (" and" if publication.branch else " with") + " tags " + ", ".join(publication.tags)
        )
    contract_url = link(base, contract_path(name, number))["href"]
    kind, text = _OUTCOME_TEXT[stored.outcome]
    notices = [
        {"type": "success", "text": summary},
        {"type": kind, "text": f"{text.format(p=name, v=number)} {contract_url}"},
    ]
    verification = publication.verification
    if verification is not None:
        by = f" by {verification.verifier}" if verification.verifier else ""
        outcome = "passed" if verification.success else "FAILED"
        notices.append(
            {
                "type": "info" if verification.success else "warning",
                "text": f"Self-verification{by} {outcome}.",
            }
        )
    vpath = version_path(name, number)
    links: dict[str, Any] = {
        "pb:pacticipant": link(base, pacticipant_path(name), title="Pacticipant", name=name),
        "pb:pacticipant-version": link(base, vpath, title="Pacticipant version", name=number),
        "pb:pacticipant-version-tags": [
            link(base, tag_path(name, number, tag), title="Tag", name=tag)
            for tag in publication.tags
        ],
        "pf:provider-contract": link(
            base,
            contract_path(name, number),
            title="Provider contract",
            name=f"Provider contract of {name} version {number}",
        ),
    }
    if publication.branch:
        links["pb:branch"] = link(
            base, branch_path(name, publication.branch), title="Branch", name=publication.branch
        )
        links["pb:branch-version"] = link(
            base,
            branch_version_path(name, publication.branch, number),
            title="Branch version",
            name=publication.branch,
        )
    return {
        "notices": notices,
        "_embedded": {
            "pacticipant": {
                "name": name,
                "_links": {"self": link(base, pacticipant_path(name))},
            },
            "version": {
                "number": number,
                "buildUrl": publication.build_url,
                "_links": {"self": link(base, vpath, title="Version", name=number)},
            },
        },
        "_links": links,
    }


def _contract_links(base: str, row: dict[str, Any]) -> dict[str, Any]:
    name, number = row["provider"], row["number"]
    return {
        "self": link(base, contract_path(name, number), title="Provider contract"),
        "pb:pacticipant": link(base, pacticipant_path(name), title="Provider", name=name),
        "pb:pacticipant-version": link(
            base, version_path(name, number), title="Provider version", name=number
        ),
        "pf:provider-contract-verification-results": link(
            base,
            provider_contract_verification_results_path(name, number),
            title="Self-verification results of the provider contract",
        ),
        "pf:publish-provider-contract": link(
            base, publish_path(name), title="Publish a provider contract"
        ),
    }


def render_contract(base: str, row: dict[str, Any]) -> dict[str, Any]:
    """A provider version's contract: the document as published (``content``, its
    ``contentType``), ``specification``/``contractType`` ``oas`` and the status of its
    self-verification (``success``, ``failed``, or ``unknown`` when none was published)."""
    name, number = row["provider"], row["number"]
    version: dict[str, Any] = {"number": number, "buildUrl": row["build_url"]}
    if row["branch"] is not None:
        version["branch"] = row["branch"]
    version["_links"] = {"self": link(base, version_path(name, number), title="Version")}
    return {
        "specification": row["specification"],
        "contractType": row["specification"],
        "contentType": row["content_type"],
        "content": row["content"],
        "contentSha": row["content_sha"],
        "verificationStatus": _status(row["verification_success"]),
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
        "_embedded": {
            "provider": {"name": name, "_links": {"self": link(base, pacticipant_path(name))}},
            "version": version,
        },
        "_links": _contract_links(base, row),
    }


def render_verification_results(base: str, row: dict[str, Any]) -> dict[str, Any]:
    """The self-verification results published with a contract; 404 when none were."""
    name, number = row["provider"], row["number"]
    if row["verification_success"] is None:
        raise BrokerError(
            404,
            "Not Found",
            f"the provider contract of '{name}' version '{number}' was published without"
            " self-verification results",
        )
    return {
        "success": bool(row["verification_success"]),
        "verificationStatus": _status(row["verification_success"]),
        "content": row["verification_content"],
        "contentType": row["verification_content_type"],
        "format": row["verification_format"],
        "verifier": row["verifier"],
        "verifierVersion": row["verifier_version"],
        "createdAt": iso(row["updated_at"]),
        "_links": {
            "self": link(
                base,
                provider_contract_verification_results_path(name, number),
                title="Self-verification results of the provider contract",
            ),
            "pf:provider-contract": link(
                base, contract_path(name, number), title="Provider contract"
            ),
            "pb:pacticipant-version": link(
                base, version_path(name, number), title="Provider version", name=number
            ),
        },
    }
