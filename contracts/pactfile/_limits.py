"""How much of a pact file Covenant is willing to read."""

from __future__ import annotations

from dataclasses import dataclass

from covenant.kernel.config import PactsConfig

__all__ = ["DEFAULT_LIMITS", "ReadLimits", "limits_for"]


@dataclass(frozen=True)
class ReadLimits:
    """Bounds for reading pacts; ``pacts.max_file_bytes`` and ``pacts.max_depth``
    in the configuration set the first two."""

    #: A pact file larger than this is refused before it is parsed.
    max_file_bytes: int = 10 * 1024 * 1024
    #: Objects and arrays nested deeper than this are refused (Python's parser
    #: would otherwise overflow its stack near 1,000).
    max_depth: int = 64
    #: At most this many problems are reported per pact.
    max_problems: int = 20


DEFAULT_LIMITS = ReadLimits()


def limits_for(config: PactsConfig) -> ReadLimits:
    """The limits the configuration's ``pacts`` section sets."""
    return ReadLimits(max_file_bytes=config.max_file_bytes, max_depth=config.max_depth)
