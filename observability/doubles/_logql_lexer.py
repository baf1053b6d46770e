"""Tokens of LogQL for the Loki double's parser, and Loki's parse error wording."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BINARY_OPERATORS", "LogQLParseError", "Token", "tokenize"]

_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+|\#[^\n]*)
    |(?P<duration>\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)
    |(?P<number>\d+(?:\.\d+)?)
    |(?P<ident>[a-zA-Z_][a-zA-Z0-9_]*)
    |(?P<op>\|=|\|~|!=|!~|=~|==|>=|<=|[{}()\[\],|=<>+\-*/%^])
    |(?P<string>["`])""",
    re.VERBOSE,
)
BINARY_OPERATORS = frozenset({"+", "-", "*", "/", "%", "^", "<", ">", ">=", "<="})
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPES |= {"\\": "\\", '"': '"'}


class LogQLParseError(ValueError):
    """A query the double cannot run; ``str()`` is Loki's ``ParseError`` wording."""

    def __init__(self, message: str, col: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.col = col

    def __str__(self) -> str:
        if self.col == 0:
            return f"parse error : {self.message}"
        return f"parse error at line 1, col {self.col}: {self.message}"


@dataclass(frozen=True)
class Token:
    kind: str  # duration number ident op string eof
    text: str
    col: int  # 1-based, as in Loki's messages


def _read_string(text: str, start: int) -> tuple[str, int]:
    """A Go string literal at ``text[start]``; returns its value and the end offset."""
    quote = text[start]
    end = text.find("`", start + 1) if quote == "`" else -1
    if quote == "`":
        if end < 0:
            raise LogQLParseError("literal not terminated", start + 1)
        return text[start + 1 : end], end + 1
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\n":
            break
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = text[i + 2 : i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise LogQLParseError("invalid syntax", i + 1)
            out.append(chr(int(digits, 16)))
            i += 2 + width
        else:
            raise LogQLParseError(f"invalid char escape \\{nxt}", i + 1)
    raise LogQLParseError("literal not terminated", start + 1)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise LogQLParseError(f"syntax error: unexpected character {text[pos]!r}", pos + 1)
        kind = match.lastgroup
        assert kind is not None
        if kind == "string":
            value, end = _read_string(text, pos)
            tokens.append(Token("string", value, pos + 1))
            pos = end
            continue
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos + 1))
        pos = match.end()
    tokens.append(Token("eof", "", len(text) + 1))
    return tokens
