"""Reading pact files: regular files only, bounded in size and depth, every
problem named with file, line and JSON pointer."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.pactfile._jsontext import JsonTextError, locate, parse_strict
from contracts.pactfile._limits import DEFAULT_LIMITS, ReadLimits
from contracts.pactfile._problems import MalformedPact, PactProblem
from contracts.pactfile._schemas import SpecVersion
from contracts.pactfile._validate import check_pact, spec_version
from covenant.kernel.errors import CovenantError, ErrorKind

__all__ = ["PactFile", "parse_pact", "read_pact_file", "read_pact_files"]

_FILE_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
}


@dataclass(frozen=True)
class PactFile:
    """A pact that passed every check: its names, its specification version,
    the exact bytes read (published as they are) and the parsed content."""

    source: str
    consumer: str
    provider: str
    spec: SpecVersion
    raw: bytes = field(repr=False)
    content: dict[str, Any] = field(repr=False, compare=False)

    @property
    def path(self) -> Path:
        return Path(self.source)

    @property
    def interactions(self) -> list[dict[str, Any]]:
        found = self.content.get("interactions")
        return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []

    @property
    def has_messages(self) -> bool:
        """Does verifying it need a message producer (V3 messages, V4 message types)?"""
        if self.content.get("messages"):
            return True
        return any(str(i.get("type", "")).endswith("/Messages") for i in self.interactions)


def _problem(source: str, message: str, error: JsonTextError | None = None) -> MalformedPact:
    position = error.position if error else None
    return MalformedPact(
        [
            PactProblem(
                error.pointer if error and error.pointer else None,
                message,
                source,
                position.line if position else None,
                position.column if position else None,
            )
        ]
    )


def parse_pact(raw: bytes, source: str, *, limits: ReadLimits = DEFAULT_LIMITS) -> PactFile:
    """Bytes -> a checked pact; :class:`MalformedPact` names every problem's line."""
    if len(raw) > limits.max_file_bytes:
        raise _problem(source, f"is {len(raw)} bytes; the limit is {limits.max_file_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _problem(source, f"is not UTF-8 text (byte {exc.start})") from None
    try:
        document = parse_strict(text, max_depth=limits.max_depth)
    except JsonTextError as exc:
        raise _problem(source, exc.message, exc) from None
    problems = check_pact(document, limits=limits)
    if problems:
        placed = []
        for problem in problems:
            position = locate(text, problem.pointer or "")
            placed.append(
                problem.at(
                    source,
                    position.line if position else None,
                    position.column if position else None,
                )
            )
        placed.sort(key=lambda p: (p.line or 0, p.column or 0, p.pointer))
        raise MalformedPact(placed)
    version, _ = spec_version(document)
    return PactFile(
        source, document["consumer"]["name"], document["provider"]["name"], version, raw, document
    )


def _read_regular(path: Path, limits: ReadLimits) -> bytes:
    """The bytes of a regular file, never blocking on a FIFO or a device."""
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO or socket nobody writes to
            raise _problem(
                source, "is not a regular file; Covenant reads only regular files"
            ) from None
        raise _problem(source, f"cannot be read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _FILE_KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise _problem(source, f"is {kind}; Covenant reads only regular files")
        if info.st_size > limits.max_file_bytes:
            raise _problem(source, f"is {info.st_size} bytes; the limit is {limits.max_file_bytes}")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limits.max_file_bytes:  # it grew while being read
                raise _problem(source, f"is over the limit of {limits.max_file_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise _problem(source, f"cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)


def read_pact_file(path: Path, *, limits: ReadLimits = DEFAULT_LIMITS) -> PactFile:
    """One pact file, checked; :class:`MalformedPact` otherwise."""
    return parse_pact(_read_regular(path, limits), str(path), limits=limits)


def read_pact_files(
    paths: Iterable[Path], *, limits: ReadLimits = DEFAULT_LIMITS
) -> list[PactFile]:
    """Every ``*.json`` of the given directories, and the given files, checked.

    All files are read before anything is refused, so one run names every
    malformed pact; nothing is returned unless every pact is good.
    """
    given = list(paths)
    files: list[Path] = []
    for path in given:
        if path.is_dir():
            files.extend(sorted(path.glob("*.json")))
        elif path.exists() or path.is_symlink():
            files.append(path)
        else:
            raise CovenantError(f"{path}: no such file or directory", kind=ErrorKind.USAGE)
    if not files:
        shown = ", ".join(str(p) for p in given)
        raise CovenantError(f"no *.json pact files in {shown}", kind=ErrorKind.USAGE)
    pacts: list[PactFile] = []
    problems: list[PactProblem] = []
    for file in files:
        try:
            pacts.append(read_pact_file(file, limits=limits))
        except MalformedPact as exc:
            problems.extend(exc.problems)
    if problems:
        raise MalformedPact(problems)
    return pacts
