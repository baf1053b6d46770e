"""Strict JSON parsing, and the line of any JSON pointer in the original text.

Python's ``json`` accepts ``NaN`` and ``Infinity``, keeps the last of two
duplicate keys without a word and overflows its stack on deep nesting; a pact
is refused for each of these. Errors in a pact name a JSON pointer; the text is
re-scanned (only when there is an error to place) to tell the line and column
where the value at that pointer starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["JsonTextError", "Position", "depth_of", "find_duplicate_key", "locate", "parse_strict"]


@dataclass(frozen=True)
class Position:
    line: int
    column: int


class JsonTextError(ValueError):
    """The text is not JSON a pact may be made of; ``position`` when it is known."""

    def __init__(self, message: str, position: Position | None = None, pointer: str = ""):
        super().__init__(message)
        self.message = message
        self.position = position
        self.pointer = pointer


class _Duplicate(Exception):
    pass


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (the specification has no NaN or Infinity)")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Duplicate
    return result


def parse_strict(text: str, *, max_depth: int) -> Any:
    """``json.loads`` that refuses NaN/Infinity, duplicate keys and nesting beyond ``max_depth``."""
    if text.startswith("\ufeff"):
        raise JsonTextError("starts with a byte-order mark; save the file as UTF-8 without BOM")
    deepest = _bracket_depth(text)
    if deepest > max_depth:
        raise JsonTextError(f"is nested {deepest} levels deep; the limit is {max_depth}")
    try:
        return json.loads(text, parse_constant=_no_constants, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        raise JsonTextError(f"not valid JSON: {exc.msg}", Position(exc.lineno, exc.colno)) from None
    except _Duplicate:
        found = find_duplicate_key(text)
        if found is None:  # pragma: no cover - the scanner and json agree on keys
            raise JsonTextError("has an object with a duplicate key") from None
        pointer, key, position = found
        raise JsonTextError(
            f"the key '{key}' appears twice in one object", position, pointer
        ) from None
    except ValueError as exc:
        raise JsonTextError(str(exc)) from None
    except RecursionError:
        raise JsonTextError("is nested too deeply to read") from None


_STRING = r'"(?:[^"\\\x00-\x1f]|\\.)*"'
_TOKENS = re.compile(
    rf"(?P<string>{_STRING})|(?P<open>[{{\[])|(?P<close>[}}\]])|(?P<colon>:)|(?P<comma>,)"
    r"|(?P<space>[ \t\r\n]+)|(?P<scalar>[^\s{}\[\]:,\"]+)"
)


def _bracket_depth(text: str) -> int:
    """How deep brackets nest outside strings; cheap enough for every file read."""
    deepest = depth = 0
    for match in re.finditer(rf"{_STRING}|[{{\[]|[}}\]]", text):
        char = match.group()[0]
        if char in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "}]":
            depth -= 1
    return deepest


def depth_of(value: Any) -> int:
    """Nesting depth of a parsed value (iterative: no recursion limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@dataclass
class _Frame:
    is_object: bool
    key: str | int | None = None
    expecting_key: bool = False
    keys: set[str] | None = None


def _values(text: str) -> Iterator[tuple[str, Position, str | None, bool]]:
    """Yield (pointer, position, key-if-this-is-an-object-key, duplicate?) in text order."""
    frames: list[_Frame] = []
    line, line_start = 1, 0

    def pointer() -> str:
        return "".join("/" + _escape(str(f.key)) for f in frames if f.key is not None)

    for match in _TOKENS.finditer(text):
        kind, text_of, start = match.lastgroup, match.group(), match.start()
        if kind == "space":
            newlines = text_of.count("\n")
            if newlines:
                line += newlines
                line_start = start + text_of.rindex("\n") + 1
            continue
        position = Position(line, start - line_start + 1)
        top = frames[-1] if frames else None
        if kind == "string" and top is not None and top.is_object and top.expecting_key:
            key = json.loads(text_of)
            assert top.keys is not None
            duplicate = key in top.keys
            top.keys.add(key)
            top.key = key
            top.expecting_key = False
            yield pointer(), position, key, duplicate
            continue
        if kind in ("string", "scalar", "open"):
            yield pointer(), position, None, False
            if kind == "open":
                is_object = text_of == "{"
                frames.append(
                    _Frame(
                        is_object,
                        None if is_object else 0,
                        expecting_key=is_object,
                        keys=set() if is_object else None,
                    )
                )
        elif kind == "close":
            if frames:
                frames.pop()
        elif kind == "comma" and top is not None:
            if top.is_object:
                top.expecting_key = True
            elif isinstance(top.key, int):
                top.key += 1


def locate(text: str, pointer: str) -> Position | None:
    """Where the value at ``pointer`` (RFC 6901) starts in ``text``; its nearest
    ancestor's position when the value itself is missing."""
    best: Position | None = None
    best_length = -1
    for found, position, key, _ in _values(text):
        if key is not None:
            continue
        if found == pointer:
            return position
        is_ancestor = found == "" or pointer.startswith(found + "/")
        if is_ancestor and len(found) > best_length:
            best, best_length = position, len(found)
    return best


def find_duplicate_key(text: str) -> tuple[str, str, Position] | None:
    """The first key that appears twice in one object: (pointer, key, position)."""
    for found, position, key, duplicate in _values(text):
        if key is not None and duplicate:
            return found, key, position
    return None
