"""What a verification is asked to do and what it found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from contracts.pactfile import DEFAULT_LIMITS, ReadLimits


@dataclass(frozen=True)
class VerifyOptions:
    provider: str
    base_url: str
    pacts_dir: Path | None = None
    broker_url: str | None = None
    broker_token: str | None = field(default=None, repr=False)
    publish: bool = False
    provider_version: str | None = None
    provider_branch: str | None = None
    #: Provider-state convention shared by the reference services (reference/API.md).
    state_path: str = "/_pact/provider-states"
    #: Where the provider produces a message for a description (message pacts).
    messages_path: str = "/_pact/messages"
    request_timeout_s: float = 10.0
    #: Bounds for reading the pact files (``pacts`` in the configuration).
    pact_limits: ReadLimits = DEFAULT_LIMITS


@dataclass(frozen=True)
class Mismatch:
    kind: str
    path: str | None
    message: str
    expected: str | None = None
    actual: str | None = None

    def describe(self) -> str:
        where = f"{self.path}: " if self.path else ""
        detail = self.message
        if self.expected is not None and self.actual is not None and self.kind != "BodyMismatch":
            detail += f" (expected {self.expected}, actual {self.actual})"
        return f"{self.kind} {where}{detail}"


@dataclass(frozen=True)
class InteractionOutcome:
    consumer: str
    description: str
    states: tuple[str, ...]
    passed: bool
    pending: bool
    duration: str
    mismatches: tuple[Mismatch, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class VerifyResult:
    provider: str
    base_url: str
    outcomes: tuple[InteractionOutcome, ...]
    seconds: float
    #: The verifier's own text output (ANSI colours stripped).
    output: str

    @property
    def failed(self) -> tuple[InteractionOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.passed and not o.pending)

    @property
    def passed(self) -> bool:
        return bool(self.outcomes) and not self.failed
