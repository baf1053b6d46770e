"""What one expectation or HTTP step of a run ended as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ExpectationResult", "Outcome"]

Outcome = Literal["seen", "not_seen", "error"]


@dataclass
class ExpectationResult:
    """An expectation (``seen``: the signal appeared) or an HTTP step (``seen``: its
    assertion held); ``latency_s`` is from the send (a step: from its first request)."""

    name: str
    kind: str
    outcome: Outcome
    latency_s: float | None = None
    detail: str = ""
    polls: int = 0
