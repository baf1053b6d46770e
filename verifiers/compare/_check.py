"""Every HTTP interaction of a pact, checked against its provider's OpenAPI document.

What is compared, per interaction (codes in :data:`verifiers.compare.CODES`):

- the request: a path template and method must exist (literal segments win over
  templated ones); declared path, query and header parameters must validate
  (pacts carry them as strings: they are coerced to the schema's type first),
  required ones must be there, undeclared query parameters are reported; the
  request body must be of an accepted media type and validate.
- the response: the status must be documented (or ``NXX`` or ``default``), the
  media type documented for it, and the body example must validate.

Two rules follow from what a pact means:

- A pact's response example lists only the fields its consumer reads (the
  provider may send more), so ``required`` is not enforced on response bodies.
  A field the consumer expects that the schema does not declare *is*
  reported (``response.body.unknown-field``), unless the schema allows other
  properties (``additionalProperties`` true or a schema).
- A negative interaction (a 4xx status the operation documents) sends an
  invalid request on purpose, so its request parameters and body are not
  checked; its path and method still are.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from contracts.pactfile import DEFAULT_LIMITS, ReadLimits, read_pact_file, read_pact_files
from covenant.kernel.errors import CovenantError, ErrorKind
from verifiers.compare._model import CompareResult, Incompatibility, ProviderReport
from verifiers.compare._openapi import (
    OpenApiDocument,
    Operation,
    join_pointer,
    match_media_type,
)

__all__ = ["Pact", "check_interaction", "compare_pacts", "is_message", "load_pact", "load_pacts"]

_MAX_MESSAGE = 240
#: Header parameters OpenAPI says to ignore (they are described elsewhere).
_IGNORED_HEADERS = {"accept", "content-type", "authorization"}


# -- pact files ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pact:
    path: Path
    document: dict[str, Any]
    consumer: str
    provider: str
    #: V4 wraps bodies as ``{"content": ..., "contentType": ..., "encoded": ...}``.
    v4: bool

    @property
    def interactions(self) -> list[dict[str, Any]]:
        found = self.document.get("interactions")
        return found if isinstance(found, list) else []

    @property
    def v3_messages(self) -> int:
        """Message pacts of spec V3 keep their messages under ``messages``."""
        found = self.document.get("messages")
        return len(found) if isinstance(found, list) else 0


def is_message(interaction: dict[str, Any]) -> bool:
    kind = str(interaction.get("type", ""))
    return kind.startswith(("Asynchronous/Messages", "Synchronous/Messages"))


def load_pact(path: Path, *, limits: ReadLimits = DEFAULT_LIMITS) -> Pact:
    """Read and check one pact (:mod:`contracts.pactfile`); a malformed one names
    its file, line and JSON pointer (exit 2)."""
    pact = read_pact_file(path, limits=limits)
    return Pact(path, pact.content, pact.consumer, pact.provider, pact.spec == "4")


def load_pacts(pacts_dir: Path, *, limits: ReadLimits = DEFAULT_LIMITS) -> list[Pact]:
    """Every pact of a directory, all checked before any is compared."""
    if not pacts_dir.is_dir():
        raise CovenantError(f"{pacts_dir}: no such directory of pacts", kind=ErrorKind.USAGE)
    return [
        Pact(Path(pact.source), pact.content, pact.consumer, pact.provider, pact.spec == "4")
        for pact in read_pact_files([pacts_dir], limits=limits)
    ]


# -- bodies -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Body:
    value: Any
    #: Pointer to the example value in the pact (V4: ``.../body/content``).
    pointer: str
    content_type: str | None
    #: False when the example could not be decoded (e.g. base64 of a binary).
    decoded: bool = True


def _json_like(media_type: str) -> bool:
    bare = media_type.split(";", 1)[0].strip().lower()
    return bare == "application/json" or bare.endswith("+json") or bare == "*/*"


def _header(part: dict[str, Any], name: str) -> tuple[str, Any] | None:
    headers = part.get("headers")
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if key.lower() == name.lower():
            return key, value
    return None


def _header_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _body(pact: Pact, part: dict[str, Any], pointer: str) -> _Body | None:
    """The body example of a request or response, unwrapped from V4's envelope."""
    if "body" not in part or part["body"] is None:
        return None
    raw = part["body"]
    header = _header(part, "Content-Type")
    content_type = _header_text(header[1]) if header else None
    if pact.v4 and isinstance(raw, dict) and "content" in raw:
        content_type = raw.get("contentType") or content_type
        value = raw["content"]
        encoded = raw.get("encoded", False)
        body_pointer = join_pointer(pointer, "body", "content")
        if value is None:
            return None
        if isinstance(encoded, str) and encoded.lower() == "base64" and isinstance(value, str):
            try:
                data = base64.b64decode(value, validate=True)
                value = json.loads(data) if content_type and _json_like(content_type) else data
            except (binascii.Error, ValueError):
                return _Body(value, body_pointer, content_type, decoded=False)
        elif isinstance(encoded, str) and encoded.lower() == "json" and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return _Body(value, body_pointer, content_type, decoded=False)
        return _Body(value, body_pointer, content_type)
    return _Body(raw, join_pointer(pointer, "body"), content_type)


