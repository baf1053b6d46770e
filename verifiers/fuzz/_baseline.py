"""A baseline of known findings: ``covenant fuzz --baseline FILE`` fails only on the
findings FILE does not list, and ``--update-baseline`` writes the current ones into it.

The file is YAML (or JSON when its name ends in ``.json``), one entry per finding,
sorted by service, operation, check and id so that a change reviews as a small diff::

    version: 1
    findings:
    - id: F-3f0c2a9b1d
      service: api
      operation: POST /silences
      check: response_schema_conformance
      message: Response violates schema
      note: the 400 body is JSON, the spec says a string (optional, kept on update)

An entry matches a finding of the same service with the same id. Ids name the
problem, not the run (``verifiers.fuzz._model.finding_id``), so a finding keeps its
id from one run to the next. ``message`` and ``note`` are for the reader; only the
service and the id match.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from covenant.kernel.errors import ConfigError, CovenantError, ErrorKind
from covenant.kernel.yamlpos import (
    KeyPath,
    PositionedDocument,
    YamlSyntaxError,
    format_key_path,
    load_positioned,
)
from verifiers.fuzz._model import Finding, FuzzResult

__all__ = ["FORMAT_VERSION", "Baseline", "BaselineEntry", "BaselineReport", "Sighting"]

FORMAT_VERSION = 1
#: A baseline larger than this is refused (it is a reviewed list, not a dump).
MAX_BYTES = 8 * 1024 * 1024
ID_PATTERN = re.compile(r"^F-[0-9a-f]{10}$")
_REQUIRED = ("id", "service", "operation", "check", "message")
_FIELDS = (*_REQUIRED, "note")
_HEADER = (
    "# Known findings of `covenant fuzz`: a run with --baseline fails only on findings\n"
    "# not listed here. Written by --update-baseline; an entry's note is kept.\n"
)
#: Runs that went through: only their services' entries can be found or not found.
_COMPLETE = ("clean", "findings")


@dataclass(frozen=True)
class BaselineEntry:
    """One known finding."""

    id: str
    service: str
    operation: str
    check: str
    message: str
    note: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.service, self.id)

    @property
    def order(self) -> tuple[str, str, str, str]:
        return (self.service, self.operation, self.check, self.id)

    @classmethod
    def of(cls, service: str, finding: Finding, note: str | None = None) -> BaselineEntry:
        return cls(
            id=finding.id,
            service=service,
            operation=finding.operation,
            check=finding.check,
            message=finding.problem or finding.title,
            note=note,
        )

    def document(self) -> dict[str, str]:
        entry = {name: getattr(self, name) for name in _REQUIRED}
        if self.note is not None:
            entry["note"] = self.note
        return entry


@dataclass(frozen=True)
class Sighting:
    """A finding of a run of ``service``."""

    service: str
    finding: Finding

    @property
    def key(self) -> tuple[str, str]:
        return (self.service, self.finding.id)


@dataclass(frozen=True)
class BaselineReport:
    """A session's findings against the baseline at ``path``: ``new`` ones (not in it),
    ``known`` ones (in it), and its entries ``gone`` (of a service fuzzed to the end
    this time, and not found). ``written`` when ``--update-baseline`` wrote the file
    (the current findings are then all known)."""

    path: Path
    new: tuple[Sighting, ...] = ()
    known: tuple[Sighting, ...] = ()
    gone: tuple[BaselineEntry, ...] = ()
    written: bool = False
    entries: int = 0


@dataclass(frozen=True)
class Baseline:
    """The known findings of the file at ``path`` (none when it does not exist yet)."""

    path: Path
    entries: tuple[BaselineEntry, ...] = ()
    exists: bool = True
    _index: dict[tuple[str, str], BaselineEntry] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        self._index.update({entry.key: entry for entry in self.entries})

    # -- reading ---------------------------------------------------------------------

    @classmethod
    def read(cls, path: Path, *, missing_ok: bool = False) -> Baseline:
        """The baseline at ``path``. A file that is not there is a usage error unless
        ``missing_ok`` (it is about to be written); a malformed one a ``ConfigError``
        naming the file, the line and the entry."""
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_BYTES + 1)
        except FileNotFoundError:
            if missing_ok:
                return cls(path, (), exists=False)
            raise CovenantError(
                f"no baseline file {path} (write one with --update-baseline)",
                kind=ErrorKind.USAGE,
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"cannot read the baseline: {exc.strerror or exc}", location=str(path)
            ) from None
        if len(raw) > MAX_BYTES:
            raise ConfigError(f"the baseline is larger than {MAX_BYTES} bytes", location=str(path))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ConfigError(
                f"the baseline is not UTF-8 text (byte {exc.start + 1})", location=f"{path}:{line}"
            ) from None
        return cls(path, _parse(_load(path, text), str(path)))

    # -- comparing and updating ------------------------------------------------------

    def compare(self, results: Sequence[FuzzResult]) -> BaselineReport:
        new: list[Sighting] = []
        known: list[Sighting] = []
        for result in results:
            for finding in result.findings:
                sighting = Sighting(result.options.service, finding)
                (known if sighting.key in self._index else new).append(sighting)
        seen = {s.key for s in (*new, *known)}
        fuzzed = _completed(results)
        gone = tuple(
            entry for entry in self.entries if entry.service in fuzzed and entry.key not in seen
        )
        return BaselineReport(self.path, tuple(new), tuple(known), gone, entries=len(self.entries))

    def updated(self, results: Sequence[FuzzResult]) -> Baseline:
        """This baseline with the entries of each service fuzzed to the end replaced by
        that run's findings (notes kept); other services' entries stay as they are."""
        fuzzed = _completed(results)
        kept = [entry for entry in self.entries if entry.service not in fuzzed]
        current: dict[tuple[str, str], BaselineEntry] = {}
        for result in results:
            if result.options.service not in fuzzed:
                continue
            for finding in result.findings:
                old = self._index.get((result.options.service, finding.id))
                entry = BaselineEntry.of(result.options.service, finding, old.note if old else None)
                current.setdefault(entry.key, entry)
        entries = sorted([*kept, *current.values()], key=lambda e: e.order)
        return Baseline(self.path, tuple(entries))

    # -- writing ---------------------------------------------------------------------

    def render(self) -> str:
        document: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "findings": [entry.document() for entry in self.entries],
        }
        if self.path.suffix.lower() == ".json":
            return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        body = yaml.safe_dump(
            document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
        )
        return _HEADER + body

    def write(self) -> None:
        """Write the file whole or not at all (a temporary file renamed over it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_name(f".{self.path.name}.tmp")
        try:
            scratch.write_text(self.render(), encoding="utf-8")
            scratch.replace(self.path)
        except OSError as exc:
            scratch.unlink(missing_ok=True)
            raise ConfigError(
                f"cannot write the baseline: {exc.strerror or exc}", location=str(self.path)
            ) from None


def _completed(results: Iterable[FuzzResult]) -> set[str]:
    return {r.options.service for r in results if r.outcome in _COMPLETE}


# -- parsing -------------------------------------------------------------------------


def _load(path: Path, text: str) -> PositionedDocument:
    source = str(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"invalid JSON: {exc.msg}", location=f"{source}:{exc.lineno}:{exc.colno}"
            ) from None
        try:  # JSON is YAML: its lines, for errors that name an entry
            positioned = load_positioned(text, source, unique_keys=True, max_values=1_000_000)
        except YamlSyntaxError as exc:
            if "duplicate key" in exc.problem:
                raise ConfigError(exc.problem, location=f"{source}:{exc.line}") from None
            return PositionedDocument(source, data)
        return PositionedDocument(source, data, positioned.lines)
    try:
        return load_positioned(text, source, unique_keys=True, max_values=1_000_000)
    except YamlSyntaxError as exc:
        where = source if exc.line is None else f"{source}:{exc.line}"
        where += f":{exc.column}" if exc.line is not None and exc.column is not None else ""
        raise ConfigError(f"invalid YAML: {exc.problem}", location=where) from None


def _fail(document: PositionedDocument, path: KeyPath, problem: str) -> ConfigError:
    return ConfigError(problem, location=document.location_of(path), key=format_key_path(path))


def _parse(document: PositionedDocument, source: str) -> tuple[BaselineEntry, ...]:
    data = document.data
    if data is None:
        raise ConfigError(
            "the baseline is empty; expected 'version' and 'findings'"
            " (write one with --update-baseline)",
            location=source,
        )
    if not isinstance(data, dict):
        raise _fail(
            document, (), "expected a mapping with 'version' and 'findings' at the top level"
        )
    for key in data:
        if key not in ("version", "findings"):
            raise _fail(document, (str(key),), "unknown key (expected 'version' and 'findings')")
    if "version" in data and (
        isinstance(data["version"], bool) or data["version"] != FORMAT_VERSION
    ):
        raise _fail(document, ("version",), f"unsupported version {data['version']!r} (expected 1)")
    if "findings" not in data:
        raise _fail(document, (), "'findings' is missing (a list, [] when none is known)")
    findings = data["findings"]
    if findings is None:
        findings = []
    if not isinstance(findings, list):
        raise _fail(document, ("findings",), "must be a list of findings")
    entries: list[BaselineEntry] = []
    first: dict[tuple[str, str], int] = {}
    for index, item in enumerate(findings):
        where: KeyPath = ("findings", index)
        entry = _entry(document, where, item)
        if entry.key in first:
            line = document.line_of(("findings", first[entry.key]))
            raise _fail(
                document,
                (*where, "id"),
                f"{entry.id} of {entry.service} is listed twice"
                + (f" (first at line {line})" if line else ""),
            )
        first[entry.key] = index
        entries.append(entry)
    return tuple(entries)


def _entry(document: PositionedDocument, where: KeyPath, item: object) -> BaselineEntry:
    if not isinstance(item, dict):
        raise _fail(document, where, f"expected a mapping with {', '.join(_REQUIRED)}")
    for key in item:
        if key not in _FIELDS:
            raise _fail(
                document, (*where, str(key)), f"unknown key (expected {', '.join(_FIELDS)})"
            )
    values: dict[str, str | None] = {}
    for name in _FIELDS:
        value = item.get(name)
        if name in _REQUIRED and (value is None or value == ""):
            raise _fail(document, (*where, name), "is missing" if value is None else "is empty")
        if value is not None and not isinstance(value, str):
            raise _fail(document, (*where, name), f"must be a string, not {value!r}")
        values[name] = value
    identifier = str(values["id"])
    if not ID_PATTERN.match(identifier):
        raise _fail(
            document,
            (*where, "id"),
            f"{identifier!r} is not a finding id (F- and ten lower-case hex digits)",
        )
    return BaselineEntry(
        id=identifier,
        service=str(values["service"]),
        operation=str(values["operation"]),
        check=str(values["check"]),
        message=str(values["message"]),
        note=values["note"],
    )
