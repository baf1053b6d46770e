"""Check a request body against the schema the broker publishes for it.

The broker's OpenAPI declares each operation's body (``_openapi.REQUESTS``).
Checking bodies against those very schemas keeps the two in step: anything
the document calls invalid is answered 400 with the JSON location of the
first problem, so clients and fuzzers can trust the document. What a schema
cannot say (names that must match the path, pacticipants that must exist, a
pact inside base64) is the endpoints' own check, answered 422.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from contracts.broker._errors import bad_request
from contracts.broker._openapi import REQUESTS

__all__ = ["check_operation_body", "location"]

_MAX_SHOWN = 120
_MAX_PLACES = 20


@cache
def _validators() -> dict[tuple[str, str], Draft202012Validator]:
    return {
        key: Draft202012Validator(described.body)
        for key, described in REQUESTS.items()
        if described.body is not None
    }


def location(path: Any) -> str:
    """``contracts[0].content`` for the path ``contracts, 0, content``; ``body`` for the root."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def _message(error: ValidationError) -> str:
    """What the rule expects, never the value that broke it: values may be secrets
    (a webhook password) and are the client's own anyway."""
    rule, expected = error.validator, error.validator_value
    match rule:
        case "type":
            return f"must be of type {_shown(expected)}"
        case "enum":
            return f"must be one of {_shown(expected)}"
        case "const":
            return f"must be {_shown(expected)}"
        case "pattern":
            return f"must match the pattern {_shown(expected)}"
        case "minLength" | "maxLength":
            bound = "at least" if rule == "minLength" else "at most"
            return f"must be {bound} {expected} characters long"
        case "minItems" | "maxItems":
            bound = "at least" if rule == "minItems" else "at most"
            return f"must have {bound} {expected} items"
        case "minimum" | "maximum":
            return f"must be {'at least' if rule == 'minimum' else 'at most'} {expected}"
        case "additionalProperties":
            return "has properties that are not allowed here"
        case "propertyNames":
            return "has a property name that is not allowed"
        case _:
            return f"breaks the schema rule '{rule}'"


def _branch_errors(error: ValidationError) -> list[ValidationError] | None:
    """For an anyOf/oneOf: the errors of the one branch whose type fits the value, or
    None when no branch (or more than one) fits, so the alternatives are named instead."""
    fitting: dict[Any, list[ValidationError]] = {}
    type_misfits: set[Any] = set()
    for sub in error.context or ():
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else None
        if sub.validator == "type" and not sub.relative_path:
            type_misfits.add(branch)
        else:
            fitting.setdefault(branch, []).append(sub)
    candidates = {b: errs for b, errs in fitting.items() if b not in type_misfits}
    return next(iter(candidates.values())) if len(candidates) == 1 else None


def _alternatives(error: ValidationError) -> str:
    branches: list[Any] = list(error.validator_value)  # type: ignore[arg-type]
    types = [
        str(branch.get("type"))
        for branch in branches
        if isinstance(branch, dict) and "type" in branch
    ]
    if error.validator == "anyOf" and len(types) == len(branches):
        return "must be of type " + " or ".join(dict.fromkeys(types))
    return "matches none of the allowed shapes (see the OpenAPI document)"


def _places(error: ValidationError) -> list[tuple[str, str]]:
    """(where, what is expected) for one error, naming the innermost useful place."""
    if error.validator == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
        return [
            (location([*error.absolute_path, name]), "is required")
            for name in required
            if name not in present
        ]
    if error.validator in ("anyOf", "oneOf"):
        inner = _branch_errors(error)
        if inner is not None:
            return [place for sub in inner for place in _places(sub)]
        return [(location(error.absolute_path), _alternatives(error))]
    return [(location(error.absolute_path), _message(error))]


def check_operation_body(method: str, template: str | None, body: Any) -> None:
    """Raise a 400 problem naming where ``body`` breaks the documented schema of the
    operation ``method`` on the route ``template`` (e.g. ``/webhooks/{uuid}``); an
    operation without a documented body (or no route) is not checked."""
    if template is None:
        return
    validator = _validators().get((method.lower(), template))
    if validator is None:
        return
    errors: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.path))):
        for where, expected in _places(error):
            errors.setdefault(where, []).append(expected)
        if len(errors) >= _MAX_PLACES:
            break
    if errors:
        raise bad_request(errors)