def _media_type_of(body: _Body) -> str:
    if body.content_type:
        return body.content_type
    return "application/json" if isinstance(body.value, dict | list) else "text/plain"


# -- parameters ----------------------------------------------------------------------


def _types(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    return []


def _coerce_scalar(text: str, types: list[str]) -> Any:
    """A parameter arrives as a string; turn it into what the schema's type expects."""
    for kind in types:
        if kind == "integer" and re.fullmatch(r"[+-]?\d+", text.strip()):
            return int(text)
        if kind == "number":
            try:
                number = float(text)
            except ValueError:
                continue
            if math.isfinite(number):
                return int(number) if number.is_integer() and "." not in text else number
        if kind == "boolean" and text in ("true", "false"):
            return text == "true"
        if kind == "null" and text in ("", "null"):
            return None
        if kind == "string":
            return text
    return text


def _coerce(values: list[str], schema: Any, spec: OpenApiDocument, pointer: str) -> Any:
    resolved, _ = spec.deref(schema, pointer)
    types = [t for t in _types(resolved) if t != "null"] + (
        ["null"] if "null" in _types(resolved) else []
    )
    if "array" in types:
        items, _ = spec.deref(resolved.get("items", {}), pointer + "/items")
        item_types = _types(items)
        parts = values
        if len(values) == 1 and "," in values[0]:
            parts = values[0].split(",")
        return [_coerce_scalar(v, item_types) for v in parts]
    if len(values) != 1:
        return [_coerce_scalar(v, types) for v in values]  # repeated scalar: a type error
    return _coerce_scalar(values[0], types)


def _query(request: dict[str, Any]) -> dict[str, list[str]]:
    query = request.get("query")
    if isinstance(query, str):
        return {k: list(v) for k, v in parse_qs(query, keep_blank_values=True).items()}
    if not isinstance(query, dict):
        return {}
    out: dict[str, list[str]] = {}
    for name, value in query.items():
        out[str(name)] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return out


# -- schema validation ----------------------------------------------------------------


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _where(path: list[str | int]) -> str:
    return join_pointer("", *path) or "(root)"


def _validate(
    spec: OpenApiDocument, schema_pointer: str, instance: Any, *, response: bool
) -> Iterator[tuple[list[str | int], str, str]]:
    """(instance path, spec pointer, message) for each violation, in document order."""
    from jsonschema.exceptions import best_match
    from referencing.exceptions import Unresolvable

    errors = []
    try:
        found = list(spec.validator(schema_pointer, response=response).iter_errors(instance))
    except Unresolvable as exc:
        raise CovenantError(
            f"{spec.source}: {schema_pointer}: $ref {getattr(exc, 'ref', '')!r} points nowhere",
            kind=ErrorKind.USAGE,
        ) from None
    for error in found:
        while error.context:
            error = best_match(error.context)
        if (
            response
            and error.validator in ("additionalProperties", "unevaluatedProperties")
            and error.validator_value is False
        ):
            continue  # reported as response.body.unknown-field, field by field
        errors.append(error)
    errors.sort(key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        path = list(error.absolute_path)
        pointer = spec.schema_pointer(schema_pointer, error.absolute_schema_path)
        yield path, pointer, _shorten(f"{_where(path)}: {error.message}")


def _members(
    spec: OpenApiDocument, schema: Any, pointer: str, depth: int = 0
) -> list[tuple[dict[str, Any], str]]:
    """A schema and, recursively, its allOf/anyOf/oneOf branches, references resolved."""
    node, pointer = spec.deref(schema, pointer)
    if not isinstance(node, dict) or depth > 16:
        return []
    found = [(node, pointer)]
    for keyword in ("allOf", "anyOf", "oneOf"):
        branches = node.get(keyword)
        if isinstance(branches, list):
            for index, branch in enumerate(branches):
                found += _members(spec, branch, join_pointer(pointer, keyword, index), depth + 1)
    return found


def _unknown_fields(
    spec: OpenApiDocument, instance: Any, schema_pointer: str, path: list[str | int]
) -> Iterator[tuple[list[str | int], str, str]]:
    """Fields of the example that the schema does not declare: (path, spec pointer, name)."""
    members = _members(spec, spec.node(schema_pointer), schema_pointer)
    if isinstance(instance, dict):
        declares = [
            (n, p)
            for n, p in members
            if isinstance(n.get("properties"), dict)
            or "patternProperties" in n
            or n.get("additionalProperties") is False
        ]
        is_open = any(
            n.get("additionalProperties") not in (None, False)
            or n.get("unevaluatedProperties") not in (None, False)
            for n, _ in members
        )
        for key, value in instance.items():
            subs: list[str] = []
            for node, pointer in members:
                properties = node.get("properties")
                if isinstance(properties, dict) and key in properties:
                    subs.append(join_pointer(pointer, "properties", key))
                patterns = node.get("patternProperties")
                if isinstance(patterns, dict):
                    subs += [
                        join_pointer(pointer, "patternProperties", pattern)
                        for pattern in patterns
                        if re.search(pattern, key)
                    ]
            if not subs:
                subs = [
                    join_pointer(pointer, "additionalProperties")
                    for node, pointer in members
                    if isinstance(node.get("additionalProperties"), dict)
                ]
            if not subs and declares and not is_open:
                owner, owner_pointer = declares[0]
                where = (
                    join_pointer(owner_pointer, "properties")
                    if isinstance(owner.get("properties"), dict)
                    else owner_pointer
                )
                yield [*path, key], where, key
                continue
            for sub in subs:
                yield from _unknown_fields(spec, value, sub, [*path, key])
    elif isinstance(instance, list):
        for index, item in enumerate(instance):
            for node, pointer in members:
                prefix = node.get("prefixItems")
                if isinstance(prefix, list) and index < len(prefix):
                    yield from _unknown_fields(
                        spec, item, join_pointer(pointer, "prefixItems", index), [*path, index]
                    )
                elif isinstance(node.get("items"), dict):
                    yield from _unknown_fields(
                        spec, item, join_pointer(pointer, "items"), [*path, index]
                    )


# -- one interaction --------------------------------------------------------------


class _Reporter:
    def __init__(self, pact: Pact, index: int, interaction: dict[str, Any]) -> None:
        self.pact = pact
        self.base = join_pointer("/interactions", index)
        self.description = str(interaction.get("description", f"interaction {index}"))
        self.found: list[Incompatibility] = []

    def __call__(self, code: str, message: str, pact_pointer: str, spec_pointer: str) -> None:
        self.found.append(
            Incompatibility(
                code=code,
                message=message,
                consumer=self.pact.consumer,
                provider=self.pact.provider,
                interaction=self.description,
                pact_file=str(self.pact.path),
                pact_pointer=pact_pointer,
                spec_pointer=spec_pointer,
            )
        )


def _status_key(responses: dict[str, Any], status: int) -> str | None:
    for key in responses:
        if str(key) == str(status):
            return str(key)
    for key in responses:
        if str(key).upper() == f"{status // 100}XX":
            return str(key)
    return "default" if "default" in responses else None


def _documents_error(operation: Operation, status: int) -> bool:
    """A 4xx the operation documents explicitly (or as 4XX): a negative interaction."""
    responses = operation.node.get("responses")
    if not (400 <= status < 500 and isinstance(responses, dict)):
        return False
    key = _status_key(responses, status)
    return key is not None and key != "default"


def _path_violations(
    spec: OpenApiDocument, operation: Operation, params: dict[str, str]
) -> list[tuple[str, str]]:
    """(message, spec pointer) for each path parameter whose value its schema rejects."""
    found: list[tuple[str, str]] = []
    for param, pointer in spec.parameters(operation):
        if param.get("in") != "path" or param["name"] not in params:
            continue
        if "schema" not in param:
            continue
        schema_pointer = join_pointer(pointer, "schema")
        value = _coerce([params[param["name"]]], param["schema"], spec, schema_pointer)
        for _path, where, message in _validate(spec, schema_pointer, value, response=False):
            found.append(
                (
                    f"path parameter {param['name']}={params[param['name']]!r}: "
                    f"{message.split(': ', 1)[-1]}",
                    where,
                )
            )
    return found


def check_interaction(
    pact: Pact, index: int, interaction: dict[str, Any], spec: OpenApiDocument
) -> list[Incompatibility]:
    """Every incompatibility between one HTTP interaction and the document."""
    report = _Reporter(pact, index, interaction)
    base = report.base
    request: dict[str, Any] = interaction["request"]
    response: dict[str, Any] = interaction.get("response") or {}
    method = request["method"].lower()
    path = request["path"]
    status = response.get("status", 200)

    candidates = spec.candidates(path)
    if not candidates:
        report(
            "request.path-or-method.unknown",
            f"{request['method'].upper()} {path}: no path template matches {path}",
            join_pointer(base, "request", "path"),
            "/paths",
        )
        return report.found
    with_method = [c for c in candidates if method in c.operations]
    if not with_method:
        documented = sorted({m.upper() for c in candidates for m in c.operations})
        report(
            "request.path-or-method.unknown",
            f"{request['method'].upper()} {path}: {candidates[0].template} documents "
            f"{', '.join(documented) or 'no operation'}, not {request['method'].upper()}",
            join_pointer(base, "request", "method"),
            candidates[0].pointer,
        )
        return report.found

    chosen: Operation | None = None
    first_violations: list[tuple[str, str]] = []
    for candidate in with_method:
        operation = candidate.operations[method]
        violations = _path_violations(spec, operation, candidate.params)
        if not violations:
            chosen = operation
            break
        if not first_violations:
            first_violations = violations
    if chosen is None:
        first = with_method[0]
        operation = first.operations[method]
        if _documents_error(operation, status):
            chosen = operation
        else:
            message, where = first_violations[0]
            report(
                "request.path-or-method.unknown",
                f"{request['method'].upper()} {path}: matches {first.template} but {message}",
                join_pointer(base, "request", "path"),
                where,
            )
            return report.found

    if not _documents_error(chosen, status):
        _check_parameters(spec, chosen, pact, request, base, report)
        _check_request_body(spec, chosen, pact, request, base, report)
    _check_response(spec, chosen, pact, response, base, report)
    return report.found


def _check_parameters(
    spec: OpenApiDocument,
    operation: Operation,
    pact: Pact,
    request: dict[str, Any],
    base: str,
    report: _Reporter,
) -> None:
    query = _query(request)
    request_pointer = join_pointer(base, "request")
    query_pointer = (
        join_pointer(request_pointer, "query") if "query" in request else request_pointer
    )
    declared_query: set[str] = set()
    for param, pointer in spec.parameters(operation):
        where, name = param.get("in"), param["name"]
        if where == "query":
            declared_query.add(name)
            values = query.get(name)
            value_pointer = (
                join_pointer(query_pointer, name)
                if isinstance(request.get("query"), dict)
                else query_pointer
            )
            code = "request.query.incompatible"
        elif where == "header":
            if name.lower() in _IGNORED_HEADERS:
                continue
            found = _header(request, name)
            values = None
            value_pointer = join_pointer(request_pointer, "headers")
            if found is not None:
                key, raw = found
                values = [str(v) for v in raw] if isinstance(raw, list) else [str(raw)]
                value_pointer = join_pointer(value_pointer, key)
            code = "request.header.incompatible"
        else:
            continue  # path parameters chose the template; cookies are not compared
        if values is None:
            if param.get("required") is True:
                report(
                    "request.parameter.missing",
                    f"required {where} parameter {name!r} is missing",
                    query_pointer if where == "query" else value_pointer,
                    pointer,
                )
            continue
        schema, schema_pointer = _parameter_schema(param, pointer)
        if schema is None:
            continue
        value = _coerce(values, schema, spec, schema_pointer)
        if isinstance(schema, dict) and "content" in param and len(values) == 1:
            try:
                value = json.loads(values[0])
            except ValueError:
                value = values[0]
        for _path, spec_pointer, message in _validate(spec, schema_pointer, value, response=False):
            report(
                code,
                f"{where} parameter {name}={_header_text(values)!r}: {message.split(': ', 1)[-1]}",
                value_pointer,
                spec_pointer,
            )
    for name in query:
        if name not in declared_query:
            report(
                "request.query.unknown",
                f"query parameter {name!r} is not declared by "
                f"{operation.method.upper()} {operation.template}",
                join_pointer(query_pointer, name)
                if isinstance(request.get("query"), dict)
                else query_pointer,
                operation.pointer,
            )


def _parameter_schema(param: dict[str, Any], pointer: str) -> tuple[Any, str]:
    if "schema" in param:
        return param["schema"], join_pointer(pointer, "schema")
    content = param.get("content")
    if isinstance(content, dict) and content:
        media_type = next(iter(content))
        media = content[media_type]
        if isinstance(media, dict) and "schema" in media:
            return media["schema"], join_pointer(pointer, "content", media_type, "schema")
    return None, pointer


def _check_request_body(
    spec: OpenApiDocument,
    operation: Operation,
    pact: Pact,
    request: dict[str, Any],
    base: str,
    report: _Reporter,
) -> None:
    if "requestBody" not in operation.node:
        return
    request_pointer = join_pointer(base, "request")
    declared, declared_pointer = spec.deref(
        operation.node["requestBody"], join_pointer(operation.pointer, "requestBody")
    )
    if not isinstance(declared, dict):
        return
    body = _body(pact, request, request_pointer)
    if body is None:
        if declared.get("required") is True:
            report(
                "request.body.missing",
                f"{operation.method.upper()} {operation.template} requires a request body",
                request_pointer,
                join_pointer(declared_pointer, "required"),
            )
        return
    content = declared.get("content")
    if not isinstance(content, dict):
        return
    media_type = _media_type_of(body)
    key = match_media_type(media_type, content)
    if key is None:
        report(
            "request.content-type.unknown",
            f"request body of type {media_type!r}; the operation accepts "
            f"{', '.join(content) or 'no body'}",
            _content_type_pointer(pact, request, request_pointer),
            join_pointer(declared_pointer, "content"),
        )
        return
    _validate_body(
        spec,
        content,
        key,
        declared_pointer,
        body,
        media_type,
        report,
        code="request.body.incompatible",
        response=False,
    )


def _content_type_pointer(pact: Pact, part: dict[str, Any], part_pointer: str) -> str:
    raw = part.get("body")
    if pact.v4 and isinstance(raw, dict) and raw.get("contentType"):
        return join_pointer(part_pointer, "body", "contentType")
    header = _header(part, "Content-Type")
    if header is not None:
        return join_pointer(part_pointer, "headers", header[0])
    return join_pointer(part_pointer, "body")


def _validate_body(
    spec: OpenApiDocument,
    content: dict[str, Any],
    key: str,
    owner_pointer: str,
    body: _Body,
    media_type: str,
    report: _Reporter,
    *,
    code: str,
    response: bool,
) -> None:
    media = content[key]
    if not isinstance(media, dict) or "schema" not in media or not body.decoded:
        return
    if not (_json_like(media_type) or isinstance(body.value, str)):
        return  # a binary or form body: nothing to validate against a JSON schema
    schema_pointer = join_pointer(owner_pointer, "content", key, "schema")
    for path, spec_pointer, message in _validate(
        spec, schema_pointer, body.value, response=response
    ):
        report(code, message, join_pointer(body.pointer, *path), spec_pointer)
    if response:
        for path, spec_pointer, name in _unknown_fields(spec, body.value, schema_pointer, []):
            report(
                "response.body.unknown-field",
                f"{_where(path)}: the pact expects field {name!r}, which the schema does "
                "not declare",
                join_pointer(body.pointer, *path),
                spec_pointer,
            )


def _check_response(
    spec: OpenApiDocument,
    operation: Operation,
    pact: Pact,
    response: dict[str, Any],
    base: str,
    report: _Reporter,
) -> None:
    status = response.get("status", 200)
    response_pointer = join_pointer(base, "response")
    responses = operation.node.get("responses")
    responses_pointer = join_pointer(operation.pointer, "responses")
    key = _status_key(responses, status) if isinstance(responses, dict) else None
    if key is None or not isinstance(responses, dict):
        documented = ", ".join(str(k) for k in responses) if isinstance(responses, dict) else ""
        report(
            "response.status.unknown",
            f"status {status} is not documented for {operation.method.upper()} "
            f"{operation.template} (documented: {documented or 'none'})",
            join_pointer(response_pointer, "status"),
            responses_pointer,
        )
        return
    documented_response, documented_pointer = spec.deref(
        responses[key], join_pointer(responses_pointer, key)
    )
    body = _body(pact, response, response_pointer)
    if body is None or not isinstance(documented_response, dict):
        return
    content = documented_response.get("content")
    media_type = _media_type_of(body)
    matched = match_media_type(media_type, content) if isinstance(content, dict) else None
    if matched is None or not isinstance(content, dict):
        report(
            "response.content-type.unknown",
            f"status {status} is documented with "
            f"{', '.join(content) if isinstance(content, dict) and content else 'no body'}, "
            f"not {media_type!r}",
            _content_type_pointer(pact, response, response_pointer),
            join_pointer(documented_pointer, "content")
            if isinstance(content, dict)
            else documented_pointer,
        )
        return
    _validate_body(
        spec,
        content,
        matched,
        documented_pointer,
        body,
        media_type,
        report,
        code="response.body.incompatible",
        response=True,
    )


# -- every pact ----------------------------------------------------------------------


def compare_pacts(
    pacts: list[Pact],
    spec_for: Callable[[str], OpenApiDocument],
    *,
    provider: str | None = None,
) -> CompareResult:
    """Compare each provider's pacts with its document; ``spec_for(provider)`` loads it.

    A provider whose pacts hold only message interactions needs no document.
    """
    selected = [p for p in pacts if provider is None or p.provider == provider]
    if provider is not None and not selected:
        raise CovenantError(f"no pact has provider '{provider}'", kind=ErrorKind.USAGE)
    result = CompareResult()
    for name in sorted({p.provider for p in selected}):
        own = [p for p in selected if p.provider == name]
        http = [
            (pact, index, interaction)
            for pact in own
            for index, interaction in enumerate(pact.interactions)
            if not is_message(interaction)
        ]
        spec = spec_for(name) if http else None
        report = ProviderReport(
            provider=name,
            spec_source=spec.source if spec else None,
            pact_files=[str(p.path) for p in own],
            checked=len(http),
            skipped_messages=sum(
                sum(1 for i in p.interactions if is_message(i)) + p.v3_messages for p in own
            ),
        )
        if spec is not None:
            for pact, index, interaction in http:
                report.incompatibilities += check_interaction(pact, index, interaction, spec)
        result.providers.append(report)
    return result
