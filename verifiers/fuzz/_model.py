"""What a fuzz run is asked to do and what it found, and how a finding is named."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "PHASES",
    "Finding",
    "FuzzOptions",
    "FuzzResult",
    "finding_id",
    "normalise_operation",
    "normalise_problem",
    "problem_of",
]

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


# -- naming a finding -------------------------------------------------------------

#: Schemathesis's title for a failure of a check it does not know (Covenant's own,
#: loaded as hooks): the same for every failure of the check, so the check's own
#: message says what the problem is.
_CUSTOM_TITLE = "Custom check failed"

#: What varies between two sightings of one problem: generated values, timings,
#: ids. Replaced, in this order, by placeholders (``<uuid>``, ``<hex>``, ...).
_VOLATILE = (
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    (re.compile(r"`[^`\n]*`|'[^'\n]*'|\"[^\"\n]*\""), "<value>"),
    (
        re.compile(
            r"\b(?:0x[0-9a-fA-F]+|(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,})\b"
        ),
        "<hex>",
    ),
    (re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"), "<n>"),
)


def normalise_operation(operation: str) -> str:
    """``get  /items/{id}`` -> ``GET /items/{id}``: the method upper-cased, one space.

    Schemathesis names an operation by its method and its path *template* (never the
    path a request was sent to), so the generated path parameters are not part of it."""
    method, _, path = operation.strip().partition(" ")
    return f"{method.upper()} {path.strip()}" if path.strip() else method.upper()


def normalise_problem(text: str) -> str:
    """The first line of ``text`` with what varies from sighting to sighting replaced by
    placeholders (UUIDs, quoted values, hex strings, numbers) and spaces collapsed."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    for pattern, placeholder in _VOLATILE:
        first = pattern.sub(placeholder, first)
    return " ".join(first.split())


def problem_of(title: str, message: str) -> str:
    """What went wrong, normalised: Schemathesis's title of the failure ("Server error",
    "Response violates schema", fixed strings of its own), or, for a check it only
    runs (Covenant's hooks, whose failures all share one title), the first line of
    the check's message, where Covenant's checks say the problem in stable words."""
    if title.startswith(_CUSTOM_TITLE) and message.strip():
        return normalise_problem(message)
    return normalise_problem(title)


def finding_id(operation: str, check: str, problem: str) -> str:
    """The finding's id: ``F-`` and ten hex digits of a SHA-256 over what identifies it.

    A finding is *which operation* (method and path template), *which check* failed,
    and *what the problem is* (:func:`problem_of`). Nothing else goes in: not the run,
    the time, the seed, the generated request or the response, which differ between
    two runs that find the same problem. So the id of one problem is the same in every
    run, on every machine and with any generated example, which is what a baseline of
    known findings matches on; and two different operations, checks or problems get
    different ids. Inputs are normalised first (:func:`normalise_operation`,
    :func:`normalise_problem`) and joined with a separator that cannot appear in them.
    The ``v1`` prefix versions the recipe: a new recipe must not reuse old ids.
    """
    material = "\x1f".join(
        ("v1", normalise_operation(operation), check.strip(), normalise_problem(problem))
    )
    return "F-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:10]


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
    #: What went wrong, normalised (:func:`problem_of`); the title when not given.
    problem: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """Two findings with the same key are the same problem found twice; the key is
        what :func:`finding_id` is computed from."""
        return (
            normalise_operation(self.operation),
            self.check,
            normalise_problem(self.problem or self.title),
        )


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
