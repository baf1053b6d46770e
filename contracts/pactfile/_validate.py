"""Is a parsed document a pact? The schema of its specification version, then
the rules a schema cannot say."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from contracts.pactfile._limits import DEFAULT_LIMITS, ReadLimits
from contracts.pactfile._problems import PactProblem
from contracts.pactfile._schemas import SpecVersion, validator_for

__all__ = ["check_pact", "spec_version"]

_MAX_SHOWN = 100


def _escape(part: object) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def pointer_of(path: Any) -> str:
    return "".join("/" + _escape(part) for part in path)


def _declared_version(document: dict[str, Any]) -> tuple[str, str] | None:
    """(version text, pointer) as the metadata declares it, in any of its spellings."""
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        return None
    for key in ("pactSpecification", "pact-specification"):
        block = metadata.get(key)
        if isinstance(block, dict) and "version" in block:
            return str(block["version"]), f"/metadata/{key}/version"
    if "pactSpecificationVersion" in metadata:
        return str(metadata["pactSpecificationVersion"]), "/metadata/pactSpecificationVersion"
    return None


def spec_version(document: dict[str, Any]) -> tuple[SpecVersion, PactProblem | None]:
    """The specification version whose schema applies, and a problem if the
    declared one is not a version Covenant reads."""
    declared = _declared_version(document)
    if declared is not None:
        text, pointer = declared
        major = text.strip().lstrip("vV").split(".", 1)[0]
        if major in ("1", "2"):
            return "2", None
        if major in ("3", "4"):
            return major, None  # type: ignore[return-value]
        return "4", PactProblem(
            pointer, "is not a Pact Specification version Covenant reads (1.x to 4.x)"
        )
    interactions = document.get("interactions")
    items = interactions if isinstance(interactions, list) else []
    if not isinstance(interactions, list) or any(
        isinstance(i, dict) and "type" in i for i in items
    ):
        return "4", None
    if "messages" in document or any(isinstance(i, dict) and "providerStates" in i for i in items):
        return "3", None
    return "2", None


def _shown(value: Any) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


_JSON_TYPES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _message(error: ValidationError) -> tuple[str, str]:
    """(pointer, message) for one schema error. Values are described by kind, not
    echoed: a pact may carry a credential in a header example."""
    pointer = pointer_of(error.absolute_path)
    rule: Any = error.validator
    expected: Any = error.validator_value
    instance: Any = error.instance
    match rule:
        case "required":
            missing = next((name for name in expected if name not in instance), expected[0])
            return f"{pointer}/{_escape(missing)}", "is required"
        case "type":
            wanted = " or ".join(
                str(_JSON_TYPES.get(str(t), t))
                for t in (expected if isinstance(expected, list) else [expected])
            )
            return pointer, f"must be {wanted}, not {_kind(instance)}"
        case "enum":
            return pointer, f"must be one of: {_shown(expected)}"
        case "const":
            return pointer, f"must be {_shown(expected)}"
        case "pattern":
            description = (
                error.schema.get("description") if isinstance(error.schema, dict) else None
            )
            return pointer, description or f"must match the pattern {_shown(expected)}"
        case "minLength":
            return (
                pointer,
                "must not be empty" if expected == 1 else f"needs {expected}+ characters",
            )
        case "maxLength":
            return pointer, f"must be at most {expected} characters long"
        case "minimum" | "maximum":
            bound = "at least" if rule == "minimum" else "at most"
            return pointer, f"must be {bound} {expected}"
        case "propertyNames":
            return pointer, f"has a key that does not match {_shown(expected.get('pattern', ''))}"
        case "anyOf" | "oneOf":
            missing = [e.validator_value for e in error.context or () if e.validator == "required"]
            if error.context and len(missing) == len(error.context):
                names = [str(group[0]) for group in missing if isinstance(group, list) and group]
                if names:
                    return (
                        f"{pointer}/{_escape(names[0])}",
                        "is required (or " + " or ".join(f"'{n}'" for n in names[1:]) + ")",
                    )
            if error.context:
                deeper = best_match(error.context)
                if deeper is not None and list(deeper.absolute_path) != list(error.absolute_path):
                    return _message(deeper)
            return pointer, "is not of any form the specification allows here"
        case _:
            return pointer, f"breaks the rule '{rule}' of the pact schema"


def _schema_problems(document: Any, version: SpecVersion) -> Iterator[PactProblem]:
    for error in validator_for(version).iter_errors(document):
        if error.validator in ("if", "allOf") and error.context:
            continue  # the branch errors are reported on their own
        pointer, message = _message(error)
        yield PactProblem(pointer, message)


def _json_media(content_type: Any) -> bool:
    if not isinstance(content_type, str):
        return False
    bare = content_type.split(";", 1)[0].strip().lower()
    return bare == "application/json" or bare.endswith("+json")


def _header(headers: Any, name: str) -> Any:
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return value[0] if isinstance(value, list) and value else value
    return None


def _body_problems(part: Any, pointer: str, version: SpecVersion) -> Iterator[PactProblem]:
    """A body declared as JSON must be JSON, not a string holding it; a V4 body
    marked as encoded must be base64."""
    if not isinstance(part, dict):
        return
    if version == "4":
        for key in ("body", "contents"):
            body = part.get(key)
            if not isinstance(body, dict) or "content" not in body:
                continue
            content, encoded = body["content"], body.get("encoded", False)
            where = f"{pointer}/{key}/content"
            if encoded in (True, "base64") or (
                isinstance(encoded, str) and encoded.lower() == "base64"
            ):
                if not isinstance(content, str):
                    yield PactProblem(where, "is marked as base64-encoded but is not a string")
                else:
                    try:
                        base64.b64decode(content.encode("ascii"), validate=True)
                    except (binascii.Error, UnicodeEncodeError, ValueError):
                        yield PactProblem(where, "is marked as base64-encoded but is not base64")
            elif (
                encoded in (False, None)
                and _json_media(body.get("contentType"))
                and isinstance(content, str)
            ):
                yield PactProblem(
                    where,
                    "is a string, but the content type is JSON: give the JSON value itself "
                    "(or mark the content as encoded)",
                )
        return
    content_type = _header(part.get("headers"), "content-type")
    if _json_media(content_type) and isinstance(part.get("body"), str):
        try:
            json.loads(part["body"])
        except ValueError:
            yield PactProblem(
                f"{pointer}/body",
                "is a string that is not JSON, but the Content-Type header says JSON",
            )


def _interaction_key(item: dict[str, Any]) -> str:
    states = item.get("providerStates", item.get("providerState"))
    return json.dumps(
        [item.get("type"), item.get("description"), states], sort_keys=True, default=str
    )


def _semantic_problems(document: dict[str, Any], version: SpecVersion) -> Iterator[PactProblem]:
    for list_key in ("interactions", "messages"):
        items = document.get(list_key)
        if not isinstance(items, list):
            continue
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            pointer = f"/{list_key}/{index}"
            for part_key in ("request", "response"):
                part = item.get(part_key)
                if isinstance(part, list):
                    for n, each in enumerate(part):
                        yield from _body_problems(each, f"{pointer}/{part_key}/{n}", version)
                else:
                    yield from _body_problems(part, f"{pointer}/{part_key}", version)
            yield from _body_problems(item, pointer, version)
            if isinstance(item.get("description"), str):
                key = _interaction_key(item)
                if key in seen:
                    yield PactProblem(
                        f"{pointer}/description",
                        f"repeats the description and provider states of /{list_key}/{seen[key]}; "
                        "a verifier could not tell the two apart",
                    )
                seen.setdefault(key, index)


def check_pact(document: Any, *, limits: ReadLimits = DEFAULT_LIMITS) -> list[PactProblem]:
    """Every problem of ``document`` as a pact (no lines: the caller knows the text).
    Empty when it is a pact Covenant can use."""
    if not isinstance(document, dict):
        return [PactProblem("", f"must be a JSON object (a pact), not {_kind(document)}")]
    version, declared = spec_version(document)
    problems: list[PactProblem] = [declared] if declared else []
    seen: set[tuple[str | None, str]] = set()
    for problem in [*_schema_problems(document, version), *_semantic_problems(document, version)]:
        key = (problem.pointer, problem.message)
        if key not in seen:
            seen.add(key)
            problems.append(problem)
    problems.sort(key=lambda p: p.pointer or "")
    return problems[: limits.max_problems]
