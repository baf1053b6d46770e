"""What a verification is asked to do and what it found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from contracts.pactfile import DEFAULT_LIMITS, ReadLimits

#: The consumer versions verified from a broker unless selectors are given: the
#: main branch and whatever is deployed or released (the Pact docs' recommendation).
DEFAULT_SELECTORS = ('{"mainBranch": true}', '{"deployedOrReleased": true}')


@dataclass(frozen=True)
class VerifyOptions:
    """What a verification is asked to do: one source of pacts (``pacts_dir``, the
    broker's pacts for verification, or ``pact_urls``), where the provider and its
    provider-state and message endpoints are, what to publish, which interactions."""

    provider: str
    base_url: str
    pacts_dir: Path | None = None
    broker_url: str | None = None
    broker_token: str | None = field(default=None, repr=False)
    broker_username: str | None = None
    broker_password: str | None = field(default=None, repr=False)
    #: Pacts by URL (a webhook's ``${pactbroker.pactUrl}``), fetched with the broker's
    #: credentials; verification results are published to the broker they came from.
    pact_urls: tuple[str, ...] = ()
    #: Consumer version selectors as JSON objects (the broker's pacts-for-verification).
    consumer_version_selectors: tuple[str, ...] = DEFAULT_SELECTORS
    enable_pending: bool = True
    #: WIP pacts (``YYYY-MM-DD``): pacts published since then that this provider has
    #: not verified yet, verified as pending.
    include_wip_pacts_since: str | None = None
    publish: bool = False
    provider_version: str | None = None
    provider_branch: str | None = None
    provider_tags: tuple[str, ...] = ()
    build_url: str | None = None
    #: Provider-state convention shared by the reference services (reference/API.md).
    state_path: str = "/_pact/provider-states"
    #: Or an absolute URL of the provider-state endpoint, and whether it is also
    #: called to tear a state down after each interaction.
    state_change_url: str | None = None
    state_change_teardown: bool = True
    #: Where the provider produces a message for a description (message pacts).
    messages_path: str = "/_pact/messages"
    #: Or an absolute URL of that endpoint.
    messages_url: str | None = None
    #: Verify only these consumers, descriptions (regex), states (regex), or the
    #: interactions without a provider state.
    filter_consumers: tuple[str, ...] = ()
    filter_description: str | None = None
    filter_state: str | None = None
    filter_no_state: bool = False
    request_timeout_s: float = 10.0
    #: Bounds for reading the pact files (``pacts`` in the configuration).
    pact_limits: ReadLimits = DEFAULT_LIMITS

    @property
    def state_url(self) -> str:
        return self.state_change_url or self.base_url.rstrip("/") + self.state_path

    @property
    def message_url(self) -> str:
        return self.messages_url or self.base_url.rstrip("/") + self.messages_path


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
