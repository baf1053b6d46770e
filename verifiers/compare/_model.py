"""What a pact-versus-OpenAPI comparison found: incompatibilities with stable codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CODES",
    "CompareResult",
    "Incompatibility",
    "ProviderReport",
]

#: Every code this comparison can report, with what it means. Codes are stable:
#: CI scripts and dashboards may branch on them.
CODES: dict[str, str] = {
    "request.path-or-method.unknown": (
        "no OpenAPI path template matches the request path with that method"
    ),
    "request.parameter.missing": "a required path, query or header parameter is absent",
    "request.query.unknown": "a query parameter the operation does not declare",
    "request.query.incompatible": "a query parameter violates its schema",
    "request.header.incompatible": "a declared header parameter violates its schema",
    "request.content-type.unknown": "the request body's media type is not accepted",
    "request.body.missing": "the operation requires a request body and the pact sends none",
    "request.body.incompatible": "the request body does not validate against its schema",
    "response.status.unknown": "the status is not documented and there is no default",
    "response.content-type.unknown": "the status is documented but not with that media type",
    "response.body.incompatible": "the response body does not validate against its schema",
    "response.body.unknown-field": "the pact expects a field the schema does not declare",
}


@dataclass(frozen=True)
class Incompatibility:
    """One way an interaction of a pact disagrees with its provider's OpenAPI document."""

    code: str
    message: str
    consumer: str
    provider: str
    interaction: str
    #: The pact file the interaction came from.
    pact_file: str
    #: RFC 6901 pointer into the pact file, e.g. ``/interactions/3/response/status``.
    pact_pointer: str
    #: RFC 6901 pointer into the OpenAPI document; ``""`` is the whole document.
    spec_pointer: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "consumer": self.consumer,
            "provider": self.provider,
            "interaction": self.interaction,
            "pact_file": self.pact_file,
            "pact_pointer": self.pact_pointer,
            "spec_pointer": self.spec_pointer,
        }


@dataclass
class ProviderReport:
    """Every pact of one provider compared with one OpenAPI document."""

    provider: str
    #: Where the OpenAPI document came from (URL or file); None when not needed.
    spec_source: str | None
    pact_files: list[str] = field(default_factory=list)
    #: HTTP interactions compared.
    checked: int = 0
    #: Message interactions (Kafka etc.), which OpenAPI does not describe.
    skipped_messages: int = 0
    incompatibilities: list[Incompatibility] = field(default_factory=list)

    @property
    def compatible(self) -> bool:
        return not self.incompatibilities

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "spec": self.spec_source,
            "pact_files": self.pact_files,
            "checked": self.checked,
            "skipped_messages": self.skipped_messages,
            "compatible": self.compatible,
            "incompatibilities": [i.to_dict() for i in self.incompatibilities],
        }


@dataclass
class CompareResult:
    providers: list[ProviderReport] = field(default_factory=list)

    @property
    def compatible(self) -> bool:
        return all(p.compatible for p in self.providers)

    @property
    def incompatibilities(self) -> list[Incompatibility]:
        return [i for p in self.providers for i in p.incompatibilities]

    @property
    def checked(self) -> int:
        return sum(p.checked for p in self.providers)

    @property
    def skipped_messages(self) -> int:
        return sum(p.skipped_messages for p in self.providers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "compatible": self.compatible,
            "checked": self.checked,
            "skipped_messages": self.skipped_messages,
            "providers": [p.to_dict() for p in self.providers],
        }
