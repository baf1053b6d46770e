"""What is wrong with a pact, and where."""

from __future__ import annotations

from dataclasses import dataclass, replace

from covenant.kernel.errors import CovenantError, ErrorKind

__all__ = ["MalformedPact", "PactProblem"]


@dataclass(frozen=True)
class PactProblem:
    """One problem: an RFC 6901 JSON pointer into the pact ("" is the whole
    document, ``None`` the text itself), what is wrong, and, when the pact came
    from a file, the file and the 1-based line and column where the value at the
    pointer starts."""

    #: ``None`` when the problem is the text or the file itself (not JSON, too big).
    pointer: str | None
    message: str
    source: str = ""
    line: int | None = None
    column: int | None = None

    def at(self, source: str, line: int | None, column: int | None) -> PactProblem:
        return replace(self, source=source, line=line, column=column)

    @property
    def where(self) -> str:
        """``file:line:column`` (or as much of it as is known)."""
        parts = [self.source] if self.source else []
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def describe(self) -> str:
        parts = [self.where] if self.where else []
        if self.pointer is not None:
            parts.append(self.pointer or "/")
        return ": ".join([*parts, self.message])


class MalformedPact(CovenantError):
    """Pact files (or a pact in a request body) that Covenant refuses to use.

    Every problem found is kept (up to the reader's limit per pact), each with
    its file, line and pointer; the message lists them one per line. Exit code 2.
    """

    kind = ErrorKind.USAGE

    def __init__(self, problems: list[PactProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(problem.describe() for problem in problems) or "not a pact")
