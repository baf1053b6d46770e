"""What the broker accepts from a request, with no web framework: bounded query
values, JSON bodies that are JSON and nothing more, whole numbers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from contracts.broker._errors import BrokerError

__all__ = ["MAX_QUERY_VALUE", "parse_json_body", "query_errors", "whole_number"]

#: Longest query parameter value (every one names something: a pacticipant, a
#: version, a tag, an environment; names are at most 256 characters).
MAX_QUERY_VALUE = 256
#: Query keys that may repeat: the matrix's selectors (``q[][pacticipant]=A&...``).
_REPEATABLE = ("q[", "ignore[")


def query_errors(
    path_params: Iterable[tuple[str, Any]], query: list[tuple[str, str]]
) -> dict[str, list[str]]:
    """Per parameter, what is wrong with it: no path or query value may hold a NUL
    (PostgreSQL cannot compare or store one), no query value may be longer than
    MAX_QUERY_VALUE, and no query key but the matrix's selectors may be given twice
    (which one would count?)."""
    errors: dict[str, list[str]] = {}
    values = [*path_params, *query]
    for name in sorted({str(name) for name, value in values if "\x00" in str(value)}):
        errors[name] = ["must not contain a NUL character"]
    seen: set[str] = set()
    for name, value in query:
        if len(value) > MAX_QUERY_VALUE:
            errors.setdefault(name, []).append(f"must be at most {MAX_QUERY_VALUE} characters long")
        if name in seen and not name.startswith(_REPEATABLE):
            errors.setdefault(name, []).append("must be given at most once")
        seen.add(name)
    return {name: list(dict.fromkeys(found)) for name, found in errors.items()}


def parse_json_body(body: bytes) -> Any:
    """``body`` parsed as JSON, or a BrokerError (400) saying where it is not JSON."""
    if not body:
        raise BrokerError(400, "Bad Request", "the request body is empty")
    try:
        # JSON is UTF-8 (RFC 8259, which lets a parser ignore a byte order mark);
        # json.loads would also guess UTF-16 and UTF-32.
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BrokerError(
            400,
            "Bad Request",
            f"the body is not UTF-8 (byte {exc.start + 1})",
            errors={"body": [f"byte {exc.start + 1}: not UTF-8"]},
        ) from None
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except _NotJson as exc:
        raise BrokerError(
            400, "Bad Request", f"the body is not valid JSON: {exc}", errors={"body": [str(exc)]}
        ) from None
    except json.JSONDecodeError as exc:
        raise BrokerError(
            400,
            "Bad Request",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            errors={"body": [f"line {exc.lineno}, column {exc.colno}: {exc.msg}"]},
        ) from None
    except RecursionError:
        raise BrokerError(400, "Bad Request", "the body is nested too deeply") from None


class _NotJson(ValueError):
    """Python's json reads more than JSON: NaN, Infinity, a key given twice."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _NotJson(f"the key '{key}' is given twice in one object")
        found[key] = value
    return found


_DIGITS = re.compile(r"^[0-9]{1,9}$")


def whole_number(raw: str, low: int, high: int) -> int | None:
    """``raw`` as an int from ``low`` to ``high``, or None: ASCII digits only (``str.isdigit``
    also passes '²', which ``int`` refuses) and never thousands of them."""
    if not _DIGITS.match(raw):
        return None
    value = int(raw)
    return value if low <= value <= high else None
