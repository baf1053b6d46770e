"""Who may read and who may write: bearer tokens checked against the configured
secrets, one rule for the broker and the status API alike.

Kept free of any web framework: callers pass the ``Authorization`` header's
value and map the :class:`Access` answer to their own HTTP response.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = ["Access", "TokenRules", "bearer_token", "decide", "token_matches"]


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class TokenRules(Protocol):
    """What the access rule reads from configuration (``BrokerConfig`` has it)."""

    allow_anonymous_read: bool
    read_write_tokens: list[Any]
    read_only_tokens: list[Any]


class Access(enum.Enum):
    """The answer to one request: allowed, or why not."""

    ALLOWED = "allowed"
    #: No token, and one is required (401 with a challenge).
    TOKEN_REQUIRED = "a bearer token is required"  # noqa: S105 (a message)
    #: A token that is none of the configured ones (401 with a challenge).
    TOKEN_INVALID = "the bearer token is not valid"  # noqa: S105 (a message)
    #: A read-only token used to write (403).
    READ_ONLY = "this token may only read"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def token_matches(token: str, candidates: Iterable[_Secret]) -> bool:
    """Whether ``token`` is one of the secret ``candidates``."""
    # Compare against every candidate without stopping early: constant time per token.
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(token.encode(), candidate.get_secret_value().encode())
    return found


def decide(rules: TokenRules, authorization: str | None, *, write: bool) -> Access:
    """The one access rule: reading without a token only when anonymous reads are
    allowed; a token given must be valid either way; writing needs a read-write token."""
    token = bearer_token(authorization)
    if token is None:
        if not write and rules.allow_anonymous_read:
            return Access.ALLOWED
        return Access.TOKEN_REQUIRED
    if token_matches(token, rules.read_write_tokens):
        return Access.ALLOWED
    if token_matches(token, rules.read_only_tokens):
        return Access.READ_ONLY if write else Access.ALLOWED
    return Access.TOKEN_INVALID
