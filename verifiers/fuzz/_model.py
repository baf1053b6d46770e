"""What a fuzz run is asked to do and what it found."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["PHASES", "Finding", "FuzzOptions", "FuzzResult"]

PHASES = ("examples", "coverage", "fuzzing", "stateful")


@dataclass(frozen=True)
class FuzzOptions:
    service: str
    spec: str
    base_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    phases: tuple[str, ...] = PHASES
    max_examples: int = 25
    max_time_s: int | None = None
    seed: int = 20261121
    rate_limit: str | None = None
    response_time_budget_s: float = 2.0
    request_timeout_s: float = 10.0
    workers: int = 1
    #: Statuses besides Schemathesis's defaults that a schema-valid request may get
    #: (positive_data_acceptance), e.g. 422 for contents a schema cannot describe.
    accepted_statuses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    id: str
    operation: str
    check: str
    code: str | None
    title: str
    message: str
    severity: str | None
    request: dict[str, Any]
    response: dict[str, Any] | None
    curl: str

    @property
    def key(self) -> tuple[str, str, str]:
        """Two findings with the same key are the same problem found twice."""
        return (self.operation, self.check, self.title)


@dataclass
class FuzzResult:
    options: FuzzOptions
    started_at: datetime
    finished_at: datetime
    outcome: str  # clean | findings | error | unreachable
    operations: int = 0
    test_cases: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    run_id: uuid.UUID = field(default_factory=uuid.uuid4)
    report_dir: str | None = None
